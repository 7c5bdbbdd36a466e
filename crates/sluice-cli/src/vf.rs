//! VFd's requests, shared by `iplex` and `sluice vf`: the command line, the call to sluiced
//! and VFd's ways of printing the answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use sluice_ctl::{Conn, Request, Response, VfReply};

/// A VFd request.
#[derive(Subcommand, Debug)]
pub enum VfCmd {
    /// Add the VF whose config is `<config_dir>/<PORT_ID>.json` (moved to `<config_dir>_live`
    /// when accepted, renamed to `.json.error` when refused).
    Add {
        /// File name without `.json` (or a path).
        port_id: String,
    },
    /// Delete the VF configured by `<config_dir>_live/<PORT_ID>.json` (its `name` must match
    /// the add-time name).
    Delete {
        /// File name without `.json` (or a path).
        port_id: String,
    },
    /// Counters: `all`, `pfs`, `mirrors` or a PF number.
    Show {
        /// What to show.
        #[arg(default_value = "all")]
        what: String,
    },
    /// Check that sluiced answers (prints its version).
    Ping,
    /// Change sluiced's log level (0..=4).
    Verbose,
    /// Write every VF's settings to sluiced's log.
    Dump,
    /// Mirror VF `VF` of PF `PF` in direction `DIR` (in, out, all, off) to VF `TARGET`.
    Mirror {
        /// PF number (as in `show`).
        pf: u32,
        /// VF number.
        vf: u32,
        /// in, out, all (or on) or off.
        dir: String,
        /// Target VF (needed unless `off`).
        target: Option<u32>,
    },
    /// Zero counters (Sluice extension): all, a PF, or one VF of a PF.
    Clear {
        /// PF number, or `all` (default).
        pf: Option<String>,
        /// VF number.
        vf: Option<u32>,
    },
}

impl VfCmd {
    /// The control-protocol request.
    pub fn request(&self, loglevel: Option<u32>) -> Request {
        let (action, resource) = match self {
            VfCmd::Add { port_id } => ("add", port_id.clone()),
            VfCmd::Delete { port_id } => ("delete", port_id.clone()),
            VfCmd::Show { what } => ("show", what.clone()),
            VfCmd::Ping => ("ping", String::new()),
            VfCmd::Verbose => ("verbose", String::new()),
            VfCmd::Dump => ("dump", String::new()),
            VfCmd::Mirror {
                pf,
                vf,
                dir,
                target,
            } => (
                "mirror",
                match target {
                    Some(t) => format!("{pf} {vf} {dir} {t}"),
                    None => format!("{pf} {vf} {dir}"),
                },
            ),
            VfCmd::Clear { pf, vf } => (
                "clear",
                match (pf, vf) {
                    (None, _) => "all".into(),
                    (Some(p), None) => p.clone(),
                    (Some(p), Some(v)) => format!("{p} {v}"),
                },
            ),
        };
        Request::Vf {
            action: action.into(),
            resource,
            loglevel,
        }
    }
}

/// Send a VFd request to sluiced.
pub fn call(socket: Option<&Path>, req: &Request) -> anyhow::Result<VfReply> {
    let path = sluice_ctl::socket_path(socket);
    let mut conn = Conn::connect(&path).map_err(|e| {
        anyhow::anyhow!(
            "sluiced is not running or its control socket {} is not available: {e}",
            path.display()
        )
    })?;
    match conn.call(req, Duration::from_secs(60))? {
        Response::Vf(r) => Ok(r),
        Response::Error { message } => anyhow::bail!("{message}"),
        other => anyhow::bail!("unexpected answer from sluiced: {other:?}"),
    }
}

/// VFd's response text as iplex printed it (VFd's framing, with the strings escaped).
pub fn vfd_text(r: &VfReply) -> String {
    let lines: Vec<String> = r
        .msg
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::to_string(l).expect("a string encodes"))
        .collect();
    format!(
        "{{ \"action\": \"response\", \"vfd_rid\": \"not-supplied\", \"state\": \"{}\", \"msg\": [\n{} ] }}",
        if r.ok { "OK" } else { "ERROR" },
        lines.join(",\n")
    )
}

/// The control socket named by sluiced's TOML config (`[manager] socket`), for `--conf`.
pub fn socket_from_config(conf: &Path) -> anyhow::Result<Option<PathBuf>> {
    let text = std::fs::read_to_string(conf)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", conf.display()))?;
    let v: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", conf.display(), e.to_string().trim()))?;
    Ok(v.get("manager")
        .and_then(|m| m.get("socket"))
        .and_then(|s| s.as_str())
        .map(PathBuf::from))
}
