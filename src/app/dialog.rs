//! Native file dialogs (rfd), built in one place. A [`FileDialog`] says what to ask
//! for (title, filters, starting folder and file name, and whether to pick a file,
//! several files, a folder or a file to save); [`FileDialog::spawn`] builds the rfd
//! dialog and runs it in a [`Job`] off the UI thread, or right away on macOS, where
//! dialogs must run on the main thread. The job's value is the chosen paths, empty
//! when the user cancelled.

use super::jobs::{Job, Waker};
use std::path::PathBuf;

/// What the dialog asks the user for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// One existing file.
    File,
    /// One or more existing files.
    Files,
    /// One folder.
    Folder,
    /// A file to write (it may not exist yet).
    Save,
}

/// A file dialog to run (see the module documentation).
#[derive(Debug, Clone)]
pub struct FileDialog {
    title: &'static str,
    pick: Pick,
    filters: Vec<(&'static str, &'static [&'static str])>,
    directory: Option<PathBuf>,
    file_name: Option<String>,
}

impl FileDialog {
    /// A dialog titled `title` that asks for `pick`.
    pub fn new(title: &'static str, pick: Pick) -> Self {
        Self {
            title,
            pick,
            filters: Vec::new(),
            directory: None,
            file_name: None,
        }
    }

    /// Adds a filter: its name and the extensions it shows (`*` for all files).
    pub fn filter(mut self, name: &'static str, extensions: &'static [&'static str]) -> Self {
        self.filters.push((name, extensions));
        self
    }

    /// The folder the dialog opens in, if any.
    pub fn directory(mut self, directory: Option<PathBuf>) -> Self {
        self.directory = directory;
        self
    }

    /// The file name the dialog proposes, if any.
    pub fn file_name(mut self, name: Option<String>) -> Self {
        self.file_name = name;
        self
    }

    /// Runs the dialog in a job (on macOS right away, on the calling thread); the
    /// job's value is the chosen paths, empty when the user cancelled.
    pub fn spawn(self, waker: Waker) -> Job<Vec<PathBuf>> {
        if cfg!(target_os = "macos") {
            // macOS dialogs must run on the main thread.
            let picked = self.run();
            return Job::spawn("file dialog", waker, move |_| Ok(picked));
        }
        Job::spawn("file dialog", waker, move |_| Ok(self.run()))
    }

    /// Builds the rfd dialog and shows it (blocks until the user answers).
    fn run(self) -> Vec<PathBuf> {
        let mut d = rfd::FileDialog::new().set_title(self.title);
        for (name, extensions) in self.filters {
            d = d.add_filter(name, extensions);
        }
        if let Some(dir) = self.directory {
            d = d.set_directory(dir);
        }
        if let Some(name) = self.file_name {
            d = d.set_file_name(name);
        }
        match self.pick {
            Pick::File => d.pick_file().into_iter().collect(),
            Pick::Files => d.pick_files().unwrap_or_default(),
            Pick::Folder => d.pick_folder().into_iter().collect(),
            Pick::Save => d.save_file().into_iter().collect(),
        }
    }
}
