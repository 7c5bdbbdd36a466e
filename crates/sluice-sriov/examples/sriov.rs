//! A small ip-link-like front end to the library, for trying it on a real host:
//!
//! ```text
//! sriov show PF
//! sriov set PF VF [mac M] [vlan ID [qos Q] [proto 802.1Q|802.1ad]] [min_tx_rate R]
//!       [max_tx_rate R] [spoofchk on|off] [trust on|off] [state auto|enable|disable]
//!       [query_rss on|off] [--best-effort]
//! sriov map VF-FILE.json [--speed MBPS] [--stag-8021ad] [--trust-promisc] [--apply PF]
//! ```
//!
//! `cargo run -p sluice-sriov --example sriov -- show enp7s0f1`

use std::process::ExitCode;

use sluice_sriov::{
    apply, apply_best_effort, link_speed_mbps, map_vf_file, read_pf, LinkState, MapOptions, TxRate,
    VfFile, VfSettings, VfVlan, VlanProto,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sriov: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn run(args: &[String]) -> Res<()> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["show", pf] => show(pf),
        ["set", pf, vf, rest @ ..] => set(pf, vf.parse()?, rest),
        ["map", file, rest @ ..] => map(file, rest),
        _ => Err("usage: sriov show PF | set PF VF ATTRS... | map FILE.json [--apply PF]".into()),
    }
}

fn show(pf: &str) -> Res<()> {
    let info = read_pf(pf)?;
    println!(
        "{} (ifindex {}): {} VFs",
        info.ifname, info.ifindex, info.num_vfs
    );
    for v in &info.vfs {
        let vlan = v
            .vlan
            .map(|x| format!("{} qos {} {}", x.id, x.qos, x.proto))
            .unwrap_or_else(|| "-".into());
        let rate = v
            .rate
            .map(|r| format!("{}/{} Mbps", r.min_mbps, r.max_mbps))
            .unwrap_or_else(|| "-".into());
        println!(
            "  vf {:3}  mac {}  vlan {vlan}  rate {rate}  spoofchk {:?}  trust {:?}  state {:?}",
            v.vf,
            v.mac.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
            v.spoofchk,
            v.trust,
            v.link_state
        );
        if let Some(s) = v.stats {
            println!(
                "          rx {} pkts {} bytes  tx {} pkts {} bytes  bcast {}  mcast {}  drop rx {:?} tx {:?}",
                s.rx_packets, s.rx_bytes, s.tx_packets, s.tx_bytes, s.broadcast, s.multicast,
                s.rx_dropped, s.tx_dropped
            );
        }
    }
    Ok(())
}

fn on_off(v: &str) -> Res<bool> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("want on|off, got {v:?}").into()),
    }
}

fn set(pf: &str, vf: u32, rest: &[&str]) -> Res<()> {
    let mut s = VfSettings::new(vf);
    let mut best_effort = false;
    let mut it = rest.iter().copied().peekable();
    let mut rate = TxRate::default();
    let mut rate_set = false;
    while let Some(k) = it.next() {
        if k == "--best-effort" {
            best_effort = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        match k {
            "mac" => s.mac = Some(v.parse()?),
            "vlan" => {
                let mut vl = VfVlan {
                    id: v.parse()?,
                    ..Default::default()
                };
                while let Some(&sub) = it.peek() {
                    match sub {
                        "qos" => {
                            it.next();
                            vl.qos = it.next().ok_or("qos needs a value")?.parse()?;
                        }
                        "proto" => {
                            it.next();
                            vl.proto = match it.next().ok_or("proto needs a value")? {
                                "802.1Q" | "802.1q" => VlanProto::Dot1Q,
                                "802.1ad" | "802.1AD" => VlanProto::Dot1Ad,
                                p => return Err(format!("unknown proto {p}").into()),
                            };
                        }
                        _ => break,
                    }
                }
                s.vlan = Some(vl);
            }
            "min_tx_rate" => {
                rate.min_mbps = v.parse()?;
                rate_set = true;
            }
            "max_tx_rate" => {
                rate.max_mbps = v.parse()?;
                rate_set = true;
            }
            "spoofchk" => s.spoofchk = Some(on_off(v)?),
            "trust" => s.trust = Some(on_off(v)?),
            "query_rss" => s.rss_query_en = Some(on_off(v)?),
            "state" => {
                s.link_state = Some(match v {
                    "auto" => LinkState::Auto,
                    "enable" => LinkState::Enable,
                    "disable" => LinkState::Disable,
                    _ => return Err(format!("state wants auto|enable|disable, got {v}").into()),
                })
            }
            _ => return Err(format!("unknown attribute {k}").into()),
        }
    }
    if rate_set {
        s.rate = Some(rate);
    }
    let report = if best_effort {
        apply_best_effort(pf, &s)?
    } else {
        apply(pf, &s)?
    };
    for a in &report.applied {
        println!("applied {a}");
    }
    for r in &report.refused {
        println!("refused: {}", r.message);
    }
    Ok(())
}

fn map(file: &str, rest: &[&str]) -> Res<()> {
    let text = std::fs::read_to_string(file)?;
    let f: VfFile = serde_json::from_str(&text)?;
    let mut opts = MapOptions::default();
    let mut apply_to = None;
    let mut it = rest.iter().copied();
    while let Some(k) = it.next() {
        match k {
            "--speed" => opts.link_speed_mbps = Some(it.next().ok_or("--speed MBPS")?.parse()?),
            "--stag-8021ad" => opts.stag_proto = VlanProto::Dot1Ad,
            "--trust-promisc" => opts.trust_grants_promisc = true,
            "--apply" => apply_to = Some(it.next().ok_or("--apply PF")?),
            _ => return Err(format!("unknown option {k}").into()),
        }
    }
    if let (Some(pf), None) = (apply_to, opts.link_speed_mbps) {
        opts.link_speed_mbps = link_speed_mbps(pf);
    }
    let m = map_vf_file(&f, &opts)?;
    println!("{}", serde_json::to_string_pretty(&m)?);
    if let Some(pf) = apply_to {
        let report = apply_best_effort(pf, &m.settings)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
