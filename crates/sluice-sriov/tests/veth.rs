//! Real kernel, no SR-IOV NIC: a veth pair in a private network namespace. The kernel must
//! refuse every VF attribute with EOPNOTSUPP (veth has no ndo_set_vf_*), the error must name
//! the PF and the attribute, and reading VF info must give no VFs.
//!
//! Needs root (netns creation, CAP_NET_ADMIN) and `ip`; prints SKIP otherwise.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use sluice_sriov::{
    apply, apply_best_effort, read_pf, read_vfs, Error, LinkState, MacAddr, TxRate, VfAttr,
    VfSettings, VfVlan, VlanProto,
};

fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespace + CAP_NET_ADMIN)");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("needs iproute2's `ip`");
    }
    None
}

/// A network namespace holding a veth pair `sv0`/`sv1`; deleted (with the veths) on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sluice-sriov-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        // A namespace left by a killed run with a recycled pid would make `add` fail.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run(&["netns", "add", &name]);
        let ns = Netns { name };
        run(&[
            "-n", &ns.name, "link", "add", "sv0", "type", "veth", "peer", "name", "sv1",
        ]);
        ns
    }

    /// Runs `f` on a thread that has entered this namespace (setns affects only the caller
    /// thread, so the test process and other tests stay where they are).
    fn run_inside<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let file = File::open(format!("/run/netns/{}", self.name)).expect("open netns");
        std::thread::spawn(move || {
            // SAFETY: the fd is a live netns handle owned by `file`; CLONE_NEWNET only
            // moves this thread, which exits when `f` returns.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("test thread panicked")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn all_settings() -> VfSettings {
    VfSettings {
        vf: 0,
        mac: Some(MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x55])),
        vlan: Some(VfVlan {
            id: 100,
            qos: 3,
            proto: VlanProto::Dot1Ad,
        }),
        rate: Some(TxRate {
            min_mbps: 10,
            max_mbps: 100,
        }),
        spoofchk: Some(true),
        trust: Some(false),
        link_state: Some(LinkState::Disable),
        rss_query_en: Some(true),
    }
}

#[test]
fn veth_refuses_vf_attributes_with_clear_errors() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIP: veth_refuses_vf_attributes_with_clear_errors {why}");
        return;
    }
    let ns = Netns::new();
    ns.run_inside(|| {
        // Strict apply stops at the first attribute, IFLA_VF_MAC.
        let err = apply("sv0", &all_settings()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PF sv0 refused IFLA_VF_MAC for VF 0: Operation not supported (the device has no SR-IOV VFs)"
        );
        match err {
            Error::Refused { attr, errno, applied, .. } => {
                assert_eq!(attr, VfAttr::Mac);
                assert_eq!(errno, libc::EOPNOTSUPP);
                assert!(applied.is_empty());
            }
            other => panic!("want Refused, got {other:?}"),
        }

        // Best effort tries each attribute and reports each refusal by name.
        let report = apply_best_effort("sv0", &all_settings()).unwrap();
        assert!(report.applied.is_empty());
        assert_eq!(report.num_vfs, 0);
        assert!(report.ifindex > 0);
        let refused: Vec<VfAttr> = report.refused.iter().map(|r| r.attr).collect();
        assert_eq!(
            refused,
            [
                VfAttr::Mac,
                VfAttr::VlanList,
                VfAttr::Rate,
                VfAttr::SpoofChk,
                VfAttr::LinkState,
                VfAttr::RssQueryEn,
                VfAttr::Trust
            ]
        );
        for r in &report.refused {
            assert_eq!(r.errno, libc::EOPNOTSUPP);
            assert!(r.message.starts_with(&format!("PF sv0 refused {} for VF 0: ", r.attr)), "{}", r.message);
        }

        // 802.1Q goes out as IFLA_VF_VLAN.
        let mut s = VfSettings::new(0);
        s.vlan = Some(VfVlan { id: 7, qos: 0, proto: VlanProto::Dot1Q });
        let err = apply("sv0", &s).unwrap_err();
        assert!(err.to_string().starts_with("PF sv0 refused IFLA_VF_VLAN for VF 0:"), "{err}");

        // Nothing to set: nothing sent, nothing refused.
        let report = apply("sv0", &VfSettings::new(0)).unwrap();
        assert!(report.applied.is_empty() && report.refused.is_empty());
    });
}

#[test]
fn veth_reads_as_zero_vfs_and_missing_pf_is_named() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIP: veth_reads_as_zero_vfs_and_missing_pf_is_named {why}");
        return;
    }
    let ns = Netns::new();
    ns.run_inside(|| {
        let pf = read_pf("sv0").unwrap();
        assert_eq!(pf.ifname, "sv0");
        assert!(pf.ifindex > 0);
        assert_eq!(pf.num_vfs, 0);
        assert!(pf.vfs.is_empty());
        assert!(read_vfs("sv1").unwrap().is_empty());

        let err = read_vfs("nosuchpf0").unwrap_err();
        assert!(matches!(err, Error::NoSuchPf { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "PF nosuchpf0: no such network interface (in this network namespace)"
        );
        let err = apply("nosuchpf0", &all_settings()).unwrap_err();
        assert!(matches!(err, Error::NoSuchPf { .. }), "{err:?}");
        let err = apply("bad/name", &all_settings()).unwrap_err();
        assert!(matches!(err, Error::BadPfName { .. }), "{err:?}");
    });
}

/// On a host with a real SR-IOV PF (or netdevsim): `SLUICE_SRIOV_PF=<pf> cargo test -p
/// sluice-sriov -- --ignored real_pf`. Uses the last VF, sets MAC, VLAN, spoof check, trust
/// and link state, reads them back, then clears what it set.
#[test]
#[ignore = "needs an SR-IOV PF with VFs: set SLUICE_SRIOV_PF"]
fn real_pf_round_trip() {
    let Ok(pf) = std::env::var("SLUICE_SRIOV_PF") else {
        eprintln!("SKIP: real_pf_round_trip needs SLUICE_SRIOV_PF=<pf with VFs>");
        return;
    };
    let info = read_pf(&pf).unwrap();
    assert!(
        info.num_vfs > 0,
        "{pf} has no VFs: echo 2 > /sys/class/net/{pf}/device/sriov_numvfs"
    );
    let vf = info.num_vfs - 1;
    let want = VfSettings {
        vf,
        mac: Some(MacAddr([0x02, 0x5c, 0x00, 0x00, 0x00, vf as u8])),
        vlan: Some(VfVlan {
            id: 3999,
            qos: 1,
            proto: VlanProto::Dot1Q,
        }),
        rate: None,
        spoofchk: Some(true),
        trust: Some(false),
        link_state: Some(LinkState::Auto),
        rss_query_en: None,
    };
    let report = apply_best_effort(&pf, &want).unwrap();
    eprintln!("{report:#?}");
    let got = read_vfs(&pf)
        .unwrap()
        .into_iter()
        .find(|v| v.vf == vf)
        .unwrap();
    eprintln!("{got:#?}");
    if report.applied.contains(&VfAttr::Mac) {
        assert_eq!(got.mac, want.mac);
    }
    if report.applied.contains(&VfAttr::Vlan) {
        assert_eq!(got.vlan.map(|v| (v.id, v.qos)), Some((3999, 1)));
    }
    let mut clear = VfSettings::new(vf);
    clear.vlan = Some(VfVlan::NONE);
    clear.mac = Some(MacAddr::default());
    let _ = apply_best_effort(&pf, &clear);
}
