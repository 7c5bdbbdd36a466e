//! The `af-packet` port: any Linux interface through `AF_PACKET` sockets.
//!
//! Receive uses a TPACKET_V3 memory-mapped ring: the kernel fills whole blocks of frames and
//! flips each block's status to "user"; `rx_burst` copies the frames of ready blocks into pool
//! slots and hands each block back when it has consumed all of its frames. It never blocks or
//! polls: when the current block is not ready it returns 0. `PACKET_IGNORE_OUTGOING` keeps our
//! own transmissions out of the ring; a `fanout_group` lets several ports (threads) share an
//! interface by flow hash.
//!
//! Transmit uses a second socket (bound with protocol 0, so it receives nothing) and sends a
//! whole burst with one `sendmmsg`; the message and iovec arrays are built once at open.
//! Frames the kernel does not take (queue full) are left to the caller.
//!
//! While the link is down (polled every 100 ms by the receive half) transmit takes nothing.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sluice_shm::{now_ns, owner, Buffers, Counter, Region, SlotMeta};
use sluice_wire::flow_hash;

use crate::config::AfPacketConfig;
use crate::netdev::{self, config_err, getsockopt, setsockopt, sys_err, LinkPoll};
use crate::{Halves, PortError, PortStats, RxPort, TxPort};

const MIN_FRAME: usize = 14;
/// Messages per `sendmmsg` call; longer bursts take several calls.
const TX_BATCH: usize = 256;

// <linux/if_packet.h>
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_QDISC_BYPASS: libc::c_int = 20;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_FANOUT_HASH: u32 = 0;
const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// Block retire timeout in ms: a partly filled block is handed over after this long.
const RETIRE_TOV_MS: u32 = 1;

// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then tpacket_hdr_v1).
const BD_STATUS: usize = 8;
const BD_NUM_PKTS: usize = 12;
const BD_FIRST: usize = 16;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

/// The start of `struct tpacket3_hdr` (with `tpacket_hdr_variant1`).
#[repr(C)]
struct Tpacket3Hdr {
    next_offset: u32,
    sec: u32,
    nsec: u32,
    snaplen: u32,
    len: u32,
    status: u32,
    mac: u16,
    net: u16,
    rxhash: u32,
    vlan_tci: u32,
    vlan_tpid: u16,
    padding: u16,
}

/// `tp_status` bits: the kernel took an outer VLAN tag off the frame (every receive path
/// does) and reports it in `tp_vlan_tci` (and `tp_vlan_tpid`).
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

