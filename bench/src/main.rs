//! `sluice-bench`: runs sluiced and NF processes and prints throughput, per-hop cost,
//! latency percentiles and memory. Build everything in release first:
//! `cargo build --release --workspace && target/release/sluice-bench`.

use std::time::{Duration, Instant};

use clap::Parser;

mod cluster;
mod dpdk;
mod veth;
mod vf;
use sluice_tests::{port, Daemon, NfProc, TestDir};

/// Benchmarks of the single-host data plane (figures go in BENCHMARKS.md).
#[derive(Parser)]
struct Args {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Run only these: speed, pipeline, chains, memory, veth, dpdk, vf, cluster (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Internal: blast frames on this interface (run inside a namespace by the veth figure).
    #[arg(long, hide = true)]
    blast: Option<String>,
    /// Runs per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Chain lengths to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    lengths: Vec<usize>,
}

fn manager(mode: &str, threads: u8, cores: &str) -> String {
    format!(
        "[manager]\nsocket = \"{{socket}}\"\nrun_mode = \"{mode}\"\nthreads = {threads}\ncores = [{cores}]\nconsole = false\nstats_interval = 0.5\n\n[pool]\nslots = 32768\nring_size = 4096\n"
    )
}

fn services(n: usize) -> String {
    (1..=n)
        .map(|i| format!("[[services]]\nid = {i}\nname = \"f{i}\"\n\n"))
        .collect()
}

/// Generator (port 0) and sink (port 1); the chain ends with `port:sink` unless `to_sink` is
/// false (then the last NF sends out port 1 itself, so a chain of 8 NFs fits in 8 steps).
fn gen_sink(chain: &[String], to_sink: bool) -> String {
    let mut steps: Vec<String> = chain.iter().map(|s| format!("\"{s}\"")).collect();
    if to_sink {
        steps.push("\"port:sink\"".into());
    }
    format!(
        "[[ports]]\nname = \"gen\"\nkind = \"generator\"\nsize = 64\nflows = 1024\n\n\
         [[ports]]\nname = \"sink\"\nkind = \"null\"\n\n\
         [[chains]]\nname = \"main\"\nsteps = [{}]\n",
        steps.join(", ")
    )
}

/// NF `i` (1-based) of an `n`-NF chain: forward, except the last, which sends out port 1.
fn chain_nf(i: usize, n: usize) -> (&'static str, &'static [&'static str]) {
    if i == n {
        ("l2fwd", &["--port", "1", "--no-mac-update"])
    } else {
        ("forward", &[])
    }
}

/// Packets per second leaving `sink` over `secs` after a warm-up, and the fraction of
/// generated packets lost on the way.
fn sink_rate(d: &Daemon, secs: f64) -> (f64, f64) {
    std::thread::sleep(Duration::from_millis(700));
    let a = d.stats();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let b = d.stats();
    let out = (port(&b, "sink").tx - port(&a, "sink").tx) as f64;
    let inp = (port(&b, "gen").rx - port(&a, "gen").rx) as f64;
    (
        out / t0.elapsed().as_secs_f64(),
        if inp > 0.0 { 1.0 - out / inp } else { 0.0 },
    )
}

/// Runs `f` `n` times; returns (median, min, max). The machine is noisy (±20-30 % between
/// identical runs), so every figure is a median.
fn repeat(n: usize, mut f: impl FnMut() -> f64) -> (f64, f64, f64) {
    let mut v: Vec<f64> = (0..n).map(|_| f()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn mpps(r: (f64, f64, f64)) -> String {
    format!("{:.2} ({:.2}-{:.2})", r.0 / 1e6, r.1 / 1e6, r.2 / 1e6)
}

fn rss_kib(pid: u32) -> Rss {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("RssAnon:"), field("RssShmem:"))
}

fn speed_tester(secs: f64, latency: bool) -> String {
    let dir = TestDir::new("bench-speed");
    let d = Daemon::start_with(&dir, &(manager("poll", 1, "0") + &services(1)), "warn");
    let ttl = secs.to_string();
    let mut args = vec!["--mode", "poll", "--packets", "128", "--ttl", &ttl];
    if latency {
        args.push("--latency");
    }
    let mut nf = NfProc::spawn_with(&dir, &d, "sluice-speed-tester", "f1", "st", &args, Some(1));
    nf.wait(Duration::from_secs_f64(secs + 30.0));
    let out = nf.output();
    out.lines()
        .find(|l| l.contains("summary"))
        .unwrap_or("no summary line")
        .to_string()
}

/// VmRSS, RssAnon and RssShmem in KiB.
type Rss = (u64, u64, u64);

fn pipeline(secs: f64) -> ((f64, f64), Rss, Rss) {
    let dir = TestDir::new("bench-pipeline");
    let d = Daemon::start_with(
        &dir,
        &(manager("poll", 1, "0") + &services(1) + &gen_sink(&["f1".into()], true)),
        "warn",
    );
    let rest = rss_kib(d.pid());
    let _nf = NfProc::spawn_with(
        &dir,
        &d,
        "sluice-forward",
        "f1",
        "fwd",
        &["--mode", "poll"],
        Some(1),
    );
    d.wait_running(1);
    let r = sink_rate(&d, secs);
    let load = rss_kib(d.pid());
    (r, rest, load)
}

fn colocated(n: usize, secs: f64) -> (f64, f64) {
    let dir = TestDir::new(&format!("bench-group{n}"));
    let names: Vec<String> = (1..=n).map(|i| format!("f{i}")).collect();
    let config = manager("poll", 1, "0") + &services(n) + &gen_sink(&names, false);
    let d = Daemon::start_with(&dir, &config, "warn");
    let mut group = String::new();
    for (i, s) in names.iter().enumerate() {
        let (nf, args) = chain_nf(i + 1, n);
        let args: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
        group += &format!(
            "[[member]]\nnf = \"{nf}\"\nservice = \"{s}\"\nname = \"{s}\"\nargs = [{}]\n\n",
            args.join(", ")
        );
    }
    let cfg = dir.path("group.toml");
    std::fs::write(&cfg, group).expect("write group config");
    let cfgs = cfg.display().to_string();
    let _g = NfProc::spawn_group(&dir, &d, &["--config", &cfgs, "--mode", "poll"], Some(1));
    d.wait_running(n);
    sink_rate(&d, secs)
}

fn process_chain(n: usize, secs: f64) -> (f64, f64) {
    let dir = TestDir::new(&format!("bench-chain{n}"));
    let names: Vec<String> = (1..=n).map(|i| format!("f{i}")).collect();
    let config = manager("shared-core", 1, "") + &services(n) + &gen_sink(&names, false);
    let d = Daemon::start_with(&dir, &config, "warn");
    let _nfs: Vec<NfProc> = names
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (nf, extra) = chain_nf(i + 1, n);
            let mut args = vec!["--mode", "shared-core"];
            args.extend_from_slice(extra);
            NfProc::spawn(&dir, &d, &format!("sluice-{nf}"), s, s, &args)
        })
        .collect();
    d.wait_running(n);
    sink_rate(&d, secs)
}

fn main() {
    let a = Args::parse();
    if let Some(iface) = &a.blast {
        veth::blast(iface, a.seconds);
        return;
    }
    let want = |k: &str| a.only.is_empty() || a.only.iter().any(|o| o == k);
    println!(
        "sluice-bench: {} s per figure, 64-byte frames, {} cores",
        a.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let n = a.runs;
    if want("speed") {
        println!("\n== speed-tester looping through one NF (poll mode, NF on core 1; {n} runs)");
        for latency in [false, true] {
            for _ in 0..n {
                println!(
                    "{}{}",
                    if latency { "--latency: " } else { "" },
                    speed_tester(a.seconds, latency)
                );
            }
        }
    }
    if want("pipeline") || want("memory") {
        println!("\n== generator -> NF process -> sink (poll; manager core 0, NF core 1)");
        let mut loss = Vec::new();
        let r = repeat(n, || {
            let ((rate, l), _, _) = pipeline(a.seconds);
            loss.push(l);
            rate
        });
        println!(
            "sink rate, median (min-max) of {n}: {} Mpps; generator excess dropped: {:.0}-{:.0} %",
            mpps(r),
            100.0 * loss.iter().cloned().fold(f64::MAX, f64::min),
            100.0 * loss.iter().cloned().fold(0.0, f64::max)
        );
        let (_, rest, load) = pipeline(a.seconds);
        println!(
            "sluiced memory at rest:    VmRSS {} KiB (anon {} KiB, shared region {} KiB)",
            rest.0, rest.1, rest.2
        );
        println!(
            "sluiced memory under load: VmRSS {} KiB (anon {} KiB, shared region {} KiB)",
            load.0, load.1, load.2
        );
    }
    if want("chains") {
        println!("\n== chains: generator -> N NFs -> sink (forward NFs; the last sends out); median (min-max) of {n}");
        println!(
            "{:>3} {:>24} {:>8} {:>11} {:>28}",
            "N", "co-located poll Mpps", "vs N=1", "ns/NF/pkt", "processes shared-core Mpps"
        );
        let mut base = None;
        for &len in &a.lengths {
            let co = repeat(n, || colocated(len, a.seconds).0);
            let b = *base.get_or_insert(co.0);
            let pr = repeat(n, || process_chain(len, a.seconds).0);
            println!(
                "{:>3} {:>24} {:>7.0}% {:>11.2} {:>28}",
                len,
                mpps(co),
                100.0 * co.0 / b,
                1e9 / co.0 / len as f64,
                mpps(pr)
            );
        }
    }
    if want("veth") {
        println!(
            "\n== veth: namespace A -> B, 64-byte frames from a sendmmsg blaster (needs root)"
        );
        if let Some(v) = veth::compare(a.seconds, n) {
            let med = |v: &[f64]| {
                let mut v = v.to_vec();
                v.sort_by(|a, b| a.total_cmp(b));
                v[v.len() / 2]
            };
            let show = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{:.3}", x / 1e6))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            for (name, r) in [
                ("Linux bridge", &v.bridge),
                ("sluiced, af-packet", &v.af_packet),
                ("sluiced, af-xdp", &v.af_xdp),
                ("sluiced, dpdk af_xdp", &v.dpdk_af_xdp),
            ] {
                if r.is_empty() {
                    continue;
                }
                println!("{name:<22} median {:.3} Mpps ({})", med(r) / 1e6, show(r));
            }
        }
    }

    if want("cluster") {
        println!("\n== distributed mode: namespace -> host A -> tunnel -> host B's NF -> namespace, 64-byte frames (needs root, zookeeper); Sluice VXLAN-GPE + NSH vs the kernel's vxlan device + bridges, alternated");
        if let Some((kernel, sluiced)) = cluster::compare(a.seconds, n) {
            for (name, r) in [
                ("kernel vxlan + bridge", &kernel),
                ("sluiced gpe+nsh", &sluiced),
            ] {
                let mut v = r.clone();
                v.sort_by(|a, b| a.total_cmp(b));
                let runs: Vec<String> = r.iter().map(|x| format!("{:.3}", x / 1e6)).collect();
                println!(
                    "{name:<22} median {:.3} Mpps ({})",
                    v[v.len() / 2] / 1e6,
                    runs.join(", ")
                );
            }
        }
    }

    if want("vf") {
        println!("\n== VF policy cost: generator VF -> null uplink, policy off vs on (poll; cores 0, 1); median (min-max) of {n}");
        vf::compare(&manager("poll", 2, "0, 1"), a.seconds, n);
    }

    if want("dpdk") {
        for one_way in [false, true] {
            dpdk_figure(a.seconds, n, one_way);
        }
        dpdk::finish();
    }
}

/// testpmd, sluice-port's halves and sluiced on two net_null vdevs, `runs` times each.
fn dpdk_figure(secs: f64, runs: usize, one_way: bool) {
    println!(
        "\n== DPDK: two net_null vdevs, 64-byte frames, {}; {runs} runs",
        if one_way {
            "one way (null0 -> null1; null1 has no-rx=1)"
        } else {
            "both ways (null0 <-> null1)"
        }
    );
    println!("testpmd: {}", dpdk::testpmd_cmd(1, one_way));
    let (mut tp, mut pl, mut pp, mut nf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        tp.extend(dpdk::testpmd(secs, one_way));
        pl.extend(dpdk::port_loop(secs, one_way));
        pp.extend(dpdk::sluiced(secs, false, one_way));
        nf.extend(dpdk::sluiced(secs, true, one_way));
    }
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied()
    };
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{:.2}", x / 1e6))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let t = med(&tp);
    let pp_name = if one_way {
        "sluiced port->port (1 thread)"
    } else {
        "sluiced port->port (RX+TX threads)"
    };
    for (name, v) in [
        ("dpdk-testpmd io (1 fwd core)", &tp),
        ("sluice-port halves (1 thread)", &pl),
        (pp_name, &pp),
        ("sluiced via 1 NF (2 cores)", &nf),
    ] {
        if let Some(m) = med(v) {
            let ratio = t
                .filter(|_| !name.starts_with("dpdk-testpmd"))
                .map(|t| format!(", {:.2}x testpmd", m / t))
                .unwrap_or_default();
            println!("{name:<36} median {:.2} Mpps ({}){ratio}", m / 1e6, show(v));
        }
    }
}
