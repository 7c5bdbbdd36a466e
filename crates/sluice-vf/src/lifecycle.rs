//! VFd's file lifecycle: `config_dir`, `<config_dir>_live`, `*.error`, and the callbacks.
//!
//! - add: read `<config_dir>/<name>.json` (or a path with a `/`), validate; on success move
//!   it to `<config_dir>_live/` (rename, so the owner is kept; copy + chown + unlink across
//!   file systems); on failure rename it to `<name>.json.error` in the same directory and
//!   write the reason beside it as `<name>.json.error.reason`.
//! - delete: read `<config_dir>_live/<name>.json` (or a path), check it names a configured
//!   VF with the same `name` as at add time; remove the file (or keep it as
//!   `<config_dir>/<name>.json-` with `delete_keep`), then the VF. As VFd, a file that names
//!   no PF / no configured VF / lacks pciid or vfid is removed and the request refused; a
//!   name mismatch leaves the file alone.
//! - restore (start-up): re-add every `_live/*.json` in name order; a file that fails is
//!   moved to `<config_dir>/<name>.json-`. Files in `config_dir` are never read at start.
//! - callbacks: `start_cb` / `stop_cb` run without a shell (the command line is split into
//!   argv here), as the uid/gid owning the VF file, with a clean environment; the exit status
//!   is logged.
//!
//! Everything here is control plane: it does file I/O and may block on callbacks.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{info, warn};

use crate::config::{ConfigError, ConfigWarning, Owner, Registry, Rule, Vf, VfConfig};

/// Why an add or delete request failed. Display is the reason iplex prints after
/// `unable to add vf: <resource>: ` / `unable to delete internal config for vf: <resource>: `.
#[derive(Debug, Error)]
pub enum LifecycleError {
    /// The file could not be read.
    #[error("unable to read config file: {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The config was refused (parse or validation); names file and field.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The file could not be moved / removed, so nothing was changed.
    #[error("{file}: unable to {what}: {source}")]
    File {
        /// The file.
        file: String,
        /// What was attempted.
        what: String,
        /// The I/O error.
        source: io::Error,
    },
}

impl LifecycleError {
    /// The validation rule, if this is a config error.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            LifecycleError::Config(e) => Some(e.rule),
            _ => None,
        }
    }
}

/// A successful add.
#[derive(Debug, Clone)]
pub struct Added {
    /// Where the file now lives (`<config_dir>_live/<name>.json`).
    pub live_file: PathBuf,
    /// PF of the new VF.
    pub pciid: String,
    /// vfid of the new VF.
    pub vfid: u32,
    /// Warnings (unknown fields, ignored values).
    pub warnings: Vec<ConfigWarning>,
}

/// Result of re-applying `_live` at start-up.
#[derive(Debug, Default)]
pub struct Restored {
    /// Files re-added.
    pub added: Vec<Added>,
    /// Files refused (moved to `<config_dir>/<name>.json-`), with the reason.
    pub failed: Vec<(PathBuf, LifecycleError)>,
}

