//! File input/output: NIfTI-1 volumes and label masks.
