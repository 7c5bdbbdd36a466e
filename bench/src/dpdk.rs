//! DPDK figure: `dpdk-testpmd` forwarding between two `net_null` vdevs (io mode, one
//! forwarding core) next to sluiced doing the same with two `dpdk` ports (`net_null0`,
//! `net_null1`): port to port through the manager's default chains on one data-plane thread,
//! and through one forward NF. Same EAL memory setup for both (`--no-huge -m 512`), same run.
//!
//! sluiced must be built with DPDK ports: `cargo build --release -p sluiced --features dpdk`.
//! With this crate's own `dpdk` feature the figure also drives sluice-port's `dpdk` halves
//! directly in one thread (the port layer's cost without sluiced's rings and threads).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice_tests::{port, Daemon, NfProc, TestDir};

const TESTPMD: &str = "dpdk-testpmd";

/// EAL arguments shared by both sides (plus a file prefix of each process's own).
fn eal(prefix: &str, cores: &str) -> Vec<String> {
    [
        "--no-huge",
        "-m",
        "512",
        "--no-shconf",
        "--no-pci",
        "--no-telemetry",
        "--file-prefix",
        prefix,
        "-l",
        cores,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Removes a DPDK runtime directory when dropped.
struct RuntimeDir(String);

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(std::path::Path::new("/var/run/dpdk").join(&self.0));
        let _ = std::fs::remove_dir_all(std::path::Path::new("/tmp/dpdk").join(&self.0));
    }
}

/// The second port: receiving too, or (`one_way`) a pure sink (net_null's `no-rx`), so
/// frames only go null0 -> null1.
fn second(one_way: bool) -> &'static str {
    if one_way {
        "net_null1,no-rx=1"
    } else {
        "net_null1"
    }
}

/// The command line of the testpmd run (for BENCHMARKS.md).
pub fn testpmd_cmd(secs_period: u32, one_way: bool) -> String {
    format!(
        "{TESTPMD} {} --vdev net_null0 --vdev {} -- --forward-mode=io --nb-cores=1 \
         --total-num-mbufs=16384 --stats-period {secs_period}",
        eal("sluice-bench-tpmd-PID", "0,1").join(" "),
        second(one_way)
    )
}

