//! VFd-compatible VF policy: configs, validation, lifecycle files and the software NIC switch.
//!
//! - [`config`]: VFd's VF JSON and main-config PF list, parsed strictly (unknown fields are
//!   warnings, wrong types are errors naming file and field) and validated in VFd's order
//!   with VFd's messages; [`Registry`] holds the accepted VFs of every PF and applies add /
//!   delete all or nothing.
//! - [`lifecycle`]: `config_dir` / `<config_dir>_live` / `*.error` file handling, start-up
//!   restore from `_live` only, and `start_cb` / `stop_cb` run without a shell as the file's
//!   owner.
//! - [`switch`]: the per-PF software embedded switch: classification of a frame into VFs
//!   and/or the wire, per-VF RX / TX policy edited in place, token-bucket max rate,
//!   mirroring decisions and clearable atomic counters.
//!
//! See `README.md` in this crate for how the manager drives it per packet.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod lifecycle;
pub mod switch;

#[cfg(test)]
mod tests;

pub use config::{
    ConfigError, ConfigWarning, LinkStatus, MainConfig, MirrorConfig, MirrorDirection,
    MirrorTarget, Owner, PfConfig, PfState, QueueShare, Registry, Rule, Vf, VfConfig, VlanProto,
};
pub use lifecycle::{
    run_callback, run_callbacks, split_command, Added, CallbackError, CallbackKind, CallbackRun,
    Lifecycle, LifecycleError, Restored,
};
pub use switch::{
    mask_iter, Counter, CounterSnapshot, Dispatch, DropReason, FrameBuf, MirrorTo, PfPolicy,
    PfShared, PfSwitch, SliceFrame, VfMask,
};
