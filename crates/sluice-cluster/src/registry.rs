//! The ZooKeeper registry: this host's ephemeral records, and the watched cluster view.
//!
//! A [`Registry`] runs on its own thread with its own (current-thread) tokio runtime. Every
//! method of the handle is non-blocking except [`Registry::start`], [`Registry::stop`] and
//! [`Registry::fetch_stats`] (which the control plane calls, never a data-plane thread).
//!
//! Znodes (see the crate README):
//! - `<root>/hosts/<host_id>` ephemeral, [`HostRecord`];
//! - `<root>/services/<service>/<host_id>` ephemeral, [`ServiceRecord`]; `<root>/services/<service>`
//!   persistent;
//! - `<root>/stats/<host_id>` ephemeral, [`HostStatsRecord`], written at most every
//!   `stats_interval_ms`.
//!
//! Two persistent recursive watches (on `hosts` and `services`, not on `stats`) trigger a
//! debounced re-list of both subtrees in one multi-read each; the result is published as a new
//! [`ClusterView`]. A failed re-list keeps the previous view. When the connection drops the
//! status becomes [`RegistryStatus::Suspended`]; when the session expires (the client declares
//! that after 1.4 × the session timeout without a server), [`RegistryStatus::Expired`]: in both
//! cases the last view stays published and the registry reconnects and re-registers by itself.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};
use zookeeper_client as zk;

use crate::config::{ClusterConfig, ConfigError};
use crate::records::{
    decode, decode_host, decode_service, encode, HostRecord, HostStatsRecord, NfStatsRecord,
    RecordError, ServiceRecord, MAX_RECORD_BYTES, RECORD_VERSION,
};
use crate::view::ClusterView;

/// Delay between a watch event and the re-list it triggers (collects bursts of events).
const DEBOUNCE: Duration = Duration::from_millis(20);
/// A full re-list also runs this often, whatever the watches say (safety net).
const FULL_RELIST_EVERY: Duration = Duration::from_secs(30);

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The `[cluster]` configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The host record passed to [`Registry::start`] names another host id than the config.
    #[error("host record names host id {record:?} but cluster.host_id is {config:?}")]
    HostMismatch {
        /// `host_id` of the record.
        record: String,
        /// `cluster.host_id`.
        config: String,
    },
    /// Another live ZooKeeper session owns `<root>/hosts/<host_id>`.
    #[error("host id {host_id} is already live (session {session:#x}); stop the other host or give this one another cluster.host_id")]
    HostIdLive {
        /// The contested host id.
        host_id: String,
        /// The session owning the host record.
        session: i64,
    },
    /// A znode Sluice must own as ephemeral exists as a persistent node.
    #[error("znode {0} exists and is not ephemeral (not created by a Sluice host): delete it, e.g. with zkCli.sh deleteall")]
    NotEphemeral(String),
    /// No ZooKeeper server answered.
    #[error("cannot reach ZooKeeper at {connect}: {reason}; check cluster.connect and that the ensemble is up")]
    Unreachable {
        /// The connect string.
        connect: String,
        /// What the client reported.
        reason: String,
    },
    /// A ZooKeeper operation failed.
    #[error("ZooKeeper {op} {path}: {reason}")]
    Zk {
        /// Operation name.
        op: &'static str,
        /// The znode.
        path: String,
        /// Error reported by the client.
        reason: String,
    },
    /// The registry thread could not be started.
    #[error("cannot start the cluster registry thread: {0}")]
    Thread(std::io::Error),
    /// The registry has stopped (or its thread died).
    #[error("the cluster registry has stopped")]
    Stopped,
    /// The registry did not answer in time.
    #[error("the cluster registry did not answer within {0:?}")]
    Timeout(Duration),
}

fn zk_err(op: &'static str, path: &str, e: zk::Error) -> RegistryError {
    RegistryError::Zk {
        op,
        path: path.to_string(),
        reason: e.to_string(),
    }
}

/// State of the registry's ZooKeeper session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RegistryStatus {
    /// Connected; this host's records are registered and the view follows ZooKeeper.
    Connected = 0,
    /// Connection lost, session possibly still alive: the view is the last one seen.
    Suspended = 1,
    /// Session expired or not yet re-established: the view is the last one seen; the registry
    /// reconnects and re-registers by itself.
    Expired = 2,
    /// Re-registration found another live session holding this host id; retrying.
    Conflict = 3,
    /// [`Registry::stop`] was called.
    Stopped = 4,
}

impl RegistryStatus {
    fn from_u8(v: u8) -> RegistryStatus {
        match v {
            0 => RegistryStatus::Connected,
            1 => RegistryStatus::Suspended,
            2 => RegistryStatus::Expired,
            3 => RegistryStatus::Conflict,
            _ => RegistryStatus::Stopped,
        }
    }

