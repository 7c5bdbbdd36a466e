//! Harness for system tests: a temporary directory, a running `sluiced`, NF processes, and
//! control-socket helpers. Every process is killed when its handle drops, so a failing test
//! leaves nothing running.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sluice_ctl::{Conn, Request, Response, StatsSnapshot};

pub mod cluster;
pub mod netns;

/// A workspace binary: next to the running program (benchmarks) or one level up from a
/// test executable in `deps/`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let here = exe.parent().expect("executable dir");
    let candidates = [
        here.join(name),
        here.parent().map(|d| d.join(name)).unwrap_or_default(),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{name} is missing next to {}: build every binary first (`cargo test --workspace` \
             or `cargo build --release --workspace`)",
                exe.display()
            )
        })
}

/// A temporary directory removed on drop (kept if SLUICE_KEEP_TEST_DIR is set).
pub struct TestDir(pub PathBuf);

impl TestDir {
    /// A fresh directory named after the test.
    pub fn new(name: &str) -> TestDir {
        let p = std::env::temp_dir().join(format!("sluice-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create test dir");
        TestDir(p)
    }

    /// A path inside.
    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }

    /// The contents of a log file written in the directory (for failure messages).
    pub fn log(&self, f: &str) -> String {
        std::fs::read_to_string(self.path(f)).unwrap_or_default()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("SLUICE_KEEP_TEST_DIR").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A running sluiced.
pub struct Daemon {
    child: Option<Child>,
    /// Its control socket.
    pub sock: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Start sluiced with `config` (the text may use `{socket}` and `{dir}`); waits for its
    /// socket. `[manager] console` defaults to false here unless the config sets it.
    pub fn start(dir: &TestDir, config: &str) -> Daemon {
        Daemon::start_with(dir, config, "info")
    }

    /// As `start`, with a log filter (benchmarks use "warn").
    pub fn start_with(dir: &TestDir, config: &str, log_filter: &str) -> Daemon {
        Daemon::start_in(dir, None, "sluiced", config, log_filter)
    }

    /// Start sluiced inside network namespace `ns` (None: this one); `name` names its
    /// config, socket and log in `dir`. Waits for the socket; panics with the log if sluiced
    /// exits first.
    pub fn start_in(
        dir: &TestDir,
        ns: Option<&str>,
        name: &str,
        config: &str,
        log_filter: &str,
    ) -> Daemon {
        let mut d = Daemon::spawn_in(dir, ns, name, config, log_filter);
        let t0 = Instant::now();
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

    /// As `start_in`, without waiting (for a start that is expected to fail). The socket
    /// (a file) is reachable from every namespace.
    pub fn spawn_in(
        dir: &TestDir,
        ns: Option<&str>,
        name: &str,
        config: &str,
        log_filter: &str,
    ) -> Daemon {
        let sock = dir.path(&format!("{name}.sock"));
        let _ = std::fs::remove_file(&sock);
        let text = config
            .replace("{socket}", &sock.display().to_string())
            .replace("{dir}", &dir.0.display().to_string());
        let cfg = dir.path(&format!("{name}.toml"));
        std::fs::write(&cfg, text).expect("write config");
        let log = dir.path(&format!("{name}.log"));
        // `ip netns exec` execs sluiced, so the child is sluiced itself.
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin("sluiced"));
                c
            }
            None => Command::new(bin("sluiced")),
        };
        let child = cmd
            .args(["--config", &cfg.display().to_string(), "--no-console"])
            .env("RUST_LOG", log_filter)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn sluiced");
        Daemon {
            child: Some(child),
            sock,
            log,
        }
    }

    /// Waits up to `timeout` for it to exit on its own; its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
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

    /// SIGKILL it (a crash, as far as the rest of the system can tell).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// sluiced's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One request, one response.
    pub fn call(&self, req: Request) -> Response {
        let mut c = Conn::connect(&self.sock).expect("connect to sluiced");
        c.call(&req, Duration::from_secs(10)).expect("call sluiced")
    }

    /// Statistics snapshot.
    pub fn stats(&self) -> StatsSnapshot {
        match self.call(Request::Stats) {
            Response::Stats(s) => *s,
            other => panic!("unexpected answer {other:?}"),
        }
    }

