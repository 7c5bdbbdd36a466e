//! The registry against a real 3-node ZooKeeper ensemble (Debian's `zookeeper` package).
//!
//! Times printed here (removal after a stop or a crash, re-registration) are measurements,
//! not assertions: the tests only wait for the outcome, with generous limits.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sluice_cluster::testing::{zookeeper_available, Ensemble, SKIP_MESSAGE};
use sluice_cluster::{
    pick_host, pick_remote, ClusterConfig, HostRecord, MacAddr, Registry, RegistryStatus,
};
use zookeeper_client as zk;

const SESSION_MS: u64 = 2000;
const CHILD_ENV: &str = "SLUICE_CLUSTER_TEST_CHILD";

/// Ensembles are heavy (3 JVMs); run the tests one at a time on the shared 2 cores.
fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "sluice_cluster=info".into()))
        .try_init();
}

fn cfg(connect: &str, host: &str, root: &str) -> ClusterConfig {
    let mut c = ClusterConfig::new(connect, host, "192.0.2.10".parse().unwrap());
    c.root = root.to_string();
    c.session_timeout_ms = SESSION_MS;
    c.stats_interval_ms = 200;
    c
}

fn start(connect: &str, host: &str, root: &str) -> Result<Registry, sluice_cluster::RegistryError> {
    let c = cfg(connect, host, root);
    let last = host.bytes().last().unwrap_or(0);
    let rec = HostRecord::from_config(&c, MacAddr([2, 0, 0, 0, 0, last]), "127.0.0.1:1", "test", 1);
    Registry::start(c, rec)
}

/// Polls `cond` until true; returns how long it took. Panics after `limit`.
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

fn hosts_of(r: &Registry) -> Vec<String> {
    r.view().hosts.keys().cloned().collect()
}

/// A plain ZooKeeper client for the test's own reads and writes.
struct Raw {
    rt: tokio::runtime::Runtime,
    client: zk::Client,
}

impl Raw {
    fn connect(connect: &str) -> Raw {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(zk::Client::connect(connect)).unwrap();
        Raw { rt, client }
    }
    fn create(&self, path: &str, data: &[u8]) {
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        self.rt
            .block_on(self.client.create(path, data, &opts))
            .unwrap();
    }
    fn owner(&self, path: &str) -> Option<i64> {
        self.rt
            .block_on(self.client.check_stat(path))
            .ok()
            .flatten()
            .map(|s| s.ephemeral_owner)
    }
}

/// A registry in a child process (this test binary re-run as `child_registry_process`), so
/// the test can kill -9 it.
struct ChildHost(Child);

impl ChildHost {
    fn spawn(connect: &str, host: &str, root: &str) -> ChildHost {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "child_registry_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, format!("{connect} {host} {root}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.starts_with("CHILD ") {
                    let _ = tx.send(line);
                }
            }
        });
        let mut h = ChildHost(child);
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line == "CHILD READY" => h,
            other => {
                h.kill();
                panic!("child registry {host} did not start: {other:?}");
            }
        }
    }
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildHost {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Not a test on its own: the body of [`ChildHost`] (does nothing unless the env var is set).
#[test]
fn child_registry_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    init_logs();
    let parts: Vec<&str> = spec.split(' ').collect();
    match start(parts[0], parts[1], parts[2]) {
        Ok(r) => {
            r.set_local_services(&[(2, 1)]);
            println!("CHILD READY");
            // Live until killed; exit if the parent test process goes away.
            let parent = std::os::unix::process::parent_id();
            while std::os::unix::process::parent_id() == parent {
                std::thread::sleep(Duration::from_millis(200));
            }
            std::process::exit(0);
        }
        Err(e) => println!("CHILD ERROR {e}"),
    }
}

