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
            eprintln!("sluice-nat: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let nf = sluice_nf_nat::build(&cli.opts)?;
    let s = sluice_nf::run(&cli.nf, nf)?;
    println!(
        "sluice-nat: rx={} tx={} dropped={} seconds={:.1}",
        s.rx,
        s.tx,
        s.dropped,
        s.elapsed.as_secs_f64()
    );
    Ok(())
}
