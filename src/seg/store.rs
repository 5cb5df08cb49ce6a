//! Model versions in the user's data folder: every fine-tuned model is kept with its card
//! and metrics; one of them, or the built-in default model, is active. Switching and
//! rolling back never delete anything.
//!
//! ```text
//! <data dir>/models/active.json          {"active": "<id>"} or {"active": null} (default)
//! <data dir>/models/<id>/model.lsm       weights + config + card (see `weights`)
//! <data dir>/models/<id>/metrics.json    whatever the creator recorded (fine-tune curve...)
//! ```
//!
//! `<data dir>` is the platform's (`~/.local/share/lungscope` on Linux) from `directories`.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::seg::SegError;
use crate::seg::model::weights::{self, LoadedModel, ModelCard};
use crate::seg::model::{ModelConfig, SegModel};
use crate::utc::{now_secs, today_utc};

/// Which model is in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Active {
    /// The model built into the binary.
    Default,
    /// A stored version.
    Version(String),
}

/// One stored version.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionInfo {
    /// Version id (folder name, equal to its card's id).
    pub id: String,
    /// Its model card.
    pub card: ModelCard,
    /// Its configuration.
    pub config: ModelConfig,
    /// The model file.
    pub path: PathBuf,
    /// Whether it is the active model.
    pub active: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ActiveFile {
    active: Option<String>,
}

/// The version store.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

impl ModelStore {
    /// The store in the user's data folder (`<data dir>/models`).
    pub fn open_user() -> Result<Self, SegError> {
        let dirs =
            directories::ProjectDirs::from("org", "lungscope", "lungscope").ok_or_else(|| {
                SegError::InvalidSettings(
                    "no home folder found for the user's model versions".into(),
                )
            })?;
        Ok(Self::at(dirs.data_dir().join("models")))
    }

