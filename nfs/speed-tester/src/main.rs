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
    sluice_nf::main("sluice-speed-tester", &cli.nf, || {
        sluice_nf_speed_tester::build(&cli.opts)
    })
}