/// The directories of VFd's lifecycle.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    config_dir: PathBuf,
    live_dir: PathBuf,
    delete_keep: bool,
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Moves a file, keeping its owner: rename, or copy + chown + unlink across file systems.
fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let meta = fs::metadata(from)?;
            fs::copy(from, to)?;
            // Best effort: only root can give the copy away; callbacks use the owner.
            let _ = std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()));
            fs::remove_file(from)
        }
        Err(e) => Err(e),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Lifecycle {
    /// Lifecycle over `config_dir` (its live directory is `<config_dir>_live`).
    pub fn new(config_dir: impl AsRef<Path>, delete_keep: bool) -> Self {
        let config_dir = config_dir.as_ref().to_path_buf();
        let trimmed = path_str(&config_dir);
        let trimmed = trimmed.trim_end_matches('/');
        Lifecycle {
            live_dir: PathBuf::from(format!("{trimmed}_live")),
            config_dir: PathBuf::from(trimmed),
            delete_keep,
        }
    }

    /// `config_dir`.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// `<config_dir>_live`.
    pub fn live_dir(&self) -> &Path {
        &self.live_dir
    }

    /// Creates `config_dir` and `<config_dir>_live` if missing (VFd does at start).
    pub fn ensure_dirs(&self) -> io::Result<()> {
        fs::create_dir_all(&self.config_dir)?;
        fs::create_dir_all(&self.live_dir)
    }

    fn resolve(&self, dir: &Path, resource: &str) -> PathBuf {
        if resource.contains('/') {
            PathBuf::from(resource)
        } else if resource.ends_with(".json") {
            dir.join(resource)
        } else {
            dir.join(format!("{resource}.json"))
        }
    }

    /// Where `add <resource>` reads from: a path if it has a `/`, else
    /// `<config_dir>/<resource>[.json]`.
    pub fn add_path(&self, resource: &str) -> PathBuf {
        self.resolve(&self.config_dir, resource)
    }

    /// Where `delete <resource>` reads from: a path if it has a `/`, else
    /// `<config_dir>_live/<resource>[.json]`.
    pub fn delete_path(&self, resource: &str) -> PathBuf {
        self.resolve(&self.live_dir, resource)
    }

    fn read(path: &Path) -> Result<(String, Option<Owner>), LifecycleError> {
        let file = path_str(path);
        let text = fs::read_to_string(path).map_err(|source| LifecycleError::Read {
            file: file.clone(),
            source,
        })?;
        let owner = fs::metadata(path).ok().map(|m| Owner {
            uid: m.uid(),
            gid: m.gid(),
        });
        Ok((text, owner))
    }

    /// `iplex add`: validate the file and, on success, add the VF to `reg` and move the file
    /// to the live directory. On failure nothing in `reg` changed and the file is renamed
    /// to `*.error` (with a `*.error.reason` beside it).
    pub fn add(&self, reg: &mut Registry, resource: &str) -> Result<Added, LifecycleError> {
        let path = self.add_path(resource);
        match self.try_add(reg, &path) {
            Ok(a) => {
                info!(file = %path.display(), pciid = %a.pciid, vfid = a.vfid, "vf added");
                for w in &a.warnings {
                    warn!("{w}");
                }
                Ok(a)
            }
            Err(e) => {
                warn!(file = %path.display(), "vf not added: {e}");
                if path.exists() {
                    let err_path = with_suffix(&path, ".error");
                    if let Err(me) = fs::rename(&path, &err_path) {
                        warn!(file = %path.display(), "unable to rename to .error: {me}");
                    } else if let Err(we) =
                        fs::write(with_suffix(&err_path, ".reason"), format!("{e}\n"))
                    {
                        warn!(file = %err_path.display(), "unable to write the reason: {we}");
                    }
                }
                Err(e)
            }
        }
    }

    fn try_add(&self, reg: &mut Registry, path: &Path) -> Result<Added, LifecycleError> {
        let file = path_str(path);
        let (text, owner) = Self::read(path)?;
        let (cfg, warnings) = VfConfig::parse(&file, &text)?;
        let vf = reg.check_add(&file, &cfg, owner)?;
        let live = self.live_dir.join(file_name(path));
        if live.exists() {
            // Another accepted VF's file would be overwritten (and lost at restart).
            return Err(ConfigError::new(
                &file,
                "-",
                Rule::LiveFileExists,
                format!(
                    "a live config with this file name exists ({}); delete it first",
                    live.display()
                ),
            )
            .into());
        }
        move_file(path, &live).map_err(|source| LifecycleError::File {
            file: file.clone(),
            what: format!("move it to {}", self.live_dir.display()),
            source,
        })?;
        match reg.commit(vf) {
            Ok(v) => Ok(Added {
                live_file: live,
                pciid: v.config.pciid.clone(),
                vfid: v.vfid(),
                warnings,
            }),
            Err(e) => {
                let _ = move_file(&live, path);
                Err(e.into())
            }
        }
    }

    /// Removes a delete request's file, or keeps it as `<config_dir>/<name>-`.
    fn drop_file(&self, path: &Path) -> io::Result<()> {
        if self.delete_keep {
            move_file(path, &self.config_dir.join(format!("{}-", file_name(path))))
        } else {
            fs::remove_file(path)
        }
    }

    /// `iplex delete`: remove the VF named by the file, if the name matches. Returns the
    /// removed VF (the manager tears its port policy down).
    pub fn delete(&self, reg: &mut Registry, resource: &str) -> Result<Vf, LifecycleError> {
        let path = self.delete_path(resource);
        let file = path_str(&path);
        let res = (|| {
            let (text, _) = Self::read(&path)?;
            let cfg = match VfConfig::parse(&file, &text) {
                Ok((cfg, _)) => cfg,
                Err(e) if e.rule == Rule::Required => {
                    let _ = self.drop_file(&path);
                    return Err(ConfigError::new(
                        &file,
                        e.field,
                        Rule::DeleteInvalid,
                        format!("invalid configuration contents in file: {file}"),
                    )
                    .into());
                }
                Err(e) => return Err(e.into()),
            };
            if let Err(e) = reg.check_delete(&file, &cfg) {
                if e.rule != Rule::DeleteNameMismatch {
                    let _ = self.drop_file(&path);
                }
                return Err(e.into());
            }
            // The file goes first: if it cannot, the VF stays (else it would come back at
            // restart).
            self.drop_file(&path)
                .map_err(|source| LifecycleError::File {
                    file: file.clone(),
                    what: "remove it".into(),
                    source,
                })?;
            Ok(reg.delete(&file, &cfg)?)
        })();
        match &res {
            Ok(vf) => info!(file, pciid = %vf.config.pciid, vfid = vf.vfid(), "vf deleted"),
            Err(e) => warn!(file, "vf not deleted: {e}"),
        }
        res
    }

    /// Start-up: re-adds every `<config_dir>_live/*.json` (sorted by name), nothing from
    /// `config_dir`. A file that fails is moved to `<config_dir>/<name>-` and reported.
    pub fn restore(&self, reg: &mut Registry) -> io::Result<Restored> {
        self.ensure_dirs()?;
        let mut files: Vec<PathBuf> = fs::read_dir(&self.live_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .collect();
        files.sort();
        let mut out = Restored::default();
        for path in files {
            let file = path_str(&path);
            let res = (|| {
                let (text, owner) = Self::read(&path)?;
                let (cfg, warnings) = VfConfig::parse(&file, &text)?;
                let v = reg.add(&file, &cfg, owner)?;
                Ok(Added {
                    live_file: path.clone(),
                    pciid: v.config.pciid.clone(),
                    vfid: v.vfid(),
                    warnings,
                })
            })();
            match res {
                Ok(a) => out.added.push(a),
                Err(e) => {
                    let to = self.config_dir.join(format!("{}-", file_name(&path)));
                    warn!(
                        file,
                        "could not add {file} (moved off to {}): {e}",
                        to.display()
                    );
                    if let Err(me) = move_file(&path, &to) {
                        warn!(file, "unable to move it: {me}");
                    }
                    out.failed.push((path, e));
                }
            }
        }
        info!(
            restored = out.added.len(),
            failed = out.failed.len(),
            "live vf configs re-applied"
        );
        Ok(out)
    }
}

// ------------------------------------------------------------------------------------------
// Callbacks
// ------------------------------------------------------------------------------------------

/// Splits a command line into argv, shell-style but with no shell features: whitespace
/// separates words; `'...'` is literal; `"..."` allows `\"` and `\\`; `\x` outside quotes
/// is `x`. No variables, globs, pipes or redirections.
pub fn split_command(cmd: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(x) => cur.push(x),
                    None => return Err("trailing backslash".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        args.push(cur);
    }
    if args.is_empty() {
        return Err("empty command".into());
    }
    Ok(args)
}

/// Errors running a callback.
#[derive(Debug, Error)]
pub enum CallbackError {
    /// The command line could not be split.
    #[error("bad command line {cmd:?}: {why}")]
    Parse {
        /// The command line.
        cmd: String,
        /// What is wrong.
        why: String,
    },
    /// The command could not be started (not found, not executable, setuid refused).
    #[error("unable to start {cmd:?}: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The error.
        source: io::Error,
    },
    /// It did not finish in time and was killed.
    #[error("{cmd:?} still running after {secs} s; killed")]
    Timeout {
        /// The command line.
        cmd: String,
        /// The timeout.
        secs: u64,
    },
}

