//! The `dpdk` port: one receive and one transmit queue of a DPDK ethdev, probed at open by
//! PCI address or vdev string (`net_null0`, `net_ring0`, `net_af_packet0,iface=veth1`, ...).
//!
//! The EAL is process-wide: [`init`] sets it up once with the arguments from sluiced's
//! `[dpdk]` table (or, if nobody called it, the first `dpdk` port does with
//! [`default_eal_args`]); [`cleanup`] tears it down and removes its runtime directory.
//!
//! Frames are copied: receive takes a burst of mbufs, copies each frame into a pool slot and
//! frees the mbufs in bulk; transmit allocates mbufs in bulk, copies the slots' frames in,
//! hands them to the driver and frees both the mbufs it refused and the slots it took. No
//! allocation or system call per frame; bursts of [`BURST`].
//!
//! Without the `dpdk` cargo feature the kind still parses, but opening it (or [`init`]) fails
//! with an error that says to rebuild with `--features dpdk`.

use std::sync::Arc;

use sluice_shm::Region;

use crate::config::DpdkConfig;
use crate::{Halves, PortError, PortStats};

/// True when this build has the `dpdk` feature (real DPDK ports).
pub const ENABLED: bool = cfg!(feature = "dpdk");

/// Frames per DPDK burst.
#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
const BURST: usize = 32;

/// Errors setting up DPDK's environment (EAL).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DpdkError {
    /// This build has no DPDK.
    #[error("DPDK support is not built in: built without the dpdk feature; rebuild with `--features dpdk`")]
    NotBuilt,
    /// `rte_eal_init` failed (it can only be tried once per process).
    #[error(
        "DPDK EAL initialisation failed with arguments {args:?}: {reason}; check the [dpdk] \
         eal_args (e.g. add \"--no-huge\" when no hugepages are reserved, \"--in-memory\", a \
         unique \"--file-prefix\"), then restart"
    )]
    Eal {
        /// The EAL arguments.
        args: Vec<String>,
        /// rte_errno as text.
        reason: String,
    },
    /// An argument contains a NUL byte.
    #[error("DPDK EAL argument {0:?} contains a NUL byte")]
    BadArg(String),
}

/// True if `device` (before any `,args`) is a PCI address (`[DDDD:]BB:DD.F`).
pub fn is_pci(device: &str) -> bool {
    let name = device.split(',').next().unwrap_or("");
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = name.split(':').collect();
    let (dom, bus, devfn) = match parts.as_slice() {
        [b, df] => ("0000", *b, *df),
        [d, b, df] => (*d, *b, *df),
        _ => return false,
    };
    let Some((dev, func)) = devfn.split_once('.') else {
        return false;
    };
    hex(dom, 4) && hex(bus, 2) && hex(dev, 2) && func.len() == 1 && hex(func, 1)
}

/// EAL arguments that need no hugepage mount and leave nothing behind: a per-process
/// `--file-prefix sluice-<pid>`, `--no-telemetry`, `-l` the current core, `--in-memory` when
/// at least 256 2 MiB hugepages are free, else `--no-huge -m 512 --no-shconf`, and
/// `--no-pci` when no device is a PCI address (else `-a ADDR` for each, so no other NIC is
/// taken).
pub fn default_eal_args(devices: &[&str]) -> Vec<String> {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() }.max(0);
    let mut a: Vec<String> = vec![
        "--file-prefix".into(),
        format!("sluice-{}", std::process::id()),
        "--no-telemetry".into(),
        "-l".into(),
        cpu.to_string(),
        "--log-level".into(),
        "notice".into(),
    ];
    if free_hugepages() < 256 {
        // (`--in-memory` does not combine with `--no-huge`; `--no-shconf` keeps the
        // configuration out of files, and there are no hugepage files.)
        a.extend([
            "--no-huge".into(),
            "-m".into(),
            "512".into(),
            "--no-shconf".into(),
        ]);
    } else {
        a.push("--in-memory".into());
    }
    let pci: Vec<&str> = devices.iter().copied().filter(|d| is_pci(d)).collect();
    if pci.is_empty() {
        a.push("--no-pci".into());
    } else {
        for d in pci {
            a.extend(["-a".into(), d.to_string()]);
        }
    }
    a
}

