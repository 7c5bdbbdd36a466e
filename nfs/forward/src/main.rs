//! `sluice-forward`: see the library documentation and README.md.

use clap::Parser;

/// Send every packet to a service or the next step of its chain (openNetVM's simple_forward).
///
/// With --dest SERVICE_ID every packet goes to an instance of that service (chosen by flow hash);
/// without it, to the next step of the packet's chain. Packets are not read or modified.
#[derive(Parser)]
#[command(
    name = "sluice-forward",
    version,
    after_help = "Example: sluice-forward -r fwd --dest 2"
)]
struct Cli {
    #[command(flatten, next_help_heading = "Sluice NF options")]
    nf: sluice_nf::NfArgs,
    #[command(flatten, next_help_heading = "Forward options")]
    opts: sluice_nf_forward::Opts,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    sluice_nf::main("sluice-forward", &cli.nf, || {
        sluice_nf_forward::build(&cli.opts)
    })
}
