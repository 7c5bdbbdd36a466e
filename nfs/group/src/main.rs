//! `sluice-group`: see the library documentation and README.md.

use std::path::PathBuf;

use clap::Parser;
use sluice_nf::{NfArgs, RunMode};
use sluice_nf_group::{build_members, load_group};

fn parse_mode(s: &str) -> Result<RunMode, String> {
    match s {
        "poll" => Ok(RunMode::Poll),
        "shared-core" | "shared" => Ok(RunMode::SharedCore),
        _ => Err(format!("unknown mode {s:?}: use poll or shared-core")),
    }
}

/// Run several example NFs co-located in one process and one thread.
///
/// The members come from a TOML file of [[member]] sections, each naming the NF (speed-tester,
/// monitor, forward, l2fwd, firewall, flow-tracker or nat), the service it joins (id or name),
/// an optional tag (default "<nf>-<member number>") and the NF's own options, exactly as on
/// its own command line (see e.g. `sluice-firewall --help`):
///
///     [[member]]
///     nf = "firewall"
///     service = "fw"
///     name = "fw-1"
///     args = ["--rules", "rules.toml"]
///
///     [[member]]
///     nf = "monitor"
///     service = "mon"
///     args = ["--print-every", "10"]
///
/// Each member registers with sluiced as its own instance of its service, but a packet one
/// member sends to another (Next or ToService reaching a member's instance) is handed over by
/// a function call instead of a ring. Relative paths in `args` are taken from the current
/// directory. The options below apply to the whole group (there is no --service: each member
/// has its own).
#[derive(Parser)]
#[command(
    name = "sluice-group",
    version,
    verbatim_doc_comment,
    after_help = "Example: sluice-group --config group.toml --mode shared-core"
)]
struct Cli {
    /// Group file (TOML, [[member]] sections with nf, service, name, args)
    #[arg(short = 'c', long, value_name = "FILE")]
    config: PathBuf,

    /// Check the group file and every member's options, print the members and exit (no
    /// connection to sluiced)
    #[arg(long)]
    check: bool,

    /// Control socket of sluiced
    #[arg(long, env = "SLUICE_SOCKET", default_value = sluice_ctl::DEFAULT_SOCKET,
          help_heading = "Sluice options (for the whole group)")]
    socket: PathBuf,

    /// Instance id to ask for the first member (default: the manager picks; later members
    /// always get ids picked by the manager)
    #[arg(
        short = 'n',
        long,
        value_name = "ID",
        help_heading = "Sluice options (for the whole group)"
    )]
    instance: Option<u16>,

    /// poll (busy-poll a dedicated core) or shared-core (sleep when idle); default: sluiced's
    #[arg(long, value_parser = parse_mode, help_heading = "Sluice options (for the whole group)")]
    mode: Option<RunMode>,

    /// Stop after this many seconds
    #[arg(
        long,
        value_name = "SECONDS",
        help_heading = "Sluice options (for the whole group)"
    )]
    ttl: Option<f64>,

    /// Stop once any member has received this many packets
    #[arg(
        long,
        value_name = "PACKETS",
        help_heading = "Sluice options (for the whole group)"
    )]
    packet_limit: Option<u64>,
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
            eprintln!("sluice-group: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let file = cli.config.display().to_string();
    let specs = load_group(&cli.config)?;
    let members = build_members(&specs, &file)?;
    if cli.check {
        for (i, (s, _)) in members.iter().enumerate() {
            println!(
                "member {}: {} service={} name={} args={:?}",
                i + 1,
                s.nf,
                s.service,
                s.name,
                s.args
            );
        }
        println!("{file}: {} member(s) OK", members.len());
        return Ok(());
    }
    let args = NfArgs {
        socket: cli.socket,
        service: String::new(), // each member brings its own
        instance: cli.instance,
        name: None,
        mode: cli.mode,
        ttl: cli.ttl,
        packet_limit: cli.packet_limit,
    };
    let mut group = sluice_nf::Group::new(args);
    let mut names = Vec::new();
    for (s, nf) in members {
        group.add(&s.service, &s.name, nf);
        names.push((s.name, s.nf));
    }
    let summaries = group.run()?;
    for ((name, nf), s) in names.iter().zip(&summaries) {
        println!(
            "sluice-group: {name} ({nf}): rx={} tx={} dropped={} seconds={:.1}",
            s.rx,
            s.tx,
            s.dropped,
            s.elapsed.as_secs_f64()
        );
    }
    Ok(())
}
