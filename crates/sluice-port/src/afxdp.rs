//! The `af-xdp` port: one or more queues of a Linux interface through `AF_XDP` sockets whose
//! UMEM is Sluice's own slot array, so received frames land in pool slots without a copy by us.
//!
//! * UMEM: the region's slot array, registered with `XDP_UMEM_REG` in unaligned-chunk mode
//!   (slot sizes are multiples of 64, not powers of two), chunk size = slot size, UMEM
//!   headroom 0. The kernel puts a frame `XDP_PACKET_HEADROOM` (256) bytes after the chunk
//!   address we post, and never writes the bytes before it in copy mode (our program does not
//!   use `bpf_xdp_adjust_head/meta`), so we post the slot's own start: the frame lands in the
//!   slot's data area at offset 192 and a full chunk ends exactly at the slot's end.
//! * Fill ring: `rx_burst` tops it up with slots from the pool (owner manager); received
//!   descriptors give back the slot (address / slot size) and the frame's offset.
//! * Transmit posts slot addresses to the TX ring (the port owns those slots until the
//!   completion ring returns them; then they are freed) and kicks with `sendto` when the
//!   kernel asks (need-wakeup) or always in copy mode.
//! * The XDP program (redirect to the XSKMAP entry of the receive queue, else pass) is
//!   assembled by hand below and loaded with `bpf(BPF_PROG_LOAD)`; no clang. It is attached
//!   through a BPF link (`BPF_LINK_CREATE`, native mode, falling back to generic/SKB mode),
//!   so closing the link (on drop, or when the process dies) detaches it.
//!
//! System calls happen per burst (one kick), never per packet.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sluice_shm::{now_ns, owner, Buffers, Counter, Region, SlotMeta, META_BYTES};
use sluice_wire::flow_hash;

use crate::config::{AfXdpConfig, XdpMode};
use crate::netdev::{self, config_err, getsockopt, setsockopt, sys_err, LinkPoll};
use crate::{Halves, PortError, PortStats, RxPort, TxPort};

const MIN_FRAME: usize = 14;

// <linux/if_xdp.h>
const AF_XDP: libc::c_int = 44;
const SOL_XDP: libc::c_int = 283;
const XDP_MMAP_OFFSETS: libc::c_int = 1;
const XDP_RX_RING: libc::c_int = 2;
const XDP_TX_RING: libc::c_int = 3;
const XDP_UMEM_REG: libc::c_int = 4;
const XDP_UMEM_FILL_RING: libc::c_int = 5;
const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
const XDP_OPTIONS: libc::c_int = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;
const XDP_COPY: u16 = 1 << 1;
const XDP_ZEROCOPY: u16 = 1 << 2;
const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
const XDP_UMEM_UNALIGNED_CHUNK_FLAG: u32 = 1;
const XDP_RING_NEED_WAKEUP: u32 = 1;
const XDP_PGOFF_RX_RING: i64 = 0;
const XDP_PGOFF_TX_RING: i64 = 0x8000_0000;
const XDP_UMEM_PGOFF_FILL_RING: i64 = 0x1_0000_0000;
const XDP_UMEM_PGOFF_COMPLETION_RING: i64 = 0x1_8000_0000;
/// Unaligned mode: descriptor address bits 48.. carry an offset to add to bits 0..48.
const ADDR_MASK: u64 = (1 << 48) - 1;

