//! The cost of VF policy at data-plane speed: a generator port as a VF whose frames go
//! through the full policy (MAC and VLAN anti-spoof, outer-tag insert, a rate limit that
//! never binds, counters) to a null uplink, against the same generator sent straight to a
//! null port by a chain. Same sluiced settings, runs alternated.

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

/// Policy off: generator → chain → null.
fn off(manager: &str, secs: f64) -> f64 {
    let dir = TestDir::new("bench-vf-off");
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

/// Policy on: generator = VF 0 of a PF whose uplink is the null port.
fn on(manager: &str, secs: f64) -> f64 {
    let dir = TestDir::new("bench-vf-on");
    let d = Daemon::start_with(
        &dir,
        &format!(
            "{manager}\n[[ports]]\nname = \"vm0\"\n{GEN}\n[[ports]]\nname = \"up\"\nkind = \"null\"\n\n\
             [vfd]\nconfig_dir = \"{{dir}}/vfd\"\n\n[[vfd.pfs]]\nid = \"pf0\"\nport = \"up\"\n\
             vf_ports = [\"vm0\"]\nlink_speed_mbps = 1000000\n"
        ),
        "warn",
    );
    std::fs::write(
        dir.path("vfd/vm0.json"),
        r#"{ "name": "bench", "pciid": "pf0", "vfid": 0, "vlans": [10], "strip_stag": true,
             "macs": ["02:00:00:00:00:01"], "mac_anti_spoof": true, "rate": 1.0,
             "allow_bcast": true, "allow_mcast": true, "allow_un_ucast": false }"#,
    )
    .expect("write VF file");
    let r = d.call(Request::Vf {
        action: "add".into(),
        resource: "vm0".into(),
        loglevel: None,
    });
    assert!(matches!(&r, Response::Vf(v) if v.ok), "iplex add: {r:?}");
    let r = rate(&d, "up", secs);
    d.shutdown();
    r
}

/// Print the figure: median (min-max) Mpps with the policy off and on, and the loss.
pub fn compare(manager: &str, secs: f64, runs: usize) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        a.push(off(manager, secs));
        b.push(on(manager, secs));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let (a, b) = (med(&mut a), med(&mut b));
    let show = |r: (f64, f64, f64)| format!("{:.2} ({:.2}-{:.2})", r.0 / 1e6, r.1 / 1e6, r.2 / 1e6);
    println!("policy off (chain to a null port): {} Mpps", show(a));
    println!("policy on  (VF -> PF, full policy): {} Mpps", show(b));
    println!("throughput loss: {:.1} %", 100.0 * (1.0 - b.0 / a.0));
}
