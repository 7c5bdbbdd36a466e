//! What the `sluice` and `iplex` binaries share.

pub mod vf;