// <linux/bpf.h>
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_LINK_DETACH: libc::c_long = 34;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
// <linux/if_link.h>
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// The XDP program, one eBPF instruction per row (opcode, dst|src<<4, off:i16, imm:i32,
/// little endian). Row 1-2 is a 16-byte `BPF_LD_IMM64` whose immediate is patched with the
/// XSKMAP's fd at load time.
const XDP_PROG: [[u8; 8]; 6] = [
    // r2 = *(u32 *)(r1 + 16)      ; ctx->rx_queue_index       (BPF_LDX | BPF_MEM | BPF_W)
    [0x61, 0x12, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00],
    // r1 = map fd (patched)        ; src_reg 1 = BPF_PSEUDO_MAP_FD (BPF_LD | BPF_DW | BPF_IMM)
    [0x18, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    // (second half of the 64-bit immediate: 0)
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
    // r3 = 2                       ; XDP_PASS when the queue has no socket (BPF_ALU64|MOV|K)
    [0xb7, 0x03, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00],
    // call 51                      ; bpf_redirect_map(r1 map, r2 key, r3 flags)
    [0x85, 0x00, 0x00, 0x00, 0x33, 0x00, 0x00, 0x00],
    // exit                         ; return r0 (XDP_REDIRECT or XDP_PASS)
    [0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
];

#[repr(C)]
struct UmemReg {
    addr: u64,
    len: u64,
    chunk_size: u32,
    headroom: u32,
    flags: u32,
    tx_metadata_len: u32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct RingOffset {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct MmapOffsets {
    rx: RingOffset,
    tx: RingOffset,
    fr: RingOffset,
    cr: RingOffset,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct XdpDesc {
    addr: u64,
    len: u32,
    options: u32,
}

#[repr(C)]
struct SockaddrXdp {
    family: u16,
    flags: u16,
    ifindex: u32,
    queue_id: u32,
    shared_umem_fd: u32,
}

/// `bpf(cmd, attr)` returning a new fd.
fn bpf_fd<T>(cmd: libc::c_long, attr: &T) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a zero-padded `union bpf_attr` prefix of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

#[repr(C)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    pad: [u32; 28],
}

#[repr(C)]
struct MapUpdateAttr {
    map_fd: u32,
    pad0: u32,
    key: u64,
    value: u64,
    flags: u64,
    pad: [u64; 12],
}

#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    pad: [u64; 8],
}

#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    pad: [u64; 14],
}

/// The XSKMAP, the program and its attachment; dropping it detaches the program.
struct XdpProg {
    link: OwnedFd,
    _prog: OwnedFd,
    _map: OwnedFd,
    native: bool,
}

impl Drop for XdpProg {
    /// Detach now: closing the link alone releases it from a kernel work queue a moment
    /// later, and a port reopened at once would find the interface still busy.
    fn drop(&mut self) {
        let fd: [u32; 4] = [self.link.as_raw_fd() as u32, 0, 0, 0];
        // SAFETY: the attr is `link_detach { link_fd }`, zero-padded, of the size passed.
        unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_LINK_DETACH,
                fd.as_ptr(),
                std::mem::size_of_val(&fd) as libc::c_uint,
            )
        };
    }
}

