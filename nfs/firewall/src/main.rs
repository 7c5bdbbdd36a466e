//! `sluice-firewall`: see the library documentation and README.md.

use clap::Parser;

/// Allow or deny packets by first-match rules from a TOML file.
///
/// Rules match on source/destination prefixes (IPv4 or IPv6), IP protocol and TCP/UDP port
/// ranges; the first matching rule decides, and `default` (deny unless set) covers the rest,
/// including non-IP frames. Allowed packets go to the next chain step (or --dest), denied ones
/// are dropped. Hits per rule are printed every second when they change and at exit.
#[derive(Parser)]
#[command(
    name = "sluice-firewall",
    version,
    after_help = "Example: sluice-firewall -r fw --rules rules.toml"
)]
struct Cli {
    #[command(flatten, next_help_heading = "Sluice NF options")]
    nf: sluice_nf::NfArgs,
    #[command(flatten, next_help_heading = "Firewall options")]
    opts: sluice_nf_firewall::Opts,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    sluice_nf::main("sluice-firewall", &cli.nf, || {
        sluice_nf_firewall::build(&cli.opts)
    })
}
