//! `sluice cluster hosts|services|routes`: distributed mode as this host sees it, with the
//! tunnel peers' counters.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;
use sluice_ctl::{ClusterInfo, Conn, Request, Response};

/// What `sluice cluster` shows.
#[derive(Subcommand, Clone, Copy)]
pub enum ClusterCmd {
    /// Live hosts (tunnel endpoint, MAC, version) and the tunnel peers' counters (packets,
    /// bytes, drops by reason).
    Hosts,
    /// Services and the hosts that run them.
    Services,
    /// Where this host sends each service's packets (local, remote hosts, none).
    Routes,
}

/// Asks sluiced and prints the answer (JSON: the whole `ClusterInfo`).
pub fn run(socket: &Option<PathBuf>, json: bool, cmd: ClusterCmd) -> anyhow::Result<()> {
    let path = sluice_ctl::socket_path(socket.as_deref());
    let mut conn = Conn::connect(&path)?;
    let info = match conn.call(&Request::Cluster, Duration::from_secs(10))? {
        Response::Cluster(i) => *i,
        Response::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer: {other:?}"),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        print!("{}", render(&info, cmd));
    }
    Ok(())
}

/// The table for `cmd`.
pub fn render(info: &ClusterInfo, cmd: ClusterCmd) -> String {
    let mut o = String::new();
    if info.enabled {
        let _ = writeln!(
            o,
            "host {} (number {}), ZooKeeper {} session {}, policy {}",
            info.host_id, info.host_number, info.status, info.session, info.policy
        );
    } else {
        let _ = writeln!(
            o,
            "distributed mode is off (no [cluster] in sluiced's config)"
        );
    }
    for i in &info.ignored {
        let _ = writeln!(o, "ignored: {i}");
    }
    match cmd {
        ClusterCmd::Hosts => {
            let _ = writeln!(
                o,
                "{:<16} {:<22} {:<6} {:<18} {:<8} local",
                "host", "tunnel", "mode", "mac", "version"
            );
            for h in &info.hosts {
                let _ = writeln!(
                    o,
                    "{:<16} {:<22} {:<6} {:<18} {:<8} {}",
                    h.host_id,
                    h.tunnel,
                    h.mode,
                    h.mac,
                    h.version,
                    if h.local { "*" } else { "" }
                );
            }
            let _ = writeln!(o, "\ntunnel peers:");
            let _ = writeln!(
                o,
                "{:<20} {:<6} {:<16} {:<18} {:>10} {:>12} {:>10} {:>12}  drops",
                "peer", "kind", "ip", "next-hop mac", "tx pkts", "tx bytes", "rx pkts", "rx bytes"
            );
            for p in &info.peers {
                let drops = if p.drops.is_empty() {
                    "-".to_string()
                } else {
                    p.drops
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let _ = writeln!(
                    o,
                    "{:<20} {:<6} {:<16} {:<18} {:>10} {:>12} {:>10} {:>12}  {}",
                    p.peer,
                    p.kind,
                    p.ip,
                    if p.mac.is_empty() { "-" } else { &p.mac },
                    p.tx_packets,
                    p.tx_bytes,
                    p.rx_packets,
                    p.rx_bytes,
                    drops
                );
            }
        }
        ClusterCmd::Services => {
            let _ = writeln!(o, "{:<8} {:<16} hosts (instances)", "service", "name");
            for s in &info.services {
                let hosts = s
                    .hosts
                    .iter()
                    .map(|(h, n)| format!("{h}({n})"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let _ = writeln!(o, "{:<8} {:<16} {}", s.service, s.name, hosts);
            }
        }
        ClusterCmd::Routes => {
            let _ = writeln!(
                o,
                "{:<8} {:<16} {:>6} {:<7} remote (host endpoint instances)",
                "service", "name", "local", "route"
            );
            for r in &info.routes {
                let remote = r
                    .remote
                    .iter()
                    .map(|(h, ep, n)| format!("{h} {ep} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = writeln!(
                    o,
                    "{:<8} {:<16} {:>6} {:<7} {}",
                    r.service, r.name, r.local_instances, r.route, remote
                );
            }
        }
    }
    o
}
