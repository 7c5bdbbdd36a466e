//! The `tap` port: a TAP interface to the host kernel stack or a VM.
//!
//! Opens `/dev/net/tun` with `IFF_TAP | IFF_NO_PI` for `interface`, which creates the
//! interface or attaches to an existing (persistent) TAP device of that name; the MAC address,
//! MTU and up state are then set from the configuration. A TAP file descriptor moves one frame
//! per `read`/`write`, so a burst costs one system call per frame: this port is for reaching
//! the host stack and VMs (`ping`, `tcpdump`, applications), not for speed.
//!
//! Receive reads frames straight into pool slots until the kernel has no more (`EAGAIN`) or
//! the burst is full; frames longer than the data room (read into an overflow buffer to find
//! out) or shorter than an Ethernet header count as `rx_malformed`. Transmit writes each
//! frame; a full queue (`EAGAIN`) leaves the rest to the caller. While the link is down
//! (polled every 100 ms by the receive half) transmit takes nothing.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use sluice_shm::{now_ns, owner, Buffers, Counter, Region, SlotMeta};
use sluice_wire::{flow_hash, parse_mac};

use crate::config::TapConfig;
use crate::netdev::{self, config_err, sys_err, LinkPoll};
use crate::{Halves, PortError, PortStats, RxPort, TxPort};

const MIN_FRAME: usize = 14;
/// Largest frame a TAP device hands over (64 KiB).
const MAX_TAP_FRAME: usize = 65536;

