//! `sluice-monitor`: see the library documentation and README.md.

use clap::Parser;

/// Count packets and bytes, print rates every second and a decoded packet now and then
/// (openNetVM's basic_monitor).
///
/// Every second it prints packets/s and bits/s since the last second; every --print-every seconds
/// it prints one packet decoded (MACs, VLANs, IP addresses, ports, protocol). Packets are not
/// modified: they go to the next step of their chain, to --dest or out of --out-port.
#[derive(Parser)]
#[command(
    name = "sluice-monitor",
    version,
    after_help = "Example: sluice-monitor -r mon --print-every 10"
)]
struct Cli {
    #[command(flatten, next_help_heading = "Sluice NF options")]
    nf: sluice_nf::NfArgs,
    #[command(flatten, next_help_heading = "Monitor options")]
    opts: sluice_nf_monitor::Opts,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    sluice_nf::main("sluice-monitor", &cli.nf, || {
        sluice_nf_monitor::build(&cli.opts)
    })
}