    /// Lower-case name for logs and the operator view.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistryStatus::Connected => "connected",
            RegistryStatus::Suspended => "suspended",
            RegistryStatus::Expired => "expired",
            RegistryStatus::Conflict => "conflict",
            RegistryStatus::Stopped => "stopped",
        }
    }
}

struct Shared {
    view: ArcSwap<ClusterView>,
    status: AtomicU8,
    session: AtomicI64,
    registrations: AtomicU64,
}

impl Shared {
    fn set_status(&self, s: RegistryStatus) {
        self.status.store(s as u8, Ordering::Release);
    }
    fn status(&self) -> RegistryStatus {
        RegistryStatus::from_u8(self.status.load(Ordering::Acquire))
    }
}

type StatsReply = oneshot::Sender<Result<Vec<HostStatsRecord>, RegistryError>>;

enum Command {
    SetServices(BTreeMap<u16, u32>),
    SetHeadroom(u32),
    FetchStats(StatsReply),
    ExpireSession,
}

/// Handle to the registry thread. Dropping it stops the registry (like [`Registry::stop`]).
pub struct Registry {
    shared: Arc<Shared>,
    cmd: mpsc::UnboundedSender<Command>,
    stats: watch::Sender<Option<HostStatsRecord>>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    host_id: String,
}

