//! Reports: JSON, CSV, HTML and PDF writers.