/// testpmd's forwarding rate (both ports' Tx-pps summed), median of its 1-second reports
/// after a 2-second warm-up; None if testpmd cannot run.
pub fn testpmd(secs: f64, one_way: bool) -> Option<f64> {
    let prefix = format!("sluice-bench-tpmd-{}", std::process::id());
    let _dir = RuntimeDir(prefix.clone());
    let mut child = match Command::new(TESTPMD)
        .args(eal(&prefix, "0,1"))
        .args([
            "--vdev",
            "net_null0",
            "--vdev",
            second(one_way),
            "--",
            "--forward-mode=io",
            "--nb-cores=1",
            "--total-num-mbufs=16384",
            "--stats-period",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            println!("SKIP testpmd: cannot run {TESTPMD}: {e} (apt-get install dpdk-dev)");
            return None;
        }
    };
    let out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        // Each report has one Tx-pps line per port: sum them per report.
        let mut per_report = Vec::new();
        let mut cur = 0.0;
        let mut ports = 0;
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(v) = line.trim().strip_prefix("Tx-pps:") {
                if let Some(x) = v
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<f64>().ok())
                {
                    cur += x;
                    ports += 1;
                    if ports == 2 {
                        per_report.push(cur);
                        cur = 0.0;
                        ports = 0;
                    }
                }
            }
        }
        per_report
    });
    std::thread::sleep(Duration::from_secs_f64(secs + 2.5));
    // SAFETY: kill(2) on our own child; testpmd stops cleanly on SIGINT.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let end = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let reports = reader.join().unwrap_or_default();
    let mut v: Vec<f64> = reports.into_iter().skip(2).collect();
    if v.is_empty() {
        println!("SKIP testpmd: no statistics reported");
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

/// sluiced forwarding between two net_null dpdk ports: port to port on one data-plane
/// thread on core 1 (`nf = false`), or through one forward NF (manager on core 0, NF on core
/// 1). Returns packets per second leaving both ports, or None (with the reason printed).
pub fn sluiced(secs: f64, nf: bool, one_way: bool) -> Option<f64> {
    let prefix = format!("sluice-bench-sluiced-{}", std::process::id());
    let _rt = RuntimeDir(prefix.clone());
    let dir = TestDir::new("bench-dpdk");
    let args: Vec<String> = eal(&prefix, "0")
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect();
    // Port to port: one data-plane thread on core 1 one way; both ways an RX thread on core 0
    // and a TX thread on core 1 (with one combined thread the manager's own tx ring fills and
    // stalls: its TX side takes one burst per poll while two ports feed it). Through an NF:
    // one manager thread on core 0, the NF on core 1.
    let (threads, cores, steps0, steps1, services) = if nf {
        (
            1,
            "0",
            "\"fwd\", \"port:null1\"",
            "\"fwd\", \"port:null0\"",
            "[[services]]\nid = 1\nname = \"fwd\"\n",
        )
    } else {
        let (t, c) = if one_way { (1, "1") } else { (2, "0, 1") };
        (t, c, "\"port:null1\"", "\"port:null0\"", "")
    };
    let cfg = format!(
        "[manager]\nsocket = \"{{socket}}\"\nrun_mode = \"poll\"\nthreads = {threads}\ncores = [{cores}]\n\
         console = false\nstats_interval = 0.5\nwait_for_chains = {nf}\n\n\
         [pool]\nslots = 32768\nring_size = 4096\n\n\
         [dpdk]\neal_args = [{}]\n\n{services}\n\
         [[ports]]\nname = \"null0\"\nkind = \"dpdk\"\ndevice = \"net_null0\"\n\n\
         [[ports]]\nname = \"null1\"\nkind = \"dpdk\"\ndevice = \"{}\"\n\n\
         [[chains]]\nname = \"to1\"\nsteps = [{steps0}]\n\n\
         [[chains]]\nname = \"to0\"\nsteps = [{steps1}]\n\n\
         [default_chains]\nnull0 = \"to1\"\nnull1 = \"to0\"\n",
        args.join(", "),
        second(one_way)
    );
    let d = Daemon::start_with(&dir, &cfg, "warn");
    let _nf = nf.then(|| {
        let p = NfProc::spawn_with(
            &dir,
            &d,
            "sluice-forward",
            "fwd",
            "fwd",
            &["--mode", "poll"],
            Some(1),
        );
        d.wait_running(1);
        p
    });
    std::thread::sleep(Duration::from_millis(1000));
    let log = d.log();
    if log.contains("without the dpdk feature") || log.contains("not built in") {
        println!(
            "SKIP sluiced: built without DPDK ports; run `cargo build --release -p sluiced \
             --features dpdk` first"
        );
        return None;
    }
    let tx = |s: &sluice_ctl::StatsSnapshot| port(s, "null0").tx + port(s, "null1").tx;
    let a = d.stats();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let b = d.stats();
    let rate = (tx(&b) - tx(&a)) as f64 / t0.elapsed().as_secs_f64();
    if rate == 0.0 {
        println!("sluiced forwarded nothing; its log:\n{}", d.log());
    }
    let _ = d.shutdown();
    Some(rate)
}

/// sluice-port's `dpdk` halves driven directly by one thread on core 1: net_null0 RX ->
/// net_null1 TX and back, through pool slots (copy in, copy out), as sluiced's threads call
/// them but without its rings. Packets per second sent on both ports.
#[cfg(feature = "dpdk")]
pub fn port_loop(secs: f64, one_way: bool) -> Option<f64> {
    use sluice_port::{DpdkConfig, PortConfig, PortKind};
    use sluice_shm::{Buffers, HugePolicy, PoolCache, Region, RegionConfig};
    let prefix = format!("sluice-bench-ports-{}", std::process::id());
    if let Err(e) = sluice_port::dpdk_init(&eal(&prefix, "0")) {
        println!("SKIP port loop: {e}");
        return None;
    }
    let region = Region::create(
        &RegionConfig {
            slots: 8192,
            data_room: 2048,
            headroom: 128,
            max_nfs: 2,
            ring_size: 64,
        },
        HugePolicy::Never,
    )
    .ok()?;
    let open = |id: u16, dev: &str| {
        let pc = PortConfig {
            name: dev.into(),
            kind: PortKind::Dpdk(DpdkConfig {
                device: dev.into(),
                ..Default::default()
            }),
        };
        sluice_port::open(id, &pc, &region)
    };
    let (mut a, mut b) = match (
        open(0, "net_null8"),
        open(
            1,
            if one_way {
                "net_null9,no-rx=1"
            } else {
                "net_null9"
            },
        ),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            println!("SKIP port loop: {e}");
            return None;
        }
    };
    let (mut ra, mut ta) = (a.rx.take()?, a.tx.take()?);
    let (mut rb, mut tb) = (b.rx.take()?, b.tx.take()?);
    let rate = std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: cpu_set_t is plain data; pins this thread only.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(1, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
            let mut cache = PoolCache::new(1024, None, None);
            let mut slots = [0u32; 32];
            let mut sent = 0u64;
            let t0 = Instant::now();
            let end = t0 + Duration::from_secs_f64(secs);
            let mut i = 0u32;
            loop {
                i += 1;
                if i.is_multiple_of(1024) && Instant::now() >= end {
                    break;
                }
                let mut buf = Buffers::cached(&region, &mut cache);
                let n = ra.rx_burst(&mut buf, &mut slots);
                let t = tb.tx_burst(&mut buf, &slots[..n]);
                buf.free(&slots[t..n]);
                let m = rb.rx_burst(&mut buf, &mut slots);
                let u = ta.tx_burst(&mut buf, &slots[..m]);
                buf.free(&slots[u..m]);
                sent += (t + u) as u64;
            }
            let rate = sent as f64 / t0.elapsed().as_secs_f64();
            cache.drain(&region);
            rate
        })
        .join()
        .ok()
    });
    drop((ra, ta, rb, tb));
    rate
}

/// Without this crate's `dpdk` feature there is no port loop figure.
#[cfg(not(feature = "dpdk"))]
pub fn port_loop(_secs: f64, _one_way: bool) -> Option<f64> {
    None
}

/// Shut the in-process EAL down (after the last `port_loop`).
pub fn finish() {
    #[cfg(feature = "dpdk")]
    sluice_port::dpdk_cleanup();
}