fn packet_socket(port: &str) -> Result<OwnedFd, PortError> {
    // SAFETY: plain socket(2); protocol 0 so nothing is queued before the ring and bind.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(sys_err(
            port,
            "cannot create an AF_PACKET socket".into(),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind(fd: &OwnedFd, ifindex: u32, proto: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain old data; all zeroes is valid.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = proto.to_be();
    sa.sll_ifindex = ifindex as i32;
    // SAFETY: `sa` is a valid sockaddr_ll of the size passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sa as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Check the configuration, open both sockets and build the halves.
pub(crate) fn open(
    id: u16,
    name: &str,
    cfg: &AfPacketConfig,
    region: &Region,
    stats: Arc<PortStats>,
) -> Result<Halves, PortError> {
    netdev::check_name(name, &cfg.interface)?;
    let ifname = cfg.interface.as_str();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u32;
    if cfg.block_size == 0
        || !cfg.block_size.is_multiple_of(page)
        || !cfg.block_size.is_power_of_two()
    {
        return Err(config_err(
            name,
            format!(
                "block_size {} must be a power of two and a multiple of the page size ({page})",
                cfg.block_size
            ),
        ));
    }
    if cfg.frame_size < 128 || !cfg.frame_size.is_multiple_of(16) || cfg.frame_size > cfg.block_size
    {
        return Err(config_err(
            name,
            format!(
                "frame_size {} must be a multiple of 16 between 128 and block_size",
                cfg.frame_size
            ),
        ));
    }
    if cfg.block_count == 0 || u64::from(cfg.block_count) * u64::from(cfg.block_size) > 1 << 31 {
        return Err(config_err(
            name,
            format!(
                "block_count {} must be at least 1, with block_count * block_size <= 2 GiB",
                cfg.block_count
            ),
        ));
    }
    let Some(ifindex) = netdev::ifindex(ifname) else {
        return Err(config_err(
            name,
            format!("interface {ifname} does not exist (ip link show)"),
        ));
    };
    let link = LinkPoll::new(name, ifname, stats.clone())?;
    let rx = Ring::open(id, name, ifname, ifindex, cfg, region, link, stats.clone())?;
    let tx = Sender::open(name, ifname, ifindex, cfg, stats)?;
    Ok((Some(Box::new(rx)), Some(Box::new(tx))))
}

// ---- receive ----------------------------------------------------------------------------

struct Ring {
    name: String,
    fd: OwnedFd,
    map: NonNull<u8>,
    map_len: usize,
    block_size: usize,
    block_nr: usize,
    /// Block being read.
    cur: usize,
    /// Whether `cur` is ready and being consumed: `left` frames remain from offset `off`.
    in_block: bool,
    left: u32,
    off: usize,
    room: usize,
    headroom: usize,
    meta: SlotMeta,
    link: LinkPoll,
    stats: Arc<PortStats>,
}

// SAFETY: the mapping is owned by this struct alone (never aliased by another Ring), so moving
// the struct to another thread moves exclusive access with it.
unsafe impl Send for Ring {}

impl Ring {
    #[allow(clippy::too_many_arguments)]
    fn open(
        id: u16,
        name: &str,
        ifname: &str,
        ifindex: u32,
        cfg: &AfPacketConfig,
        region: &Region,
        link: LinkPoll,
        stats: Arc<PortStats>,
    ) -> Result<Ring, PortError> {
        let fd = packet_socket(name)?;
        let err = |what: &str, e| sys_err(name, format!("{what} on {ifname}"), e);
        setsockopt(&fd, libc::SOL_PACKET, PACKET_VERSION, &TPACKET_V3)
            .map_err(|e| err("cannot select TPACKET_V3", e))?;
        let req = TpacketReq3 {
            block_size: cfg.block_size,
            block_nr: cfg.block_count,
            frame_size: cfg.frame_size,
            frame_nr: cfg.block_size / cfg.frame_size * cfg.block_count,
            retire_blk_tov: RETIRE_TOV_MS,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        setsockopt(&fd, libc::SOL_PACKET, PACKET_RX_RING, &req)
            .map_err(|e| err("cannot set up the receive ring (PACKET_RX_RING)", e))?;
        let map_len = cfg.block_size as usize * cfg.block_count as usize;
        // SAFETY: maps the ring the kernel just allocated for this socket; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd.as_raw_fd(),
                0,
            )
        };
        let p = if p == libc::MAP_FAILED {
            // MAP_LOCKED may exceed RLIMIT_MEMLOCK: retry without it.
            // SAFETY: as above.
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    map_len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    0,
                )
            }
        } else {
            p
        };
        if p == libc::MAP_FAILED {
            return Err(err(
                "cannot map the receive ring",
                io::Error::last_os_error(),
            ));
        }
        let ring = Ring {
            name: name.to_string(),
            fd,
            map: NonNull::new(p as *mut u8).expect("mmap returned a non-null address"),
            map_len,
            block_size: cfg.block_size as usize,
            block_nr: cfg.block_count as usize,
            cur: 0,
            in_block: false,
            left: 0,
            off: 0,
            room: region.data_room() as usize,
            headroom: region.headroom() as usize,
            meta: crate::rx_meta(region, id, 0),
            link,
            stats,
        };
        // (On error from here on, dropping `ring` unmaps and closes.)
        setsockopt(&ring.fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &1i32)
            .map_err(|e| err("cannot set PACKET_IGNORE_OUTGOING", e))?;
        bind(&ring.fd, ifindex, libc::ETH_P_ALL as u16)
            .map_err(|e| err("cannot bind the receive socket", e))?;
        if cfg.promiscuous {
            netdev::join_promiscuous(&ring.fd, ifindex)
                .map_err(|e| err("cannot turn on promiscuous mode", e))?;
        }
        if let Some(group) = cfg.fanout_group {
            let arg: u32 = u32::from(group) | (PACKET_FANOUT_HASH << 16);
            setsockopt(&ring.fd, libc::SOL_PACKET, PACKET_FANOUT, &arg).map_err(|e| {
                err(
                    &format!(
                        "cannot join fanout group {group} (another program may use it \
                         with another mode)"
                    ),
                    e,
                )
            })?;
        }
        Ok(ring)
    }

    #[inline]
    fn block(&self, b: usize) -> *mut u8 {
        // SAFETY: b < block_nr, so the offset is inside the mapping.
        unsafe { self.map.as_ptr().add(b * self.block_size) }
    }

    #[inline]
    fn status(&self, b: usize) -> &AtomicU32 {
        // SAFETY: block_status is an aligned u32 inside the mapping, shared with the kernel,
        // so it is accessed atomically only.
        unsafe { &*(self.block(b).add(BD_STATUS) as *const AtomicU32) }
    }

    /// Add the kernel's drop count (ring full) to `rx_no_buffer`; reading resets it.
    fn kernel_drops(&self) {
        let mut st = TpacketStatsV3::default();
        let read = getsockopt(&self.fd, libc::SOL_PACKET, PACKET_STATISTICS, &mut st);
        if read.is_ok() && st.drops > 0 {
            self.stats.rx_no_buffer.bump(u64::from(st.drops));
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`; nothing refers to it any more.
        unsafe { libc::munmap(self.map.as_ptr() as *mut libc::c_void, self.map_len) };
    }
}

impl RxPort for Ring {
    fn rx_burst(&mut self, region: &mut Buffers<'_>, out: &mut [u32]) -> usize {
        let now = now_ns();
        if self.link.poll(now) {
            self.kernel_drops();
        }
        if out.is_empty() {
            return 0;
        }
        if !self.in_block && self.status(self.cur).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            return 0;
        }
        // Frames are ready. Without buffers they wait in the ring (the kernel counts drops
        // once it is full).
        let got = region.alloc(out, owner::MANAGER);
        if got == 0 {
            return 0;
        }
        let mut meta = self.meta;
        meta.timestamp = now;
        let mut filled = 0;
        let mut bytes = 0u64;
        loop {
            if !self.in_block {
                if self.status(self.cur).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                    break;
                }
                let b = self.block(self.cur);
                // SAFETY: the block is ours (status user, acquired above); the header fields
                // are aligned u32s at fixed offsets.
                unsafe {
                    self.left = (b.add(BD_NUM_PKTS) as *const u32).read();
                    self.off = (b.add(BD_FIRST) as *const u32).read() as usize;
                }
                self.in_block = true;
            }
            if self.left == 0 {
                // Every frame of the block consumed: give it back.
                self.status(self.cur)
                    .store(TP_STATUS_KERNEL, Ordering::Release);
                self.cur = (self.cur + 1) % self.block_nr;
                self.in_block = false;
                continue;
            }
            if filled == got {
                break;
            }
            if self.off + std::mem::size_of::<Tpacket3Hdr>() > self.block_size {
                // A corrupt block: drop the rest of it.
                self.stats.rx_errors.bump(1);
                tracing::warn!(port = %self.name, block = self.cur, "corrupt receive block");
                self.left = 0;
                continue;
            }
            // SAFETY: the header lies inside our block (checked above).
            let h = unsafe { (self.block(self.cur).add(self.off) as *const Tpacket3Hdr).read() };
            let frame_off = self.off + h.mac as usize;
            self.off += h.next_offset as usize;
            self.left -= 1;
            let len = h.snaplen as usize;
            // The kernel hands over tagged frames without their outer tag: put it back, so
            // the data plane sees the frame as it was on the wire.
            let tag = (h.status & TP_STATUS_VLAN_VALID != 0).then(|| {
                let tpid = if h.status & TP_STATUS_VLAN_TPID_VALID != 0 && h.vlan_tpid != 0 {
                    h.vlan_tpid
                } else {
                    0x8100
                };
                let mut t = [0u8; 4];
                t[..2].copy_from_slice(&tpid.to_be_bytes());
                t[2..].copy_from_slice(&(h.vlan_tci as u16).to_be_bytes());
                t
            });
            let full = len + if tag.is_some() { 4 } else { 0 };
            if len < MIN_FRAME
                || full > self.room
                || h.snaplen < h.len
                || frame_off + len > self.block_size
            {
                self.stats.rx_malformed.bump(1);
                continue;
            }
            // SAFETY: the frame lies inside our block (checked above).
            let frame =
                unsafe { std::slice::from_raw_parts(self.block(self.cur).add(frame_off), len) };
            let idx = out[filled];
            meta.len = full as u16;
            // SAFETY: `idx` came from the pool just now; `full <= data room`, so the frame
            // fits after the headroom.
            unsafe {
                let dst = region.data(idx).add(self.headroom);
                match tag {
                    None => std::ptr::copy_nonoverlapping(frame.as_ptr(), dst, len),
                    Some(t) => {
                        std::ptr::copy_nonoverlapping(frame.as_ptr(), dst, 12);
                        std::ptr::copy_nonoverlapping(t.as_ptr(), dst.add(12), 4);
                        std::ptr::copy_nonoverlapping(
                            frame.as_ptr().add(12),
                            dst.add(16),
                            len - 12,
                        );
                    }
                }
                meta.flow_hash = flow_hash(std::slice::from_raw_parts(dst, full));
                region.meta(idx).write(meta);
            }
            bytes += full as u64;
            filled += 1;
        }
        crate::finish_rx(region, &self.stats, out, got, filled, bytes)
    }

    fn provides_flow_hash(&self) -> bool {
        true
    }
}

// ---- transmit ---------------------------------------------------------------------------

struct Sender {
    name: String,
    fd: OwnedFd,
    /// One iovec per message; `msgs[i].msg_hdr.msg_iov` points at `iov[i]` (set at open: the
    /// vectors are never resized, so the pointers stay valid).
    iov: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    /// Index in the burst of the slot of each message.
    pos: Vec<usize>,
    warned: bool,
    stats: Arc<PortStats>,
}

// SAFETY: the raw pointers in `iov`/`msgs` point into this struct's own heap buffers (or at
// frames only during a call), so the struct may move between threads.
unsafe impl Send for Sender {}

impl Sender {
    fn open(
        name: &str,
        ifname: &str,
        ifindex: u32,
        cfg: &AfPacketConfig,
        stats: Arc<PortStats>,
    ) -> Result<Sender, PortError> {
        let fd = packet_socket(name)?;
        if cfg.qdisc_bypass {
            setsockopt(&fd, libc::SOL_PACKET, PACKET_QDISC_BYPASS, &1i32).map_err(|e| {
                sys_err(
                    name,
                    format!("cannot set PACKET_QDISC_BYPASS on {ifname}"),
                    e,
                )
            })?;
        }
        // Protocol 0: this socket only sends.
        bind(&fd, ifindex, 0).map_err(|e| {
            sys_err(
                name,
                format!("cannot bind the transmit socket to {ifname}"),
                e,
            )
        })?;
        let mut iov = vec![
            libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            };
            TX_BATCH
        ];
        // SAFETY: mmsghdr is plain old data; all zeroes is valid.
        let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; TX_BATCH];
        for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
        }
        Ok(Sender {
            name: name.to_string(),
            fd,
            iov,
            msgs,
            pos: vec![0; TX_BATCH],
            warned: false,
            stats,
        })
    }

    #[cold]
    fn error(&mut self, e: &io::Error) {
        self.stats.tx_errors.bump(1);
        if !self.warned {
            self.warned = true;
            tracing::warn!(port = %self.name, "transmit error (frame dropped): {e}");
        }
    }
}

impl TxPort for Sender {
    fn tx_burst(&mut self, region: &mut Buffers<'_>, slots: &[u32]) -> usize {
        if slots.is_empty() || !self.stats.link_up.load(Ordering::Relaxed) {
            return 0;
        }
        let area = region.data_area();
        let mut taken = 0;
        let mut sent = 0u64;
        let mut bytes = 0u64;
        'burst: while taken < slots.len() {
            // Fill up to TX_BATCH messages from slots[taken..].
            let mut n = 0;
            let mut i = taken;
            while i < slots.len() && n < TX_BATCH {
                let idx = slots[i];
                // SAFETY: the caller holds the slots (TxPort contract).
                let m = unsafe { region.meta(idx).read() };
                let (off, len) = (m.data_off as usize, m.len as usize);
                if off + len > area || len == 0 {
                    // A descriptor the manager should have refused: it is taken but not sent.
                    self.stats.tx_errors.bump(1);
                } else {
                    // SAFETY: bounds checked above; the slot is ours during the call.
                    self.iov[n].iov_base = unsafe { region.data(idx).add(off) } as *mut _;
                    self.iov[n].iov_len = len;
                    self.pos[n] = i;
                    n += 1;
                }
                i += 1;
            }
            if n == 0 {
                taken = i;
                continue;
            }
            let mut done = 0;
            while done < n {
                // SAFETY: msgs[done..n] point at iovecs describing live frames we hold.
                let rc = unsafe {
                    libc::sendmmsg(
                        self.fd.as_raw_fd(),
                        self.msgs.as_mut_ptr().add(done),
                        (n - done) as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                if rc < 0 {
                    let e = io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR) => {
                            // Queue full: the rest stays with the caller.
                            taken = self.pos[done];
                            break 'burst;
                        }
                        Some(libc::ENETDOWN) | Some(libc::ENXIO) => {
                            // The link went down since the last poll.
                            self.stats.link_up.store(false, Ordering::Relaxed);
                            taken = self.pos[done];
                            break 'burst;
                        }
                        _ => {
                            // This frame cannot be sent: take (drop) it and go on.
                            self.error(&e);
                            done += 1;
                        }
                    }
                    continue;
                }
                if rc == 0 {
                    taken = self.pos[done];
                    break 'burst;
                }
                for k in done..done + rc as usize {
                    bytes += self.iov[k].iov_len as u64;
                }
                sent += rc as u64;
                done += rc as usize;
            }
            taken = i;
        }
        region.free(&slots[..taken]);
        self.stats.tx_packets.bump(sent);
        self.stats.tx_bytes.bump(bytes);
        taken
    }
}
