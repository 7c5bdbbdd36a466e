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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-firewall: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let nf = sluice_nf_firewall::build(&cli.opts)?;
    let s = sluice_nf::run(&cli.nf, nf)?;
    println!(
        "sluice-firewall: rx={} tx={} dropped={} seconds={:.1}",
        s.rx,
        s.tx,
        s.dropped,
        s.elapsed.as_secs_f64()
    );
    Ok(())
}
