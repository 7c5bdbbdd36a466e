//! A NETLINK_ROUTE socket: one request at a time, replies matched by sequence number.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::consts::{NETLINK_CAP_ACK, NETLINK_EXT_ACK, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP};
use crate::msg::{parse_ack, split_messages, Ack, ParseError};

/// How long to wait for the kernel's answer; rtnetlink answers at once, so hitting this
/// means something is badly wrong (not a slow NIC: the driver call is synchronous).
const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// The kernel's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `NLMSG_ERROR` (errno 0 = ACK).
    Ack(Ack),
    /// Any other message with our sequence number: (type, payload).
    Msg(u16, Vec<u8>),
}

/// Socket-level failure.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// A system call failed.
    #[error("netlink {call}: {source}")]
    Io {
        /// The call (socket, bind, sendto, recv...).
        call: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// No answer within the timeout.
    #[error("netlink: no answer from the kernel within {0:?}")]
    Timeout(Duration),
    /// The answer could not be decoded.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

fn last_err(call: &'static str) -> SocketError {
    SocketError::Io {
        call,
        source: io::Error::last_os_error(),
    }
}

/// An rtnetlink socket bound to a kernel-assigned port, in the network namespace of the
/// thread that opened it.
#[derive(Debug)]
pub struct NlSocket {
    fd: OwnedFd,
    seq: u32,
}

impl NlSocket {
    /// Opens and binds the socket, asks for extended ACKs (error strings) and capped ACKs
    /// (the kernel does not echo our whole request back in errors).
    pub fn open() -> Result<Self, SocketError> {
        // SAFETY: socket(2) takes only integer arguments; it returns a new descriptor or -1.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(last_err("socket"));
        }
        // SAFETY: `raw` is a valid descriptor that nothing else owns; OwnedFd closes it once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let addr = kernel_addr(); // nl_pid 0 in bind = let the kernel pick our port id
                                  // SAFETY: `addr` is a properly initialised sockaddr_nl and we pass its exact size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_err("bind"));
        }
        // Both options exist since Linux 4.12 / 4.2; older kernels just give plain errors.
        let one: libc::c_int = 1;
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            // SAFETY: the option value is a live c_int and its size is passed with it.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_NETLINK,
                    opt,
                    (&one as *const libc::c_int).cast(),
                    mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
        let tv = libc::timeval {
            tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: `tv` is a live timeval and its size is passed with it.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(last_err("setsockopt(SO_RCVTIMEO)"));
        }
        // Start from the clock as iproute2 does; any start works, replies are matched on seq.
        let seq = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Ok(NlSocket { fd, seq })
    }

    /// Sends the message `build(seq)` and returns the kernel's answer to it.
    pub fn request(&mut self, build: impl FnOnce(u32) -> Vec<u8>) -> Result<Reply, SocketError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = build(seq);
        self.send(&msg)?;
        loop {
            let dgram = self.recv()?;
            for m in split_messages(&dgram)? {
                if m.seq != seq || m.ty == NLMSG_NOOP {
                    tracing::debug!(seq = m.seq, ty = m.ty, "skipping unrelated netlink message");
                    continue;
                }
                return match m.ty {
                    NLMSG_ERROR => Ok(Reply::Ack(parse_ack(m.flags, m.payload)?)),
                    NLMSG_DONE => Err(ParseError("NLMSG_DONE without an answer".into()).into()),
                    ty => Ok(Reply::Msg(ty, m.payload.to_vec())),
                };
            }
        }
    }

    fn send(&self, msg: &[u8]) -> Result<(), SocketError> {
        let addr = kernel_addr();
        loop {
            // SAFETY: `msg` is a live buffer of msg.len() bytes; `addr` is a valid
            // sockaddr_nl whose size we pass.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    0,
                    (&addr as *const libc::sockaddr_nl).cast(),
                    mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return Err(last_err("sendto"));
            }
        }
    }

    /// Receives one datagram from the kernel, sized with MSG_PEEK|MSG_TRUNC first: a PF
    /// with many VFs and their stats easily exceeds a page.
    fn recv(&self) -> Result<Vec<u8>, SocketError> {
        loop {
            let mut probe = [0u8; 1];
            // SAFETY: a 1-byte live buffer; MSG_TRUNC makes the return the real length.
            let want = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    probe.as_mut_ptr().cast(),
                    probe.len(),
                    libc::MSG_PEEK | libc::MSG_TRUNC,
                )
            };
            if want < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => return Err(SocketError::Timeout(RECV_TIMEOUT)),
                    _ => {
                        return Err(SocketError::Io {
                            call: "recv",
                            source: e,
                        })
                    }
                }
            }
            let mut buf = vec![0u8; want as usize];
            // SAFETY: zeroed so never uninitialised.
            let mut from: libc::sockaddr_nl = unsafe { mem::zeroed() };
            let mut from_len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: `buf` has buf.len() writable bytes; `from`/`from_len` are live and
            // describe a sockaddr_nl-sized buffer.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut from as *mut libc::sockaddr_nl).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => return Err(SocketError::Timeout(RECV_TIMEOUT)),
                    _ => {
                        return Err(SocketError::Io {
                            call: "recvfrom",
                            source: e,
                        })
                    }
                }
            }
            // Only the kernel (port 0) may answer: another process could unicast to our port.
            if from.nl_pid != 0 {
                tracing::debug!(
                    pid = from.nl_pid,
                    "dropping netlink datagram not from the kernel"
                );
                continue;
            }
            buf.truncate(n as usize);
            return Ok(buf);
        }
    }
}

fn kernel_addr() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain integers; all-zero is a valid value.
    let mut a: libc::sockaddr_nl = unsafe { mem::zeroed() };
    a.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    a
}