#[test]
fn membership_failover_and_bad_input() {
    if !zookeeper_available() {
        println!("{SKIP_MESSAGE}");
        return;
    }
    let _serial = serial();
    init_logs();
    let t0 = Instant::now();
    let mut ens = Ensemble::start(3, std::env::temp_dir()).expect("start a 3-node ensemble");
    println!("3-node ensemble serving after {:?}", t0.elapsed());
    let cs = ens.connect_string();
    let root = "/t1";
    let limit = Duration::from_secs(20);

    // Two hosts see each other's host and service records.
    let a = start(&cs, "host-a", root).expect("start host-a");
    let b = start(&cs, "host-b", root).expect("start host-b");
    a.set_local_services(&[(1, 2)]);
    b.set_local_services(&[(1, 1), (2, 1)]);
    for r in [&a, &b] {
        wait_until("both hosts and services in the view", limit, || {
            let v = r.view();
            hosts_of(r) == ["host-a", "host-b"]
                && v.hosts_for(1) == ["host-a", "host-b"]
                && v.hosts_for(2) == ["host-b"]
        });
    }
    let v = a.view();
    assert_eq!(
        v.host("host-b").unwrap().mac,
        MacAddr([2, 0, 0, 0, 0, b'b'])
    );
    assert_eq!(v.service(1).unwrap().hosts[0].instances, 2);
    assert_eq!(pick_host(&v, 2, 12345, "host-a"), Some("host-b"));
    assert_eq!(pick_host(&v, 1, 12345, "host-a"), Some("host-a"));
    assert_eq!(pick_remote(&v, 1, 12345, "host-a"), Some("host-b"));
    assert_eq!(pick_host(&v, 9, 12345, "host-a"), None);
    assert_eq!(a.status(), RegistryStatus::Connected);

    // NF stats are written (rate-limited) and readable.
    a.publish_stats(vec![sluice_cluster::NfStatsRecord {
        v: 1,
        service: 1,
        instance: 3,
        rx_pps: 10.0,
        tx_pps: 9.0,
        drop_pps: 1.0,
        rx_ring_use: 0.25,
        headroom: 2,
    }]);
    wait_until("host-a's stats readable", limit, || {
        b.fetch_stats(Duration::from_secs(5))
            .map(|s| s.iter().any(|h| h.host_id == "host-a" && h.nfs.len() == 1))
            .unwrap_or(false)
    });

    // A second host with a live host id is refused, naming it.
    let t = Instant::now();
    let err = match start(&cs, "host-a", root) {
        Ok(_) => panic!("a second host-a was accepted"),
        Err(e) => e.to_string(),
    };
    println!("duplicate host id refused after {:?}: {err}", t.elapsed());
    let want = format!(
        "host id host-a is already live (session {:#x})",
        a.session_id()
    );
    assert!(err.contains(&want), "{err}\n(wanted {want})");
    assert_eq!(
        hosts_of(&b),
        ["host-a", "host-b"],
        "the refused host disturbed the view"
    );

    // Garbage in ZooKeeper nodes is ignored with a warning naming the node.
    let raw = Raw::connect(&cs);
    raw.create("/t1/hosts/bad-json", b"{not json");
    raw.create("/t1/hosts/future", br#"{"v":99,"host_id":"future"}"#);
    raw.create("/t1/services/2/ghost", b"\x00\x01garbage");
    raw.create("/t1/services/web", b"");
    wait_until("garbage nodes reported as ignored", limit, || {
        let ig = a.view().ignored.join("\n");
        ig.contains("znode /t1/hosts/bad-json: not JSON")
            && ig.contains("znode /t1/hosts/future: unknown payload version 99")
            && ig.contains("znode /t1/services/2/ghost")
            && ig.contains("znode /t1/services/web: node name is not a service id")
    });
    println!("ignored nodes:\n  {}", a.view().ignored.join("\n  "));
    let v = a.view();
    assert_eq!(hosts_of(&a), ["host-a", "host-b"]);
    assert_eq!(v.hosts_for(2), ["host-b"]);

    // Killing one ZooKeeper node (the leader) changes nothing.
    let leader = ens.leader().expect("a leader");
    ens.kill(leader);
    let t = Instant::now();
    b.set_local_services(&[(1, 1), (2, 1), (3, 4)]);
    let d = wait_until("service 3 seen with one ZooKeeper node down", limit, || {
        a.view().hosts_for(3) == ["host-b"]
    });
    println!(
        "ZooKeeper leader (node {}) killed: an update still reached host-a in {d:?}",
        leader + 1
    );
    wait_until("both registries connected", limit, || {
        a.status() == RegistryStatus::Connected && b.status() == RegistryStatus::Connected
    });
    assert_eq!(hosts_of(&a), ["host-a", "host-b"]);
    println!(
        "  (status connected again {:?} after the kill)",
        t.elapsed()
    );
    ens.restart(leader).expect("restart the killed node");

    // A stopped host leaves the others' views at once (its session is closed).
    let t = Instant::now();
    b.stop();
    let d = wait_until("host-b gone after stop", limit, || {
        hosts_of(&a) == ["host-a"] && a.view().hosts_for(2).is_empty()
    });
    println!(
        "host-b removed from host-a's view {d:?} after stop() began ({:?} total)",
        t.elapsed()
    );

    // It comes back with nothing done by hand.
    let b = start(&cs, "host-b", root).expect("restart host-b");
    b.set_local_services(&[(2, 1)]);
    wait_until("host-b back", limit, || a.view().hosts_for(2) == ["host-b"]);

    // A crashed host (kill -9: its session just times out) leaves within the session
    // timeout plus a small bound; its flows move to the remaining instances.
    let mut c = ChildHost::spawn(&cs, "host-c", root);
    wait_until("host-c seen", limit, || {
        a.view().hosts_for(2) == ["host-b", "host-c"]
    });
    let flows: Vec<u64> = (0..1000u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let on_c: Vec<u64> = {
        let v = a.view();
        flows
            .iter()
            .copied()
            .filter(|&f| pick_host(&v, 2, f, "host-a") == Some("host-c"))
            .collect()
    };
    assert!(!on_c.is_empty());
    let t = Instant::now();
    c.kill();
    let d = wait_until(
        "host-c gone after kill -9",
        Duration::from_millis(SESSION_MS) * 10,
        || !a.view().hosts.contains_key("host-c"),
    );
    println!(
        "host-c (kill -9) removed from host-a's view after {d:?} (session timeout {SESSION_MS} ms, bound {:?})",
        d.saturating_sub(Duration::from_millis(SESSION_MS))
    );
    let _ = t;
    let v = a.view();
    for &f in &flows {
        assert_eq!(pick_host(&v, 2, f, "host-a"), Some("host-b"));
    }

    // A crashed host restarted at once waits for its old session to end, then rejoins.
    let mut c2 = ChildHost::spawn(&cs, "host-c", root);
    wait_until("host-c back", limit, || {
        a.view().hosts_for(2) == ["host-b", "host-c"]
    });
    c2.kill();
    let t = Instant::now();
    let _c3 = ChildHost::spawn(&cs, "host-c", root);
    println!(
        "host-c restarted right after kill -9: registered after {:?} (waited out its old session)",
        t.elapsed()
    );
    wait_until("host-c back again", limit, || {
        a.view().hosts_for(2) == ["host-b", "host-c"]
    });
    // The same flows go to host-c again (consistent hashing is stable across membership).
    let v = a.view();
    for &f in &on_c {
        assert_eq!(pick_host(&v, 2, f, "host-a"), Some("host-c"));
    }
    println!("membership test took {:?}", t0.elapsed());
}

#[test]
fn zookeeper_outage_keeps_view_and_reregisters() {
    if !zookeeper_available() {
        println!("{SKIP_MESSAGE}");
        return;
    }
    let _serial = serial();
    init_logs();
    let t0 = Instant::now();
    let mut ens = Ensemble::start(3, std::env::temp_dir()).expect("start a 3-node ensemble");
    let cs = ens.connect_string();
    let root = "/t2";
    let limit = Duration::from_secs(30);
    let a = start(&cs, "host-a", root).expect("start host-a");
    let b = start(&cs, "host-b", root).expect("start host-b");
    a.set_local_services(&[(1, 1)]);
    b.set_local_services(&[(2, 1)]);
    for r in [&a, &b] {
        wait_until("both hosts and services", limit, || {
            r.view().hosts_for(1) == ["host-a"] && r.view().hosts_for(2) == ["host-b"]
        });
    }
    let before = a.view();

    // All of ZooKeeper goes away: forwarding continues on the cached view.
    ens.stop_all();
    let d = wait_until("host-a notices", limit, || {
        a.status() != RegistryStatus::Connected
    });
    println!("all ZooKeeper nodes killed: host-a suspended after {d:?}");
    let d = wait_until("sessions declared expired", limit, || {
        a.status() == RegistryStatus::Expired && b.status() == RegistryStatus::Expired
    });
    println!("  sessions declared expired after a further {d:?}");
    let v = a.view();
    assert!(
        v.same_membership(&before),
        "the view changed while ZooKeeper was down"
    );
    assert_eq!(pick_host(&v, 2, 77, "host-a"), Some("host-b"));
    b.set_local_services(&[(2, 1), (5, 1)]); // queued until ZooKeeper is back
    std::thread::sleep(Duration::from_millis(500));
    assert!(a.view().same_membership(&before));

    // ZooKeeper returns: both hosts re-register by themselves.
    let (ra, rb) = (a.registrations(), b.registrations());
    let t = Instant::now();
    ens.restart_all().expect("restart the ensemble");
    println!("ensemble serving again after {:?}", t.elapsed());
    let raw = Raw::connect(&cs);
    let d = wait_until("both hosts re-registered", limit, || {
        a.status() == RegistryStatus::Connected
            && b.status() == RegistryStatus::Connected
            && a.registrations() > ra
            && b.registrations() > rb
            && raw.owner("/t2/hosts/host-a") == Some(a.session_id())
            && raw.owner("/t2/hosts/host-b") == Some(b.session_id())
    });
    println!("  both hosts re-registered with new sessions {d:?} after the ensemble was back");
    wait_until("views current again", limit, || {
        let v = a.view();
        v.hosts_for(1) == ["host-a"] && v.hosts_for(2) == ["host-b"] && v.hosts_for(5) == ["host-b"]
    });

    // A session expired by the server (a long network cut) is re-registered too.
    let (n, old) = (a.registrations(), a.session_id());
    let t = Instant::now();
    a.expire_session_for_test();
    let d = wait_until("host-a re-registered after expiry", limit, || {
        a.registrations() > n
            && a.session_id() != old
            && raw.owner("/t2/hosts/host-a") == Some(a.session_id())
            && b.view().hosts_for(1) == ["host-a"]
    });
    println!("host-a's session expired by the server: re-registered in {d:?}");
    let _ = t;
    a.stop();
    b.stop();
    println!("outage test took {:?}", t0.elapsed());
}

#[test]
fn start_fails_clearly_without_zookeeper() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cs = format!("127.0.0.1:{port}");
    let t = Instant::now();
    let err = match start(&cs, "lonely", "/t3") {
        Ok(_) => panic!("started without ZooKeeper"),
        Err(e) => e.to_string(),
    };
    println!("without ZooKeeper: refused after {:?}: {err}", t.elapsed());
    assert!(
        err.contains(&format!("cannot reach ZooKeeper at {cs}")),
        "{err}"
    );
}
