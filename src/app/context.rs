//! What a feature may touch besides its own state: [`Ctx`] borrows the
//! document, the notices, the waker, the settings and the crosshair from the
//! app state. `AppState` builds it by splitting its borrows (see
//! `AppState::parts`), so a feature's method gets its own state and a `Ctx`, and
//! cannot reach another feature's fields.

use super::document::Document;
use super::jobs::Waker;
use super::notice::Notice;
use super::settings::Settings;
use crate::volume::{SliceMap, View};

/// The shared parts of the viewer a feature applies its commands to.
pub struct Ctx<'a> {
    /// The study: the volume and its mask layers.
    pub doc: &'a mut Document,
    /// Persisted settings.
    pub settings: &'a mut Settings,
    /// Crosshair position (storage voxel).
    pub cursor: [usize; 3],
    notices: &'a mut Vec<Notice>,
    waker: &'a Waker,
}

impl<'a> Ctx<'a> {
    /// A context over these parts of the app state.
    pub fn new(
        doc: &'a mut Document,
        settings: &'a mut Settings,
        cursor: [usize; 3],
        notices: &'a mut Vec<Notice>,
        waker: &'a Waker,
    ) -> Self {
        Self {
            doc,
            settings,
            cursor,
            notices,
            waker,
        }
    }

    /// The waker background jobs call when they have news.
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Shows an error until dismissed.
    pub fn push_error(&mut self, text: impl Into<String>) {
        self.notices.push(Notice::error(text));
    }

    /// Shows an information message until dismissed.
    pub fn push_info(&mut self, text: impl Into<String>) {
        self.notices.push(Notice::info(text));
    }

    /// The display map of a view (None without a volume).
    pub fn slice_map(&self, view: View) -> Option<SliceMap> {
        self.doc.volume().map(|v| v.slice_map(view))
    }

    /// The slice a view shows (the crosshair's coordinate on its normal axis).
    pub fn slice_index(&self, view: View) -> usize {
        slice_index(self.doc, self.cursor, view)
    }
}

/// The slice `view` shows of the document's volume with the crosshair at
/// `cursor` (0 without a volume).
pub fn slice_index(doc: &Document, cursor: [usize; 3], view: View) -> usize {
    doc.volume()
        .map_or(0, |v| cursor[v.slice_map(view).normal_axis])
}
