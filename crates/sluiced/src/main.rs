//! `sluiced`: the per-host manager. See `sluiced --help` and the README's configuration
//! reference.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use arc_swap::ArcSwap;
use clap::Parser;
use sluice_ctl::Listener;
use sluice_shm::{Backing, EventFd, LocalRing, PoolCache, Region};
use sluiced::config::Config;
use sluiced::control::Control;
use sluiced::dataplane::{self, PortInfo, RxWorker, Shared, TxWorker};
use sluiced::registry::Registry;
use sluiced::stats::Stats;

/// The Sluice manager: moves packets between ports and NF processes over shared memory.
///
/// NFs (built with the sluice-nf SDK) connect to the control socket, map the packet pool and
/// receive packets on their rings; `sluice` (the CLI) shows and changes the running state.
#[derive(Parser)]
#[command(
    version,
    after_help = "Configuration reference: README.md, section \"Configuration\".\n\
Logs: set RUST_LOG (e.g. RUST_LOG=debug)."
)]
struct Args {
    /// TOML configuration file.
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Override [manager] socket.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Override [manager] ttl: stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    ttl: Option<f64>,
    /// Do not print the statistics table (overrides [manager] console).
    #[arg(long)]
    no_console: bool,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

fn main() {
    let logging = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // SAFETY: isatty only inspects fd 2.
        .with_ansi(unsafe { libc::isatty(2) } == 1)
        .with_filter_reloading();
    let log_handle = logging.reload_handle();
    logging.init();
    // `iplex verbose --loglevel N`: VFd's levels 0..4 onto tracing's.
    let set_log_level: LogLevelSetter = Box::new(move |level: u32| {
        let filter = match level {
            0 | 1 => "info",
            2 | 3 => "debug",
            _ => "trace",
        };
        log_handle
            .reload(tracing_subscriber::EnvFilter::new(filter))
            .map_err(|e| e.to_string())
    });
    let args = Args::parse();
    if let Err(e) = run(args, set_log_level) {
        eprintln!("sluiced: {e:#}");
        std::process::exit(1);
    }
}

/// Changes the log level at run time (`iplex verbose`).
type LogLevelSetter = Box<dyn Fn(u32) -> Result<(), String> + Send + Sync>;

fn run(args: Args, set_log_level: LogLevelSetter) -> anyhow::Result<()> {
    let mut r = Config::load(&args.config)?;
    if args.check {
        println!("{}: ok", args.config.display());
        return Ok(());
    }
    if let Some(s) = args.socket {
        r.cfg.manager.socket = s;
    }
    if args.ttl.is_some() {
        r.cfg.manager.ttl = args.ttl;
    }
    if args.no_console {
        r.cfg.manager.console = false;
    }
    let m = &r.cfg.manager;

    let region = Region::create(&r.region, r.cfg.pool.hugepages.into())
        .context("creating the shared packet region")?;
    tracing::info!(
        bytes = region.size(),
        slots = region.slots(),
        "shared region on {}",
        match region.backing() {
            Backing::HugePages => "2 MiB hugepages",
            Backing::NormalPages => "normal pages (no free hugepages; see README)",
        }
    );
    // DPDK's EAL is process-wide: set it up once, before the first `dpdk` port.
    let dpdk_devices: Vec<&str> = r
        .cfg
        .ports
        .iter()
        .filter_map(|p| match &p.kind {
            sluice_port::PortKind::Dpdk(d) => Some(d.device.as_str()),
            _ => None,
        })
        .collect();
    if !dpdk_devices.is_empty() {
        let args = r
            .cfg
            .dpdk
            .eal_args
            .clone()
            .unwrap_or_else(|| sluice_port::dpdk_default_eal_args(&dpdk_devices));
        if let Err(e) = sluice_port::dpdk_init(&args) {
            tracing::error!("{e}; the dpdk ports stay down, the other ports carry on");
        }
    }
    let mut rx_halves = Vec::new();
    let mut tx_halves = Vec::new();
    let mut ports = Vec::new();
    for (i, pc) in r.cfg.ports.iter().enumerate() {
        // A port that cannot open (missing interface, no privilege, bad file) stays down with
        // its id, so chains and the other ports keep working.
        let p = sluice_port::open(i as u16, pc, &region).unwrap_or_else(|e| {
            tracing::error!("{e}; the port stays down, the other ports carry on");
            sluice_port::Port::down(&pc.name, pc.kind.name())
        });
        tracing::info!(port = %p.name, id = i, kind = p.kind, "port open");
        ports.push(PortInfo {
            name: p.name.clone(),
            kind: p.kind,
            stats: p.stats.clone(),
            has_tx: p.tx.is_some(),
        });
        if let Some(rx) = p.rx {
            rx_halves.push((i as u16, rx));
        }
        tx_halves.push(p.tx);
    }
    region.set_num_ports(ports.len() as u16);
    // Distributed mode and overlay ports (registering with ZooKeeper may block a few
    // seconds; a host id live elsewhere stops sluiced here).
    let cluster = {
        let mut kinds: Vec<&'static str> = ports.iter().map(|p| p.kind).collect();
        let names: Vec<String> = ports.iter().map(|p| p.name.clone()).collect();
        let services = r
            .cfg
            .services
            .iter()
            .map(|s| (s.id, s.name.clone()))
            .collect();
        let c = sluiced::cluster::Cluster::start(
            r.cfg.cluster.as_ref(),
            &r.cfg.vxlan,
            &r.cfg.ports,
            &names,
            services,
            &mut rx_halves,
            &mut kinds,
        )?;
        for (p, k) in ports.iter_mut().zip(kinds) {
            p.kind = k;
        }
        c
    };
    let vf_plane = match &r.cfg.vfd {
        Some(v) => Some(sluiced::vf::VfPlane::start(v, r.vf_pfs, ports.len())?),
        None => None,
    };
    for (id, (_, steps)) in r.chains.iter().enumerate() {
        region
            .chain(id as u16)
            .expect("chain count checked")
            .publish(steps);
    }
    let wakers = (0..region.max_nfs())
        .map(|_| EventFd::new())
        .collect::<Result<Vec<_>, _>>()?;
    // Buffer caches of the data-plane threads (see sluice_shm::PoolCache).
    let exchange = LocalRing::new(4096);
    let rx_pool = PoolCache::new(1024, Some(exchange.ring()), None);
    let tx_pool = PoolCache::new(1024, None, Some(exchange.ring()));
    let sh = Arc::new(Shared {
        bad_desc: (0..region.max_nfs()).map(|_| AtomicU64::new(0)).collect(),
        region,
        wakers,
        flows: ArcSwap::from_pointee(r.flows.iter().copied().collect()),
        port_chain: r.port_chain.clone(),
        active: ArcSwap::from_pointee(vec![0]),
        rx_drops: dataplane::Drops::new(),
        tx_drops: dataplane::Drops::new(),
        ctl_drops: dataplane::Drops::new(),
        nf_alloc: AtomicU64::new(0),
        cluster: cluster.clone(),
        copies: AtomicU64::new(0),
        vf: vf_plane.as_ref().map(|p| p.shared.clone()),
        ports,
        rx_enabled: AtomicBool::new(!m.wait_for_chains),
        rx_exhausted: AtomicBool::new(false),
        mode: m.run_mode,
        stop: AtomicBool::new(false),
        cache_held: vec![rx_pool.held(), tx_pool.held()],
        exchange,
    });

    // The manager's own doorbell (instance 0) only matters when its TX thread may sleep.
    let manager_sleeps = m.run_mode == sluice_ctl::RunMode::SharedCore;
    sh.region
        .instance(0)
        .may_sleep
        .store(manager_sleeps as u32, Ordering::Relaxed);
    let services: BTreeMap<u16, String> = r
        .cfg
        .services
        .iter()
        .map(|s| (s.id, s.name.clone()))
        .collect();
    let ctl = Arc::new(Control {
        reg: Mutex::new(Registry::new(
            sh.clone(),
            services,
            m.strict_services,
            m.max_instances_per_service,
            m.run_mode,
        )),
        chain_names: r.chains.iter().map(|c| c.0.clone()).collect(),
        stats: Stats::default(),
        nf_conns: Mutex::new(Vec::new()),
        shutdown: AtomicBool::new(false),
        sh: sh.clone(),
        vf: vf_plane,
        set_log_level,
    });

    let listener = Arc::new(
        Listener::bind(&m.socket, r.socket_mode)
            .with_context(|| format!("opening the control socket {}", m.socket.display()))?,
    );
    tracing::info!(socket = %m.socket.display(), mode = %m.run_mode, "sluiced ready");
    {
        let (ctl, listener) = (ctl.clone(), listener.clone());
        std::thread::Builder::new()
            .name("ctl-accept".into())
            .spawn(move || {
                while let Ok(conn) = listener.accept() {
                    let ctl = ctl.clone();
                    let _ = std::thread::Builder::new()
                        .name("ctl-conn".into())
                        .spawn(move || ctl.serve(conn));
                }
            })?;
    }

    let rx = RxWorker::new(sh.clone(), rx_halves, rx_pool);
    let tx = TxWorker::new(sh.clone(), tx_halves, tx_pool);
    let cores = m.cores.clone();
    let mut workers = Vec::new();
    if m.threads == 1 {
        workers.push(
            std::thread::Builder::new()
                .name("dp".into())
                .spawn(move || {
                    if let Some(&c) = cores.first() {
                        dataplane::pin(c);
                    }
                    dataplane::run_combined(rx, tx)
                })?,
        );
    } else {
        let c0 = cores.first().copied();
        let c1 = cores.get(1).copied();
        workers.push(
            std::thread::Builder::new()
                .name("dp-rx".into())
                .spawn(move || {
                    if let Some(c) = c0 {
                        dataplane::pin(c);
                    }
                    rx.run()
                })?,
        );
        workers.push(
            std::thread::Builder::new()
                .name("dp-tx".into())
                .spawn(move || {
                    if let Some(c) = c1 {
                        dataplane::pin(c);
                    }
                    tx.run()
                })?,
        );
    }

    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installing an async-signal-safe handler that only stores to an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }

