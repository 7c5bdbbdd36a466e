//! `sluice-speed-tester`: see the library documentation and README.md.

use clap::Parser;

/// Bounce packets between NFs as fast as possible and report the rate (openNetVM's speed_tester).
///
/// At start it allocates --packets buffers holding --size byte UDP frames and sends them to --dest
/// (default: its own service); every packet it receives is sent there again. It prints the rate
/// every second and, on exit, a line `speed-tester summary: packets=.. seconds=.. mpps=..` (plus
/// p50_ns/p99_ns/p999_ns/max_ns with --latency) on stdout.
#[derive(Parser)]
#[command(
    name = "sluice-speed-tester",
    version,
    after_help = "Example: sluice-speed-tester -r bounce --packets 256 --size 64 --latency --ttl 10"
)]
struct Cli {
    #[command(flatten, next_help_heading = "Sluice NF options")]
    nf: sluice_nf::NfArgs,
    #[command(flatten, next_help_heading = "Speed-tester options")]
    opts: sluice_nf_speed_tester::Opts,
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
            eprintln!("sluice-speed-tester: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let nf = sluice_nf_speed_tester::build(&cli.opts)?;
    let s = sluice_nf::run(&cli.nf, nf)?;
    println!(
        "sluice-speed-tester: rx={} tx={} dropped={} seconds={:.1}",
        s.rx,
        s.tx,
        s.dropped,
        s.elapsed.as_secs_f64()
    );
    Ok(())
}