    /// A store rooted at `root` (created on first write).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn active_path(&self) -> PathBuf {
        self.root.join("active.json")
    }

    fn version_dir(&self, id: &str) -> Result<PathBuf, SegError> {
        let ok = !id.is_empty()
            && id != "."
            && id != ".."
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(self.root.join(id))
        } else {
            Err(SegError::InvalidSettings(format!(
                "model version id {id:?} may only use letters, digits, '-', '_' and '.'"
            )))
        }
    }

    /// All stored versions, oldest first (by card date, then id).
    pub fn list(&self) -> Result<Vec<VersionInfo>, SegError> {
        if !self.root.is_dir() {
            return Ok(Vec::new());
        }
        let active = self.active()?;
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| SegError::io("listing model versions", &self.root, e))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path().join("model.lsm");
            if !path.is_file() {
                continue;
            }
            let id = entry.file_name().to_string_lossy().into_owned();
            // A damaged version is skipped rather than hiding all the others.
            if let Ok((config, card)) = weights::read_card(&path) {
                out.push(VersionInfo {
                    active: active == Active::Version(id.clone()),
                    id,
                    card,
                    config,
                    path,
                });
            }
        }
        out.sort_by(|a, b| (&a.card.date, &a.id).cmp(&(&b.card.date, &b.id)));
        Ok(out)
    }

    /// Stores a new version (its id is `card.id`, made unique with a numeric suffix) and
    /// returns it. `metrics` is written beside it as JSON. Does not activate it.
    pub fn add(
        &self,
        config: &ModelConfig,
        model: &SegModel,
        card: &ModelCard,
        metrics: &serde_json::Value,
    ) -> Result<VersionInfo, SegError> {
        let base = if card.id.is_empty() {
            "model".to_string()
        } else {
            card.id.clone()
        };
        let mut id = base.clone();
        let mut n = 2;
        while self.version_dir(&id)?.exists() {
            id = format!("{base}-{n}");
            n += 1;
        }
        let dir = self.version_dir(&id)?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| SegError::io("creating the model version folder", &dir, e))?;
        let mut card = card.clone();
        card.id = id.clone();
        let path = dir.join("model.lsm");
        weights::save(&path, config, model, &card)?;
        let json = serde_json::to_vec_pretty(metrics)
            .map_err(|e| SegError::InvalidSettings(format!("cannot serialise the metrics: {e}")))?;
        write_atomic(&dir.join("metrics.json"), &json)?;
        Ok(VersionInfo {
            active: false,
            id,
            card,
            config: config.clone(),
            path,
        })
    }

    /// The active model (the default when nothing was chosen or the choice is gone).
    ///
    /// An unreadable `active.json` (damaged JSON) or one naming a version that is gone also
    /// means the default, but never silently: a warning is logged (`tracing::warn`) and
    /// [`ModelStore::active_problem`] describes it for a user interface.
    pub fn active(&self) -> Result<Active, SegError> {
        let (active, problem) = self.read_active()?;
        if let Some(problem) = problem {
            tracing::warn!("{problem}");
        }
        Ok(active)
    }

    /// Why the stored choice of active model could not be honoured (damaged `active.json`,
    /// or a version that no longer exists), if it could not; `None` when all is well.
    pub fn active_problem(&self) -> Option<String> {
        match self.read_active() {
            Ok((_, problem)) => problem,
            Err(e) => Some(e.to_string()),
        }
    }

    /// The active model and, when the stored choice was not usable, why.
    fn read_active(&self) -> Result<(Active, Option<String>), SegError> {
        let path = self.active_path();
        if !path.is_file() {
            return Ok((Active::Default, None));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| SegError::io("reading", &path, e))?;
        let file: ActiveFile = match serde_json::from_str(&text) {
            Ok(file) => file,
            Err(e) => {
                return Ok((
                    Active::Default,
                    Some(format!(
                        "the active model choice is unreadable ({e}); using the built-in default model: {}",
                        path.display()
                    )),
                ));
            }
        };
        Ok(match file.active {
            Some(id)
                if self
                    .version_dir(&id)
                    .is_ok_and(|d| d.join("model.lsm").is_file()) =>
            {
                (Active::Version(id), None)
            }
            Some(id) => (
                Active::Default,
                Some(format!(
                    "the active model version {id:?} no longer exists; using the built-in default model: {}",
                    path.display()
                )),
            ),
            None => (Active::Default, None),
        })
    }

    fn set_active(&self, active: Option<String>) -> Result<(), SegError> {
        std::fs::create_dir_all(&self.root).map_err(|e| SegError::io("creating", &self.root, e))?;
        let json = serde_json::to_vec_pretty(&ActiveFile { active })
            .map_err(|e| SegError::InvalidSettings(e.to_string()))?;
        Ok(write_atomic(&self.active_path(), &json)?)
    }

    /// Makes a stored version the active model.
    pub fn activate(&self, id: &str) -> Result<(), SegError> {
        let path = self.version_dir(id)?.join("model.lsm");
        if !path.is_file() {
            return Err(SegError::data("no such model version", path));
        }
        self.set_active(Some(id.to_string()))
    }

    /// Goes back to the built-in default model.
    pub fn use_default(&self) -> Result<(), SegError> {
        self.set_active(None)
    }

    /// Activates the model the active version was fine-tuned from (a stored version, or
    /// the default) and returns what is active now.
    pub fn roll_back(&self) -> Result<Active, SegError> {
        let Active::Version(id) = self.active()? else {
            return Ok(Active::Default);
        };
        let (_, card) = weights::read_card(&self.version_dir(&id)?.join("model.lsm"))?;
        match card.base_model {
            Some(base)
                if self
                    .version_dir(&base)
                    .is_ok_and(|d| d.join("model.lsm").is_file()) =>
            {
                self.activate(&base)?;
                Ok(Active::Version(base))
            }
            _ => {
                self.use_default()?;
                Ok(Active::Default)
            }
        }
    }

    /// Deletes a stored version (if it was active, the default becomes active).
    pub fn remove(&self, id: &str) -> Result<(), SegError> {
        let dir = self.version_dir(id)?;
        if self.active()? == Active::Version(id.to_string()) {
            self.use_default()?;
        }
        std::fs::remove_dir_all(&dir)
            .map_err(|e| SegError::io("deleting the model version", &dir, e))
    }

    /// Loads a stored version.
    pub fn load(&self, id: &str, device: &Device) -> Result<LoadedModel, SegError> {
        weights::load_file(&self.version_dir(id)?.join("model.lsm"), device)
    }

    /// Loads the active model (a stored version or the built-in default).
    pub fn load_active(&self, device: &Device) -> Result<LoadedModel, SegError> {
        match self.active()? {
            Active::Version(id) => self.load(&id, device),
            Active::Default => weights::load_default(device),
        }
    }
}

/// Why the user's stored model choice (`<data dir>/models/active.json`) cannot be
/// honoured, if it cannot (see [`ModelStore::active_problem`]); `None` when all is
/// well or there is no user store. The command line uses the built-in default model
/// unless given `--weights`, and prints this as a warning so a damaged file is
/// never passed over in silence.
pub fn user_active_problem() -> Option<String> {
    ModelStore::open_user().ok()?.active_problem()
}

/// A fresh version id derived from the model it was fine-tuned from:
/// `<base>-ft-<YYYYMMDD>-<seconds of day>`.
pub fn fine_tuned_id(base_id: &str) -> String {
    let secs = now_secs();
    let base: String = base_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{}-ft-{}-{:05}",
        if base.is_empty() { "model" } else { &base },
        today_utc().replace('-', ""),
        secs % 86_400
    )
}
