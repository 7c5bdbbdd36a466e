//! Distributed-mode test hosts: network namespaces joined by veth to bridges in this
//! namespace (a management bridge with an address, where a ZooKeeper ensemble can listen,
//! and an underlay bridge without one), each running its own sluiced through
//! `ip netns exec`. Everything (processes, namespaces, links) goes when the guards drop, also
//! when the test fails.

use std::process::Command;
use std::time::{Duration, Instant};

use sluice_ctl::{ClusterInfo, Request, Response};

use crate::netns::{ip, Hosts};
use crate::{Daemon, TestDir};

/// Runs `args` inside namespace `ns` and fails the test if it fails.
pub fn in_ns(ns: &str, args: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("ip netns exec");
    assert!(
        out.status.success(),
        "in {ns}: {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Namespaces and links of a test cluster (deleted on drop).
pub struct Net {
    /// The guard that deletes them.
    pub hosts: Hosts,
    /// Management bridge (has `mgmt_ip`/24).
    pub mgmt: String,
    /// Underlay bridge (no address).
    pub underlay: String,
    tag: String,
}

impl Net {
    /// Bridges `<tag>m` (address `mgmt_ip`/24) and `<tag>u`, both up.
    pub fn new(tag: &str, mgmt_ip: &str) -> Net {
        let mut hosts = Hosts::default();
        let (mgmt, underlay) = (format!("{tag}m"), format!("{tag}u"));
        for b in [&mgmt, &underlay] {
            ip(&["link", "add", b, "type", "bridge"]);
            hosts.own_link(b);
            ip(&["link", "set", b, "up"]);
        }
        ip(&["addr", "add", &format!("{mgmt_ip}/24"), "dev", &mgmt]);
        Net {
            hosts,
            mgmt,
            underlay,
            tag: tag.to_string(),
        }
    }

    /// Namespace `<tag><n>` with `<tag><n>m` (address `mgmt_ip`/24, on the management bridge)
    /// and `<tag><n>u` (no address, on the underlay bridge; sluiced's tunnel port), IPv6 off.
    /// Returns (namespace, underlay interface inside).
    pub fn host(&mut self, n: usize, mgmt_ip: &str) -> (String, String) {
        let ns = format!("{}{n}", self.tag);
        ip(&["netns", "add", &ns]);
        self.hosts.own_netns(&ns);
        in_ns(&ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        in_ns(
            &ns,
            &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
        );
        in_ns(&ns, &["ip", "link", "set", "lo", "up"]);
        let mut inner = Vec::new();
        for (kind, bridge) in [("m", self.mgmt.clone()), ("u", self.underlay.clone())] {
            let root = format!("{}{n}{kind}", self.tag);
            let peer = format!("{root}p");
            ip(&[
                "link", "add", &root, "type", "veth", "peer", "name", &peer, "netns", &ns,
            ]);
            self.hosts.own_link(&root);
            ip(&["link", "set", &root, "master", &bridge]);
            ip(&["link", "set", &root, "up"]);
            in_ns(&ns, &["ip", "link", "set", &peer, "up"]);
            inner.push(peer);
        }
        in_ns(
            &ns,
            &[
                "ip",
                "addr",
                "add",
                &format!("{mgmt_ip}/24"),
                "dev",
                &inner[0],
            ],
        );
        (ns, inner[1].clone())
    }
}

/// Start sluiced in host namespace `ns` (see [`Daemon::start_in`]).
pub fn start_host(dir: &TestDir, ns: &str, name: &str, config: &str) -> Daemon {
    Daemon::start_in(dir, Some(ns), name, config, "info")
}

/// Start sluiced in host namespace `ns` without waiting for it (a start expected to fail).
pub fn spawn_host(dir: &TestDir, ns: &str, name: &str, config: &str) -> Daemon {
    Daemon::spawn_in(dir, Some(ns), name, config, "info")
}

/// The cluster view of a sluiced (`sluice cluster`).
pub trait ClusterView {
    /// Hosts, services, routes and tunnel peers as sluiced sees them.
    fn cluster(&self) -> ClusterInfo;
}

impl ClusterView for Daemon {
    fn cluster(&self) -> ClusterInfo {
        match self.call(Request::Cluster) {
            Response::Cluster(c) => *c,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Polls `f` every 20 ms until it returns true or `timeout` passes; returns the time taken.
pub fn wait_for(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}