fn load_xdp(
    name: &str,
    ifname: &str,
    ifindex: u32,
    sockets: &[(u32, i32)],
) -> Result<XdpProg, PortError> {
    let err = |what: String, e| sys_err(name, what, e);
    let map = bpf_fd(
        BPF_MAP_CREATE,
        &MapCreateAttr {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: sockets.iter().map(|&(q, _)| q + 1).max().unwrap_or(1),
            pad: [0; 28],
        },
    )
    .map_err(|e| err("cannot create the XSKMAP (bpf BPF_MAP_CREATE)".into(), e))?;
    let mut insns = XDP_PROG;
    insns[1][4..8].copy_from_slice(&map.as_raw_fd().to_le_bytes());
    let license = c"GPL";
    let mut log = vec![0u8; 4096];
    let mut pname = [0u8; 16];
    pname[..11].copy_from_slice(b"sluice_xsk\0");
    let prog = bpf_fd(
        BPF_PROG_LOAD,
        &ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            kern_version: 0,
            prog_flags: 0,
            prog_name: pname,
            prog_ifindex: 0,
            expected_attach_type: BPF_XDP,
            pad: [0; 8],
        },
    )
    .map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        err(
            format!(
                "cannot load the XDP program (bpf BPF_PROG_LOAD): verifier says {:?}",
                String::from_utf8_lossy(&log[..end])
            ),
            e,
        )
    })?;
    for &(queue, xsk) in sockets {
        let key = queue;
        let value = xsk as u32;
        // SAFETY: the attr points at `key` and `value`, live u32s, as the map's sizes say.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_UPDATE_ELEM,
                &MapUpdateAttr {
                    map_fd: map.as_raw_fd() as u32,
                    pad0: 0,
                    key: &key as *const u32 as u64,
                    value: &value as *const u32 as u64,
                    flags: 0,
                    pad: [0; 12],
                } as *const MapUpdateAttr,
                std::mem::size_of::<MapUpdateAttr>() as libc::c_uint,
            )
        };
        if rc < 0 {
            return Err(err(
                format!("cannot put the socket into the XSKMAP at queue {queue}"),
                io::Error::last_os_error(),
            ));
        }
    }
    let attach = |flags| {
        bpf_fd(
            BPF_LINK_CREATE,
            &LinkCreateAttr {
                prog_fd: prog.as_raw_fd() as u32,
                target_ifindex: ifindex,
                attach_type: BPF_XDP,
                flags,
                pad: [0; 14],
            },
        )
    };
    let (link, native) = match attach(XDP_FLAGS_DRV_MODE) {
        Ok(l) => (l, true),
        Err(e_drv) => match attach(XDP_FLAGS_SKB_MODE) {
            Ok(l) => {
                tracing::info!(
                    port = name,
                    interface = ifname,
                    "native XDP attach failed ({e_drv}): using generic (SKB) mode"
                );
                (l, false)
            }
            Err(e) => {
                let hint = if e.raw_os_error() == Some(libc::EBUSY)
                    || e.raw_os_error() == Some(libc::EEXIST)
                {
                    " (another XDP program is attached: ip link set dev IF xdp off)"
                } else {
                    ""
                };
                return Err(err(
                    format!(
                        "cannot attach the XDP program to {ifname} (native: {e_drv}; generic){hint}"
                    ),
                    e,
                ));
            }
        },
    };
    Ok(XdpProg {
        link,
        _prog: prog,
        _map: map,
        native,
    })
}

/// A mapped ring of the socket.
struct MapRing {
    map: NonNull<u8>,
    map_len: usize,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    desc: *mut u8,
    mask: u32,
}

impl MapRing {
    fn map(fd: &OwnedFd, off: &RingOffset, pgoff: i64, n: u32, elem: usize) -> io::Result<MapRing> {
        let map_len = off.desc as usize + n as usize * elem;
        // SAFETY: maps the ring the kernel set up for this socket; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                pgoff,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let b = p as *mut u8;
        // SAFETY: the offsets come from XDP_MMAP_OFFSETS and lie inside the mapping.
        unsafe {
            Ok(MapRing {
                map: NonNull::new(b).expect("mmap returned a non-null address"),
                map_len,
                producer: b.add(off.producer as usize) as *const AtomicU32,
                consumer: b.add(off.consumer as usize) as *const AtomicU32,
                flags: b.add(off.flags as usize) as *const AtomicU32,
                desc: b.add(off.desc as usize),
                mask: n - 1,
            })
        }
    }

    #[inline]
    fn prod(&self) -> &AtomicU32 {
        // SAFETY: an aligned u32 in the live mapping, shared with the kernel: atomics only.
        unsafe { &*self.producer }
    }

    #[inline]
    fn cons(&self) -> &AtomicU32 {
        // SAFETY: as for `prod`.
        unsafe { &*self.consumer }
    }

    #[inline]
    fn need_wakeup(&self) -> bool {
        // SAFETY: as for `prod`.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }

    /// Address entry `i` of a fill/completion ring.
    #[inline]
    fn addr(&self, i: u32) -> *mut u64 {
        // SAFETY: masked index inside the descriptor array.
        unsafe { (self.desc as *mut u64).add((i & self.mask) as usize) }
    }

    /// Descriptor `i` of an rx/tx ring.
    #[inline]
    fn xdesc(&self, i: u32) -> *mut XdpDesc {
        // SAFETY: masked index inside the descriptor array.
        unsafe { (self.desc as *mut XdpDesc).add((i & self.mask) as usize) }
    }
}

impl Drop for MapRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly this ring's mapping; nothing refers to it any more.
        unsafe { libc::munmap(self.map.as_ptr() as *mut libc::c_void, self.map_len) };
    }
}