impl Registry {
    /// Connects to ZooKeeper, creates the persistent parents under the root and registers
    /// `host` as the ephemeral `<root>/hosts/<host_id>`, then returns with the first cluster
    /// view published.
    ///
    /// Blocks the caller up to about twice the session timeout. Fails when the ensemble cannot
    /// be reached, or when the host id is held by another live session: if the record exists
    /// (possibly left by this host's previous, crashed run) it waits up to the session timeout
    /// plus 1 s for it to go away, then refuses with [`RegistryError::HostIdLive`].
    pub fn start(cfg: ClusterConfig, mut host: HostRecord) -> Result<Registry, RegistryError> {
        cfg.validate()?;
        host.v = RECORD_VERSION;
        if host.host_id != cfg.host_id {
            return Err(RegistryError::HostMismatch {
                record: host.host_id.clone(),
                config: cfg.host_id.clone(),
            });
        }
        let shared = Arc::new(Shared {
            view: ArcSwap::from_pointee(ClusterView::default()),
            status: AtomicU8::new(RegistryStatus::Expired as u8),
            session: AtomicI64::new(0),
            registrations: AtomicU64::new(0),
        });
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (stats_tx, stats_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let host_id = cfg.host_id.clone();
        let worker = Worker {
            op_timeout: Duration::from_millis(cfg.session_timeout_ms),
            cfg,
            host,
            shared: shared.clone(),
            desired: BTreeMap::new(),
            applied: BTreeMap::new(),
            services_dirty: false,
            host_dirty: false,
            own_sessions: Vec::new(),
            warned: HashMap::new(),
            stats_rx,
            stats_pending: false,
            last_stats_write: None,
        };
        let thread = std::thread::Builder::new()
            .name("sluice-cluster".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(RegistryError::Thread(e)));
                        return;
                    }
                };
                rt.block_on(worker.run(cmd_rx, stop_rx, ready_tx));
            })
            .map_err(RegistryError::Thread)?;
        let mut reg = Registry {
            shared,
            cmd: cmd_tx,
            stats: stats_tx,
            stop: stop_tx,
            thread: Some(thread),
            host_id,
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(reg),
            Ok(Err(e)) => {
                reg.stop_inner();
                Err(e)
            }
            Err(_) => {
                reg.stop_inner();
                Err(RegistryError::Stopped)
            }
        }
    }

    /// This host's id.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// The current cluster view (lock-free; safe on data-plane threads). While ZooKeeper is
    /// unreachable this is the last view seen.
    pub fn view(&self) -> Arc<ClusterView> {
        self.shared.view.load_full()
    }

    /// A cheap, cloneable handle to the published view for data-plane threads:
    /// [`ViewHandle::load`] is lock-free and does not touch a reference count.
    pub fn view_handle(&self) -> ViewHandle {
        ViewHandle(self.shared.clone())
    }

    /// State of the ZooKeeper session.
    pub fn status(&self) -> RegistryStatus {
        self.shared.status()
    }

    /// The current ZooKeeper session id (0 before the first session).
    pub fn session_id(&self) -> i64 {
        self.shared.session.load(Ordering::Acquire)
    }

    /// How many times this host's record has been (re-)created, i.e. 1 + re-registrations.
    pub fn registrations(&self) -> u64 {
        self.shared.registrations.load(Ordering::Acquire)
    }

    /// Sets the services this host runs, as `(service id, ready instances)`; it replaces the
    /// previous set (a service left out, or with 0 instances, is withdrawn). Non-blocking: the
    /// registry applies it to ZooKeeper in the background (again after a reconnect).
    pub fn set_local_services(&self, services: &[(u16, u32)]) {
        let map = services
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|&(s, n)| (s, n))
            .collect();
        let _ = self.cmd.send(Command::SetServices(map));
    }

    /// Updates the headroom advertised in the host record. Non-blocking.
    pub fn set_headroom(&self, headroom: u32) {
        let _ = self.cmd.send(Command::SetHeadroom(headroom));
    }

    /// Publishes this host's NF stats. Non-blocking and cheap: only the latest sample is kept,
    /// and the registry writes it at most every `stats_interval_ms`.
    pub fn publish_stats(&self, mut nfs: Vec<NfStatsRecord>) {
        // JSON has no NaN/inf (they would become null and make the record unreadable).
        for n in &mut nfs {
            n.v = RECORD_VERSION;
            for x in [
                &mut n.rx_pps,
                &mut n.tx_pps,
                &mut n.drop_pps,
                &mut n.rx_ring_use,
            ] {
                if !x.is_finite() {
                    *x = 0.0;
                }
            }
        }
        let rec = HostStatsRecord {
            v: RECORD_VERSION,
            host_id: self.host_id.clone(),
            ts_ms: now_ms(),
            nfs,
        };
        self.stats.send_replace(Some(rec));
    }

    /// Reads every host's stats record from ZooKeeper (for the operator view / API; blocks the
    /// caller up to `timeout`, so never call it on a data-plane thread).
    pub fn fetch_stats(&self, timeout: Duration) -> Result<Vec<HostStatsRecord>, RegistryError> {
        let (tx, mut rx) = oneshot::channel();
        self.cmd
            .send(Command::FetchStats(tx))
            .map_err(|_| RegistryError::Stopped)?;
        let deadline = Instant::now() + timeout;
        loop {
            match rx.try_recv() {
                Ok(r) => return r,
                Err(oneshot::error::TryRecvError::Closed) => return Err(RegistryError::Stopped),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            if Instant::now() >= deadline {
                return Err(RegistryError::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Test hook: makes ZooKeeper expire this registry's session (by closing it from a second
    /// connection), as a long network cut would. The registry must re-register by itself.
    #[doc(hidden)]
    pub fn expire_session_for_test(&self) {
        let _ = self.cmd.send(Command::ExpireSession);
    }

    /// Withdraws this host (closes the session, so its ephemeral records go at once) and
    /// stops the registry thread. Blocks up to a few seconds.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.set_status(RegistryStatus::Stopped);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Read side of the published [`ClusterView`], to hand to data-plane threads. It stays valid
/// (showing the last view) after the registry stops.
#[derive(Clone)]
pub struct ViewHandle(Arc<Shared>);

impl ViewHandle {
    /// The current view, lock-free (an `arc_swap` guard: hold it briefly, e.g. for one batch).
    pub fn load(&self) -> arc_swap::Guard<Arc<ClusterView>> {
        self.0.view.load()
    }

    /// The current view as an owned `Arc`.
    pub fn load_full(&self) -> Arc<ClusterView> {
        self.0.view.load_full()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

const PERSISTENT: zk::CreateOptions<'static> =
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
const EPHEMERAL: zk::CreateOptions<'static> =
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());

enum SessionEnd {
    Stop,
    Expired,
}

struct Worker {
    cfg: ClusterConfig,
    host: HostRecord,
    shared: Arc<Shared>,
    /// Services this host should have registered.
    desired: BTreeMap<u16, u32>,
    /// Services registered under the current session.
    applied: BTreeMap<u16, u32>,
    services_dirty: bool,
    host_dirty: bool,
    /// Every session this process has had: their leftover ephemerals are ours to replace.
    own_sessions: Vec<i64>,
    /// Znodes already warned about, with the mzxid of the content warned about.
    warned: HashMap<String, i64>,
    stats_rx: watch::Receiver<Option<HostStatsRecord>>,
    stats_pending: bool,
    last_stats_write: Option<Instant>,
    op_timeout: Duration,
}

impl Worker {
    async fn op<T>(&self, fut: impl Future<Output = Result<T, zk::Error>>) -> Result<T, zk::Error> {
        tokio::time::timeout(self.op_timeout, fut)
            .await
            .unwrap_or(Err(zk::Error::Timeout))
    }

    fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.session_timeout_ms)
    }

    async fn connect(&self) -> Result<zk::Client, zk::Error> {
        let fut = zk::Client::connector()
            .with_session_timeout(self.session_timeout())
            .connect(&self.cfg.connect);
        tokio::time::timeout(self.session_timeout() * 2, fut)
            .await
            .unwrap_or(Err(zk::Error::Timeout))
    }

    async fn run(
        mut self,
        mut cmd_rx: mpsc::UnboundedReceiver<Command>,
        mut stop_rx: watch::Receiver<bool>,
        ready: std::sync::mpsc::Sender<Result<(), RegistryError>>,
    ) {
        let mut ready = Some(ready);
        let mut backoff = Duration::from_millis(200);
        'session: loop {
            if *stop_rx.borrow() {
                break;
            }
            let connected = tokio::select! {
                r = self.connect() => r,
                _ = stop_rx.changed() => break 'session,
            };
            let client = match connected {
                Ok(c) => c,
                Err(e) => {
                    let err = RegistryError::Unreachable {
                        connect: self.cfg.connect.clone(),
                        reason: e.to_string(),
                    };
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(Err(err));
                        return;
                    }
                    warn!("{err}; forwarding continues on the last cluster view, retrying");
                    if self.idle(backoff, &mut cmd_rx, &mut stop_rx).await {
                        break;
                    }
                    backoff = (backoff * 2).min(self.session_timeout());
                    continue;
                }
            };
            backoff = Duration::from_millis(200);
            let sid = client.session_id().0;
            self.own_sessions.push(sid);
            self.shared.session.store(sid, Ordering::Release);
            self.applied.clear();
            info!(
                session = format_args!("{sid:#x}"),
                "ZooKeeper session established"
            );

            let registered = match self.register(&client).await {
                Ok(()) => self.watch_and_list(&client).await,
                Err(e) => Err(e),
            };
            let (hw, sw) = match registered {
                Ok(w) => w,
                Err(e) => {
                    let conflict = matches!(e, RegistryError::HostIdLive { .. });
                    close(client).await;
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(Err(e));
                        return;
                    }
                    error!(
                        "cannot re-register host {}: {e}; retrying",
                        self.cfg.host_id
                    );
                    self.shared.set_status(if conflict {
                        RegistryStatus::Conflict
                    } else {
                        RegistryStatus::Expired
                    });
                    if self
                        .idle(self.session_timeout(), &mut cmd_rx, &mut stop_rx)
                        .await
                    {
                        break;
                    }
                    continue;
                }
            };
            self.shared.registrations.fetch_add(1, Ordering::AcqRel);
            self.shared.set_status(RegistryStatus::Connected);
            if let Some(tx) = ready.take() {
                let _ = tx.send(Ok(()));
            }
            match self.serve(&client, hw, sw, &mut cmd_rx, &mut stop_rx).await {
                SessionEnd::Stop => {
                    close(client).await;
                    break 'session;
                }
                SessionEnd::Expired => {
                    self.shared.set_status(RegistryStatus::Expired);
                    warn!(
                        "ZooKeeper session {sid:#x} of host {} ended; forwarding continues on the last cluster view; re-registering",
                        self.cfg.host_id
                    );
                }
            }
        }
        self.shared.set_status(RegistryStatus::Stopped);
    }

    /// Waits `d` while keeping up with commands; true when asked to stop.
    async fn idle(
        &mut self,
        d: Duration,
        cmd_rx: &mut mpsc::UnboundedReceiver<Command>,
        stop_rx: &mut watch::Receiver<bool>,
    ) -> bool {
        let until = tokio::time::Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return false,
                _ = stop_rx.changed() => return true,
                cmd = cmd_rx.recv() => match cmd {
                    None => return true,
                    Some(Command::SetServices(m)) => { self.desired = m; self.services_dirty = true; }
                    Some(Command::SetHeadroom(h)) => { self.host.headroom = h; self.host_dirty = true; }
                    Some(Command::FetchStats(tx)) => {
                        let _ = tx.send(Err(RegistryError::Unreachable {
                            connect: self.cfg.connect.clone(),
                            reason: "no ZooKeeper session".into(),
                        }));
                    }
                    Some(Command::ExpireSession) => {}
                },
            }
        }
    }

    /// Creates the parents and this host's ephemeral records under a new session.
    async fn register(&mut self, client: &zk::Client) -> Result<(), RegistryError> {
        for p in [
            self.cfg.hosts_path(),
            self.cfg.services_path(),
            self.cfg.stats_path(),
        ] {
            self.op(client.mkdir(&p, &PERSISTENT))
                .await
                .map_err(|e| zk_err("mkdir", &p, e))?;
        }
        let path = format!("{}/{}", self.cfg.hosts_path(), self.cfg.host_id);
        let wait = self.session_timeout() + Duration::from_secs(1);
        self.claim(client, &path, &encode(&self.host), Some(wait))
            .await?;
        self.host_dirty = false;
        info!(node = %path, "registered host {}", self.cfg.host_id);
        self.services_dirty = true;
        self.sync_services(client).await;
        if self.stats_rx.borrow().is_some() {
            self.stats_pending = true;
            self.last_stats_write = None;
        }
        Ok(())
    }

    /// Creates (or overwrites) the ephemeral `path` owned by this session. A leftover of one of
    /// this process's earlier sessions is replaced; one of a foreign live session is waited on
    /// for `wait` (it may be this host's previous run), then refused.
    async fn claim(
        &self,
        client: &zk::Client,
        path: &str,
        data: &[u8],
        wait: Option<Duration>,
    ) -> Result<(), RegistryError> {
        let deadline = wait.map(|w| Instant::now() + w);
        let mut waited_msg = false;
        for _ in 0..1000 {
            match self.op(client.create(path, data, &EPHEMERAL)).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NoNode) => {
                    let parent = &path[..path.rfind('/').unwrap_or(0)];
                    self.op(client.mkdir(parent, &PERSISTENT))
                        .await
                        .map_err(|e| zk_err("mkdir", parent, e))?;
                    continue;
                }
                Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(zk_err("create", path, e)),
            }
            let Some(stat) = self
                .op(client.check_stat(path))
                .await
                .map_err(|e| zk_err("stat", path, e))?
            else {
                continue;
            };
            let owner = stat.ephemeral_owner;
            if owner == client.session_id().0 {
                return match self.op(client.set_data(path, data, None)).await {
                    Ok(_) => Ok(()),
                    Err(zk::Error::NoNode) => continue,
                    Err(e) => Err(zk_err("set", path, e)),
                };
            }
            if owner == 0 {
                return Err(RegistryError::NotEphemeral(path.to_string()));
            }
            if self.own_sessions.contains(&owner) {
                debug!(
                    node = path,
                    "replacing the record of our earlier session {owner:#x}"
                );
                match self.op(client.delete(path, Some(stat.version))).await {
                    Ok(()) | Err(zk::Error::NoNode) | Err(zk::Error::BadVersion) => continue,
                    Err(e) => return Err(zk_err("delete", path, e)),
                }
            }
            match deadline {
                Some(d) if Instant::now() < d => {
                    if !waited_msg {
                        waited_msg = true;
                        warn!(
                            node = path,
                            "{path} is held by session {owner:#x}; waiting up to {:?} in case it is this host's previous run",
                            wait.unwrap_or_default()
                        );
                    }
                    let (stat, watcher) = self
                        .op(client.check_and_watch_stat(path))
                        .await
                        .map_err(|e| zk_err("watch", path, e))?;
                    if stat.is_some_and(|s| s.ephemeral_owner == owner) {
                        let left = d.saturating_duration_since(Instant::now());
                        let _ = tokio::time::timeout(left, watcher.changed()).await;
                    }
                }
                _ => {
                    return Err(RegistryError::HostIdLive {
                        host_id: self.cfg.host_id.clone(),
                        session: owner,
                    })
                }
            }
        }
        Err(zk_err("create", path, zk::Error::Timeout))
    }

    /// Brings `<root>/services/*/<host_id>` in line with the desired set. Failures leave the
    /// dirty flag set; the housekeeping tick retries.
    async fn sync_services(&mut self, client: &zk::Client) {
        if !self.services_dirty {
            return;
        }
        let mut ok = true;
        let desired = self.desired.clone();
        for (&service, &instances) in &desired {
            if self.applied.get(&service) == Some(&instances) {
                continue;
            }
            let path = self.service_path(service);
            let rec = ServiceRecord {
                v: RECORD_VERSION,
                host_id: self.cfg.host_id.clone(),
                service,
                instances,
            };
            match self.claim(client, &path, &encode(&rec), None).await {
                Ok(()) => {
                    self.applied.insert(service, instances);
                }
                Err(e) => {
                    ok = false;
                    warn!(node = %path, "cannot register service {service}: {e}");
                }
            }
        }
        let stale: Vec<u16> = self
            .applied
            .keys()
            .filter(|s| !desired.contains_key(s))
            .copied()
            .collect();
        for service in stale {
            let path = self.service_path(service);
            match self.op(client.delete(&path, None)).await {
                Ok(()) | Err(zk::Error::NoNode) => {
                    self.applied.remove(&service);
                }
                Err(e) => {
                    ok = false;
                    warn!(node = %path, "cannot withdraw service {service}: {e}");
                }
            }
        }
        self.services_dirty = !ok;
    }

    fn service_path(&self, service: u16) -> String {
        format!(
            "{}/{}/{}",
            self.cfg.services_path(),
            service,
            self.cfg.host_id
        )
    }

    /// Adds the two persistent recursive watches (hosts, services).
    async fn add_watches(
        &self,
        client: &zk::Client,
    ) -> Result<(zk::PersistentWatcher, zk::PersistentWatcher), RegistryError> {
        let hp = self.cfg.hosts_path();
        let sp = self.cfg.services_path();
        let hw = self
            .op(client.watch(&hp, zk::AddWatchMode::PersistentRecursive))
            .await
            .map_err(|e| zk_err("watch", &hp, e))?;
        let sw = self
            .op(client.watch(&sp, zk::AddWatchMode::PersistentRecursive))
            .await
            .map_err(|e| zk_err("watch", &sp, e))?;
        Ok((hw, sw))
    }

    async fn watch_and_list(
        &mut self,
        client: &zk::Client,
    ) -> Result<(zk::PersistentWatcher, zk::PersistentWatcher), RegistryError> {
        let (hw, sw) = self.add_watches(client).await?;
        let view = self
            .relist(client)
            .await
            .map_err(|e| zk_err("list", &self.cfg.root, e))?;
        self.publish(view);
        Ok((hw, sw))
    }

    async fn serve(
        &mut self,
        client: &zk::Client,
        mut hw: zk::PersistentWatcher,
        mut sw: zk::PersistentWatcher,
        cmd_rx: &mut mpsc::UnboundedReceiver<Command>,
        stop_rx: &mut watch::Receiver<bool>,
    ) -> SessionEnd {
        let mut state = client.state_watcher();
        let mut connected = true;
        let mut rewatch = false;
        let mut relist_at: Option<tokio::time::Instant> = None;
        let mut last_full = Instant::now();
        let tick_every = Duration::from_millis(self.cfg.stats_interval_ms.min(250));
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let relist_sleep = async {
                match relist_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop_rx.changed() => return SessionEnd::Stop,
                s = state.changed() => match s {
                    zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                        connected = true;
                        self.shared.set_status(RegistryStatus::Connected);
                        info!("ZooKeeper connection restored; session kept");
                        // zookeeper-client 0.11.2 does not restore persistent watches on a
                        // new connection (its resend_watches never selects SetWatches2):
                        // add them again. The new watchers are added before the old ones are
                        // dropped, so dropping sends no RemoveWatches to the server.
                        rewatch = true;
                        self.rewatch(client, &mut hw, &mut sw, &mut rewatch).await;
                        // Events during the disconnection may be lost: re-list and re-check.
                        relist_at = Some(tokio::time::Instant::now());
                        self.services_dirty = true;
                        self.host_dirty = true;
                    }
                    zk::SessionState::Disconnected => {
                        connected = false;
                        self.shared.set_status(RegistryStatus::Suspended);
                        warn!("lost the ZooKeeper connection; forwarding continues on the last cluster view");
                    }
                    _ => return SessionEnd::Expired,
                },
                ev = hw.changed() => {
                    if ev.event_type == zk::EventType::Session {
                        if ev.session_state.is_terminated() { return SessionEnd::Expired; }
                    } else if relist_at.is_none() {
                        relist_at = Some(tokio::time::Instant::now() + DEBOUNCE);
                    }
                }
                ev = sw.changed() => {
                    if ev.event_type == zk::EventType::Session {
                        if ev.session_state.is_terminated() { return SessionEnd::Expired; }
                    } else if relist_at.is_none() {
                        relist_at = Some(tokio::time::Instant::now() + DEBOUNCE);
                    }
                }
                cmd = cmd_rx.recv() => match cmd {
                    None => return SessionEnd::Stop,
                    Some(Command::SetServices(m)) => {
                        self.desired = m;
                        self.services_dirty = true;
                        if connected { self.sync_services(client).await; }
                    }
                    Some(Command::SetHeadroom(h)) => {
                        self.host.headroom = h;
                        self.host_dirty = true;
                    }
                    Some(Command::FetchStats(tx)) => {
                        let _ = tx.send(self.read_stats(client).await);
                    }
                    Some(Command::ExpireSession) => expire(&self.cfg, client).await,
                },
                _ = relist_sleep => {
                    relist_at = None;
                    if connected {
                        match self.relist(client).await {
                            Ok(v) => { self.publish(v); last_full = Instant::now(); }
                            Err(e) => {
                                debug!("re-list failed ({e}); keeping the last cluster view");
                                relist_at = Some(tokio::time::Instant::now() + Duration::from_millis(500));
                            }
                        }
                    }
                }
                _ = self.stats_rx.changed() => self.stats_pending = true,
                _ = tick.tick() => {
                    if !connected { continue; }
                    if rewatch {
                        self.rewatch(client, &mut hw, &mut sw, &mut rewatch).await;
                        if !rewatch { relist_at = Some(tokio::time::Instant::now()); }
                    }
                    if self.host_dirty {
                        let path = format!("{}/{}", self.cfg.hosts_path(), self.cfg.host_id);
                        match self.claim(client, &path, &encode(&self.host), None).await {
                            Ok(()) => self.host_dirty = false,
                            Err(e) => warn!(node = %path, "cannot update the host record: {e}"),
                        }
                    }
                    self.sync_services(client).await;
                    let due = self.last_stats_write.is_none_or(|t| {
                        t.elapsed() >= Duration::from_millis(self.cfg.stats_interval_ms)
                    });
                    if self.stats_pending && due {
                        self.write_stats(client).await;
                    }
                    if last_full.elapsed() >= FULL_RELIST_EVERY && relist_at.is_none() {
                        relist_at = Some(tokio::time::Instant::now());
                        last_full = Instant::now();
                    }
                }
            }
        }
    }

    async fn rewatch(
        &self,
        client: &zk::Client,
        hw: &mut zk::PersistentWatcher,
        sw: &mut zk::PersistentWatcher,
        pending: &mut bool,
    ) {
        match self.add_watches(client).await {
            Ok((h, s)) => {
                *hw = h;
                *sw = s;
                *pending = false;
            }
            Err(e) => warn!("cannot restore the ZooKeeper watches ({e}); retrying"),
        }
    }

    async fn write_stats(&mut self, client: &zk::Client) {
        let Some(mut rec) = self.stats_rx.borrow_and_update().clone() else {
            return;
        };
        self.stats_pending = false;
        self.last_stats_write = Some(Instant::now());
        let mut data = encode(&rec);
        while data.len() > MAX_RECORD_BYTES && !rec.nfs.is_empty() {
            let keep = rec.nfs.len() / 2;
            warn!(
                "NF stats of {} NFs exceed {MAX_RECORD_BYTES} bytes; writing the first {keep}",
                rec.nfs.len()
            );
            rec.nfs.truncate(keep);
            data = encode(&rec);
        }
        let path = format!("{}/{}", self.cfg.stats_path(), self.cfg.host_id);
        let r = match self.op(client.set_data(&path, &data, None)).await {
            Err(zk::Error::NoNode) => self.claim(client, &path, &data, None).await,
            Err(e) => Err(zk_err("set", &path, e)),
            Ok(stat) if stat.ephemeral_owner != client.session_id().0 => {
                self.claim(client, &path, &data, None).await
            }
            Ok(_) => Ok(()),
        };
        if let Err(e) = r {
            self.stats_pending = true;
            debug!(node = %path, "cannot write NF stats: {e}");
        }
    }

    async fn read_stats(
        &mut self,
        client: &zk::Client,
    ) -> Result<Vec<HostStatsRecord>, RegistryError> {
        let sp = self.cfg.stats_path();
        let names = self
            .list(client, &sp)
            .await
            .map_err(|e| zk_err("list", &sp, e))?;
        let paths: Vec<String> = names.iter().map(|n| format!("{sp}/{n}")).collect();
        let results = self
            .get_many(client, &paths)
            .await
            .map_err(|e| zk_err("read", &sp, e))?;
        let mut out = Vec::new();
        for (path, r) in paths.iter().zip(results) {
            if let Some((data, stat)) = r {
                match decode::<HostStatsRecord>(path, &data) {
                    Ok(rec) => out.push(rec),
                    Err(e) => self.ignore(e, stat.mzxid),
                }
            }
        }
        Ok(out)
    }

    async fn list(&self, client: &zk::Client, path: &str) -> Result<Vec<String>, zk::Error> {
        match self.op(client.list_children(path)).await {
            Ok(mut v) => {
                v.sort();
                Ok(v)
            }
            Err(zk::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Reads many nodes in one multi-read; `None` for nodes that vanished meanwhile.
    async fn get_many(
        &self,
        client: &zk::Client,
        paths: &[String],
    ) -> Result<Vec<Option<(Vec<u8>, zk::Stat)>>, zk::Error> {
        let mut out = Vec::with_capacity(paths.len());
        // Chunks keep each multi-read response well below ZooKeeper's 1 MiB packet limit.
        for chunk in paths.chunks(64) {
            let mut mr = client.new_multi_reader();
            for p in chunk {
                mr.add_get_data(p)?;
            }
            let res = self.op(mr.commit()).await?;
            for r in res {
                out.push(match r {
                    zk::MultiReadResult::Data { data, stat } => Some((data, stat)),
                    _ => None,
                });
            }
        }
        Ok(out)
    }

    async fn get_children_many(
        &self,
        client: &zk::Client,
        paths: &[String],
    ) -> Result<Vec<Vec<String>>, zk::Error> {
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(64) {
            let mut mr = client.new_multi_reader();
            for p in chunk {
                mr.add_get_children(p)?;
            }
            let res = self.op(mr.commit()).await?;
            for r in res {
                out.push(match r {
                    zk::MultiReadResult::Children { mut children } => {
                        children.sort();
                        children
                    }
                    _ => Vec::new(),
                });
            }
        }
        Ok(out)
    }

    fn ignore(&mut self, e: RecordError, mzxid: i64) {
        if self.warned.get(&e.path) != Some(&mzxid) {
            warn!(node = %e.path, "ignoring ZooKeeper node: {e}");
            self.warned.insert(e.path.clone(), mzxid);
        }
    }

    /// Reads hosts and services from ZooKeeper into a fresh view.
    async fn relist(&mut self, client: &zk::Client) -> Result<ClusterView, zk::Error> {
        let mut ignored = Vec::new();
        let hp = self.cfg.hosts_path();
        let names = self.list(client, &hp).await?;
        let paths: Vec<String> = names.iter().map(|n| format!("{hp}/{n}")).collect();
        let data = self.get_many(client, &paths).await?;
        let mut hosts = Vec::new();
        for ((name, path), r) in names.iter().zip(&paths).zip(data) {
            let Some((bytes, stat)) = r else { continue };
            match decode_host(path, name, &bytes) {
                Ok(h) => hosts.push(h),
                Err(e) => {
                    ignored.push(e.to_string());
                    self.ignore(e, stat.mzxid);
                }
            }
        }

        let sp = self.cfg.services_path();
        let mut sids = Vec::new();
        for name in self.list(client, &sp).await? {
            match name.parse::<u16>() {
                Ok(s) if s.to_string() == name => sids.push((s, format!("{sp}/{name}"))),
                _ => {
                    let e = RecordError {
                        path: format!("{sp}/{name}"),
                        reason: "node name is not a service id (0..=65535)".into(),
                    };
                    ignored.push(e.to_string());
                    self.ignore(e, 0);
                }
            }
        }
        let dirs: Vec<String> = sids.iter().map(|(_, p)| p.clone()).collect();
        let children = self.get_children_many(client, &dirs).await?;
        let mut keys = Vec::new();
        for ((sid, dir), kids) in sids.iter().zip(children) {
            for k in kids {
                keys.push((*sid, k.clone(), format!("{dir}/{k}")));
            }
        }
        let paths: Vec<String> = keys.iter().map(|(_, _, p)| p.clone()).collect();
        let data = self.get_many(client, &paths).await?;
        let mut services = Vec::new();
        for ((sid, host, path), r) in keys.iter().zip(data) {
            let Some((bytes, stat)) = r else { continue };
            match decode_service(path, *sid, host, &bytes) {
                Ok(s) => services.push(s),
                Err(e) => {
                    ignored.push(e.to_string());
                    self.ignore(e, stat.mzxid);
                }
            }
        }
        let mut view = ClusterView::from_records(hosts, services);
        view.ignored = ignored;
        Ok(view)
    }

    fn publish(&self, mut view: ClusterView) {
        let old = self.shared.view.load();
        view.generation = old.generation + 1;
        view.refreshed_at_ms = now_ms();
        if !old.same_membership(&view) {
            let hosts: Vec<&str> = view.hosts.keys().map(String::as_str).collect();
            info!(
                generation = view.generation,
                "cluster view: hosts {hosts:?}, {} services",
                view.services.len()
            );
        }
        self.shared.view.store(Arc::new(view));
    }
}

/// Closes a client's session and waits (briefly) until it is closed, so this host's
/// ephemeral records disappear at once.
async fn close(client: zk::Client) {
    let mut state = client.state_watcher();
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if state.changed().await.is_terminated() {
                break;
            }
        }
    })
    .await;
}

/// Makes the server expire `client`'s session: attach a second connection to the same session
/// and close it.
async fn expire(cfg: &ClusterConfig, client: &zk::Client) {
    let fut = zk::Client::connector()
        .with_session(client.session().clone())
        .with_session_timeout(Duration::from_millis(cfg.session_timeout_ms))
        .connect(&cfg.connect);
    match tokio::time::timeout(Duration::from_millis(cfg.session_timeout_ms), fut).await {
        Ok(Ok(other)) => close(other).await,
        Ok(Err(e)) => warn!("expire_session_for_test: {e}"),
        Err(_) => warn!("expire_session_for_test: timed out"),
    }
}
