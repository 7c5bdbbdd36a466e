//! `SOCK_SEQPACKET` Unix sockets: message boundaries kept by the kernel, hang-up seen as a
//! zero-length read, and fds passed with `SCM_RIGHTS`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::CtlError;

/// Largest message accepted (a full stats snapshot with many NFs fits easily).
const MAX_MSG: usize = 1 << 20;
/// Most fds in one message (the kernel's SCM_MAX_FD is 253).
const MAX_FDS: usize = 253;

fn io_err(what: impl Into<String>) -> CtlError {
    CtlError::Io {
        what: what.into(),
        source: std::io::Error::last_os_error(),
    }
}

fn sockaddr(path: &Path) -> Result<(libc::sockaddr_un, libc::socklen_t), CtlError> {
    // SAFETY: sockaddr_un is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(CtlError::Io {
            what: format!("socket path {} is longer than 107 bytes", path.display()),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    Ok((addr, len))
}

fn new_socket() -> Result<OwnedFd, CtlError> {
    // SAFETY: plain syscall returning a new fd or -1.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io_err("socket(AF_UNIX, SOCK_SEQPACKET)"));
    }
    // SAFETY: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A listening control socket.
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Bind `path` with file mode `mode` (e.g. 0o600), replacing a stale socket file.
    pub fn bind(path: &Path, mode: u32) -> Result<Listener, CtlError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| CtlError::Io {
                    what: format!("creating {}", dir.display()),
                    source: e,
                })?;
            }
        }
        if path.exists() {
            if Conn::connect(path).is_ok() {
                return Err(CtlError::Io {
                    what: format!("another sluiced is listening on {}", path.display()),
                    source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
                });
            }
            let _ = std::fs::remove_file(path);
        }
        let fd = new_socket()?;
        let (addr, len) = sockaddr(path)?;
        // SAFETY: binding our socket to a valid sockaddr_un of `len` bytes.
        if unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const _ as *const libc::sockaddr,
                len,
            )
        } != 0
        {
            return Err(io_err(format!("binding {}", path.display())));
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
            CtlError::Io {
                what: format!("chmod {:o} {}", mode, path.display()),
                source: e,
            }
        })?;
        // SAFETY: plain syscall on our socket.
        if unsafe { libc::listen(fd.as_raw_fd(), 128) } != 0 {
            return Err(io_err("listen"));
        }
        Ok(Listener { fd })
    }

    /// Wait for the next connection.
    pub fn accept(&self) -> Result<Conn, CtlError> {
        loop {
            // SAFETY: accept4 on our listening socket, no address wanted.
            let fd = unsafe {
                libc::accept4(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: a fresh fd we own.
                return Ok(Conn::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }));
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return Err(io_err("accept"));
            }
        }
    }

    /// Wake a thread blocked in `accept` (used at shutdown).
    pub fn shutdown(&self) {
        // SAFETY: plain syscall on our socket.
        unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR) };
    }
}

/// One control connection.
pub struct Conn {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl Conn {
    fn from_fd(fd: OwnedFd) -> Conn {
        let big: libc::c_int = MAX_MSG as libc::c_int * 2;
        for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
            // SAFETY: setting an int socket option on our socket; failure only means smaller
            // buffers.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    &big as *const _ as *const _,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
        Conn {
            fd,
            buf: vec![0; MAX_MSG],
        }
    }

    /// Connect to sluiced's control socket.
    pub fn connect(path: &Path) -> Result<Conn, CtlError> {
        let fd = new_socket()?;
        let (addr, len) = sockaddr(path)?;
        // SAFETY: connecting our socket to a valid sockaddr_un.
        if unsafe {
            libc::connect(
                fd.as_raw_fd(),
                &addr as *const _ as *const libc::sockaddr,
                len,
            )
        } != 0
        {
            return Err(io_err(format!(
                "connecting to {} (is sluiced running? set --socket or SLUICE_SOCKET)",
                path.display()
            )));
        }
        Ok(Conn::from_fd(fd))
    }