/// The sockets, program and promiscuous holder, shared by all halves; the last one dropped
/// closes them (and so detaches the program).
struct Shared {
    _fds: Vec<OwnedFd>,
    _prog: XdpProg,
    _promiscuous: Option<OwnedFd>,
}

/// One bound AF_XDP socket with its mapped rings.
struct Socket {
    fd: OwnedFd,
    queue: u32,
    rx: MapRing,
    tx: MapRing,
    fill: MapRing,
    comp: MapRing,
    zero_copy: bool,
}

/// Check the configuration, set up one socket per queue on the pool, the program and the
/// rings, and build the halves: receive from every queue in turn, transmit on the first.
pub(crate) fn open(
    id: u16,
    name: &str,
    cfg: &AfXdpConfig,
    region: &Region,
    stats: Arc<PortStats>,
) -> Result<Halves, PortError> {
    netdev::check_name(name, &cfg.interface)?;
    let ifname = cfg.interface.as_str();
    let n = cfg.ring_size;
    if !n.is_power_of_two() || !(64..=1 << 16).contains(&n) {
        return Err(config_err(
            name,
            format!("ring_size {n} must be a power of two between 64 and 65536"),
        ));
    }
    if !(1..=64).contains(&cfg.queues) {
        return Err(config_err(
            name,
            format!("queues {} must be between 1 and 64", cfg.queues),
        ));
    }
    let slot_size = region.slot_size();
    if !(2048..=4096).contains(&slot_size) {
        return Err(config_err(
            name,
            format!(
                "the region's slot size {slot_size} must be 2048..=4096 bytes for an AF_XDP \
                 UMEM: use a data room + headroom between 1984 and 4032"
            ),
        ));
    }
    let need = (u64::from(cfg.queues) + 1) * u64::from(n);
    if u64::from(region.slots()) < need {
        return Err(config_err(
            name,
            format!(
                "the pool ({} slots) must hold at least (queues + 1) * ring_size = {need}",
                region.slots()
            ),
        ));
    }
    let Some(ifindex) = netdev::ifindex(ifname) else {
        return Err(config_err(
            name,
            format!("interface {ifname} does not exist (ip link show)"),
        ));
    };
    let mut sockets = Vec::with_capacity(cfg.queues as usize);
    for queue in cfg.queue..cfg.queue + cfg.queues {
        sockets.push(open_socket(name, cfg, queue, ifindex, region)?);
    }
    let entries: Vec<(u32, i32)> = sockets
        .iter()
        .map(|s| (s.queue, s.fd.as_raw_fd()))
        .collect();
    let prog = load_xdp(name, ifname, ifindex, &entries)?;
    let promiscuous = if cfg.promiscuous {
        Some(netdev::promiscuous_holder(ifindex).map_err(|e| {
            sys_err(
                name,
                format!("cannot make {ifname} promiscuous (needs CAP_NET_RAW)"),
                e,
            )
        })?)
    } else {
        None
    };
    tracing::info!(
        port = name,
        interface = ifname,
        queues = ?(cfg.queue..cfg.queue + cfg.queues),
        "AF_XDP in {} mode, XDP program attached in {} mode",
        if sockets[0].zero_copy { "zero-copy" } else { "copy" },
        if prog.native { "native" } else { "generic" }
    );
    let mut fds = Vec::with_capacity(sockets.len());
    let mut receivers = Vec::with_capacity(sockets.len());
    let mut sender = None;
    let shared_fds: Vec<i32> = sockets.iter().map(|s| s.fd.as_raw_fd()).collect();
    for (k, sock) in sockets.into_iter().enumerate() {
        let Socket {
            fd,
            rx,
            tx,
            fill,
            comp,
            zero_copy,
            ..
        } = sock;
        fds.push(fd);
        receivers.push((rx, fill));
        if k == 0 {
            sender = Some((tx, comp, zero_copy));
        }
    }
    let shared = Arc::new(Shared {
        _fds: fds,
        _prog: prog,
        _promiscuous: promiscuous,
    });
    let mut queues = Vec::with_capacity(receivers.len());
    for ((rx, fill), fd) in receivers.into_iter().zip(&shared_fds) {
        queues.push(Receiver {
            _shared: shared.clone(),
            fd: *fd,
            rx,
            fill,
            slot_size: slot_size as u64,
            area: region.data_area(),
            slots: region.slots(),
            meta: crate::rx_meta(region, id, 0),
            posted: 0,
            target: n,
            scratch: vec![0; n as usize],
            need_wakeup: cfg.need_wakeup,
            stats: stats.clone(),
        });
    }
    let rxh = Queues {
        queues,
        next: 0,
        link: LinkPoll::new(name, ifname, stats.clone())?,
    };
    let (tx, comp, zero_copy) = sender.expect("at least one queue");
    let txh = Sender {
        fd: shared_fds[0],
        _shared: shared,
        tx,
        comp,
        slot_size: slot_size as u64,
        slots: region.slots(),
        in_flight: 0,
        size: n,
        copy: !zero_copy,
        need_wakeup: cfg.need_wakeup,
        scratch: vec![0; n as usize],
        name: name.to_string(),
        warned: false,
        stats,
    };
    Ok((Some(Box::new(rxh)), Some(Box::new(txh))))
}

