//! Test harness: a real ZooKeeper ensemble (Debian's `zookeeper` package) on this machine.
//!
//! [`Ensemble::start`] writes a `zoo.cfg` and `myid` per node under a fresh directory, picks
//! free ports (bind to port 0 first), launches `java … QuorumPeerMain` per node and waits until
//! every node says it is serving (`srvr`). Dropping the [`Ensemble`] — also while a test
//! panics — kills every java process it started and removes its directory.
//!
//! ```no_run
//! use sluice_cluster::testing::{zookeeper_available, Ensemble, SKIP_MESSAGE};
//! if !zookeeper_available() {
//!     println!("{SKIP_MESSAGE}");
//!     return;
//! }
//! let ens = Ensemble::start(3, std::env::temp_dir()).unwrap();
//! let connect = ens.connect_string();
//! # let _ = connect;
//! ```

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The jar a test needs; absent means the package is not installed.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// What a test prints when it cannot run.
pub const SKIP_MESSAGE: &str =
    "SKIP: Debian's zookeeper package is not installed (apt-get install zookeeper)";

/// Whether Debian's `zookeeper` package (and so java) is installed.
pub fn zookeeper_available() -> bool {
    Path::new(ZOOKEEPER_JAR).exists()
}

const CLASSPATH: &str = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar";

/// How long [`Ensemble::start`] and [`Ensemble::restart_all`] wait for the nodes to serve.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

struct Node {
    dir: PathBuf,
    client_port: u16,
    child: Option<Child>,
    /// `sh` loop that kills the java process if this (test) process dies without running
    /// `Drop` (SIGKILL, abort).
    watchdog: Option<Child>,
}