    /// A second handle on the same connection (e.g. one thread reads, another writes).
    pub fn try_clone(&self) -> Result<Conn, CtlError> {
        let fd = self.fd.try_clone().map_err(|e| CtlError::Io {
            what: "dup".into(),
            source: e,
        })?;
        Ok(Conn {
            fd,
            buf: vec![0; MAX_MSG],
        })
    }

    /// Set (or clear) the receive timeout.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> Result<(), CtlError> {
        let tv = match t {
            Some(d) => libc::timeval {
                tv_sec: d.as_secs() as libc::time_t,
                tv_usec: d.subsec_micros() as libc::suseconds_t,
            },
            None => libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
        };
        // SAFETY: setting a timeval socket option on our socket.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const _,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io_err("setsockopt(SO_RCVTIMEO)"));
        }
        Ok(())
    }

    /// The raw fd (for poll).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Send one message with optional fds.
    pub fn send<T: Serialize>(&self, msg: &T, fds: &[RawFd]) -> Result<(), CtlError> {
        let body = serde_json::to_vec(msg).map_err(|e| CtlError::Decode(e.to_string()))?;
        if body.len() > MAX_MSG || fds.len() > MAX_FDS {
            return Err(CtlError::Decode(format!(
                "message of {} bytes / {} fds is too large",
                body.len(),
                fds.len()
            )));
        }
        let mut iov = libc::iovec {
            iov_base: body.as_ptr() as *mut _,
            iov_len: body.len(),
        };
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE((fds.len() * 4) as u32) } as usize;
        let mut cbuf = vec![0u64; space.div_ceil(8)];
        // SAFETY: msghdr is plain data; zero is valid.
        let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        if !fds.is_empty() {
            mh.msg_control = cbuf.as_mut_ptr() as *mut _;
            mh.msg_controllen = space;
            // SAFETY: the control buffer has room for one cmsg carrying `fds.len()` ints
            // (CMSG_SPACE above); CMSG_FIRSTHDR is non-null for a buffer that large.
            unsafe {
                let cm = libc::CMSG_FIRSTHDR(&mh);
                (*cm).cmsg_level = libc::SOL_SOCKET;
                (*cm).cmsg_type = libc::SCM_RIGHTS;
                (*cm).cmsg_len = libc::CMSG_LEN((fds.len() * 4) as u32) as usize;
                std::ptr::copy_nonoverlapping(
                    fds.as_ptr(),
                    libc::CMSG_DATA(cm) as *mut RawFd,
                    fds.len(),
                );
            }
        }
        loop {
            // SAFETY: a valid msghdr pointing at live buffers; MSG_NOSIGNAL avoids SIGPIPE.
            let r = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &mh, libc::MSG_NOSIGNAL) };
            if r >= 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => {
                    return Err(CtlError::Closed)
                }
                _ => {
                    return Err(CtlError::Io {
                        what: "sendmsg".into(),
                        source: e,
                    })
                }
            }
        }
    }

    /// Receive one message and any fds that came with it.
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<(T, Vec<OwnedFd>), CtlError> {
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr() as *mut _,
            iov_len: MAX_MSG,
        };
        // SAFETY: pure size computation.
        let space = unsafe { libc::CMSG_SPACE((MAX_FDS * 4) as u32) } as usize;
        let mut cbuf = vec![0u64; space.div_ceil(8)];
        // SAFETY: msghdr is plain data; zero is valid.
        let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf.as_mut_ptr() as *mut _;
        mh.msg_controllen = space;
        let n = loop {
            // SAFETY: a valid msghdr over our buffers; MSG_CMSG_CLOEXEC marks received fds.
            let r = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut mh, libc::MSG_CMSG_CLOEXEC) };
            if r >= 0 {
                break r as usize;
            }
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    return Err(CtlError::Timeout(Duration::ZERO))
                }
                std::io::ErrorKind::ConnectionReset => return Err(CtlError::Closed),
                _ => {
                    return Err(CtlError::Io {
                        what: "recvmsg".into(),
                        source: e,
                    })
                }
            }
        };
        let mut fds = Vec::new();
        // SAFETY: walking the control messages the kernel filled in, within msg_controllen;
        // each SCM_RIGHTS payload is an array of fds now owned by this process.
        unsafe {
            let mut cm = libc::CMSG_FIRSTHDR(&mh);
            while !cm.is_null() {
                if (*cm).cmsg_level == libc::SOL_SOCKET && (*cm).cmsg_type == libc::SCM_RIGHTS {
                    let count = ((*cm).cmsg_len - libc::CMSG_LEN(0) as usize) / 4;
                    let data = libc::CMSG_DATA(cm) as *const RawFd;
                    for i in 0..count {
                        fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                    }
                }
                cm = libc::CMSG_NXTHDR(&mh, cm);
            }
        }
        if n == 0 {
            return Err(CtlError::Closed);
        }
        if mh.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
            return Err(CtlError::Decode(format!(
                "message over {MAX_MSG} bytes or {MAX_FDS} fds"
            )));
        }
        let msg = serde_json::from_slice(&self.buf[..n])
            .map_err(|e| CtlError::Decode(format!("{e} in {:?}", preview(&self.buf[..n]))))?;
        Ok((msg, fds))
    }

    /// Send a request and wait for one response (CLI use).
    pub fn call<Q: Serialize, R: DeserializeOwned>(
        &mut self,
        req: &Q,
        timeout: Duration,
    ) -> Result<R, CtlError> {
        self.send(req, &[])?;
        self.set_read_timeout(Some(timeout))?;
        match self.recv() {
            Ok((r, _)) => Ok(r),
            Err(CtlError::Timeout(_)) => Err(CtlError::Timeout(timeout)),
            Err(e) => Err(e),
        }
    }
}

