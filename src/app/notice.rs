//! Messages for the user: a [`Notice`] (error or information, with the file it
//! concerns) stays shown until dismissed.

use super::loading::file_name;
use std::path::PathBuf;

/// How serious a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Something failed; the current data is unchanged.
    Error,
    /// For information.
    Info,
}

/// A message shown to the user until dismissed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Error or info.
    pub kind: NoticeKind,
    /// The text (names the file where one is involved).
    pub text: String,
    /// The file concerned, if any.
    pub path: Option<PathBuf>,
}

impl Notice {
    /// An error about no particular file.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            kind: NoticeKind::Error,
            text: text.into(),
            path: None,
        }
    }

    /// An information message.
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            kind: NoticeKind::Info,
            text: text.into(),
            path: None,
        }
    }

    /// The text with the file's full path shortened to its name (the full
    /// text is shown on hover).
    pub fn short_text(&self) -> String {
        match &self.path {
            Some(p) => self.text.replace(&p.display().to_string(), &file_name(p)),
            None => self.text.clone(),
        }
    }
}
