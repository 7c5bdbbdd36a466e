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
            eprintln!("sluice-l2fwd: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let nf = sluice_nf_l2fwd::build(&cli.opts)?;
    let s = sluice_nf::run(&cli.nf, nf)?;
    println!(
        "sluice-l2fwd: rx={} tx={} dropped={} seconds={:.1}",
        s.rx,
        s.tx,
        s.dropped,
        s.elapsed.as_secs_f64()
    );
    Ok(())
}