/// Starts a shell loop that SIGKILLs `java_pid` once this process is gone, and exits by
/// itself when java ends first.
fn spawn_watchdog(java_pid: u32) -> Option<Child> {
    let me = std::process::id();
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -0 {me} 2>/dev/null && kill -0 {java_pid} 2>/dev/null; do sleep 0.5; done; \
             kill -0 {me} 2>/dev/null || kill -9 {java_pid} 2>/dev/null"
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// A ZooKeeper ensemble of `n` local servers. See the module docs.
pub struct Ensemble {
    base: PathBuf,
    addr: IpAddr,
    nodes: Vec<Node>,
}

fn free_ports(addr: IpAddr, n: usize) -> std::io::Result<Vec<u16>> {
    // Hold every listener until all ports are chosen so they are distinct.
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind(SocketAddr::new(addr, 0)))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// Removes `zk-ensemble-<pid>-<n>` directories left by test processes that died without
/// running `Drop` (their pid no longer exists).
fn remove_stale_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("zk-ensemble-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Sends a four-letter word to `addr` and returns the answer ("" on any error).
pub fn four_letter(addr: SocketAddr, word: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(word.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

impl Ensemble {
    /// Starts `n` servers on 127.0.0.1 under a new directory inside `base_dir`, and waits
    /// until all serve. `n == 1` is a standalone server.
    pub fn start(n: usize, base_dir: impl AsRef<Path>) -> std::io::Result<Ensemble> {
        Self::start_on(n, base_dir, IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Like [`Ensemble::start`], with every server listening on `addr` (for example a veth
    /// address in the root namespace, so hosts inside network namespaces can reach it).
    pub fn start_on(
        n: usize,
        base_dir: impl AsRef<Path>,
        addr: IpAddr,
    ) -> std::io::Result<Ensemble> {
        assert!(n >= 1, "an ensemble needs at least one server");
        remove_stale_dirs(base_dir.as_ref());
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = base_dir.as_ref().join(format!(
            "zk-ensemble-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base)?;
        let mut ens = Ensemble {
            base,
            addr,
            nodes: Vec::new(),
        };
        let ports = free_ports(addr, 3 * n)?;
        let servers: String = (0..n)
            .map(|i| {
                format!(
                    "server.{}={}:{}:{}\n",
                    i + 1,
                    addr,
                    ports[3 * i + 1],
                    ports[3 * i + 2]
                )
            })
            .collect();
        for i in 0..n {
            let dir = ens.base.join(format!("node{}", i + 1));
            let data = dir.join("data");
            fs::create_dir_all(&data)?;
            fs::write(data.join("myid"), format!("{}\n", i + 1))?;
            let mut cfg = format!(
                "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\nclientPortAddress={}\n\
                 admin.enableServer=false\n4lw.commands.whitelist=*\nforceSync=no\npreAllocSize=4096\n\
                 maxClientCnxns=0\n",
                data.display(),
                ports[3 * i],
                addr
            );
            if n > 1 {
                cfg.push_str(&servers);
            }
            fs::write(dir.join("zoo.cfg"), cfg)?;
            ens.nodes.push(Node {
                dir,
                client_port: ports[3 * i],
                child: None,
                watchdog: None,
            });
        }
        for i in 0..n {
            ens.spawn(i)?;
        }
        ens.wait_all_serving(START_TIMEOUT)?;
        Ok(ens)
    }

    fn spawn(&mut self, i: usize) -> std::io::Result<()> {
        let node = &mut self.nodes[i];
        if node.child.is_some() {
            return Ok(());
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("zk.log"))?;
        let child = Command::new("java")
            .args([
                "-Xmx128m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                &format!("-Dzookeeper.log.dir={}", node.dir.display()),
                "-Dzookeeper.root.logger=INFO,CONSOLE",
                "-Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties",
                "-cp",
                CLASSPATH,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            ])
            .arg(node.dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        node.watchdog = spawn_watchdog(child.id());
        node.child = Some(child);
        Ok(())
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false (an ensemble has at least one server).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The client address of node `i` (0-based).
    pub fn client_addr(&self, i: usize) -> SocketAddr {
        SocketAddr::new(self.addr, self.nodes[i].client_port)
    }

    /// `host:port,host:port,...` of all servers.
    pub fn connect_string(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.client_addr(i).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node's mode from `srvr` (`leader`, `follower`, `standalone`), `None` when it is
    /// not serving.
    pub fn mode(&self, i: usize) -> Option<String> {
        let out = four_letter(self.client_addr(i), "srvr");
        out.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_string())
    }

    /// Index of the current leader, if one serves.
    pub fn leader(&self) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.mode(i).as_deref() == Some("leader"))
    }

    /// Whether node `i`'s process is running (started by this harness and not killed).
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// Waits until node `i` serves clients.
    pub fn wait_serving(&self, i: usize, timeout: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.mode(i).is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "ZooKeeper node {} ({}) not serving after {timeout:?}; log: {}",
                        i + 1,
                        self.client_addr(i),
                        self.nodes[i].dir.join("zk.log").display()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_all_serving(&self, timeout: Duration) -> std::io::Result<()> {
        for i in 0..self.nodes.len() {
            if self.is_running(i) {
                self.wait_serving(i, timeout)?;
            }
        }
        Ok(())
    }

    /// Kills node `i` (SIGKILL) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut w) = self.nodes[i].watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    /// Kills every node.
    pub fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }

    /// Starts node `i` again (same ports and data). Waits until it serves when a quorum of
    /// nodes is running; otherwise returns at once (use [`Ensemble::restart_all`]).
    pub fn restart(&mut self, i: usize) -> std::io::Result<()> {
        self.spawn(i)?;
        let running = self.nodes.iter().filter(|n| n.child.is_some()).count();
        if running * 2 > self.nodes.len() {
            self.wait_serving(i, START_TIMEOUT)?;
        }
        Ok(())
    }

    /// Starts every stopped node and waits until all serve.
    pub fn restart_all(&mut self) -> std::io::Result<()> {
        for i in 0..self.nodes.len() {
            self.spawn(i)?;
        }
        self.wait_all_serving(START_TIMEOUT)
    }

    /// The ensemble's directory (configs, data, `nodeN/zk.log`).
    pub fn dir(&self) -> &Path {
        &self.base
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        self.stop_all();
        let _ = fs::remove_dir_all(&self.base);
    }
}
