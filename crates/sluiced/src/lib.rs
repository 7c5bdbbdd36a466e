//! The Sluice manager (`sluiced`) as a library: configuration, data-plane threads, NF
//! registry, control socket and statistics. The binary in `main.rs` wires them together.

pub mod cluster;
pub mod config;
pub mod control;
pub mod dataplane;
pub mod registry;
pub mod stats;
pub mod vf;
