//! Real kernel interfaces through sluiced: frames sent from a raw socket in one network
//! namespace cross sluiced (port → NF process → port) into another namespace, where a raw
//! socket sees every one unchanged and in order. AF_PACKET ports on veth pairs, and a TAP port.
//! Needs root; prints SKIP otherwise.

use std::time::Duration;

use sluice_tests::netns::{self, Capture, Hosts};
use sluice_tests::*;

#[test]
fn af_packet_between_namespaces_through_sluiced() {
    between_namespaces(
        "af_packet_between_namespaces_through_sluiced",
        "af-packet",
        "p",
    );
}

#[test]
fn af_xdp_between_namespaces_through_sluiced() {
    between_namespaces("af_xdp_between_namespaces_through_sluiced", "af-xdp", "x");
}

/// Namespace A → veth → sluiced port a (`kind`) → forward NF → port b (`kind`) → veth →
/// namespace B; `tag` keeps interface names apart between tests.
fn between_namespaces(test: &str, kind: &str, tag: &str) {
    if !netns::available(test) {
        return;
    }
    let pid = std::process::id();
    let dir = TestDir::new(&format!("kernel-{kind}"));
    let mut hosts = Hosts::default();
    let (ns_a, ns_b) = (format!("sl{tag}a{pid}"), format!("sl{tag}b{pid}"));
    let (va, vb) = (format!("k{tag}a{pid}"), format!("k{tag}b{pid}"));
    let inner_a = hosts.add(&ns_a, &va);
    let inner_b = hosts.add(&ns_b, &vb);
    let d = Daemon::start(
        &dir,
        &format!(
            r#"{MANAGER}
wait_for_chains = true

[[services]]
id = 1
name = "fwd"

[[ports]]
name = "a"
kind = "{kind}"
interface = "{va}"

[[ports]]
name = "b"
kind = "{kind}"
interface = "{vb}"

[[ports]]
name = "gone"
kind = "{kind}"
interface = "km{tag}{pid}"

[[chains]]
name = "a-to-b"
steps = ["fwd", "port:b"]

[default_chains]
a = "a-to-b"
"#
        ),
    );
    let _fwd = NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "fwd", &[]);
    d.wait_running(1);
    let sent = netns::frames(50, 0x5a);
    let capture = Capture::start(&ns_b, &inner_b, sent.len());
    netns::send(&ns_a, &inner_a, &sent);
    netns::assert_frames(
        &capture.frames(),
        &sent,
        "namespace A -> sluiced -> namespace B",
    );
    let s = d.wait_until("counters", Duration::from_secs(10), |s| {
        port(s, "b").tx >= 50
    });
    assert_eq!(port(&s, "b").link, "up");
    // A port whose interface is missing stays down; the others carry on.
    assert_eq!(port(&s, "gone").link, "down");
    let log = d.log();
    assert!(
        log.contains("port gone") && log.contains("does not exist"),
        "{log}"
    );

    // The link of port b goes down at run time: the port shows down, what is sent to it
    // counts as dropped (port_down), and traffic resumes when the link comes back.
    let secs = Duration::from_secs(10);
    netns::ip(&["link", "set", &vb, "down"]);
    d.wait_until("port b down", secs, |s| port(s, "b").link == "down");
    let before = manager_drop(&s, "port_down");
    netns::send(&ns_a, &inner_a, &netns::frames(20, 0x11));
    d.wait_until("20 port_down drops", secs, |s| {
        manager_drop(s, "port_down") >= before + 20
    });
    netns::ip(&["link", "set", &vb, "up"]);
    d.wait_until("port b up", secs, |s| port(s, "b").link == "up");
    let again = netns::frames(10, 0x22);
    let capture = Capture::start(&ns_b, &inner_b, again.len());
    netns::send(&ns_a, &inner_a, &again);
    netns::assert_frames(&capture.frames(), &again, "after the link came back");
    let s = d.wait_until("at rest", secs, |s| s.accounting.in_flight == 0);
    assert_conserved(&s);
    assert!(d.shutdown().success());
}

/// The kernel's side of a TAP port is an ordinary interface: frames from namespace A leave
/// sluiced on the TAP interface, and frames sent on the TAP interface reach namespace B.
#[test]
fn tap_to_and_from_the_kernel_through_sluiced() {
    let test = "tap_to_and_from_the_kernel_through_sluiced";
    if !netns::available(test) {
        return;
    }
    let pid = std::process::id();
    let dir = TestDir::new("kernel-tap");
    let mut hosts = Hosts::default();
    let (ns_a, ns_b) = (format!("slta{pid}"), format!("sltb{pid}"));
    let (va, vb, tap) = (
        format!("kta{pid}"),
        format!("ktb{pid}"),
        format!("sltap{pid}"),
    );
    let inner_a = hosts.add(&ns_a, &va);
    let inner_b = hosts.add(&ns_b, &vb);
    let d = Daemon::start(
        &dir,
        &format!(
            r#"{MANAGER}
wait_for_chains = true

[[services]]
id = 1
name = "fwd"

[[ports]]
name = "a"
kind = "af-packet"
interface = "{va}"

[[ports]]
name = "b"
kind = "af-packet"
interface = "{vb}"

[[ports]]
name = "t"
kind = "tap"
interface = "{tap}"

[[chains]]
name = "a-to-tap"
steps = ["fwd", "port:t"]

[[chains]]
name = "tap-to-b"
steps = ["fwd", "port:b"]

[default_chains]
a = "a-to-tap"
t = "tap-to-b"
"#
        ),
    );
    let _fwd = NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "fwd", &[]);
    d.wait_running(1);
    let sent = netns::frames(30, 0x3c);
    let capture = Capture::start("", &tap, sent.len());
    netns::send(&ns_a, &inner_a, &sent);
    netns::assert_frames(
        &capture.frames(),
        &sent,
        "namespace A -> sluiced -> TAP interface",
    );
    let back = netns::frames(30, 0xc3);
    let capture = Capture::start(&ns_b, &inner_b, back.len());
    netns::send("", &tap, &back);
    netns::assert_frames(
        &capture.frames(),
        &back,
        "TAP interface -> sluiced -> namespace B",
    );
    assert!(d.shutdown().success());
}
