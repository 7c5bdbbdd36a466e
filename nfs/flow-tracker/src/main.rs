//! `sluice-flow-tracker`: see the library documentation and README.md.

use clap::Parser;

/// Track flows (packets, bytes, age) and print the busiest ones (openNetVM's flow_tracker).
///
/// Both directions of a conversation count as one flow (keyed by the direction-independent
/// 5-tuple). Flows idle for --idle-timeout seconds are forgotten; at most --max-flows are kept
/// (packets of further new flows are counted as untracked). Every --print-every seconds and at
/// exit it prints the --top flows by bytes. Packets go on unchanged.
#[derive(Parser)]
#[command(
    name = "sluice-flow-tracker",
    version,
    after_help = "Example: sluice-flow-tracker -r tracker --top 10 --print-every 2"
)]
struct Cli {
    #[command(flatten, next_help_heading = "Sluice NF options")]
    nf: sluice_nf::NfArgs,
    #[command(flatten, next_help_heading = "Flow-tracker options")]
    opts: sluice_nf_flow_tracker::Opts,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    sluice_nf::main("sluice-flow-tracker", &cli.nf, || {
        sluice_nf_flow_tracker::build(&cli.opts)
    })
}
