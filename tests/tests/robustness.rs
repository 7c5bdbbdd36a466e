//! Failure handling: kill -9 of an NF under load leaks no buffer and its flows move; bad
//! descriptors are dropped and counted against the NF that wrote them; a full ring is a
//! counted drop, never a hang; shared-core NFs sleep and are woken for every packet.

use std::time::Duration;

use sluice_ctl::{Request, Response};
use sluice_tests::*;

fn chain_config(gen: &str, extra_manager: &str, pool: &str) -> String {
    format!(
        r#"{MANAGER}
{extra_manager}

{pool}

[[services]]
id = 1
name = "fwd"

[[services]]
id = 2
name = "bad"

[[ports]]
name = "gen"
kind = "generator"
flows = 256
{gen}

[[ports]]
name = "sink"
kind = "null"

[[chains]]
name = "main"
steps = ["fwd", "port:sink"]

[default_chains]
gen = "main"
"#
    )
}

fn nf_drop(s: &sluice_ctl::StatsSnapshot, nf: &str, reason: &str) -> u64 {
    s.nfs
        .iter()
        .filter(|n| n.name == nf)
        .map(|n| n.drops.get(reason).copied().unwrap_or(0))
        .sum()
}

#[test]
fn kill_9_under_load_leaks_nothing_and_flows_move() {
    let dir = TestDir::new("kill9");
    let d = Daemon::start(
        &dir,
        &chain_config(
            "rate_pps = 50000\ncount = 200000",
            "wait_for_chains = true",
            "",
        ),
    );
    let mut victim = NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "victim", &[]);
    d.wait_running(1);
    let _survivor = NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "survivor", &[]);
    d.wait_running(2);
    d.wait_until("traffic through both", Duration::from_secs(30), |s| {
        s.nfs
            .iter()
            .filter(|n| n.state == "running" && n.rx > 1000)
            .count()
            == 2
    });
    victim.kill9();
    let s = d.wait_until("victim gone", Duration::from_secs(10), |s| {
        s.nfs
            .iter()
            .any(|n| n.name == "victim" && n.state == "gone")
    });
    let sink_then = port(&s, "sink").tx;
    match d.call(Request::Services) {
        Response::Services(v) => {
            let fwd = v.iter().find(|x| x.name == "fwd").unwrap();
            assert_eq!(fwd.instances.len(), 1);
            assert_eq!(fwd.buckets, vec![1024], "the survivor owns every flow");
        }
        other => panic!("{other:?}"),
    }
    let s = d.wait_until(
        "generator done and pipeline drained",
        Duration::from_secs(60),
        |s| port(s, "gen").rx == 200_000 && s.accounting.in_flight == 0,
    );
    assert!(
        port(&s, "sink").tx > sink_then + 10_000,
        "traffic kept flowing after the kill"
    );
    assert_eq!(s.pool_free, s.pool_size, "every buffer is back in the pool");
    assert_eq!(
        manager_drop(&s, "no_instance"),
        0,
        "flows moved instead of being dropped"
    );
    assert_conserved(&s);
    assert!(d.shutdown().success());
}

