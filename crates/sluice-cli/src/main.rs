//! `sluice`: inspect and steer a running `sluiced`, or run the demo.

mod cluster;
mod demo;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use sluice_cli::vf;
use sluice_ctl::{table, Conn, Request, Response};

/// Operate a running sluiced: list NFs, services, chains and ports, manage flow rules, show
/// statistics. `sluice demo` runs a self-contained demonstration (no root, no hardware).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Control socket of sluiced (default: $SLUICE_SOCKET, else /run/sluice/sluiced.sock).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// NF instances: id, service, state, packets, rates, drops by reason.
    Nfs,
    /// Services and their instances (with each instance's share of the flow map).
    Services,
    /// Chains and the ports that use them by default.
    Chains,
    /// Ports: kind, link state, counters and drops by reason.
    Ports,
    /// Flow-director rules (exact 5-tuple → chain).
    Flow {
        #[command(subcommand)]
        cmd: FlowCmd,
    },
    /// The statistics table (ports, NFs, drops, packet accounting).
    Stats,
    /// Ask sluiced to stop (it stops its NFs first).
    Shutdown,
    /// VF policy, as `iplex` (VFd's commands): add, delete, show, ping, verbose, dump,
    /// mirror, clear.
    Vf {
        #[command(subcommand)]
        cmd: vf::VfCmd,
        /// Log level for `verbose` (0..=4).
        #[arg(long, value_name = "VALUE")]
        loglevel: Option<u32>,
    },
    /// Distributed mode: `hosts` (with tunnel peer counters), `services`, `routes`.
    Cluster {
        #[command(subcommand)]
        cmd: cluster::ClusterCmd,
    },
    /// Run the demo: a generator, a chain of three NF processes and a sink, with the live
    /// statistics table. Needs no root, hardware or ZooKeeper.
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
enum FlowCmd {
    /// Add a rule: `sluice flow add "10.0.0.1:1024 -> 10.0.1.1:5001 udp" fast`.
    Add {
        /// The 5-tuple: `SRC:PORT -> DST:PORT PROTO` (IPv6 in brackets).
        flow: String,
        /// Chain name.
        chain: String,
    },
    /// Delete the rule for a 5-tuple.
    Del {
        /// The 5-tuple as given to `add`.
        flow: String,
    },
    /// List the rules.
    List,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("sluice: {e:#}");
        std::process::exit(1);
    }
}

fn call(socket: &Option<PathBuf>, req: Request) -> anyhow::Result<Response> {
    let path = sluice_ctl::socket_path(socket.as_deref());
    let mut conn = Conn::connect(&path)?;
    let r: Response = conn.call(&req, Duration::from_secs(10))?;
    if let Response::Error { message } = &r {
        bail!("{message}");
    }
    Ok(r)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let req = match cli.cmd {
        Cmd::Demo(a) => return demo::run(a),
        Cmd::Cluster { cmd } => return cluster::run(&cli.socket, cli.json, cmd),
        Cmd::Vf { cmd, loglevel } => {
            let reply = vf::call(cli.socket.as_deref(), &cmd.request(loglevel))?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&reply)?);
            } else {
                for l in &reply.msg {
                    println!("{l}");
                }
            }
            if !reply.ok {
                std::process::exit(1);
            }
            return Ok(());
        }
        Cmd::Nfs => Request::Nfs,
        Cmd::Services => Request::Services,
        Cmd::Chains => Request::Chains,
        Cmd::Ports => Request::Ports,
        Cmd::Stats => Request::Stats,
        Cmd::Shutdown => Request::Shutdown,
        Cmd::Flow {
            cmd: FlowCmd::Add { flow, chain },
        } => Request::FlowAdd { flow, chain },
        Cmd::Flow {
            cmd: FlowCmd::Del { flow },
        } => Request::FlowDel { flow },
        Cmd::Flow { cmd: FlowCmd::List } => Request::FlowList,
    };
    let resp = call(&cli.socket, req)?;
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&resp).context("encoding JSON")?
        );
        return Ok(());
    }
    match resp {
        Response::Ok => println!("ok"),
        Response::Nfs(v) => {
            println!(
                "{:<4} {:<16} {:<8} {:<8} {:<11} {:>8} {:>12} {:>12}  drops",
                "IID", "NAME", "SERVICE", "STATE", "MODE", "PID", "RX", "TX"
            );
            for n in v {
                println!(
                    "{:<4} {:<16} {:<8} {:<8} {:<11} {:>8} {:>12} {:>12}  {}",
                    n.instance,
                    n.name,
                    n.service,
                    n.state,
                    n.mode.to_string(),
                    n.pid,
                    n.rx,
                    n.tx,
                    table::drops_text(&n.drops)
                );
            }
        }
        Response::Services(v) => {
            println!(
                "{:<4} {:<16} instances (buckets of {})",
                "SID",
                "NAME",
                sluice_shm::BUCKETS
            );
            for s in v {
                let inst: Vec<String> = s
                    .instances
                    .iter()
                    .zip(&s.buckets)
                    .map(|(i, b)| format!("{i}({b})"))
                    .collect();
                println!(
                    "{:<4} {:<16} {}",
                    s.id,
                    s.name,
                    if inst.is_empty() {
                        "-".into()
                    } else {
                        inst.join(" ")
                    }
                );
            }
        }
        Response::Chains(v) => {
            println!("{:<4} {:<16} {:<50} default for", "ID", "NAME", "STEPS");
            for c in v {
                println!(
                    "{:<4} {:<16} {:<50} {}",
                    c.id,
                    c.name,
                    c.steps.join(" -> "),
                    c.default_for.join(", ")
                );
            }
        }
        Response::Ports(v) => {
            println!(
                "{:<3} {:<12} {:<9} {:<5} {:>12} {:>12} {:>14} {:>14} {:>7}  drops",
                "ID", "NAME", "KIND", "LINK", "RX", "TX", "RX bytes", "TX bytes", "errors"
            );
            for p in v {
                println!(
                    "{:<3} {:<12} {:<9} {:<5} {:>12} {:>12} {:>14} {:>14} {:>7}  {}",
                    p.id,
                    p.name,
                    p.kind,
                    p.link,
                    p.rx,
                    p.tx,
                    p.rx_bytes,
                    p.tx_bytes,
                    p.errors,
                    table::drops_text(&p.drops)
                );
            }
        }
        Response::Flows(v) => {
            if v.is_empty() {
                println!("no flow rules");
            }
            for f in v {
                println!("{}  =>  {}", f.flow, f.chain);
            }
        }
        Response::Stats(s) => print!("{}", table::render(&s)),
        other => bail!("unexpected answer from sluiced: {other:?}"),
    }
    Ok(())
}
