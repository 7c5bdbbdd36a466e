//! The cost of VF policy at data-plane speed: a generator port as a VF sending to a null
//! uplink, with the full policy (MAC and VLAN anti-spoof, outer-tag insert, a rate limit
//! that never binds) against the same VF with the policy off, and against no VF at all (the
//! generator sent straight to the null port by a chain). The policy is switched at run time
//! in one sluiced, windows alternated, so the machine's drifts hit both alike.

use std::time::{Duration, Instant};

use sluice_ctl::{Request, Response};
use sluice_tests::{port, Daemon, TestDir};

const GEN: &str =
    "kind = \"generator\"\nsize = 64\nflows = 1024\nsrc_mac = \"02:00:00:00:00:01\"\n";

/// Frames per second leaving port `out` over `secs` after a warm-up.
fn rate(d: &Daemon, out: &str, secs: f64) -> f64 {
    std::thread::sleep(Duration::from_millis(700));
    let a = d.stats();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let b = d.stats();
    (port(&b, out).tx - port(&a, out).tx) as f64 / t0.elapsed().as_secs_f64()
}

/// No VF: generator → chain → null.
fn chain(manager: &str, secs: f64) -> f64 {
    let dir = TestDir::new("bench-vf-chain");
    let d = Daemon::start_with(
        &dir,
        &format!(
            "{manager}\n[[ports]]\nname = \"vm0\"\n{GEN}\n[[ports]]\nname = \"up\"\nkind = \"null\"\n\n\
             [[chains]]\nname = \"out\"\nsteps = [\"port:up\"]\n"
        ),
        "warn",
    );
    let r = rate(&d, "up", secs);
    d.shutdown();
    r
}

/// VF policy with every check on: MAC anti-spoof, VLAN insert (and its anti-spoof), a rate
/// limit far above the offered load.
const FULL: &str = r#"{ "name": "bench", "pciid": "pf0", "vfid": 0, "vlans": [10], "strip_stag": true,
    "macs": ["02:00:00:00:00:01"], "mac_anti_spoof": true, "rate": 1.0 }"#;

/// VF policy off: untagged frames allowed as they are, no MAC anti-spoof, no insert, no rate.
const NONE: &str = r#"{ "name": "bench", "pciid": "pf0", "vfid": 0, "vlans": [10], "strip_stag": false,
    "allow_untagged": true, "macs": ["02:00:00:00:00:01"], "mac_anti_spoof": false }"#;

/// Generator = VF 0 of a PF whose uplink is the null port. The VF's file alternates between
/// `NONE` and `FULL` at run time (iplex delete + add, same process, nothing restarted), `rounds`
/// times each, `secs` per window: returns the rates (off, on).
fn through_vf(manager: &str, secs: f64, rounds: usize) -> (Vec<f64>, Vec<f64>) {
    let dir = TestDir::new("bench-vf");
    let d = Daemon::start_with(
        &dir,
        &format!(
            "{manager}\n[[ports]]\nname = \"vm0\"\n{GEN}\n[[ports]]\nname = \"up\"\nkind = \"null\"\n\n\
             [vfd]\nconfig_dir = \"{{dir}}/vfd\"\n\n[[vfd.pfs]]\nid = \"pf0\"\nport = \"up\"\n\
             vf_ports = [\"vm0\"]\nlink_speed_mbps = 1000000\n"
        ),
        "warn",
    );
    let vf = |action: &str| {
        let r = d.call(Request::Vf {
            action: action.into(),
            resource: "vm0".into(),
            loglevel: None,
        });
        assert!(
            matches!(&r, Response::Vf(v) if v.ok),
            "iplex {action}: {r:?}"
        );
    };
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for i in 0..2 * rounds {
        if i > 0 {
            vf("delete");
        }
        let full = i % 2 == 1;
        std::fs::write(dir.path("vfd/vm0.json"), if full { FULL } else { NONE })
            .expect("write VF file");
        vf("add");
        let r = rate(&d, "up", secs);
        if full {
            on.push(r)
        } else {
            off.push(r)
        }
    }
    d.shutdown();
    (off, on)
}

/// Print the figures: median (min-max) Mpps through a VF with the policy off and on, and a
/// plain chain for the cost of switching itself.
pub fn compare(manager: &str, secs: f64, runs: usize) {
    let mut c = Vec::new();
    for _ in 0..runs {
        c.push(chain(manager, secs));
    }
    let (mut off, mut on) = through_vf(manager, secs, 2 * runs + 1);
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let (c, off, on) = (med(&mut c), med(&mut off), med(&mut on));
    let show = |r: (f64, f64, f64)| format!("{:.2} ({:.2}-{:.2})", r.0 / 1e6, r.1 / 1e6, r.2 / 1e6);
    println!(
        "no VF (chain to a null port), {runs} runs:        {} Mpps",
        show(c)
    );
    println!(
        "through a VF, policy off, {} windows:          {} Mpps",
        2 * runs + 1,
        show(off)
    );
    println!(
        "through a VF, full policy on, {} windows:      {} Mpps",
        2 * runs + 1,
        show(on)
    );
    println!(
        "policy cost: {:.1} % of the VF's throughput ({:.1} ns/packet); switching: {:.1} % vs no VF",
        100.0 * (1.0 - on.0 / off.0),
        1e9 / on.0 - 1e9 / off.0,
        100.0 * (1.0 - off.0 / c.0)
    );
}