#[test]
fn bad_descriptors_are_dropped_and_counted_against_their_writer() {
    let dir = TestDir::new("baddesc");
    let d = Daemon::start(
        &dir,
        &chain_config(
            "rate_pps = 2000\ncount = 8000",
            "wait_for_chains = true",
            "",
        ),
    );
    let _fwd = NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "fwd", &[]);
    let s = d.wait_running(1);
    let victim = s
        .nfs
        .iter()
        .find(|n| n.name == "fwd")
        .unwrap()
        .instance
        .to_string();
    let mut bad = NfProc::spawn(
        &dir,
        &d,
        "sluice-test-badnf",
        "bad",
        "badnf",
        &["--victim", &victim],
    );
    let s = d.wait_until("bad descriptors counted", Duration::from_secs(20), |s| {
        nf_drop(s, "badnf", "bad_tx_descriptor") >= 6 && nf_drop(s, "fwd", "bad_rx_descriptor") >= 1
    });
    assert_eq!(
        nf_drop(&s, "badnf", "bad_tx_descriptor"),
        6,
        "{}",
        sluice_ctl::table::render(&s)
    );
    assert_eq!(nf_drop(&s, "fwd", "bad_rx_descriptor"), 1);
    assert!(
        manager_drop(&s, "bad_descriptor") >= 2,
        "length and unknown action"
    );
    assert!(
        manager_drop(&s, "bad_destination") >= 2,
        "unknown port and service"
    );
    // The manager and the other NF carry on.
    let sink = port(&s, "sink").tx;
    d.wait_until("traffic continues", Duration::from_secs(20), |s| {
        port(s, "sink").tx > sink + 500
    });
    assert!(
        bad.output().contains("wrote 6 bad descriptors"),
        "{}",
        bad.output()
    );
    bad.kill9();
    d.wait_until("badnf reaped", Duration::from_secs(10), |s| {
        s.nfs.iter().any(|n| n.name == "badnf" && n.state == "gone")
    });
    let s = d.wait_until("traffic done", Duration::from_secs(30), |s| {
        port(s, "gen").rx == 8000 && s.accounting.in_flight == 0
    });
    assert_eq!(
        s.pool_free, s.pool_size,
        "the bad NF's buffers are back too"
    );
    assert_conserved(&s);
    assert!(d.shutdown().success());
}

#[test]
fn a_full_ring_is_a_counted_drop_not_a_hang() {
    let dir = TestDir::new("fullring");
    let d = Daemon::start(
        &dir,
        &chain_config(
            "count = 20000",
            "wait_for_chains = true",
            "[pool]\nslots = 4096\nring_size = 32\nmax_nfs = 8",
        ),
    );
    let fwd = NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "fwd", &[]);
    d.wait_running(1);
    // SAFETY: stopping our own child process.
    unsafe { libc::kill(fwd.child.id() as i32, libc::SIGSTOP) };
    let s = d.wait_until("generator done", Duration::from_secs(60), |s| {
        port(s, "gen").rx == 20_000
    });
    assert!(
        manager_drop(&s, "ring_full") > 0,
        "a stalled NF's full ring drops and counts"
    );
    // SAFETY: as above.
    unsafe { libc::kill(fwd.child.id() as i32, libc::SIGCONT) };
    let s = d.wait_until("drained", Duration::from_secs(30), |s| {
        s.accounting.in_flight == 0
    });
    assert_eq!(
        nf_drop(&s, "fwd", "rx_ring_full"),
        manager_drop(&s, "ring_full")
    );
    assert_eq!(port(&s, "sink").tx + manager_drop(&s, "ring_full"), 20_000);
    assert_conserved(&s);
    assert!(d.shutdown().success());
}

#[test]
fn shared_core_nfs_sleep_and_every_packet_is_delivered() {
    let dir = TestDir::new("sharedcore");
    let d = Daemon::start(
        &dir,
        &chain_config("rate_pps = 20\ncount = 40", "wait_for_chains = true", ""),
    );
    let _fwd = NfProc::spawn(
        &dir,
        &d,
        "sluice-forward",
        "fwd",
        "fwd",
        &["--mode", "shared-core"],
    );
    let s = d.wait_until("40 packets delivered", Duration::from_secs(30), |s| {
        port(s, "sink").tx == 40 && s.accounting.in_flight == 0
    });
    let nf = s.nfs.iter().find(|n| n.name == "fwd").unwrap();
    assert_eq!(nf.rx, 40);
    assert!(
        nf.sleeps >= 10,
        "the NF slept between packets: {}",
        nf.sleeps
    );
    assert!(nf.wakeups >= 10, "producers woke it: {}", nf.wakeups);
    assert_conserved(&s);
    assert!(d.shutdown().success());
}
