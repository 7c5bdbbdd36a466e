//! The Sluice NF SDK.
//!
//! An NF is a type implementing [`NetworkFunction`]: it gets packets (one at a time or as a
//! batch) and returns an [`Action`] for each. [`run`] registers it with `sluiced`, maps the
//! shared packet region and runs the loop; [`Group`] runs several NFs in one thread, handing
//! packets between them by function call (the same NF code either way).
//!
//! ```no_run
//! use sluice_nf::{Action, Context, NetworkFunction, NfArgs, Packet};
//! struct Forward { to: u16 }
//! impl NetworkFunction for Forward {
//!     fn handle(&mut self, _pkt: &mut Packet<'_>, _ctx: &Context) -> Action {
//!         Action::ToService(self.to)
//!     }
//! }
//! #[derive(clap::Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     nf: NfArgs,
//! }
//!
//! fn main() -> Result<(), sluice_nf::NfError> {
//!     let cli = <Cli as clap::Parser>::parse();
//!     sluice_nf::run(&cli.nf, Forward { to: 2 })?;
//!     Ok(())
//! }
//! ```

mod args;
mod packet;
mod runtime;

pub use args::NfArgs;
pub use packet::{Batch, Packet};
pub use runtime::{run, Group, RunSummary, Start};
pub use sluice_ctl::RunMode;
pub use sluice_wire as wire;

/// Where a packet goes after an NF handled it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Free the buffer.
    Drop,
    /// The next step of the packet's chain (dropped past the end).
    Next,
    /// An instance of this service (flow affinity by the packet's flow hash).
    ToService(u16),
    /// Out of this port (through the manager).
    Out(u16),
}

/// What an NF knows about itself while running.
pub struct Context {
    /// Instance id assigned by the manager.
    pub instance: u16,
    /// Service id.
    pub service: u16,
    /// The NF's tag.
    pub name: String,
    /// Monotonic time of the current batch (0 until first asked for).
    now: std::cell::Cell<u64>,
    /// Number of ports the manager has (valid `Out` destinations are 0..ports).
    pub ports: u16,
    stop: std::cell::Cell<bool>,
}

impl Context {
    /// Monotonic time (CLOCK_MONOTONIC, ns) of the current batch: read from the clock on the
    /// first call in a batch, so NFs that never ask pay nothing.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        match self.now.get() {
            0 => {
                let t = sluice_shm::now_ns();
                self.now.set(t);
                t
            }
            t => t,
        }
    }

    /// Ask the run loop to stop after this batch (openNetVM's `user_actions` returning 1).
    pub fn request_stop(&self) {
        self.stop.set(true);
    }
}

/// A network function.
pub trait NetworkFunction: Send {
    /// Handle one packet and say where it goes.
    fn handle(&mut self, pkt: &mut Packet<'_>, ctx: &Context) -> Action;

    /// Handle a batch (usually 32 packets). The default calls [`NetworkFunction::handle`] for
    /// each; override it to amortise work across the batch.
    fn handle_batch(&mut self, batch: &mut Batch<'_>, ctx: &Context) {
        for i in 0..batch.len() {
            let a = self.handle(&mut batch.packet(i), ctx);
            batch.set_action(i, a);
        }
    }

    /// Called once after registration, before the first packet: e.g. allocate and send packets.
    fn start(&mut self, _start: &mut Start<'_>) -> Result<(), NfError> {
        Ok(())
    }

    /// Called about once a second (print statistics here, never per packet).
    fn tick(&mut self, _ctx: &Context) {}

    /// Called once when the NF stops, after the last packet.
    fn stop(&mut self, _ctx: &Context) {}
}

/// Errors of the SDK.
#[derive(Debug, thiserror::Error)]
pub enum NfError {
    /// Talking to sluiced failed.
    #[error("control channel: {0}")]
    Ctl(#[from] sluice_ctl::CtlError),
    /// The shared region could not be mapped.
    #[error(transparent)]
    Shm(#[from] sluice_shm::ShmError),
    /// sluiced refused the registration.
    #[error("sluiced refused to register {name}: {reason}")]
    Refused {
        /// The NF's tag.
        name: String,
        /// sluiced's reason.
        reason: String,
    },
    /// sluiced answered something unexpected.
    #[error("unexpected answer from sluiced: {0}")]
    Protocol(String),
    /// Raised by an NF's own setup.
    #[error("{0}")]
    Setup(String),
}

/// The body of a standalone NF binary's `main`: set up logging (`RUST_LOG`, default info, on
/// stderr), build the NF, run it until it stops and print a one-line summary. Errors print as
/// `<program>: error: ...` and give exit status 1.
pub fn main<N, E>(
    program: &str,
    args: &NfArgs,
    build: impl FnOnce() -> Result<N, E>,
) -> std::process::ExitCode
where
    N: NetworkFunction + 'static,
    E: std::fmt::Display,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("{program}: error: {e:#}");
        std::process::ExitCode::FAILURE
    };
    let nf = match build() {
        Ok(nf) => nf,
        Err(e) => return fail(&e),
    };
    match run(args, nf) {
        Ok(s) => {
            println!(
                "{program}: rx={} tx={} dropped={} seconds={:.1}",
                s.rx,
                s.tx,
                s.dropped,
                s.elapsed.as_secs_f64()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// Test support for NF binaries (used by each NF crate's `tests/cli.rs`).
#[doc(hidden)]
pub mod cli_check {
    use std::process::Command;

    /// Panics unless `bin --help` documents the SDK's options and running it against a missing
    /// socket fails with a message naming the socket. `extra` = the NF's required options.
    pub fn check(bin: &str, extra: &[&str]) {
        let out = Command::new(bin)
            .arg("--help")
            .output()
            .expect("run --help");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        for opt in ["--socket", "--service", "--mode", "--ttl", "--packet-limit"] {
            assert!(text.contains(opt), "--help lacks {opt}:\n{text}");
        }
        let out = Command::new(bin)
            .args(["--socket", "/nonexistent/sluiced.sock", "--service", "1"])
            .args(extra)
            .output()
            .expect("run");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("/nonexistent/sluiced.sock"),
            "message names the socket: {err}"
        );
    }
}
