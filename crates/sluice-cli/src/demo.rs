//! `sluice demo`: generator → firewall → flow-tracker → monitor → sink, three NF processes
//! over shared memory, with sluiced's live table. Runs unprivileged in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Options of the demo.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// How long to run, in seconds (Ctrl-C stops it earlier).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Generator rate in packets per second (0 = as fast as possible).
    #[arg(long, default_value_t = 500_000.0)]
    rate: f64,
    /// Run mode: shared-core suits small machines; poll needs a core per NF.
    #[arg(long, default_value = "shared-core")]
    mode: String,
    /// Directory for the config, socket and NF logs (default: a new temporary one, removed
    /// afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
}

const FIREWALL_RULES: &str = r#"# Demo rules: flows from UDP source ports 1024-1031 are denied, the rest of 10/8 allowed.
default = "deny"

[[rule]]
action = "deny"
proto = "udp"
src_ports = "1024-1031"

[[rule]]
action = "allow"
src = "10.0.0.0/8"
"#;

fn config(dir: &Path, a: &DemoArgs) -> String {
    format!(
        r#"# Written by `sluice demo`.
[manager]
socket = "{sock}"
run_mode = "{mode}"
threads = 1
console = true
wait_for_chains = true
ttl = {ttl}

[pool]
slots = 16384
hugepages = "never"

[[services]]
id = 1
name = "firewall"

[[services]]
id = 2
name = "flow-tracker"

[[services]]
id = 3
name = "monitor"

[[ports]]
name = "gen0"
kind = "generator"
size = 64
flows = 64
rate_pps = {rate}

[[ports]]
name = "sink"
kind = "null"

[[chains]]
name = "demo"
steps = ["firewall", "flow-tracker", "monitor", "port:sink"]
"#,
        sock = dir.join("sluiced.sock").display(),
        mode = a.mode,
        ttl = a.seconds,
        rate = a.rate,
    )
}

/// Programs are found next to this one (target/release or an installed bin directory).
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("locating the sluice binary")?;
    let p = me.with_file_name(name);
    if !p.exists() {
        bail!(
            "{} not found next to {}: build the whole workspace first (cargo build --release)",
            name,
            me.display()
        );
    }
    Ok(p)
}

fn spawn_nf(
    dir: &Path,
    bin: &str,
    service: &str,
    extra: &[&str],
    mode: &str,
) -> anyhow::Result<Child> {
    let log = std::fs::File::create(dir.join(format!("{bin}.log")))?;
    Command::new(sibling(bin)?)
        .args([
            "--socket",
            &dir.join("sluiced.sock").display().to_string(),
            "--service",
            service,
        ])
        .args(["--mode", mode])
        .args(extra)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {bin}"))
}

/// Run the demo.
pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let (dir, temp) = match &a.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("sluice-demo-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let cfg = dir.join("sluiced.toml");
    std::fs::write(&cfg, config(&dir, &a))?;
    std::fs::write(dir.join("rules.toml"), FIREWALL_RULES)?;
    println!(
        "sluice demo: config, socket and NF logs in {}",
        dir.display()
    );
    let mut mgr = Command::new(sibling("sluiced")?)
        .args(["--config", &cfg.display().to_string()])
        .stderr(std::fs::File::create(dir.join("sluiced.log"))?)
        .stdout(Stdio::inherit())
        .spawn()
        .context("starting sluiced")?;
    let sock = dir.join("sluiced.sock");
    let t0 = Instant::now();
    while !sock.exists() {
        if let Some(st) = mgr.try_wait()? {
            bail!(
                "sluiced exited ({st}); see {}",
                dir.join("sluiced.log").display()
            );
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = mgr.kill();
            bail!(
                "sluiced did not open its socket; see {}",
                dir.join("sluiced.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let rules = dir.join("rules.toml").display().to_string();
    let mut nfs = vec![
        spawn_nf(
            &dir,
            "sluice-firewall",
            "firewall",
            &["--rules", &rules],
            &a.mode,
        )?,
        spawn_nf(&dir, "sluice-flow-tracker", "flow-tracker", &[], &a.mode)?,
        spawn_nf(
            &dir,
            "sluice-monitor",
            "monitor",
            &["--print-every", "0"],
            &a.mode,
        )?,
    ];
    // Ctrl-C reaches sluiced and the NFs too (same process group); they stop cleanly and
    // this process waits for them instead of dying first.
    // SAFETY: setting a signal disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    let status = mgr.wait()?;
    for nf in &mut nfs {
        let deadline = Instant::now() + Duration::from_secs(3);
        while nf.try_wait()?.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = nf.kill();
        let _ = nf.wait();
    }
    if temp {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if !status.success() {
        bail!("sluiced exited with {status}");
    }
    println!("sluice demo: done");
    Ok(())
}
