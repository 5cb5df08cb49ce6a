//! Output planning: every output of a command is named and checked before the
//! first write, so a command either writes all it was asked to or refuses up front
//! with the list of conflicts.
//!
//! Refused: two outputs that are the same file, an output that is an input or lies
//! inside an input folder, an output that already exists (unless overwriting was
//! allowed), an output that is a folder, a protected file (always), and names to
//! derive outputs from ("stems") that are empty, `.`, `..` or hold a path separator.

use super::OverInput;
use super::paths::{is_same_or_inside, resolve};
use std::fmt;
use std::path::{Path, PathBuf};

/// One reason a planned output cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Two outputs name the same file.
    Duplicate {
        /// The file.
        path: PathBuf,
        /// What the first output is.
        first: String,
        /// What the second output is.
        second: String,
    },
    /// An output is an input, or lies inside an input folder.
    OverInput {
        /// The output.
        path: PathBuf,
        /// What the output is.
        what: String,
        /// The input it would overwrite or write into.
        input: PathBuf,
    },
    /// The output exists and overwriting was not allowed.
    Exists {
        /// The output.
        path: PathBuf,
        /// What the output is.
        what: String,
    },
    /// The output is an existing folder.
    IsFolder {
        /// The output.
        path: PathBuf,
        /// What the output is.
        what: String,
    },
    /// The output exists and is never replaced (e.g. a hand-corrected mask).
    Protected {
        /// The output.
        path: PathBuf,
        /// What the output is.
        what: String,
        /// Why it is protected.
        why: String,
    },
    /// An input's name cannot make output names.
    BadStem {
        /// The input.
        input: PathBuf,
        /// The name derived from it.
        stem: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The output path has no file name (it ends in `/` or `..`).
    NoFileName {
        /// The output.
        path: PathBuf,
        /// What the output is.
        what: String,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Duplicate {
                path,
                first,
                second,
            } => write!(
                f,
                "{}: {first} and {second} would be the same file",
                path.display()
            ),
            Conflict::OverInput { path, what, input } if path == input => {
                write!(f, "{}: {what} would overwrite an input", path.display())
            }
            Conflict::OverInput { path, what, input } => write!(
                f,
                "{}: {what} would be written over or inside the input {}",
                path.display(),
                input.display()
            ),
            Conflict::Exists { path, what } => write!(
                f,
                "{}: {what} already exists (pass --overwrite to replace it)",
                path.display()
            ),
            Conflict::IsFolder { path, what } => {
                write!(f, "{}: {what} is an existing folder", path.display())
            }
            Conflict::Protected { path, what, why } => {
                write!(f, "{}: {what} would replace {why}", path.display())
            }
            Conflict::BadStem {
                input,
                stem,
                problem,
            } => write!(
                f,
                "{}: its name {stem:?} cannot name outputs ({problem})",
                input.display()
            ),
            Conflict::NoFileName { path, what } => {
                write!(f, "{}: {what} has no file name", path.display())
            }
        }
    }
}

/// The conflicts found by [`OutputPlan::check`]; nothing has been written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    /// Every conflict, in the order the outputs were planned.
    pub conflicts: Vec<Conflict>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refusing to write: {} conflict(s) among the outputs, nothing was written",
            self.conflicts.len()
        )?;
        for c in &self.conflicts {
            write!(f, "\n  - {c}")?;
        }
        Ok(())
    }
}

/// Why `stem` cannot be used to name outputs (`None` when it can): empty, `.`,
/// `..`, or holding `/` or `\` (or a NUL).
pub fn stem_problem(stem: &str) -> Option<&'static str> {
    if stem.is_empty() {
        Some("empty")
    } else if stem == "." || stem == ".." {
        Some("a relative folder name")
    } else if stem.contains(['/', '\\', '\0']) {
        Some("holds a path separator")
    } else {
        None
    }
}

#[derive(Debug)]
struct Planned {
    path: PathBuf,
    resolved: PathBuf,
    what: String,
    may_replace: bool,
    protected: Option<String>,
}

/// All outputs of one command, checked together before anything is written.
///
/// Register the inputs ([`OutputPlan::input`]) and the outputs
/// ([`OutputPlan::output`]) in any order, then call [`OutputPlan::check`].
#[derive(Debug)]
pub struct OutputPlan {
    overwrite: bool,
    inputs: Vec<(PathBuf, PathBuf)>,
    outputs: Vec<Planned>,
    early: Vec<Conflict>,
}

impl OutputPlan {
    /// An empty plan; with `overwrite`, existing output files may be replaced.
    pub fn new(overwrite: bool) -> Self {
        Self {
            overwrite,
            inputs: Vec::new(),
            outputs: Vec::new(),
            early: Vec::new(),
        }
    }

    /// An input file or folder: no output may be it or lie inside it.
    pub fn input(&mut self, path: &Path) -> &mut Self {
        self.inputs.push((path.to_path_buf(), resolve(path)));
        self
    }

    /// An output file; `what` describes it in messages (e.g. "the mask of a.nii.gz").
    pub fn output(&mut self, path: &Path, what: impl Into<String>) -> &mut Self {
        self.push(path, what.into(), false, None)
    }

    /// An output file that may exist and be replaced even without overwriting
    /// (e.g. the checkpoints of a training run that is resumed).
    pub fn replaceable_output(&mut self, path: &Path, what: impl Into<String>) -> &mut Self {
        self.push(path, what.into(), true, None)
    }

    /// An output file that is refused, even with overwriting, if it exists: `why`
    /// says what the existing file is (e.g. "a hand-corrected mask").
    pub fn protected_output(
        &mut self,
        path: &Path,
        what: impl Into<String>,
        why: impl Into<String>,
    ) -> &mut Self {
        self.push(path, what.into(), false, Some(why.into()))
    }