/// Check the configuration, create or attach the interface and build the halves.
pub(crate) fn open(
    id: u16,
    name: &str,
    cfg: &TapConfig,
    region: &Region,
    stats: Arc<PortStats>,
) -> Result<Halves, PortError> {
    netdev::check_name(name, &cfg.interface)?;
    let ifname = cfg.interface.as_str();
    let mac = match &cfg.mac {
        Some(text) => Some(parse_mac(text).map_err(|_| {
            config_err(
                name,
                format!("mac {text:?} is not a MAC address (six hex bytes like 02:00:00:00:00:01)"),
            )
        })?),
        None => None,
    };
    if let Some(m) = mac {
        if m[0] & 1 != 0 {
            return Err(config_err(
                name,
                format!(
                    "mac {:?} is a multicast address; use a unicast one such as 02:..",
                    cfg.mac.as_deref().unwrap_or("")
                ),
            ));
        }
    }
    if let Some(mtu) = cfg.mtu {
        if !(68..=65521).contains(&mtu) {
            return Err(config_err(
                name,
                format!("mtu {mtu} must be between 68 and 65521"),
            ));
        }
        if mtu as usize + 14 > region.data_room() as usize {
            tracing::warn!(
                port = name,
                mtu,
                data_room = region.data_room(),
                "frames of the full MTU do not fit a slot; they will count as rx_malformed"
            );
        }
    }

    // SAFETY: the path is a NUL-terminated literal; the result is checked.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOENT) {
            return Err(config_err(
                name,
                "/dev/net/tun does not exist: load the tun module (modprobe tun) or, in a \
                 container, pass the device through"
                    .into(),
            ));
        }
        return Err(sys_err(name, "cannot open /dev/net/tun".into(), e));
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut req = netdev::ifreq(ifname);
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF takes a `struct ifreq *`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF as _, &mut req) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::EEXIST) => config_err(
                name,
                format!(
                    "interface {ifname} exists and is not a TAP device without packet \
                     information (ip -d link show {ifname}); choose another name"
                ),
            ),
            Some(libc::EBUSY) => config_err(
                name,
                format!("TAP interface {ifname} is already in use by another program"),
            ),
            _ => sys_err(
                name,
                format!("cannot create or attach TAP interface {ifname}"),
                e,
            ),
        });
    }
    let ctl = netdev::ctl_socket()
        .map_err(|e| sys_err(name, "cannot create a control socket".into(), e))?;
    if let Some(m) = mac {
        netdev::set_mac(&ctl, ifname, m)
            .map_err(|e| sys_err(name, format!("cannot set the MAC address of {ifname}"), e))?;
    }
    if let Some(mtu) = cfg.mtu {
        netdev::set_mtu(&ctl, ifname, mtu)
            .map_err(|e| sys_err(name, format!("cannot set MTU {mtu} on {ifname}"), e))?;
    }
    if cfg.up {
        netdev::set_up(&ctl, ifname)
            .map_err(|e| sys_err(name, format!("cannot bring {ifname} up"), e))?;
    }
    drop(ctl);
    // SAFETY: duplicates our descriptor; the result is checked.
    let txfd = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if txfd < 0 {
        return Err(sys_err(
            name,
            "cannot duplicate the TAP descriptor".into(),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `txfd` is a fresh descriptor we own.
    let txfd = unsafe { OwnedFd::from_raw_fd(txfd) };
    let link = LinkPoll::new(name, ifname, stats.clone())?;
    let rx = TapRx {
        name: name.to_string(),
        fd,
        overflow: vec![0; MAX_TAP_FRAME],
        room: region.data_room() as usize,
        headroom: region.headroom() as usize,
        meta: crate::rx_meta(region, id, 0),
        warned: false,
        link,
        stats: stats.clone(),
    };
    let tx = TapTx {
        name: name.to_string(),
        fd: txfd,
        warned: false,
        stats,
    };
    Ok((Some(Box::new(rx)), Some(Box::new(tx))))
}

struct TapRx {
    name: String,
    fd: OwnedFd,
    /// Catches the tail of frames longer than the data room, so they are seen and refused.
    overflow: Vec<u8>,
    room: usize,
    headroom: usize,
    meta: SlotMeta,
    warned: bool,
    link: LinkPoll,
    stats: Arc<PortStats>,
}

impl RxPort for TapRx {
    fn rx_burst(&mut self, region: &mut Buffers<'_>, out: &mut [u32]) -> usize {
        let now = now_ns();
        self.link.poll(now);
        if out.is_empty() {
            return 0;
        }
        let got = region.alloc(out, owner::MANAGER);
        if got == 0 {
            return 0;
        }
        let mut meta = self.meta;
        meta.timestamp = now;
        let mut filled = 0;
        let mut bytes = 0u64;
        while filled < got {
            let idx = out[filled];
            // SAFETY: `idx` came from the pool just now; the data area holds headroom + room.
            let dst = unsafe { region.data(idx).add(self.headroom) };
            let iov = [
                libc::iovec {
                    iov_base: dst as *mut libc::c_void,
                    iov_len: self.room,
                },
                libc::iovec {
                    iov_base: self.overflow.as_mut_ptr() as *mut libc::c_void,
                    iov_len: self.overflow.len(),
                },
            ];
            // SAFETY: both iovecs describe writable memory we hold.
            let n = unsafe { libc::readv(self.fd.as_raw_fd(), iov.as_ptr(), 2) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => {}
                    Some(libc::EINTR) => continue,
                    _ => {
                        self.stats.rx_errors.bump(1);
                        if !self.warned {
                            self.warned = true;
                            tracing::warn!(port = %self.name, "TAP read error: {e}");
                        }
                    }
                }
                break;
            }
            let len = n as usize;
            if !(MIN_FRAME..=self.room).contains(&len) {
                self.stats.rx_malformed.bump(1);
                continue;
            }
            // SAFETY: the slot is ours and `len` bytes were just written after the headroom.
            let frame = unsafe { std::slice::from_raw_parts(dst, len) };
            meta.len = len as u16;
            meta.flow_hash = flow_hash(frame);
            // SAFETY: the slot is ours.
            unsafe { region.meta(idx).write(meta) };
            bytes += len as u64;
            filled += 1;
        }
        crate::finish_rx(region, &self.stats, out, got, filled, bytes)
    }

    fn provides_flow_hash(&self) -> bool {
        true
    }
}

struct TapTx {
    name: String,
    fd: OwnedFd,
    warned: bool,
    stats: Arc<PortStats>,
}

impl TxPort for TapTx {
    fn tx_burst(&mut self, region: &mut Buffers<'_>, slots: &[u32]) -> usize {
        if slots.is_empty() || !self.stats.link_up.load(Ordering::Relaxed) {
            return 0;
        }
        let area = region.data_area();
        let mut taken = 0;
        let mut sent = 0u64;
        let mut bytes = 0u64;
        while taken < slots.len() {
            let idx = slots[taken];
            // SAFETY: the caller holds the slots (TxPort contract).
            let m = unsafe { region.meta(idx).read() };
            let (off, len) = (m.data_off as usize, m.len as usize);
            if off + len > area || len == 0 {
                self.stats.tx_errors.bump(1);
                taken += 1;
                continue;
            }
            // SAFETY: bounds checked above; the slot is ours during the call.
            let rc = unsafe {
                libc::write(
                    self.fd.as_raw_fd(),
                    region.data(idx).add(off) as *const libc::c_void,
                    len,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::ENOBUFS) => break,
                    Some(libc::EIO) => {
                        // The interface went down since the last poll.
                        self.stats.link_up.store(false, Ordering::Relaxed);
                        break;
                    }
                    Some(libc::EINTR) => continue,
                    _ => {
                        self.stats.tx_errors.bump(1);
                        if !self.warned {
                            self.warned = true;
                            tracing::warn!(port = %self.name, "TAP write error (frame dropped): {e}");
                        }
                    }
                }
            } else {
                sent += 1;
                bytes += len as u64;
            }
            taken += 1;
        }
        region.free(&slots[..taken]);
        self.stats.tx_packets.bump(sent);
        self.stats.tx_bytes.bump(bytes);
        taken
    }
}
