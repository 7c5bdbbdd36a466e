//! `sluice-l2fwd`: see the library documentation and README.md.

use clap::Parser;

/// Rewrite MAC addresses and send each frame out of a port (openNetVM's l2fwd, after DPDK's).
///
/// The destination MAC becomes --dst-mac (default 02:00:00:00:00:<output port>) and, with
/// --src-mac, the source MAC too; the frame then leaves through --port (default: the port
/// adjacent to its arrival port, 0 <-> 1, 2 <-> 3, ...).
#[derive(Parser)]
#[command(
    name = "sluice-l2fwd",
    version,
    after_help = "Example: sluice-l2fwd -r l2 --port 1 --src-mac 02:00:00:00:01:00"
)]
struct Cli {
    #[command(flatten, next_help_heading = "Sluice NF options")]
    nf: sluice_nf::NfArgs,
    #[command(flatten, next_help_heading = "L2fwd options")]
    opts: sluice_nf_l2fwd::Opts,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    sluice_nf::main("sluice-l2fwd", &cli.nf, || {
        sluice_nf_l2fwd::build(&cli.opts)
    })
}
