//! Distributed-mode test hosts: network namespaces joined by veth to bridges in this
//! namespace (a management bridge with an address, where a ZooKeeper ensemble can listen,
//! and an underlay bridge without one), each running its own sluiced through
//! `ip netns exec`. Everything (processes, namespaces, links) goes when the guards drop, also
//! when the test fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_ctl::{ClusterInfo, Conn, Request, Response, StatsSnapshot};

use crate::netns::{ip, Hosts};
use crate::{bin, TestDir};

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

/// A sluiced running inside a network namespace.
pub struct NsDaemon {
    child: Option<Child>,
    /// Its control socket (reachable from any namespace: it is a file).
    pub sock: PathBuf,
    log: PathBuf,
}

impl NsDaemon {
    /// Start sluiced in `ns` with `config` (`{socket}` is replaced); `name` names its files
    /// in `dir`. Waits for the socket; panics with the log if it exits first.
    pub fn start(dir: &TestDir, ns: &str, name: &str, config: &str) -> NsDaemon {
        let d = NsDaemon::spawn(dir, ns, name, config);
        let t0 = Instant::now();
        let mut d = d;
        while Conn::connect(&d.sock).is_err() {
            if let Some(st) = d.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("sluiced {name} exited ({st}) at start:\n{}", d.log());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "sluiced {name} did not start:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// Start it without waiting (for a start that is expected to fail).
    pub fn spawn(dir: &TestDir, ns: &str, name: &str, config: &str) -> NsDaemon {
        let sock = dir.path(&format!("{name}.sock"));
        let _ = std::fs::remove_file(&sock);
        let text = config.replace("{socket}", &sock.display().to_string());
        let cfg = dir.path(&format!("{name}.toml"));
        std::fs::write(&cfg, text).expect("write config");
        let log = dir.path(&format!("{name}.log"));
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(bin("sluiced"))
            .args(["--config", &cfg.display().to_string(), "--no-console"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn sluiced");
        NsDaemon {
            child: Some(child),
            sock,
            log,
        }
    }

    /// Waits up to `timeout` for it to exit; its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One request.
    pub fn call(&self, req: Request) -> Response {
        let mut c = Conn::connect(&self.sock).expect("connect to sluiced");
        c.call(&req, Duration::from_secs(10)).expect("call sluiced")
    }

    /// Statistics.
    pub fn stats(&self) -> StatsSnapshot {
        match self.call(Request::Stats) {
            Response::Stats(s) => *s,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The cluster view.
    pub fn cluster(&self) -> ClusterInfo {
        match self.call(Request::Cluster) {
            Response::Cluster(c) => *c,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// SIGKILL (the process is sluiced itself: `ip netns exec` execs it).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NsDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(5) {
                if c.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
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