/// PATH given to callbacks (the environment is cleared, as sudo's `env_reset`).
pub const CALLBACK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs `cmd` without a shell as `owner` (uid and gid; supplementary groups are dropped
/// when the manager runs as root), stdin/stdout/stderr on /dev/null, clean environment,
/// and waits at most `timeout`. Returns the exit status; the caller logs it.
pub fn run_callback(
    cmd: &str,
    owner: Owner,
    timeout: Duration,
) -> Result<ExitStatus, CallbackError> {
    let argv = split_command(cmd).map_err(|why| CallbackError::Parse {
        cmd: cmd.to_string(),
        why,
    })?;
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .env_clear()
        .env("PATH", CALLBACK_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir("/")
        .uid(owner.uid)
        .gid(owner.gid);
    let mut child = c.spawn().map_err(|source| CallbackError::Spawn {
        cmd: cmd.to_string(),
        source,
    })?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Ok(st),
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CallbackError::Timeout {
                    cmd: cmd.to_string(),
                    secs: timeout.as_secs(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(source) => {
                return Err(CallbackError::Spawn {
                    cmd: cmd.to_string(),
                    source,
                })
            }
        }
    }
}

/// Which callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackKind {
    /// `start_cb`: after start-up, once the VFs are configured.
    Start,
    /// `stop_cb`: before shutdown.
    Stop,
}

/// One callback run.
#[derive(Debug)]
pub struct CallbackRun {
    /// PF of the VF.
    pub pciid: String,
    /// vfid.
    pub vfid: u32,
    /// The command line.
    pub cmd: String,
    /// Exit status, or why it did not run / finish.
    pub result: Result<ExitStatus, CallbackError>,
}

/// Runs every VF's `start_cb` or `stop_cb` (PF order, then vfid), one after the other,
/// each as its file's owner, logging each exit status. VFs whose owner is unknown are
/// skipped with a warning (never run as the manager's user by accident).
pub fn run_callbacks(reg: &Registry, kind: CallbackKind, timeout: Duration) -> Vec<CallbackRun> {
    let mut runs = Vec::new();
    for pf in reg.pfs() {
        for vf in pf.vfs() {
            let cmd = match kind {
                CallbackKind::Start => &vf.config.start_cb,
                CallbackKind::Stop => &vf.config.stop_cb,
            };
            let Some(cmd) = cmd.as_deref().filter(|c| !c.trim().is_empty()) else {
                continue;
            };
            let Some(owner) = vf.owner else {
                warn!(pciid = %pf.config.id, vfid = vf.vfid(), cmd, "callback skipped: owner of the config file unknown");
                continue;
            };
            let result = run_callback(cmd, owner, timeout);
            match &result {
                Ok(st) if st.success() => {
                    info!(pciid = %pf.config.id, vfid = vf.vfid(), cmd, uid = owner.uid, kind = ?kind, "callback exited: {st}")
                }
                Ok(st) => {
                    warn!(pciid = %pf.config.id, vfid = vf.vfid(), cmd, uid = owner.uid, kind = ?kind, "callback failed: {st}")
                }
                Err(e) => {
                    warn!(pciid = %pf.config.id, vfid = vf.vfid(), uid = owner.uid, kind = ?kind, "callback failed: {e}")
                }
            }
            runs.push(CallbackRun {
                pciid: pf.config.id.clone(),
                vfid: vf.vfid(),
                cmd: cmd.to_string(),
                result,
            });
        }
    }
    runs
}