fn free_hugepages() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("HugePages_Free:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// DPDK's runtime directory for a file prefix (as the EAL picks it).
pub fn runtime_dir(prefix: &str) -> std::path::PathBuf {
    // SAFETY: getuid has no preconditions.
    let base = if unsafe { libc::getuid() } == 0 {
        "/var/run".to_string()
    } else {
        std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into())
    };
    std::path::Path::new(&base).join("dpdk").join(prefix)
}

#[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
fn file_prefix(args: &[String]) -> String {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--file-prefix" {
            if let Some(v) = it.next() {
                return v.clone();
            }
        } else if let Some(v) = a.strip_prefix("--file-prefix=") {
            return v.to_string();
        }
    }
    "rte".into()
}

#[cfg(not(feature = "dpdk"))]
mod imp {
    use super::*;

    pub fn init(_args: &[String]) -> Result<(), DpdkError> {
        Err(DpdkError::NotBuilt)
    }

    pub fn cleanup() {}

    pub fn open(
        _id: u16,
        name: &str,
        _cfg: &DpdkConfig,
        _region: &Region,
        _stats: Arc<PortStats>,
    ) -> Result<Halves, PortError> {
        Err(PortError::Config {
            port: name.into(),
            reason: "this is a dpdk port, but sluice was built without the dpdk feature; \
                     rebuild with `--features dpdk` (needs libdpdk-dev and pkg-config)"
                .into(),
        })
    }
}

#[cfg(feature = "dpdk")]
mod imp {
    use std::cell::Cell;
    use std::collections::BTreeSet;
    use std::ffi::{c_char, CString};
    use std::sync::atomic::Ordering;
    use std::sync::Mutex;

    use sluice_dpdk_sys as sys;
    use sluice_shm::{now_ns, owner, Buffers, Counter, SlotMeta};
    use sluice_wire::flow_hash;

    use super::*;
    use crate::{RxPort, TxPort};

    const MIN_FRAME: usize = 14;
    const POLL_NS: u64 = 100_000_000;

    /// The EAL's state: `None` before `init`, then the outcome, kept for later ports.
    struct Eal {
        state: Option<Result<(), DpdkError>>,
        prefix: String,
        cleaned: bool,
        /// Ethdev port ids in use by open ports.
        used: BTreeSet<u16>,
        pools: u32,
    }

    static EAL: Mutex<Eal> = Mutex::new(Eal {
        state: None,
        prefix: String::new(),
        cleaned: false,
        used: BTreeSet::new(),
        pools: 0,
    });

    fn lock() -> std::sync::MutexGuard<'static, Eal> {
        EAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn init(args: &[String]) -> Result<(), DpdkError> {
        let mut eal = lock();
        init_locked(&mut eal, args)
    }

    fn init_locked(eal: &mut Eal, args: &[String]) -> Result<(), DpdkError> {
        if let Some(s) = &eal.state {
            return s.clone();
        }
        let r = eal_init(args);
        eal.prefix = file_prefix(args);
        if r.is_err() {
            let _ = std::fs::remove_dir_all(runtime_dir(&eal.prefix));
        }
        eal.state = Some(r.clone());
        r
    }

