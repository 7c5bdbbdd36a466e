//! Routing: the flow director overrides the default chain (rules from the config and added at
//! run time), both directions of a flow reach the same instance, and a third instance takes
//! about a third of the flows without moving the rest.

use std::collections::HashMap;
use std::time::Duration;

use sluice_ctl::{Request, Response};
use sluice_pcap::PcapReader;
use sluice_tests::*;
use sluice_wire::FlowKey;

/// Wall-clock ns: the pcap port stamps recorded frames in wall-clock time.
fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// (timestamp ns, direction-independent flow key) of every packet in a capture.
fn flows_in(path: &std::path::Path) -> Vec<(u64, FlowKey)> {
    let Ok(mut r) = PcapReader::open(path) else {
        return Vec::new();
    };
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some(info) = r.next_packet(&mut buf).expect("read capture") {
        let k = FlowKey::parse(&buf).expect("an IP flow");
        let rev = k.reversed();
        out.push((
            info.ts_nanos,
            if format!("{k}") < format!("{rev}") {
                k
            } else {
                rev
            },
        ));
    }
    out
}

#[test]
fn flow_rules_override_the_default_chain() {
    let dir = TestDir::new("flowdir");
    let d = Daemon::start(
        &dir,
        &format!(
            r#"{MANAGER}
wait_for_chains = true

[[services]]
id = 1
name = "a"

[[services]]
id = 2
name = "b"

[[ports]]
name = "gen"
kind = "generator"
flows = 4
count = 400
rate_pps = 4000

[[ports]]
name = "outa"
kind = "pcap"
write = "{{dir}}/a.pcap"

[[ports]]
name = "outb"
kind = "pcap"
write = "{{dir}}/b.pcap"

[[chains]]
name = "via-a"
steps = ["a", "port:outa"]

[[chains]]
name = "via-b"
steps = ["b", "port:outb"]

[default_chains]
gen = "via-a"

[[flows]]
match = "10.0.0.1:1026 -> 10.0.1.1:5001 udp"
chain = "via-b"
"#
        ),
    );
    // A rule added at run time, before traffic starts.
    let add = |flow: &str, chain: &str| {
        d.call(Request::FlowAdd {
            flow: flow.into(),
            chain: chain.into(),
        })
    };
    assert!(matches!(
        add("10.0.0.1:1027 -> 10.0.1.1:5001 udp", "via-b"),
        Response::Ok
    ));
    match add("10.0.0.1:1027 -> 10.0.1.1:5001 udp", "nowhere") {
        Response::Error { message } => assert!(message.contains("nowhere"), "{message}"),
        other => panic!("{other:?}"),
    }
    match add("10.0.0.1:99999 -> x", "via-b") {
        Response::Error { message } => assert!(message.contains("flow"), "{message}"),
        other => panic!("{other:?}"),
    }
    match d.call(Request::FlowList) {
        Response::Flows(v) => assert_eq!(v.len(), 2, "{v:?}"),
        other => panic!("{other:?}"),
    }
    let _a = NfProc::spawn(&dir, &d, "sluice-forward", "a", "fwd-a", &[]);
    let _b = NfProc::spawn(&dir, &d, "sluice-forward", "b", "fwd-b", &[]);
    let s = d.wait_until("400 packets out", Duration::from_secs(60), |s| {
        port(s, "outa").tx + port(s, "outb").tx == 400 && s.accounting.in_flight == 0
    });
    assert_conserved(&s);
    assert!(d.shutdown().success());
    let b: Vec<u16> = flows_in(&dir.path("b.pcap"))
        .iter()
        .map(|(_, k)| k.src_port)
        .collect();
    let a: Vec<u16> = flows_in(&dir.path("a.pcap"))
        .iter()
        .map(|(_, k)| k.src_port)
        .collect();
    assert_eq!(b.len(), 200, "two flows of four follow the rules");
    assert!(b.iter().all(|p| *p == 1026 || *p == 1027), "{b:?}");
    assert_eq!(a.len(), 200);
    assert!(a.iter().all(|p| *p == 1024 || *p == 1025));
}

#[test]
fn flows_keep_their_instance_and_a_new_instance_takes_a_third() {
    let dir = TestDir::new("affinity");
    let d = Daemon::start(
        &dir,
        &format!(
            r#"{MANAGER}
wait_for_chains = true

[[services]]
id = 1
name = "fwd"

[[ports]]
name = "gen"
kind = "generator"
flows = 300
bidirectional = true
rate_pps = 20000

[[ports]]
name = "out1"
kind = "pcap"
write = "{{dir}}/1.pcap"

[[ports]]
name = "out2"
kind = "pcap"
write = "{{dir}}/2.pcap"

[[ports]]
name = "out3"
kind = "pcap"
write = "{{dir}}/3.pcap"

[[chains]]
name = "main"
steps = ["fwd"]
"#
        ),
    );
    let nf = |port: &str, tag: &str| {
        NfProc::spawn(
            &dir,
            &d,
            "sluice-l2fwd",
            "fwd",
            tag,
            &["--port", port, "--no-mac-update"],
        )
    };
    let _i1 = nf("1", "i1");
    let _i2 = nf("2", "i2");
    d.wait_running(2);
    let t_two = wall_ns() + 50_000_000;
    std::thread::sleep(Duration::from_millis(1500));
    let t_third = wall_ns();
    let _i3 = nf("3", "i3");
    d.wait_running(3);
    let t_three = wall_ns() + 50_000_000;
    std::thread::sleep(Duration::from_millis(1500));
    // At shutdown NFs leave one by one and their flows move: look only before that.
    let t_end = wall_ns();
    let s = d.stats();
    assert_eq!(manager_drop(&s, "no_instance"), 0);
    assert!(d.shutdown().success());

    // flow -> set of instances (out port) per phase
    let mut before: HashMap<FlowKey, u8> = HashMap::new();
    let mut after: HashMap<FlowKey, u8> = HashMap::new();
    for inst in 1..=3u8 {
        for (ts, k) in flows_in(&dir.path(&format!("{inst}.pcap"))) {
            let phase = if ts > t_two && ts < t_third {
                &mut before
            } else if ts > t_three && ts < t_end {
                &mut after
            } else {
                continue;
            };
            if let Some(prev) = phase.insert(k, inst) {
                assert_eq!(
                    prev, inst,
                    "flow {k} (both directions) reached two instances"
                );
            }
        }
    }
    assert_eq!(before.len(), 300, "every flow seen with two instances");
    assert_eq!(after.len(), 300, "every flow seen with three instances");
    let on1 = before.values().filter(|&&i| i == 1).count() as f64 / 300.0;
    assert!(
        (0.3..0.7).contains(&on1),
        "two instances share the flows: {on1}"
    );
    assert!(before.values().all(|&i| i != 3));
    let moved: Vec<&FlowKey> = before
        .iter()
        .filter(|(k, i)| after[*k] != **i)
        .map(|(k, _)| k)
        .collect();
    assert!(
        moved.iter().all(|k| after[*k] == 3),
        "flows move only to the new instance"
    );
    let share = moved.len() as f64 / 300.0;
    assert!(
        (0.2..0.46).contains(&share),
        "about a third of the flows moved, not all: {share}"
    );
}
