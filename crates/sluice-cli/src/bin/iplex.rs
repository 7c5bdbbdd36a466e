//! `iplex`: VFd's command line, talking to sluiced's control socket instead of VFd's FIFO.
//! Same commands, arguments and answers (VFd's JSON response text); `--json` prints the
//! answer as structured JSON, and `clear` zeroes counters. Exit status: 0 when sluiced
//! answers OK, 1 when it answers ERROR or cannot be reached, 2 for a bad command line.

use std::path::PathBuf;

use clap::Parser;
use sluice_cli::vf;

/// Manage VF policy in a running sluiced (VFd-compatible). VF files live in the `[vfd]`
/// config_dir of sluiced's config; `iplex add NAME` applies `<config_dir>/NAME.json`.
#[derive(Parser)]
#[command(version, name = "iplex")]
struct Cli {
    /// sluiced's TOML config, to find its control socket (`[manager] socket`).
    #[arg(long, global = true, value_name = "CONFIG")]
    conf: Option<PathBuf>,
    /// sluiced's control socket (default: $SLUICE_SOCKET, else /run/sluice/sluiced.sock).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// With `verbose`: the new log level, 0..=4 (other commands ignore it).
    #[arg(long, global = true, value_name = "VALUE")]
    loglevel: Option<u32>,
    /// Print the answer as structured JSON (with counters for `show`).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: vf::VfCmd,
}

fn main() {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("iplex: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<bool> {
    let socket = match (&cli.socket, &cli.conf) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(c)) => vf::socket_from_config(c)?,
        (None, None) => None,
    };
    let reply = vf::call(socket.as_deref(), &cli.cmd.request(cli.loglevel))?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&reply)?);
    } else {
        println!("{}", vf::vfd_text(&reply));
    }
    Ok(reply.ok)
}
