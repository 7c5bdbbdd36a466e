//! The control protocol of `sluiced`: one JSON message per `SOCK_SEQPACKET` datagram on a
//! Unix socket, with file descriptors (the shared region, wakeup eventfds) passed alongside
//! as `SCM_RIGHTS`. NFs, the `sluice` CLI and `iplex` all speak it.

mod msg;
mod socket;
pub mod table;

pub use msg::*;
pub use socket::{Conn, Listener};

/// Default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/sluice/sluiced.sock";
/// Environment variable that overrides the socket path for NFs and the CLI.
pub const SOCKET_ENV: &str = "SLUICE_SOCKET";

/// The socket path to use: `explicit`, else `$SLUICE_SOCKET`, else [`DEFAULT_SOCKET`].
pub fn socket_path(explicit: Option<&std::path::Path>) -> std::path::PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    std::env::var_os(SOCKET_ENV)
        .map(Into::into)
        .unwrap_or_else(|| DEFAULT_SOCKET.into())
}

/// Errors of the control channel.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// A socket call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The peer closed the connection.
    #[error("the peer closed the control connection")]
    Closed,
    /// A message could not be encoded or decoded.
    #[error("bad control message: {0}")]
    Decode(String),
    /// No reply in time.
    #[error("no reply from sluiced within {0:?}")]
    Timeout(std::time::Duration),
}