    fn eal_init(args: &[String]) -> Result<(), DpdkError> {
        // SAFETY: the shim function has no preconditions.
        if unsafe { sys::sluice_link_status_bit() } != sys::RteEthLink::STATUS {
            return Err(DpdkError::Eal {
                args: args.to_vec(),
                reason: "struct rte_eth_link layout differs from sluice-dpdk-sys's".into(),
            });
        }
        let mut argv: Vec<*mut c_char> = Vec::with_capacity(args.len() + 2);
        for a in std::iter::once("sluice").chain(args.iter().map(|s| s.as_str())) {
            let c = CString::new(a).map_err(|_| DpdkError::BadArg(a.into()))?;
            // The EAL may keep pointers into argv for the life of the process: leak them.
            argv.push(c.into_raw());
        }
        let argc = argv.len() as libc::c_int;
        argv.push(std::ptr::null_mut());
        let argv = argv.leak();
        // The EAL pins the calling thread to its main lcore; threads started later would
        // inherit that, so keep the caller's affinity.
        // SAFETY: cpu_set_t is plain data; all zero is valid.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a writable cpu_set_t of the size passed.
        let have_set =
            unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) }
                == 0;
        // SAFETY: argv is a NULL-terminated array of `argc` valid C strings that live for
        // the rest of the process; rte_eal_init runs once (guarded by the EAL mutex).
        let rc = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        let reason = if rc < 0 {
            sys::last_error()
        } else {
            String::new()
        };
        if have_set {
            // SAFETY: `set` was filled by sched_getaffinity above.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        }
        if rc < 0 {
            return Err(DpdkError::Eal {
                args: args.to_vec(),
                reason,
            });
        }
        tracing::info!(args = ?args, "{} EAL ready", sys::version());
        Ok(())
    }

    pub fn cleanup() {
        let mut eal = lock();
        if eal.cleaned {
            return;
        }
        eal.cleaned = true;
        if matches!(eal.state, Some(Ok(()))) {
            if !eal.used.is_empty() {
                tracing::warn!("DPDK cleanup with ports still open: skipping rte_eal_cleanup");
            } else {
                // SAFETY: every port is closed and no DPDK call follows (`cleaned` is set).
                unsafe { sys::rte_eal_cleanup() };
            }
        }
        if eal.state.is_some() {
            let _ = std::fs::remove_dir_all(runtime_dir(&eal.prefix));
        }
    }

    fn cfg_err(port: &str, reason: String) -> PortError {
        PortError::Config {
            port: port.into(),
            reason,
        }
    }

    /// The ethdev and its mempool; stopped, closed (and a vdev removed) when both halves are
    /// gone.
    struct Dev {
        port: u16,
        name: String,
        devname: String,
        vdev: bool,
        pool: *mut sys::RteMempool,
        /// mbuf data room past DPDK's headroom.
        mbuf_room: usize,
    }

    // SAFETY: the mempool pointer is only passed to DPDK's thread-safe mempool functions, and
    // each queue is used by one half only.
    unsafe impl Send for Dev {}
    // SAFETY: as above; shared access only reads the fields.
    unsafe impl Sync for Dev {}

    impl Drop for Dev {
        fn drop(&mut self) {
            let mut eal = lock();
            // SAFETY: the port was started by `open`; no queue is used any more (both halves
            // are gone). Stop and close are safe to call on a stopped port.
            unsafe {
                sys::rte_eth_dev_stop(self.port);
                sys::rte_eth_dev_close(self.port);
            }
            if self.vdev {
                if let Ok(n) = CString::new(self.devname.as_str()) {
                    // SAFETY: both arguments are valid C strings; the ethdev is closed.
                    unsafe { sys::rte_eal_hotplug_remove(c"vdev".as_ptr(), n.as_ptr()) };
                }
            }
            if !self.pool.is_null() {
                // SAFETY: the device is closed, so no mbuf of this pool is in use by it, and
                // both halves (which freed theirs) are gone.
                unsafe { sys::rte_mempool_free(self.pool) };
            }
            eal.used.remove(&self.port);
            tracing::debug!(port = %self.name, "dpdk port closed");
        }
    }

    /// Give the calling thread an lcore id once, so mempool caches work for it.
    fn register_thread() {
        thread_local! {
            static DONE: Cell<bool> = const { Cell::new(false) };
        }
        DONE.with(|d| {
            if !d.get() {
                d.set(true);
                // SAFETY: the EAL is initialised (a port exists); a failure only means no
                // mempool cache for this thread.
                unsafe { sys::rte_thread_register() };
            }
        });
    }

    pub fn open(
        id: u16,
        name: &str,
        cfg: &DpdkConfig,
        region: &Region,
        stats: Arc<PortStats>,
    ) -> Result<Halves, PortError> {
        if cfg.device.is_empty() {
            return Err(cfg_err(
                name,
                "`device` is required: a PCI address (\"0000:01:00.0\") or a vdev string \
                 (\"net_null0\", \"net_af_packet0,iface=veth1\", ...)"
                    .into(),
            ));
        }
        if cfg.rx_ring == 0 || cfg.tx_ring == 0 {
            return Err(cfg_err(
                name,
                "rx_ring and tx_ring must be at least 1".into(),
            ));
        }
        let min_mbufs = u32::from(cfg.rx_ring) + u32::from(cfg.tx_ring) + 1024;
        if cfg.mbufs < min_mbufs {
            return Err(cfg_err(
                name,
                format!(
                    "mbufs {} is too few: at least rx_ring + tx_ring + 1024 = {min_mbufs}",
                    cfg.mbufs
                ),
            ));
        }
        let mut eal = lock();
        if eal.cleaned {
            return Err(cfg_err(
                name,
                "DPDK has been shut down in this process".into(),
            ));
        }
        if eal.state.is_none() {
            let args = default_eal_args(&[cfg.device.as_str()]);
            let _ = init_locked(&mut eal, &args);
        }
        if let Some(Err(e)) = &eal.state {
            return Err(cfg_err(
                name,
                format!("cannot open DPDK device {:?}: {e}", cfg.device),
            ));
        }
        let pci = is_pci(&cfg.device);
        let mut devname = cfg.device.split(',').next().unwrap_or("").to_string();
        if pci {
            devname = devname.to_ascii_lowercase();
            if devname.matches(':').count() == 1 {
                devname = format!("0000:{devname}");
            }
        }
        let cdev = CString::new(cfg.device.as_str())
            .map_err(|_| cfg_err(name, "device contains a NUL byte".into()))?;
        // SAFETY: a valid C string; the EAL is initialised and calls are serialised by the
        // EAL mutex held here.
        let rc = unsafe { sys::rte_dev_probe(cdev.as_ptr()) };
        if rc < 0 && rc != -libc::EEXIST {
            let what = if pci {
                "is it bound to vfio-pci (dpdk-devbind.py -b vfio-pci ADDR) and allowed by the \
                 EAL arguments (-a ADDR, no --no-pci)?"
            } else {
                "check the driver name (net_null, net_ring, net_af_packet, net_af_xdp, \
                 net_tap, net_pcap, net_memif, ...), its arguments and that any interface it \
                 names exists; kernel-backed vdevs need root"
            };
            // Drivers often return a bare -1 (not an errno); the EAL logged the details.
            let why = if rc == -1 {
                "the driver refused it (its reason is in the EAL log above)".to_string()
            } else {
                sys::strerror(-rc)
            };
            return Err(cfg_err(
                name,
                format!("DPDK cannot probe device {:?}: {why}; {what}", cfg.device),
            ));
        }
        let cname = CString::new(devname.as_str())
            .map_err(|_| cfg_err(name, "device contains a NUL byte".into()))?;
        let mut port = 0u16;
        // SAFETY: a valid C string and a writable u16.
        if unsafe { sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut port) } != 0 {
            if !pci && rc == 0 {
                // We probed it: do not leave a device without an ethdev behind.
                // SAFETY: valid C strings; the EAL mutex is held.
                unsafe { sys::rte_eal_hotplug_remove(c"vdev".as_ptr(), cname.as_ptr()) };
            }
            return Err(cfg_err(
                name,
                format!(
                    "device {:?} was probed but has no ethdev named {devname:?}; use an \
                     ethernet device (net_* vdev or a NIC's PCI address)",
                    cfg.device
                ),
            ));
        }
        if !eal.used.insert(port) {
            return Err(cfg_err(
                name,
                format!(
                    "DPDK device {devname:?} is already used by another port; give each port \
                     its own device"
                ),
            ));
        }
        eal.pools += 1;
        let pool_name = format!("sluice_p{}_{}", id, eal.pools);
        drop(eal);
        let mut dev = Dev {
            port,
            name: name.into(),
            devname,
            vdev: !pci,
            pool: std::ptr::null_mut(),
            mbuf_room: region.data_area(),
        };
        // (On error from here on, dropping `dev` closes the port and frees the pool.)
        setup(&mut dev, name, cfg, &pool_name)?;
        let mut mac = sys::RteEtherAddr::default();
        // SAFETY: `mac` is writable.
        unsafe { sys::rte_eth_macaddr_get(port, &mut mac) };
        let m = mac.addr_bytes;
        tracing::info!(
            port = %name,
            device = %cfg.device,
            ethdev = port,
            "dpdk port up, MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        );
        let dev = Arc::new(dev);
        let mut rx = Rx {
            dev: dev.clone(),
            mbufs: [std::ptr::null_mut(); BURST],
            views: [sys::SluiceView::default(); BURST],
            room: region.data_room() as usize,
            headroom: region.headroom() as usize,
            meta: crate::rx_meta(region, id, 0),
            next_poll: 0,
            last: sys::RteEthStats::default(),
            stats: stats.clone(),
        };
        rx.poll(now_ns());
        let tx = Tx {
            dev,
            mbufs: [std::ptr::null_mut(); BURST],
            lens: [0; BURST],
            ptrs: [std::ptr::null_mut(); BURST],
            srcs: [std::ptr::null(); BURST],
            pos: [0; BURST],
            stats,
        };
        Ok((Some(Box::new(rx)), Some(Box::new(tx))))
    }

    fn setup(
        dev: &mut Dev,
        name: &str,
        cfg: &DpdkConfig,
        pool_name: &str,
    ) -> Result<(), PortError> {
        let port = dev.port;
        let fail = |what: &str, rc: i32| {
            cfg_err(
                name,
                format!(
                    "DPDK device {:?}: {what} failed: {}; check the port's settings \
                     (rx_ring, tx_ring, mbufs, mtu) and the EAL memory (-m)",
                    cfg.device,
                    sys::strerror(rc.abs())
                ),
            )
        };
        // SAFETY: plain query of a valid port id.
        let socket = unsafe { sys::rte_eth_dev_socket_id(port) };
        // Each mbuf holds a whole slot's data area, so every frame fits one segment.
        let room = sys::PKTMBUF_HEADROOM as usize + dev.mbuf_room;
        let room = u16::try_from(room).map_err(|_| {
            cfg_err(
                name,
                "the pool's headroom + data_room is too large for a DPDK mbuf (64 KiB)".into(),
            )
        })?;
        let cname = CString::new(pool_name).expect("pool name has no NUL");
        // SAFETY: valid C string; sizes checked above.
        dev.pool = unsafe {
            sys::rte_pktmbuf_pool_create(cname.as_ptr(), cfg.mbufs, 256, 0, room, socket)
        };
        if dev.pool.is_null() {
            return Err(fail(
                &format!("creating a pool of {} mbufs", cfg.mbufs),
                // SAFETY: reads a thread-local integer.
                unsafe { sys::sluice_errno() },
            ));
        }
        let conf = sys::RteEthConf::default();
        // SAFETY: `conf` is a valid (all-default) rte_eth_conf of the right size.
        let rc = unsafe { sys::rte_eth_dev_configure(port, 1, 1, &conf) };
        if rc < 0 {
            return Err(fail("configure (1 RX + 1 TX queue)", rc));
        }
        let (mut nrx, mut ntx) = (cfg.rx_ring, cfg.tx_ring);
        // SAFETY: writable u16s.
        let rc = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(port, &mut nrx, &mut ntx) };
        if rc < 0 {
            return Err(fail("adjusting the ring sizes", rc));
        }
        let sock = if socket < 0 { 0 } else { socket as u32 };
        // SAFETY: configured port; NULL means the driver's default queue settings; the pool
        // outlives the queue (freed in Dev::drop after close).
        let rc =
            unsafe { sys::rte_eth_rx_queue_setup(port, 0, nrx, sock, std::ptr::null(), dev.pool) };
        if rc < 0 {
            return Err(fail("RX queue setup", rc));
        }
        // SAFETY: as above.
        let rc = unsafe { sys::rte_eth_tx_queue_setup(port, 0, ntx, sock, std::ptr::null()) };
        if rc < 0 {
            return Err(fail("TX queue setup", rc));
        }
        if let Some(mtu) = cfg.mtu {
            // SAFETY: configured port.
            let rc = unsafe { sys::rte_eth_dev_set_mtu(port, mtu) };
            if rc < 0 {
                return Err(fail(&format!("setting MTU {mtu}"), rc));
            }
        }
        // SAFETY: configured port with its queues set up.
        let rc = unsafe { sys::rte_eth_dev_start(port) };
        if rc < 0 {
            return Err(fail("start", rc));
        }
        if cfg.promiscuous {
            // SAFETY: started port.
            let rc = unsafe { sys::rte_eth_promiscuous_enable(port) };
            if rc < 0 && rc != -libc::ENOTSUP {
                tracing::warn!(port = %name, "cannot turn on promiscuous mode: {}", sys::strerror(-rc));
            }
        }
        Ok(())
    }

    /// Ask for the cache line at `p` (a hint: never faults).
    #[inline(always)]
    fn prefetch(p: *const u8) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: prefetch is a hint that never faults, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }

    // ---- receive ------------------------------------------------------------------------

    struct Rx {
        dev: Arc<Dev>,
        mbufs: [*mut sys::RteMbuf; BURST],
        views: [sys::SluiceView; BURST],
        room: usize,
        headroom: usize,
        meta: SlotMeta,
        next_poll: u64,
        last: sys::RteEthStats,
        stats: Arc<PortStats>,
    }

    // SAFETY: the mbuf pointer arrays only hold mbufs during a call; the device is Sync.
    unsafe impl Send for Rx {}

    impl Rx {
        /// Every 100 ms: link state and the driver's drop and error counters.
        fn poll(&mut self, now: u64) {
            if now < self.next_poll {
                return;
            }
            self.next_poll = now + POLL_NS;
            let mut link = sys::RteEthLink::default();
            // SAFETY: `link` is a writable rte_eth_link (layout checked at init).
            if unsafe { sys::rte_eth_link_get_nowait(self.dev.port, &mut link) } == 0 {
                let up = link.up();
                if self.stats.link_up.swap(up, Ordering::Relaxed) != up {
                    tracing::info!(port = %self.dev.name, "link {}", if up { "up" } else { "down" });
                }
            }
            let mut s = sys::RteEthStats::default();
            // SAFETY: `s` is a writable rte_eth_stats (layout asserted by the shim).
            if unsafe { sys::rte_eth_stats_get(self.dev.port, &mut s) } == 0 {
                let d = |a: u64, b: u64| a.saturating_sub(b);
                let nobuf = d(s.imissed, self.last.imissed) + d(s.rx_nombuf, self.last.rx_nombuf);
                if nobuf > 0 {
                    self.stats.rx_no_buffer.bump(nobuf);
                }
                let err = d(s.ierrors, self.last.ierrors);
                if err > 0 {
                    self.stats.rx_errors.bump(err);
                }
                self.last = s;
            }
        }
    }

    impl RxPort for Rx {
        fn rx_burst(&mut self, region: &mut Buffers<'_>, out: &mut [u32]) -> usize {
            register_thread();
            let now = now_ns();
            self.poll(now);
            let want = out.len().min(BURST);
            if want == 0 {
                return 0;
            }
            // SAFETY: `mbufs` has room for `want` pointers; queue 0 is polled by this half only.
            let n = usize::from(unsafe {
                sys::sluice_rx_burst(self.dev.port, 0, self.mbufs.as_mut_ptr(), want as u16)
            });
            if n == 0 {
                return 0;
            }
            let got = region.alloc(&mut out[..n], owner::MANAGER);
            // SAFETY: mbufs[..n] are the mbufs just received; views has room for n.
            unsafe {
                sys::sluice_mbufs_view(self.mbufs.as_ptr(), n as u16, self.views.as_mut_ptr())
            };
            let mut meta = self.meta;
            meta.timestamp = now;
            let (mut filled, mut bytes, mut malformed) = (0, 0u64, 0u64);
            for i in 0..n.min(4) {
                prefetch(self.views[i].data);
            }
            for i in 0..n {
                if filled == got {
                    break;
                }
                if i + 4 < n {
                    prefetch(self.views[i + 4].data);
                }
                let v = self.views[i];
                let len = v.pkt_len as usize;
                if len < MIN_FRAME || len > self.room {
                    malformed += 1;
                    continue;
                }
                let idx = out[filled];
                // SAFETY: `idx` was just allocated to us; the data area holds headroom +
                // data room bytes and len <= data room.
                let dst = unsafe { region.data(idx).add(self.headroom) };
                if v.nb_segs == 1 {
                    if usize::from(v.data_len) != len {
                        malformed += 1; // truncated
                        continue;
                    }
                    // SAFETY: the mbuf's first segment holds `len` bytes at `data`; dst has
                    // room for them (above).
                    unsafe { std::ptr::copy_nonoverlapping(v.data, dst, len) };
                } else {
                    // SAFETY: a received mbuf chain; dst has `room` bytes.
                    let rc = unsafe {
                        sys::sluice_pktmbuf_copy_out(self.mbufs[i], dst, self.room as u32)
                    };
                    if rc < 0 {
                        malformed += 1;
                        continue;
                    }
                }
                // SAFETY: the frame was written just above into our slot.
                let frame = unsafe { std::slice::from_raw_parts(dst, len) };
                meta.len = len as u16;
                meta.flow_hash = flow_hash(frame);
                // SAFETY: our slot's metadata.
                unsafe { region.meta(idx).write(meta) };
                bytes += len as u64;
                filled += 1;
            }
            // Frames left over when the pool ran dry (the loop stops at `got`).
            let handled = filled as u64 + malformed;
            if (n as u64) > handled && filled == got {
                self.stats.rx_no_buffer.bump(n as u64 - handled);
            }
            // SAFETY: we own mbufs[..n] (copied out above) and free each once.
            unsafe { sys::sluice_pktmbuf_free_bulk(self.mbufs.as_mut_ptr(), n as u32) };
            if filled < got {
                region.free(&out[filled..got]);
            }
            if malformed > 0 {
                self.stats.rx_malformed.bump(malformed);
            }
            if filled > 0 {
                self.stats.rx_packets.bump(filled as u64);
                self.stats.rx_bytes.bump(bytes);
            }
            filled
        }

        fn provides_flow_hash(&self) -> bool {
            true
        }
    }

    // ---- transmit -----------------------------------------------------------------------

    struct Tx {
        dev: Arc<Dev>,
        mbufs: [*mut sys::RteMbuf; BURST],
        lens: [u16; BURST],
        ptrs: [*mut u8; BURST],
        srcs: [*const u8; BURST],
        /// Index in the chunk of the slot of each mbuf.
        pos: [usize; BURST],
        stats: Arc<PortStats>,
    }

    // SAFETY: the pointer arrays only hold mbufs and frames during a call; the device is Sync.
    unsafe impl Send for Tx {}

    impl TxPort for Tx {
        fn tx_burst(&mut self, region: &mut Buffers<'_>, slots: &[u32]) -> usize {
            if slots.is_empty() || !self.stats.link_up.load(Ordering::Relaxed) {
                return 0;
            }
            register_thread();
            let area = region.data_area();
            let (mut taken, mut sent, mut bytes) = (0, 0u64, 0u64);
            while taken < slots.len() {
                let chunk = &slots[taken..slots.len().min(taken + BURST)];
                let mut m = 0;
                for (i, &idx) in chunk.iter().enumerate() {
                    // SAFETY: the caller holds the slots (TxPort contract).
                    let meta = unsafe { region.meta(idx).read() };
                    let (off, len) = (meta.data_off as usize, meta.len as usize);
                    if len == 0 || off + len > area || len > self.dev.mbuf_room {
                        // A descriptor the manager should have refused: taken, not sent.
                        self.stats.tx_errors.bump(1);
                        continue;
                    }
                    // SAFETY: bounds checked above; the slot is ours during the call.
                    self.srcs[m] = unsafe { region.data(idx).add(off) };
                    self.lens[m] = len as u16;
                    self.pos[m] = i;
                    m += 1;
                }
                if m == 0 {
                    taken += chunk.len();
                    continue;
                }
                // SAFETY: `mbufs` has room for m pointers; the pool is alive (held by dev).
                if unsafe {
                    sys::sluice_pktmbuf_alloc_bulk(self.dev.pool, self.mbufs.as_mut_ptr(), m as u32)
                } != 0
                {
                    // No mbuf: leave the rest to the caller.
                    break;
                }
                // SAFETY: mbufs[..m] are fresh single-segment mbufs with room for a whole
                // slot's data area (checked against mbuf_room above); lens/ptrs hold m.
                let ready = usize::from(unsafe {
                    sys::sluice_mbufs_prepare(
                        self.mbufs.as_mut_ptr(),
                        m as u16,
                        self.lens.as_ptr(),
                        self.ptrs.as_mut_ptr(),
                    )
                });
                for k in 0..ready {
                    // SAFETY: ptrs[k] has room for lens[k] bytes (prepared above); srcs[k]
                    // is our slot's frame of that length.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            self.srcs[k],
                            self.ptrs[k],
                            usize::from(self.lens[k]),
                        )
                    };
                }
                // SAFETY: mbufs[..ready] are filled; queue 0 is used by this half only.
                let done = usize::from(unsafe {
                    sys::sluice_tx_burst(self.dev.port, 0, self.mbufs.as_mut_ptr(), ready as u16)
                });
                if done < m {
                    // SAFETY: mbufs[done..m] were not taken by the driver: still ours.
                    unsafe {
                        sys::sluice_pktmbuf_free_bulk(
                            self.mbufs.as_mut_ptr().add(done),
                            (m - done) as u32,
                        )
                    };
                }
                for k in 0..done {
                    bytes += u64::from(self.lens[k]);
                }
                sent += done as u64;
                if ready < m {
                    // Cannot happen (mbufs hold a whole data area); count, do not loop.
                    self.stats.tx_errors.bump((m - ready) as u64);
                }
                if done < ready {
                    // Driver queue full: the rest stays with the caller.
                    taken += self.pos[done];
                    break;
                }
                taken += chunk.len();
            }
            region.free(&slots[..taken]);
            self.stats.tx_packets.bump(sent);
            self.stats.tx_bytes.bump(bytes);
            taken
        }
    }
}

