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
            eprintln!("sluice-monitor: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let nf = sluice_nf_monitor::build(&cli.opts)?;
    let s = sluice_nf::run(&cli.nf, nf)?;
    println!(
        "sluice-monitor: rx={} tx={} dropped={} seconds={:.1}",
        s.rx,
        s.tx,
        s.dropped,
        s.elapsed.as_secs_f64()
    );
    Ok(())
}
