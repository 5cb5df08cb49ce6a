//! Quantification: lung and infection volumes, infection %, zones, severity score, HU statistics.