pub use imp::{cleanup, init};

/// Open a `dpdk` port (see the module docs).
pub(crate) fn open(
    id: u16,
    name: &str,
    cfg: &DpdkConfig,
    region: &Region,
    stats: Arc<PortStats>,
) -> Result<Halves, PortError> {
    imp::open(id, name, cfg, region, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses_and_default_args() {
        assert!(is_pci("0000:01:00.0"));
        assert!(is_pci("01:00.1,rxq_cqe_comp_en=1"));
        assert!(!is_pci("net_null0"));
        assert!(!is_pci("net_af_packet0,iface=veth1"));
        let a = default_eal_args(&["net_null0"]);
        assert!(
            a.contains(&"--in-memory".to_string()) || a.contains(&"--no-huge".to_string()),
            "{a:?}"
        );
        assert!(a.contains(&"--no-pci".to_string()), "{a:?}");
        assert_eq!(file_prefix(&a), format!("sluice-{}", std::process::id()));
        let a = default_eal_args(&["0000:01:00.0", "net_ring0"]);
        assert!(!a.contains(&"--no-pci".to_string()), "{a:?}");
        assert!(a.windows(2).any(|w| w[0] == "-a" && w[1] == "0000:01:00.0"));
        assert_eq!(file_prefix(&["--file-prefix=x".into()]), "x");
    }

    #[cfg(not(feature = "dpdk"))]
    #[test]
    fn without_the_feature_opening_says_how_to_rebuild() {
        let r = Region::create(
            &sluice_shm::RegionConfig {
                slots: 64,
                data_room: 2048,
                headroom: 128,
                max_nfs: 2,
                ring_size: 32,
            },
            sluice_shm::HugePolicy::Never,
        )
        .unwrap();
        let cfg = crate::PortConfig {
            name: "d0".into(),
            kind: crate::PortKind::Dpdk(DpdkConfig {
                device: "net_null0".into(),
                ..Default::default()
            }),
        };
        let e = crate::open(0, &cfg, &r).err().expect("refused").to_string();
        assert!(e.contains("d0") && e.contains("--features dpdk"), "{e}");
        assert!(init(&[])
            .unwrap_err()
            .to_string()
            .contains("--features dpdk"));
    }
}