/// Create an AF_XDP socket with the packet pool as its UMEM, size and map its rings, and bind
/// it to `queue`. Every queue registers the same memory, so a slot has the same UMEM address
/// on every socket.
fn open_socket(
    name: &str,
    cfg: &AfXdpConfig,
    queue: u32,
    ifindex: u32,
    region: &Region,
) -> Result<Socket, PortError> {
    let ifname = cfg.interface.as_str();
    let n = cfg.ring_size;
    let err = |what: String, e| sys_err(name, what, e);
    // SAFETY: plain socket(2); checked below.
    let fd = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(err(
            "cannot create an AF_XDP socket".into(),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let (base, len) = region.slot_area();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    let reg = UmemReg {
        addr: base as u64,
        len: len.div_ceil(page) as u64 * page as u64,
        chunk_size: region.slot_size() as u32,
        headroom: 0,
        flags: XDP_UMEM_UNALIGNED_CHUNK_FLAG,
        tx_metadata_len: 0,
    };
    setsockopt(&fd, SOL_XDP, XDP_UMEM_REG, &reg).map_err(|e| {
        err(
            format!(
                "cannot register the packet pool as UMEM ({} bytes; needs CAP_IPC_LOCK or a \
                 large enough RLIMIT_MEMLOCK: ulimit -l)",
                reg.len
            ),
            e,
        )
    })?;
    for opt in [
        XDP_UMEM_FILL_RING,
        XDP_UMEM_COMPLETION_RING,
        XDP_RX_RING,
        XDP_TX_RING,
    ] {
        setsockopt(&fd, SOL_XDP, opt, &n)
            .map_err(|e| err("cannot size the AF_XDP rings".into(), e))?;
    }
    let mut off = MmapOffsets::default();
    getsockopt(&fd, SOL_XDP, XDP_MMAP_OFFSETS, &mut off)
        .map_err(|e| err("cannot read the AF_XDP ring offsets".into(), e))?;
    let map_err = |e| err("cannot map the AF_XDP rings".into(), e);
    let desc = std::mem::size_of::<XdpDesc>();
    let rx = MapRing::map(&fd, &off.rx, XDP_PGOFF_RX_RING, n, desc).map_err(map_err)?;
    let tx = MapRing::map(&fd, &off.tx, XDP_PGOFF_TX_RING, n, desc).map_err(map_err)?;
    let fill = MapRing::map(&fd, &off.fr, XDP_UMEM_PGOFF_FILL_RING, n, 8).map_err(map_err)?;
    let comp = MapRing::map(&fd, &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING, n, 8).map_err(map_err)?;

    let mut flags = match cfg.mode {
        XdpMode::Auto => 0,
        XdpMode::Copy => XDP_COPY,
        XdpMode::ZeroCopy => XDP_ZEROCOPY,
    };
    if cfg.need_wakeup {
        flags |= XDP_USE_NEED_WAKEUP;
    }
    let sa = SockaddrXdp {
        family: AF_XDP as u16,
        flags,
        ifindex,
        queue_id: queue,
        shared_umem_fd: 0,
    };
    // A socket closed just before (a port reopened, a failed open) releases its queue
    // asynchronously: EBUSY for a moment, so retry for up to a second.
    let mut tries = 0;
    let rc = loop {
        // SAFETY: `sa` is a valid sockaddr_xdp of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sa as *const SockaddrXdp as *const libc::sockaddr,
                std::mem::size_of::<SockaddrXdp>() as libc::socklen_t,
            )
        };
        if rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EBUSY) || tries == 20
        {
            break rc;
        }
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if cfg.mode == XdpMode::ZeroCopy {
            return Err(config_err(
                name,
                format!(
                    "zero-copy AF_XDP refused on {ifname} queue {queue} ({e}): the driver does \
                     not support it; use mode = \"copy\" (or \"auto\")"
                ),
            ));
        }
        return Err(err(
            format!(
                "cannot bind the AF_XDP socket to {ifname} queue {queue} (does the queue \
                 exist? ethtool -l {ifname})"
            ),
            e,
        ));
    }
    let mut opts = 0u32;
    let zero_copy = getsockopt(&fd, SOL_XDP, XDP_OPTIONS, &mut opts).is_ok()
        && opts & XDP_OPTIONS_ZEROCOPY != 0;
    Ok(Socket {
        fd,
        queue,
        rx,
        tx,
        fill,
        comp,
        zero_copy,
    })
}

