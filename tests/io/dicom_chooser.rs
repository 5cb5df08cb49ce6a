//! DICOM reading with progress and cancel, and the viewer's series chooser: a
//! read cancelled from its progress callback stops with `Cancelled`, progress
//! reaches the image count on the shared JPEG 2000 series, and a folder holding
//! two series makes the load job ask for a choice (both summaries) and then
//! load exactly the chosen series.

use crate::support;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use lungscope::io::{self, DicomError, ReadProgress};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn real_ct() -> Option<PathBuf> {
    support::data::data_dir().map(|d| d.join("real_ct_hu"))
}

/// The 20-file JPEG 2000 series.
fn example_series() -> Option<PathBuf> {
    real_ct().map(|r| r.join("totalsegmentator_examples/example_ct_dicom"))
}

#[test]
fn cancel_from_the_progress_callback_stops_the_read_with_cancelled() {
    let Some(dir) = example_series() else { return };
    let cancel = AtomicBool::new(false);
    let most = AtomicUsize::new(0);
    let total_seen = AtomicUsize::new(0);
    let report = |done: usize, total: usize| {
        most.fetch_max(done, Ordering::Relaxed);
        total_seen.store(total, Ordering::Relaxed);
        if done >= 1 {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let result = io::dicom::read_dicom_with(&dir, None, &ReadProgress::new(&cancel, &report));
    match result {
        Err(DicomError::Cancelled) => {}
        Err(e) => panic!("expected Cancelled, got {e}"),
        Ok(v) => panic!("a cancelled read returned a volume {:?}", v.dims()),
    }
    let total = total_seen.load(Ordering::Relaxed);
    let decoded = most.load(Ordering::Relaxed);
    assert_eq!(total, 20, "the series has 20 images");
    assert!(
        (1..total).contains(&decoded),
        "decoding went on after the cancel: {decoded} of {total} images"
    );
    let message = DicomError::Cancelled.to_string();
    assert!(message.starts_with("cancelled"), "{message}");

    // Through the generic opener too, with the flag set before the read:
    // nothing is decoded at all.
    let calls = AtomicUsize::new(0);
    let count = |_: usize, _: usize| {
        calls.fetch_add(1, Ordering::Relaxed);
    };
    let set = AtomicBool::new(true);
    match io::open_volume_with(&dir, None, &ReadProgress::new(&set, &count)) {
        Err(io::NiftiError::Dicom(DicomError::Cancelled)) => {}
        Err(e) => panic!("expected Cancelled, got {e}"),
        Ok(_) => panic!("a cancelled read returned a volume"),
    }
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}

#[test]
fn progress_reaches_the_number_of_images() {
    let Some(dir) = example_series() else { return };
    let never = AtomicBool::new(false);
    let calls = Mutex::new(Vec::new());
    let report = |done: usize, total: usize| {
        calls.lock().expect("lock").push((done, total));
    };
    let v = io::dicom::read_dicom_with(&dir, None, &ReadProgress::new(&never, &report))
        .expect("the series reads");
    let calls = calls.into_inner().expect("lock");
    let slices = v.dims()[2];
    assert_eq!(slices, 20);
    assert_eq!(calls.first(), Some(&(0, slices)), "{calls:?}");
    assert!(
        calls.iter().all(|&(d, t)| t == slices && d <= t),
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().map(|c| c.0).max(),
        Some(slices),
        "progress must reach the total: {calls:?}"
    );
    // One call before decoding, one per file.
    assert_eq!(calls.len(), slices + 1);
    // The same voxels as the plain read.
    let plain = io::dicom::read_dicom(&dir, None).expect("plain read");
    assert_eq!(plain.geometry, v.geometry);
    assert_eq!(plain.voxels, v.voxels);
}

/// Writes the three dcmqi slices into `dir` as series "A" (unchanged) and the
/// first two of them again as series "B" (a new SeriesInstanceUID, number and
/// description), so the folder holds two series of 3 and 2 images.
fn two_series_folder(root: &Path, dir: &Path) -> (String, String) {
    let src = root.join("dicom_transfer_syntaxes/dcmqi_ct_3slice");
    std::fs::create_dir_all(dir).expect("create folder");
    let mut uid_a = String::new();
    let uid_b = "1.2.826.0.1.3680043.8.498.99999.2".to_string();
    for (i, f) in ["01.dcm", "02.dcm", "03.dcm"].iter().enumerate() {
        let obj = dicom_object::open_file(src.join(f)).expect("open");
        uid_a = obj
            .element(tags::SERIES_INSTANCE_UID)
            .expect("series UID")
            .to_str()
            .expect("text")
            .trim_end_matches('\0')
            .trim()
            .to_string();
        obj.write_to_file(dir.join(format!("a{i}")))
            .expect("write A");
        if i < 2 {
            let mut b = obj.clone();
            b.put(DataElement::new(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(uid_b.as_str()),
            ));
            b.put(DataElement::new(
                tags::SERIES_NUMBER,
                VR::IS,
                PrimitiveValue::from("77"),
            ));
            b.put(DataElement::new(
                tags::SERIES_DESCRIPTION,
                VR::LO,
                PrimitiveValue::from("Second series"),
            ));
            b.write_to_file(dir.join(format!("b{i}"))).expect("write B");
        }
    }
    (uid_a, uid_b)
}

#[test]
fn a_folder_with_two_series_lists_both_and_reads_only_the_chosen_one() {
    let Some(root) = real_ct() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("two");
    let (uid_a, uid_b) = two_series_folder(&root, &dir);
    let index = io::SeriesIndex::scan(&dir).expect("index");
    let list = index.summaries();
    assert_eq!(list.len(), 2, "{list:?}");
    let b = list
        .iter()
        .find(|s| s.uid == uid_b)
        .expect("series B listed");
    let a = list
        .iter()
        .find(|s| s.uid == uid_a)
        .expect("series A listed");
    assert_eq!((a.images, b.images), (3, 2));
    assert_eq!(b.description, "Second series");
    assert!(matches!(
        index.read(None, &ReadProgress::default()),
        Err(DicomError::SeveralSeries { count: 2, .. })
    ));
    let v = index
        .read(
            Some(&io::SeriesChoice::Index(b.index)),
            &ReadProgress::default(),
        )
        .expect("series B");
    assert_eq!(v.dims(), [512, 512, 2]);
    assert_eq!(v.info.description, "Second series");
}

/// The viewer: the load job answers a two-series folder with a prompt holding
/// both summaries (and the files after it), decodes nothing, and the chosen
/// series then loads as the volume; cancelling the choice opens nothing.
#[cfg(feature = "gui")]
#[test]
fn the_viewer_asks_which_series_and_loads_the_choice() {
    use lungscope::app::jobs::{Job, JobStatus, no_waker};
    use lungscope::app::loading::{LoadRequest, Loaded, load_files};
    use lungscope::app::{AppState, Command, NoticeKind, Settings};
    use std::time::{Duration, Instant};

    let Some(root) = real_ct() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("study");
    let (_, uid_b) = two_series_folder(&root, &dir);
    let single = root.join("dicom_transfer_syntaxes/dcmqi_ct_3slice");

    // The load job: a prompt with both series, the next file kept for later.
    let request = LoadRequest {
        paths: vec![dir.clone(), single.clone()],
        grid: None,
        as_masks: false,
        series: None,
    };
    let mut job = Job::spawn("load", no_waker(), move |ctx| load_files(request, ctx));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match job.poll() {
            JobStatus::Running if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => break other,
        }
    };
    assert!(matches!(status, JobStatus::Done(())), "{status:?}");
    let items = job.drain();
    assert_eq!(items.len(), 1, "only the prompt: {items:?}");
    let Loaded::ChooseSeries(prompt) = &items[0] else {
        panic!("expected a series prompt, got {:?}", items[0]);
    };
    assert_eq!(prompt.source, dir);
    assert_eq!(prompt.series.len(), 2);
    assert_eq!(prompt.rest, vec![single.clone()]);
    let mut images: Vec<usize> = prompt.series.iter().map(|s| s.images).collect();
    images.sort();
    assert_eq!(images, vec![2, 3]);

    // The state: Open shows the prompt, ChooseSeries loads that series, then the
    // file opened after the folder.
    let wait = |s: &mut AppState| {
        let start = Instant::now();
        while s.is_loading() {
            assert!(start.elapsed() < Duration::from_secs(60), "load too slow");
            s.poll_jobs();
            std::thread::sleep(Duration::from_millis(5));
        }
        s.poll_jobs();
    };
    let mut s = AppState::new(Settings::default(), no_waker());
    s.apply(Command::Open(vec![dir.clone()]));
    wait(&mut s);
    assert!(!s.doc.is_open(), "nothing is shown before the choice");
    let prompt = s.series_prompt().expect("the chooser is open");
    let b = prompt
        .series
        .iter()
        .find(|x| x.uid == uid_b)
        .expect("B listed")
        .index;
    s.apply(Command::ChooseSeries(99));
    assert!(
        s.series_prompt().is_some(),
        "an unknown number changes nothing"
    );
    s.apply(Command::ChooseSeries(b));
    assert!(s.series_prompt().is_none());
    wait(&mut s);
    let shown = s.doc.entry().expect("the chosen series is shown");
    assert_eq!(shown.volume.dims(), [512, 512, 2]);
    assert_eq!(shown.volume.info.description, "Second series");
    assert_eq!(shown.path.as_deref(), Some(dir.as_path()));
    assert!(
        s.notices.iter().all(|n| n.kind != NoticeKind::Error),
        "{:?}",
        s.notices
    );

    // Cancelling the choice opens nothing and says so.
    let mut s = AppState::new(Settings::default(), no_waker());
    s.apply(Command::Open(vec![dir.clone()]));
    wait(&mut s);
    assert!(s.series_prompt().is_some());
    s.apply(Command::CancelSeriesChoice);
    assert!(s.series_prompt().is_none() && !s.doc.is_open());
    assert!(!s.is_loading());
    assert!(
        s.notices
            .iter()
            .any(|n| n.kind == NoticeKind::Info && n.text.contains("No series chosen")),
        "{:?}",
        s.notices
    );
}

/// A load cancelled before its decoding ends as cancelled and sends nothing:
/// no partial volume reaches the viewer.
#[cfg(feature = "gui")]
#[test]
fn a_cancelled_dicom_load_sends_nothing() {
    use lungscope::app::jobs::{Job, JobStatus, no_waker};
    use lungscope::app::loading::{LoadRequest, Loaded, load_files};
    use std::time::{Duration, Instant};

    let Some(dir) = example_series() else { return };
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let request = LoadRequest {
        paths: vec![dir],
        grid: None,
        as_masks: false,
        series: None,
    };
    let mut job: Job<(), Loaded> = Job::spawn("load", no_waker(), move |ctx| {
        let _ = go_rx.recv();
        load_files(request, ctx)
    });
    job.cancel();
    let _ = go_tx.send(());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        match job.poll() {
            JobStatus::Running if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            other => break other,
        }
    };
    assert!(matches!(status, JobStatus::Cancelled), "{status:?}");
    assert!(job.drain().is_empty());
}
