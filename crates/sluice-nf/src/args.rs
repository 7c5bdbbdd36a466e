//! Command-line arguments every NF accepts (flatten them into the NF's own clap parser).

use std::path::PathBuf;

use sluice_ctl::RunMode;

/// Arguments common to all NFs.
#[derive(Clone, Debug, clap::Args)]
pub struct NfArgs {
    /// Control socket of sluiced.
    #[arg(long, env = "SLUICE_SOCKET", default_value = sluice_ctl::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Service to join, by id (1-64) or name from sluiced's config.
    #[arg(short = 'r', long)]
    pub service: String,
    /// Instance id to ask for (default: the manager picks a free one).
    #[arg(short = 'n', long)]
    pub instance: Option<u16>,
    /// Tag shown in `sluice nfs` and the stats table (default: the program name).
    #[arg(long)]
    pub name: Option<String>,
    /// poll (busy-poll a dedicated core) or shared-core (sleep when idle); default: sluiced's.
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<RunMode>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<f64>,
    /// Stop after receiving this many packets.
    #[arg(long, value_name = "PACKETS")]
    pub packet_limit: Option<u64>,
}

fn parse_mode(s: &str) -> Result<RunMode, String> {
    match s {
        "poll" => Ok(RunMode::Poll),
        "shared-core" | "shared" => Ok(RunMode::SharedCore),
        _ => Err(format!("unknown mode {s:?}: use poll or shared-core")),
    }
}

impl NfArgs {
    /// The tag to register with.
    pub fn tag(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            std::env::args()
                .next()
                .and_then(|a| {
                    std::path::Path::new(&a)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "nf".into())
        })
    }
}
