//! Feature-map buffers recycled from layer to layer and from call to call.
//!
//! Every layer writes a fresh map of up to tens of megabytes. Allocated anew each
//! time, those buffers come from and go back to the operating system, and the
//! page faults and page clearing cost about a tenth of a network's run time
//! (measured with `perf` on `bench-infer`). The engine instead keeps the maps it
//! no longer needs and hands them out again: after the first call, a network runs
//! without asking the system for memory. What is kept is never more than the
//! largest set of maps that were alive at once (a buffer is only created when no
//! kept one is large enough), and it is freed with the network.

use std::sync::{Mutex, PoisonError};

/// A pool of `f32` buffers, shared by the threads running one network.
#[derive(Debug, Default)]
pub(super) struct Buffers {
    free: Mutex<Vec<Vec<f32>>>,
}

impl Clone for Buffers {
    /// A copy of a network starts with an empty pool of its own.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Buffers {
    /// `len` zeros, in the smallest kept buffer that holds them (or a new one).
    pub(super) fn zeroed(&self, len: usize) -> Vec<f32> {
        let mut v = self.take(len);
        v.clear();
        v.resize(len, 0.0);
        v
    }

    /// `len` values for a caller that overwrites every one of them: a kept buffer
    /// still holds its earlier values (finite numbers, never uninitialised memory),
    /// which saves clearing megabytes that are about to be written anyway.
    pub(super) fn for_overwrite(&self, len: usize) -> Vec<f32> {
        let mut v = self.take(len);
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        v
    }

    fn take(&self, len: usize) -> Vec<f32> {
        {
            let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
            let pick = free
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            pick.map(|i| free.swap_remove(i)).unwrap_or_default()
        }
    }

    /// Keeps `v` for a later [`Buffers::zeroed`].
    pub(super) fn recycle(&self, v: Vec<f32>) {
        if v.capacity() > 0 {
            self.free
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(v);
        }
    }

    /// Values held by the kept buffers (for tests).
    #[cfg(test)]
    pub(super) fn kept_values(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(Vec::capacity)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_zeroed_and_best_fitting() {
        let pool = Buffers::default();
        let mut a = pool.zeroed(100);
        a.iter_mut().for_each(|v| *v = 7.0);
        let b = pool.zeroed(1000);
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        pool.recycle(b);
        pool.recycle(a);
        // 50 values fit both; the smaller (a's) is taken, zeroed.
        let c = pool.zeroed(50);
        assert_eq!(c.as_ptr(), pa);
        assert!(c.iter().all(|&v| v == 0.0) && c.len() == 50);
        // Too large for anything kept: a new buffer, the kept one stays.
        let d = pool.zeroed(5000);
        assert!(d.as_ptr() != pb && d.len() == 5000);
        assert!(pool.kept_values() >= 1000);
        assert_eq!(Buffers::clone(&pool).kept_values(), 0);
        // For overwriting: the kept values, the right length, no new memory.
        pool.recycle(c);
        let e = pool.for_overwrite(80);
        assert_eq!((e.as_ptr(), e.len()), (pa, 80));
    }
}
