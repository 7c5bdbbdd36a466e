//! Eventfds for shared-core mode: an idle NF blocks on its own; a producer writes it only when
//! the NF flagged itself asleep (see [`crate::Instance::take_wakeup`]).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::ShmError;

/// An eventfd used as a wakeup doorbell.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// A new non-blocking, close-on-exec eventfd.
    pub fn new() -> Result<EventFd, ShmError> {
        // SAFETY: plain syscall; returns a new fd or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(ShmError::os("eventfd"));
        }
        // SAFETY: a fresh fd we own.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Wrap an eventfd received from another process.
    pub fn from_owned(fd: OwnedFd) -> EventFd {
        EventFd(fd)
    }

    /// Ring the doorbell.
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd; a full counter (EAGAIN) means
        // the sleeper is already due to wake, so the result is ignored.
        unsafe { libc::write(self.0.as_raw_fd(), &one as *const u64 as *const _, 8) };
    }

    /// Wait until notified or `timeout` passes, then reset the counter. Returns true if notified.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        self.drain();
        r > 0
    }

    /// Reset the counter without waiting.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from a non-blocking eventfd.
        unsafe { libc::read(self.0.as_raw_fd(), &mut v as *mut u64 as *mut _, 8) };
    }

    /// The raw fd, for passing to another process.
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Block until one of `fds` is notified or `timeout` passes; drains the notified ones.
/// Returns true if any was notified.
pub fn wait_any(fds: &[&EventFd], timeout: Duration) -> bool {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|e| libc::pollfd {
            fd: e.raw(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: a valid array of pollfds of the given length.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if r > 0 {
        for (p, e) in pfds.iter().zip(fds) {
            if p.revents != 0 {
                e.drain();
            }
        }
    }
    r > 0
}