fn preview(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(120)]);
    s.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, Response};

    #[test]
    fn request_reply_with_fds() {
        let dir = std::env::temp_dir().join(format!("sluice-ctl-{}", std::process::id()));
        let path = dir.join("t.sock");
        let l = Listener::bind(&path, 0o600).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let server = std::thread::spawn(move || {
            let mut c = l.accept().unwrap();
            let (req, _): (Request, _) = c.recv().unwrap();
            assert!(matches!(req, Request::Nfs));
            let f = std::fs::File::open("/dev/null").unwrap();
            c.send(&Response::Ok, &[f.as_raw_fd(), f.as_raw_fd()])
                .unwrap();
            let r: Result<(Request, _), _> = c.recv();
            assert!(matches!(r, Err(CtlError::Closed)), "hang-up is seen");
        });
        let mut c = Conn::connect(&path).unwrap();
        c.send(&Request::Nfs, &[]).unwrap();
        let (resp, fds): (Response, _) = c.recv().unwrap();
        assert!(matches!(resp, Response::Ok));
        assert_eq!(fds.len(), 2);
        drop(c);
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let (a, b) = pair();
        // SAFETY: writing bytes to our own socket.
        unsafe { libc::write(a.raw_fd(), b"{not json".as_ptr() as *const _, 9) };
        let mut b = b;
        let e = b.recv::<Request>().unwrap_err();
        assert!(e.to_string().contains("bad control message"), "{e}");
    }

    fn pair() -> (Conn, Conn) {
        let mut sv = [0; 2];
        // SAFETY: socketpair fills two fresh fds.
        let r =
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, sv.as_mut_ptr()) };
        assert_eq!(r, 0);
        // SAFETY: fresh fds we own.
        unsafe {
            (
                Conn::from_fd(OwnedFd::from_raw_fd(sv[0])),
                Conn::from_fd(OwnedFd::from_raw_fd(sv[1])),
            )
        }
    }
}