// ---- receive ----------------------------------------------------------------------------

/// The receive half: every bound queue, received from in turn.
struct Queues {
    queues: Vec<Receiver>,
    /// Queue to start the next burst at, so no queue starves the others.
    next: usize,
    link: LinkPoll,
}

impl RxPort for Queues {
    fn rx_burst(&mut self, region: &mut Buffers<'_>, out: &mut [u32]) -> usize {
        let now = now_ns();
        self.link.poll(now);
        let n = self.queues.len();
        let mut got = 0;
        for k in 0..n {
            if got == out.len() {
                break;
            }
            let q = (self.next + k) % n;
            got += self.queues[q].rx_burst(region, &mut out[got..], now);
        }
        self.next = (self.next + 1) % n;
        let held: u32 = self.queues.iter().map(|q| q.posted).sum();
        self.queues[0]
            .stats
            .rx_held
            .store(u64::from(held), Ordering::Relaxed);
        got
    }

    fn provides_flow_hash(&self) -> bool {
        true
    }
}

/// One queue's socket: its RX and fill rings.
struct Receiver {
    _shared: Arc<Shared>,
    /// This queue's socket (owned by `_shared`).
    fd: i32,
    rx: MapRing,
    fill: MapRing,
    slot_size: u64,
    area: usize,
    slots: u32,
    meta: SlotMeta,
    /// Slots on the fill ring or on the RX ring (held by the kernel).
    posted: u32,
    target: u32,
    scratch: Vec<u32>,
    need_wakeup: bool,
    stats: Arc<PortStats>,
}

// SAFETY: the ring mappings are used by this half alone (the kernel aside), so moving the
// struct to another thread moves exclusive access with it.
unsafe impl Send for Receiver {}