    // SAFETY: isatty only inspects fd 1.
    let live = unsafe { libc::isatty(1) } == 1;
    let started = Instant::now();
    let interval = Duration::from_secs_f64(m.stats_interval);
    let mut next_stats = Instant::now() + interval;
    let mut drained_checks = 0;
    let why = loop {
        std::thread::sleep(Duration::from_millis(50));
        if let Some(c) = &cluster {
            c.refresh();
            c.sync_services(&sh);
        }
        if Instant::now() >= next_stats {
            next_stats += interval;
            let reg = ctl.reg.lock().expect("lock");
            ctl.stats.tick(&sh, &reg);
            if let Some(c) = &cluster {
                c.publish_stats(&ctl.stats.snapshot(&sh, &reg).nfs, r.region.ring_size);
            }
            if m.console {
                let snap = ctl.stats.snapshot(&sh, &reg);
                // On a terminal the table redraws in place; in a log it is appended.
                let clear = if live { "\x1b[H\x1b[2J" } else { "" };
                println!("{clear}{}", sluice_ctl::table::render(&snap));
            }
        }
        if SIGNALLED.load(Ordering::Relaxed) {
            break "signal";
        }
        if ctl.shutdown.load(Ordering::Relaxed) {
            break "shutdown request";
        }
        if m.ttl.is_some_and(|t| started.elapsed().as_secs_f64() >= t) {
            break "ttl";
        }
        if m.stop_when_drained && sh.rx_exhausted.load(Ordering::Relaxed) {
            drained_checks = if sh.in_flight() == 0 {
                drained_checks + 1
            } else {
                0
            };
            if drained_checks >= 4 {
                break "input drained";
            }
        }
    };
    tracing::info!("stopping ({why})");
    if let Some(c) = &cluster {
        // Leave the cluster first, so the other hosts stop sending here.
        c.stop();
    }
    // Stop receiving and let what is in flight leave before the NFs go.
    sh.rx_enabled.store(false, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(1);
    while sh.in_flight() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Some(vf) = &ctl.vf {
        vf.stop();
    }
    ctl.stop_all_nfs();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ctl.nf_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    sh.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    // The ports went with their threads: shut DPDK down (and remove its runtime files).
    sluice_port::dpdk_cleanup();
    // What the TX thread passed on and the RX thread never took goes back to the pool.
    let mut left = [0u32; 256];
    loop {
        let n = sh.exchange.ring().dequeue_sc(&mut left);
        if n == 0 {
            break;
        }
        sh.region.free(&left[..n]);
    }
    listener.shutdown();
    let _ = std::fs::remove_file(&m.socket);
    let reg = ctl.reg.lock().expect("lock");
    ctl.stats.tick(&sh, &reg);
    let snap = ctl.stats.snapshot(&sh, &reg);
    if m.console {
        print!("{}", sluice_ctl::table::render(&snap));
    }
    let a = snap.accounting;
    tracing::info!(
        entered = a.entered,
        left = a.left,
        dropped = a.dropped,
        in_flight = a.in_flight,
        "sluiced stopped"
    );
    Ok(())
}