    /// Poll stats until `cond` holds; panics with the table and log after `timeout`.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&StatsSnapshot) -> bool,
    ) -> StatsSnapshot {
        let t0 = Instant::now();
        loop {
            let s = self.stats();
            if cond(&s) {
                return s;
            }
            if t0.elapsed() > timeout {
                panic!(
                    "timed out waiting for {what}:\n{}\n--- sluiced log ---\n{}",
                    sluice_ctl::table::render(&s),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until `n` NFs are running.
    pub fn wait_running(&self, n: usize) -> StatsSnapshot {
        self.wait_until(&format!("{n} running NFs"), Duration::from_secs(30), |s| {
            s.nfs.iter().filter(|x| x.state == "running").count() >= n
        })
    }

    /// Ask it to stop and wait for the exit.
    pub fn shutdown(mut self) -> ExitStatus {
        let _ = self.call(Request::Shutdown);
        let mut c = self.child.take().expect("running");
        let t0 = Instant::now();
        loop {
            if let Some(st) = c.try_wait().expect("wait") {
                return st;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = c.kill();
                panic!("sluiced did not stop:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An NF process.
pub struct NfProc {
    /// The process.
    pub child: Child,
    /// Its log file.
    pub log: PathBuf,
}

impl NfProc {
    /// Start `bin` joining `service`, in shared-core mode, logging to `<dir>/<tag>.log`.
    pub fn spawn(
        dir: &TestDir,
        d: &Daemon,
        binary: &str,
        service: &str,
        tag: &str,
        args: &[&str],
    ) -> NfProc {
        NfProc::spawn_with(dir, d, binary, service, tag, args, None)
    }

    /// As `spawn`, optionally pinned to one CPU core.
    pub fn spawn_with(
        dir: &TestDir,
        d: &Daemon,
        binary: &str,
        service: &str,
        tag: &str,
        args: &[&str],
        core: Option<usize>,
    ) -> NfProc {
        let sock = d.sock.display().to_string();
        let mut all = vec!["--socket", &sock, "--service", service, "--name", tag];
        all.extend_from_slice(args);
        NfProc::spawn_raw(dir, binary, tag, &all, core)
    }

    fn spawn_raw(
        dir: &TestDir,
        binary: &str,
        tag: &str,
        args: &[&str],
        core: Option<usize>,
    ) -> NfProc {
        use std::os::unix::process::CommandExt;
        let log = dir.path(&format!("{tag}.log"));
        let mut cmd = Command::new(bin(binary));
        if let Some(c) = core {
            // SAFETY: pre_exec runs in the forked child before exec; sched_setaffinity is
            // async-signal-safe and only touches the child.
            unsafe {
                cmd.pre_exec(move || {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(c, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                    Ok(())
                });
            }
        }
        let child = cmd
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&log)
                    .expect("log"),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {binary}: {e}"));
        NfProc { child, log }
    }

    /// Start `sluice-group` (co-located NFs) with `args`, optionally pinned.
    pub fn spawn_group(dir: &TestDir, d: &Daemon, args: &[&str], core: Option<usize>) -> NfProc {
        let mut all = vec!["--socket", d.sock.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        NfProc::spawn_raw(dir, "sluice-group", "group", &all, core)
    }

    /// Its output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait for it to exit on its own.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(
                t0.elapsed() < timeout,
                "NF did not exit:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NfProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Packets are conserved and nothing is in flight: every packet that entered left or was
/// dropped for a counted reason.
pub fn assert_conserved(s: &StatsSnapshot) {
    let a = s.accounting;
    assert_eq!(
        a.entered,
        a.left + a.dropped + a.in_flight,
        "packet accounting does not add up:\n{}",
        sluice_ctl::table::render(s)
    );
}

/// A port by name.
pub fn port<'a>(s: &'a StatsSnapshot, name: &str) -> &'a sluice_ctl::PortInfo {
    s.ports
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no port {name}"))
}

/// Sum of a manager drop reason.
pub fn manager_drop(s: &StatsSnapshot, reason: &str) -> u64 {
    s.manager_drops.get(reason).copied().unwrap_or(0)
}

/// Run `iplex ARGS` against `d`: its exit code and what it printed (stdout, then stderr).
pub fn iplex(d: &Daemon, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin("iplex"))
        .arg("--socket")
        .arg(&d.sock)
        .args(args)
        .output()
        .expect("run iplex");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Standard `[manager]` section for tests: shared-core mode (CI has 2 cores), one data-plane
/// thread, no console, the test's socket.
pub const MANAGER: &str = r#"
[manager]
socket = "{socket}"
run_mode = "shared-core"
threads = 1
console = false
stats_interval = 0.2
"#;