impl Receiver {
    /// Top the fill ring up with pool slots.
    fn refill(&mut self, region: &mut Buffers<'_>) {
        let want = (self.target - self.posted) as usize;
        if want == 0 {
            return;
        }
        let got = region.alloc(&mut self.scratch[..want], owner::MANAGER);
        if got == 0 {
            return;
        }
        let prod = self.fill.prod().load(Ordering::Relaxed);
        for (k, &idx) in self.scratch[..got].iter().enumerate() {
            // SAFETY: the fill ring has room for `target` entries and at most `target -
            // posted` are free of ours; the entry is ours until we publish it.
            unsafe {
                self.fill
                    .addr(prod.wrapping_add(k as u32))
                    .write(u64::from(idx) * self.slot_size)
            };
        }
        self.fill
            .prod()
            .store(prod.wrapping_add(got as u32), Ordering::Release);
        self.posted += got as u32;
    }

    /// Receive up to `out.len()` frames of this queue.
    fn rx_burst(&mut self, region: &mut Buffers<'_>, out: &mut [u32], now: u64) -> usize {
        self.refill(region);
        let cons = self.rx.cons().load(Ordering::Relaxed);
        let avail = self.rx.prod().load(Ordering::Acquire).wrapping_sub(cons);
        if avail == 0 {
            if self.need_wakeup && self.fill.need_wakeup() {
                // SAFETY: a zero-length non-blocking recvfrom only kicks the kernel.
                unsafe {
                    libc::recvfrom(
                        self.fd,
                        std::ptr::null_mut(),
                        0,
                        libc::MSG_DONTWAIT,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                    )
                };
            }
            return 0;
        }
        let take = (avail as usize).min(out.len());
        let mut meta = self.meta;
        meta.timestamp = now;
        let mut filled = 0;
        let mut bad = 0usize;
        let mut bytes = 0u64;
        for k in 0..take {
            // SAFETY: entries between consumer and producer are ours to read.
            let d = unsafe { self.rx.xdesc(cons.wrapping_add(k as u32)).read() };
            let addr = (d.addr & ADDR_MASK) + (d.addr >> 48);
            let idx = addr / self.slot_size;
            if idx >= u64::from(self.slots) {
                // Not one of our slots: the kernel would never do this; count and skip.
                self.stats.rx_errors.bump(1);
                self.posted -= 1;
                continue;
            }
            let idx = idx as u32;
            let off = (addr - u64::from(idx) * self.slot_size) as usize;
            let len = d.len as usize;
            if off < META_BYTES || off - META_BYTES + len > self.area || len < MIN_FRAME {
                self.stats.rx_malformed.bump(1);
                self.scratch[bad] = idx;
                bad += 1;
                self.posted -= 1;
                continue;
            }
            meta.data_off = (off - META_BYTES) as u16;
            meta.len = len as u16;
            // SAFETY: the kernel handed the slot back with a frame at data_off..+len, inside
            // the data area (checked above).
            unsafe {
                let frame =
                    std::slice::from_raw_parts(region.data(idx).add(meta.data_off as usize), len);
                meta.flow_hash = flow_hash(frame);
                region.meta(idx).write(meta);
            }
            out[filled] = idx;
            filled += 1;
            bytes += len as u64;
            self.posted -= 1;
        }
        self.rx
            .cons()
            .store(cons.wrapping_add(take as u32), Ordering::Release);
        if bad > 0 {
            region.free(&self.scratch[..bad]);
        }
        self.refill(region);
        if filled > 0 {
            self.stats.rx_packets.bump(filled as u64);
            self.stats.rx_bytes.bump(bytes);
        }
        filled
    }
}

// ---- transmit ---------------------------------------------------------------------------

struct Sender {
    _shared: Arc<Shared>,
    /// The first queue's socket (owned by `_shared`).
    fd: i32,
    tx: MapRing,
    comp: MapRing,
    slot_size: u64,
    slots: u32,
    /// Slots posted to the TX ring and not yet completed.
    in_flight: u32,
    size: u32,
    copy: bool,
    need_wakeup: bool,
    scratch: Vec<u32>,
    name: String,
    warned: bool,
    stats: Arc<PortStats>,
}

// SAFETY: as for `Receiver`.
unsafe impl Send for Sender {}