    /// Checks the name an input gives its outputs; a bad one is a conflict. Returns
    /// whether the stem is usable.
    pub fn stem(&mut self, input: &Path, stem: &str) -> bool {
        match stem_problem(stem) {
            Some(problem) => {
                self.early.push(Conflict::BadStem {
                    input: input.to_path_buf(),
                    stem: stem.to_string(),
                    problem,
                });
                false
            }
            None => true,
        }
    }

    fn push(
        &mut self,
        path: &Path,
        what: String,
        may_replace: bool,
        protected: Option<String>,
    ) -> &mut Self {
        let no_name = path
            .file_name()
            .is_none_or(|n| n.is_empty() || n == "." || n == "..");
        if no_name {
            self.early.push(Conflict::NoFileName {
                path: path.to_path_buf(),
                what,
            });
            return self;
        }
        self.outputs.push(Planned {
            path: path.to_path_buf(),
            resolved: resolve(path),
            what,
            may_replace,
            protected,
        });
        self
    }

    /// The planned output files, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &Path> {
        self.outputs.iter().map(|o| o.path.as_path())
    }

    /// Checks the plan: `Ok` when every output may be written, else every conflict.
    pub fn check(&self) -> Result<(), PlanError> {
        let mut conflicts = self.early.clone();
        for (i, out) in self.outputs.iter().enumerate() {
            if let Some(first) = self.outputs[..i]
                .iter()
                .find(|o| o.resolved == out.resolved)
            {
                conflicts.push(Conflict::Duplicate {
                    path: out.path.clone(),
                    first: first.what.clone(),
                    second: out.what.clone(),
                });
                continue;
            }
            if let Some((input, _)) = self
                .inputs
                .iter()
                .find(|(_, r)| out.resolved.starts_with(r))
            {
                conflicts.push(Conflict::OverInput {
                    path: out.path.clone(),
                    what: out.what.clone(),
                    input: input.clone(),
                });
                continue;
            }
            // A link (even a dangling one) at the output's name counts as existing.
            let Ok(meta) = out.path.symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                conflicts.push(Conflict::IsFolder {
                    path: out.path.clone(),
                    what: out.what.clone(),
                });
            } else if let Some(why) = &out.protected {
                conflicts.push(Conflict::Protected {
                    path: out.path.clone(),
                    what: out.what.clone(),
                    why: why.clone(),
                });
            } else if !(self.overwrite || out.may_replace) {
                conflicts.push(Conflict::Exists {
                    path: out.path.clone(),
                    what: out.what.clone(),
                });
            }
        }
        if conflicts.is_empty() {
            Ok(())
        } else {
            Err(PlanError { conflicts })
        }
    }
}

/// True when `path` is an input of `inputs` or lies inside one of them.
pub fn over_input<'a>(path: &Path, inputs: &[&'a Path]) -> Option<&'a Path> {
    inputs
        .iter()
        .copied()
        .find(|input| is_same_or_inside(path, input))
}

/// The "never overwrite an input" check of a single write: refuses `path` if it
/// names the same file as one of `inputs` (through any spelling or link) or lies
/// inside one (a DICOM folder).
pub fn refuse_inputs(path: &Path, inputs: &[&Path]) -> Result<(), OverInput> {
    match over_input(path, inputs) {
        Some(input) => Err(OverInput {
            path: path.to_path_buf(),
            input: input.to_path_buf(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_all_listed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::write(d.join("x.nii.gz"), b"ct").expect("write");
        std::fs::write(d.join("old.json"), b"{}").expect("write");
        std::fs::write(d.join("fixed_edited.nii.gz"), b"m").expect("write");
        std::fs::create_dir(d.join("study")).expect("mkdir");
        let mut plan = OutputPlan::new(false);
        plan.input(&d.join("x.nii.gz")).input(&d.join("study"));
        plan.output(&d.join("o/a.json"), "report 1")
            .output(&d.join("o/./a.json"), "report 2")
            .output(&d.join("x.nii.gz"), "the mask")
            .output(&d.join("study/m.nii.gz"), "the folder's mask")
            .output(&d.join("old.json"), "a report")
            .output(&d.join("o/.."), "nameless")
            .protected_output(&d.join("fixed_edited.nii.gz"), "a mask", "an edit");
        assert!(!plan.stem(Path::new("..nii.gz"), "."));
        assert!(plan.stem(Path::new("ok.nii"), "ok"));
        let err = plan.check().expect_err("conflicts");
        assert_eq!(err.conflicts.len(), 7, "{err}");
        let text = err.to_string();
        for needle in [
            "same file",
            "would overwrite an input",
            "inside the input",
            "already exists",
            "--overwrite",
            "no file name",
            "would replace an edit",
            "cannot name outputs",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        // Overwriting allows the existing report but not the protected mask.
        let mut plan = OutputPlan::new(true);
        plan.output(&d.join("old.json"), "a report");
        assert!(plan.check().is_ok());
        plan.protected_output(&d.join("fixed_edited.nii.gz"), "a mask", "an edit");
        assert_eq!(plan.check().expect_err("protected").conflicts.len(), 1);
        let mut plan = OutputPlan::new(false);
        plan.replaceable_output(&d.join("old.json"), "a checkpoint");
        assert!(plan.check().is_ok());
        assert!(over_input(&d.join("study/a"), &[&d.join("study")]).is_some());
    }

    #[test]
    fn stems() {
        for bad in ["", ".", "..", "a/b", "a\\b"] {
            assert!(stem_problem(bad).is_some(), "{bad:?}");
        }
        for good in ["case_ct", ".hidden", "x.y", "..x"] {
            assert!(stem_problem(good).is_none(), "{good:?}");
        }
    }
}
