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
            eprintln!("sluice-forward: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let nf = sluice_nf_forward::build(&cli.opts)?;
    let s = sluice_nf::run(&cli.nf, nf)?;
    println!(
        "sluice-forward: rx={} tx={} dropped={} seconds={:.1}",
        s.rx,
        s.tx,
        s.dropped,
        s.elapsed.as_secs_f64()
    );
    Ok(())
}
