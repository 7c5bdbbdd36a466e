//! `sluice-nat`: see the library documentation and README.md.

use clap::Parser;

/// IPv4 source NAT (NAPT) for TCP, UDP and ICMP echo.
///
/// Packets from --inside-port get source address --public-ip and a public source port (ICMP:
/// echo identifier) from --port-range; replies to the public address and port are translated
/// back. Checksums are updated incrementally. Non-IPv4 frames pass unchanged; IPv4 packets that
/// cannot be translated (fragments, other protocols, unknown inbound) are dropped and counted.
/// After translation the flow hash is the public-side 5-tuple's, the same for both directions.
#[derive(Parser)]
#[command(
    name = "sluice-nat",
    version,
    after_help = "Example: sluice-nat -r nat --inside-port 0 --public-ip 203.0.113.1 --port-range 20000-29999"
)]
struct Cli {
    #[command(flatten, next_help_heading = "Sluice NF options")]
    nf: sluice_nf::NfArgs,
    #[command(flatten, next_help_heading = "NAT options")]
    opts: sluice_nf_nat::Opts,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    sluice_nf::main("sluice-nat", &cli.nf, || sluice_nf_nat::build(&cli.opts))
}