impl Sender {
    /// Free the slots the kernel has finished sending.
    fn reap(&mut self, region: &mut Buffers<'_>) {
        let cons = self.comp.cons().load(Ordering::Relaxed);
        let n = self.comp.prod().load(Ordering::Acquire).wrapping_sub(cons) as usize;
        if n == 0 {
            return;
        }
        let mut k = 0;
        for i in 0..n {
            // SAFETY: entries between consumer and producer are ours to read.
            let a = unsafe { self.comp.addr(cons.wrapping_add(i as u32)).read() };
            let idx = (a & ADDR_MASK) / self.slot_size;
            if idx < u64::from(self.slots) {
                self.scratch[k] = idx as u32;
                k += 1;
            }
        }
        self.comp
            .cons()
            .store(cons.wrapping_add(n as u32), Ordering::Release);
        self.in_flight -= n as u32;
        region.free(&self.scratch[..k]);
    }

    /// Descriptors on the TX ring the kernel has not taken yet.
    fn pending(&self) -> bool {
        self.tx.prod().load(Ordering::Relaxed) != self.tx.cons().load(Ordering::Acquire)
    }

    /// Tell the kernel to transmit, if it needs telling (copy mode sends at most 32 frames
    /// per call, so leftovers are kicked again on the next burst or flush).
    fn kick(&mut self) {
        if !(self.copy || !self.need_wakeup || self.tx.need_wakeup()) {
            return;
        }
        // SAFETY: a zero-length non-blocking sendto only tells the kernel to transmit.
        let rc = unsafe {
            libc::sendto(
                self.fd,
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS)
                | Some(libc::EINTR) => {}
                Some(libc::ENETDOWN) | Some(libc::ENXIO) => {
                    self.stats.link_up.store(false, Ordering::Relaxed);
                }
                _ => {
                    self.stats.tx_errors.bump(1);
                    if !self.warned {
                        self.warned = true;
                        tracing::warn!(port = %self.name, "transmit kick failed: {e}");
                    }
                }
            }
        }
    }
}

impl TxPort for Sender {
    fn tx_burst(&mut self, region: &mut Buffers<'_>, slots: &[u32]) -> usize {
        self.reap(region);
        if slots.is_empty() || !self.stats.link_up.load(Ordering::Relaxed) {
            if self.pending() {
                self.kick();
            }
            return 0;
        }
        let room = (self.size - self.in_flight) as usize;
        let take = slots.len().min(room);
        let area = region.data_area();
        let prod = self.tx.prod().load(Ordering::Relaxed);
        let mut posted = 0u32;
        let mut bytes = 0u64;
        let mut bad = 0;
        for &idx in &slots[..take] {
            // SAFETY: the caller holds the slots (TxPort contract).
            let m = unsafe { region.meta(idx).read() };
            let (off, len) = (m.data_off as usize, m.len as usize);
            if off + len > area || len == 0 {
                self.stats.tx_errors.bump(1);
                self.scratch[bad] = idx;
                bad += 1;
                continue;
            }
            let d = XdpDesc {
                addr: u64::from(idx) * self.slot_size + (META_BYTES + off) as u64,
                len: len as u32,
                options: 0,
            };
            // SAFETY: fewer than `size` descriptors are in flight, so this entry is free.
            unsafe { self.tx.xdesc(prod.wrapping_add(posted)).write(d) };
            posted += 1;
            bytes += len as u64;
        }
        if bad > 0 {
            region.free(&self.scratch[..bad]);
        }
        if posted > 0 {
            self.tx
                .prod()
                .store(prod.wrapping_add(posted), Ordering::Release);
            self.in_flight += posted;
            self.kick();
            self.stats.tx_packets.bump(u64::from(posted));
            self.stats.tx_bytes.bump(bytes);
        }
        take
    }

    fn flush(&mut self, region: &mut Buffers<'_>) {
        if self.pending() {
            self.kick();
        }
        // Copy mode sends within the kick: take the buffers back now, not at the next burst.
        self.reap(region);
    }
}
