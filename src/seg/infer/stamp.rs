//! The reproducibility stamp of a model segmentation: which model (id and weights
//! SHA-256), how the slices were preprocessed and which thresholds shaped the label
//! map. Shared by `lungscope segment --report` and the viewer's report export.

use crate::report::{FileStamp, Provenance, SegmentationSource};
use crate::seg::data::preprocess::Intensity;
use crate::seg::infer::ModelSegmentation;
use crate::seg::infer::postprocess::PostprocessConfig;

/// What a report needs to know about the model run behind a label map.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelStamp {
    /// Model id (its card's id).
    pub model_id: String,
    /// SHA-256 (hex) of the model's weights.
    pub weights_sha256: String,
    /// The preprocessing, in words.
    pub preprocessing: String,
    /// Thresholds and settings of the postprocessing (name → value).
    pub thresholds: Vec<(String, f64)>,
}

impl ModelStamp {
    /// The stamp of a finished segmentation made with weights `weights_sha256` and
    /// postprocessing `post`.
    pub fn of(seg: &ModelSegmentation, weights_sha256: &str, post: &PostprocessConfig) -> Self {
        Self {
            model_id: seg.model_id.clone(),
            weights_sha256: weights_sha256.to_string(),
            preprocessing: describe_preprocessing(&seg.intensity, seg.letterbox.size),
            thresholds: vec![
                ("probability_threshold".into(), f64::from(post.threshold)),
                ("lung_keep_fraction".into(), post.lung_keep_fraction),
                ("min_infection_mm3".into(), post.min_infection_mm3),
            ],
        }
    }

    /// The report's provenance for the CT `input`: segmentation source "model", the
    /// preprocessing and the thresholds. `note` (e.g. "edited in the viewer") is
    /// appended to the preprocessing text when given.
    pub fn provenance(&self, input: FileStamp, note: Option<&str>) -> Provenance {
        let text = match note {
            Some(n) => format!("{}; {n}", self.preprocessing),
            None => self.preprocessing.clone(),
        };
        let mut p = Provenance::new(
            input,
            SegmentationSource::Model {
                id: self.model_id.clone(),
                weights_sha256: self.weights_sha256.clone(),
            },
            &text,
        );
        for (name, value) in &self.thresholds {
            p = p.threshold(name, *value);
        }
        p
    }
}

/// The preprocessing of the model input in one sentence.
pub fn describe_preprocessing(intensity: &Intensity, input_size: usize) -> String {
    let grey = match intensity {
        Intensity::Windowed { lo, hi } => {
            format!("8-bit windowed image, [{lo}, {hi}] mapped linearly to [0, 1]")
        }
        Intensity::HuClahe { window, clahe } => format!(
            "HU clipped to [{}, {}], per-slice min-max, 8-bit, CLAHE (clip limit {}, {}x{} tiles), /255",
            window[0], window[1], clahe.clip_limit, clahe.tiles_x, clahe.tiles_y
        ),
    };
    format!(
        "axial slices in display orientation; {grey}; letterboxed to {input_size}x{input_size} px \
         (aspect kept by voxel spacing, zero padding)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seg::data::clahe::ClaheParams;

    #[test]
    fn preprocessing_text_names_the_intensity_path_and_size() {
        let w = describe_preprocessing(
            &Intensity::Windowed {
                lo: -1250.0,
                hi: 250.0,
            },
            160,
        );
        assert!(w.contains("[-1250, 250]") && w.contains("160x160"), "{w}");
        let h = describe_preprocessing(
            &Intensity::HuClahe {
                window: [-1250.0, 250.0],
                clahe: ClaheParams::TRAINING,
            },
            256,
        );
        assert!(h.contains("CLAHE (clip limit 7, 8x8 tiles)"), "{h}");
    }
}
