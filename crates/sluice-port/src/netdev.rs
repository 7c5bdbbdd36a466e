//! Small helpers shared by the kernel-interface ports (`af-packet`, `tap`): interface lookup,
//! `SIOC*IF*` ioctls through a control socket, clear error texts, and the link-state poll.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use sluice_shm::now_ns;

use crate::{PortError, PortStats};

/// How often the receive path re-reads the link state.
pub(crate) const LINK_POLL_NS: u64 = 100_000_000;

pub(crate) fn config_err(port: &str, reason: String) -> PortError {
    PortError::Config {
        port: port.to_string(),
        reason,
    }
}

/// A port error for a failed system call, with advice for the usual causes.
pub(crate) fn sys_err(port: &str, what: String, e: io::Error) -> PortError {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => config_err(
            port,
            format!("{what}: {e}: needs CAP_NET_RAW/CAP_NET_ADMIN: run as root"),
        ),
        Some(libc::ENODEV) | Some(libc::ENXIO) => config_err(
            port,
            format!("{what}: {e}: the interface has gone (ip link show)"),
        ),
        _ => PortError::Io {
            port: port.to_string(),
            what,
            source: e,
        },
    }
}

/// Check an interface name (non-empty, shorter than IFNAMSIZ, no NUL or '/').
pub(crate) fn check_name(port: &str, name: &str) -> Result<(), PortError> {
    if name.is_empty() {
        return Err(config_err(
            port,
            "`interface` is required (the name of a Linux network interface)".into(),
        ));
    }
    if name.len() >= libc::IFNAMSIZ || name.contains(['\0', '/', ' ']) {
        return Err(config_err(
            port,
            format!(
                "interface name {name:?} is not valid (at most {} characters, no '/' or spaces)",
                libc::IFNAMSIZ - 1
            ),
        ));
    }
    Ok(())
}

/// The interface index of `name`, if it exists.
pub(crate) fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// An `ifreq` carrying `name` (checked by [`check_name`]).
pub(crate) fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in r
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    r
}

/// A datagram socket to issue interface ioctls through.
pub(crate) fn ctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ioctl(fd: &OwnedFd, req: libc::c_ulong, r: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request used here takes a `struct ifreq *`, which `r` is.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, r as *mut libc::ifreq) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Interface flags (`IFF_*`).
pub(crate) fn flags(ctl: &OwnedFd, name: &str) -> io::Result<i32> {
    let mut r = ifreq(name);
    ioctl(ctl, libc::SIOCGIFFLAGS, &mut r)?;
    // SAFETY: SIOCGIFFLAGS filled in the flags member.
    Ok(i32::from(unsafe { r.ifr_ifru.ifru_flags }) & 0xffff)
}

/// Bring the interface administratively up.
pub(crate) fn set_up(ctl: &OwnedFd, name: &str) -> io::Result<()> {
    let f = flags(ctl, name)?;
    if f & libc::IFF_UP != 0 {
        return Ok(());
    }
    let mut r = ifreq(name);
    r.ifr_ifru.ifru_flags = (f | libc::IFF_UP) as libc::c_short;
    ioctl(ctl, libc::SIOCSIFFLAGS, &mut r)
}

/// Set the MTU.
pub(crate) fn set_mtu(ctl: &OwnedFd, name: &str, mtu: u32) -> io::Result<()> {
    let mut r = ifreq(name);
    r.ifr_ifru.ifru_mtu = mtu as libc::c_int;
    ioctl(ctl, libc::SIOCSIFMTU, &mut r)
}

/// Set the Ethernet address.
pub(crate) fn set_mac(ctl: &OwnedFd, name: &str, mac: [u8; 6]) -> io::Result<()> {
    let mut r = ifreq(name);
    // SAFETY: sockaddr is plain old data; all zeroes is valid.
    let mut sa: libc::sockaddr = unsafe { std::mem::zeroed() };
    sa.sa_family = libc::ARPHRD_ETHER;
    for (d, s) in sa.sa_data.iter_mut().zip(mac) {
        *d = s as libc::c_char;
    }
    r.ifr_ifru.ifru_hwaddr = sa;
    ioctl(ctl, libc::SIOCSIFHWADDR, &mut r)
}

/// Whether the link carries traffic: administratively up and running (carrier).
pub(crate) fn link_up(ctl: &OwnedFd, name: &str) -> bool {
    flags(ctl, name).is_ok_and(|f| f & libc::IFF_UP != 0 && f & libc::IFF_RUNNING != 0)
}

/// Re-reads the link state at most every [`LINK_POLL_NS`] into `stats.link_up`.
pub(crate) struct LinkPoll {
    port: String,
    ifname: String,
    ctl: OwnedFd,
    next: u64,
    stats: Arc<PortStats>,
}

impl LinkPoll {
    /// Read the link state now (into the stats) and warn if it is down.
    pub(crate) fn new(
        port: &str,
        ifname: &str,
        stats: Arc<PortStats>,
    ) -> Result<LinkPoll, PortError> {
        let ctl =
            ctl_socket().map_err(|e| sys_err(port, "cannot create a control socket".into(), e))?;
        let up = link_up(&ctl, ifname);
        stats.link_up.store(up, Ordering::Relaxed);
        if !up {
            tracing::warn!(
                port,
                interface = ifname,
                "link is down: frames to it count as dropped until it comes up \
                 (ip link set {ifname} up; a veth needs its peer up too)"
            );
        }
        Ok(LinkPoll {
            port: port.to_string(),
            ifname: ifname.to_string(),
            ctl,
            next: now_ns() + LINK_POLL_NS,
            stats,
        })
    }

    /// Poll if due; true when it polled (callers piggyback other slow work on it).
    #[inline]
    pub(crate) fn poll(&mut self, now: u64) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + LINK_POLL_NS;
        let up = link_up(&self.ctl, &self.ifname);
        if self.stats.link_up.swap(up, Ordering::Relaxed) != up {
            tracing::info!(
                port = %self.port,
                interface = %self.ifname,
                "link {}",
                if up { "up" } else { "down" }
            );
        }
        true
    }
}

/// `setsockopt(fd, level, opt, v)` with `v`'s size.
pub(crate) fn setsockopt<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: &T,
) -> io::Result<()> {
    // SAFETY: `v` points to a live `T` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `getsockopt(fd, level, opt)` into `v` (a plain-data `T`).
pub(crate) fn getsockopt<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: &mut T,
) -> io::Result<()> {
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is writable for `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            v as *mut T as *mut libc::c_void,
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Join the interface's promiscuous membership on an `AF_PACKET` socket: the interface stays
/// promiscuous while the socket is open, and the kernel drops the membership when it closes
/// (also when the process dies), so nothing is left behind.
pub(crate) fn join_promiscuous(fd: &OwnedFd, ifindex: u32) -> io::Result<()> {
    // SAFETY: packet_mreq is plain data; all-zero is a valid value.
    let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
    mr.mr_ifindex = ifindex as libc::c_int;
    mr.mr_type = libc::PACKET_MR_PROMISC as libc::c_ushort;
    setsockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mr)
}

/// An `AF_PACKET` socket that receives nothing (protocol 0) and only holds the interface
/// promiscuous, for ports whose own socket cannot (AF_XDP).
pub(crate) fn promiscuous_holder(ifindex: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); checked below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    join_promiscuous(&fd, ifindex)?;
    Ok(fd)
}
