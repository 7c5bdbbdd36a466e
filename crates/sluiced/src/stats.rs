//! Counters gathered into snapshots for the console table, `sluice stats` and the CLI, with
//! rates computed over each stats interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Instant;

use sluice_ctl::{Accounting, NfInfo, PortInfo, StatsSnapshot};
use sluice_shm::{drop_reason, Backing, Counter};

use crate::dataplane::Shared;
use crate::registry::{Nf, Registry};

#[derive(Default)]
struct Rates {
    at: Option<Instant>,
    port_prev: Vec<(u64, u64)>,
    port_rate: Vec<(f64, f64)>,
    nf_prev: HashMap<u16, (u64, u64)>,
    nf_rate: HashMap<u16, (f64, f64)>,
}

/// Statistics state.
pub struct Stats {
    start: Instant,
    rates: Mutex<Rates>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            start: Instant::now(),
            rates: Mutex::new(Rates::default()),
        }
    }
}

fn nf_tx(sh: &Shared, iid: u16) -> (u64, u64) {
    let st = &sh.region.instance(iid).stats;
    (st.rx.get(), st.tx_nf.get() + st.tx_mgr.get())
}

impl Stats {
    /// Recompute rates (called by the stats thread every interval).
    pub fn tick(&self, sh: &Shared, reg: &Registry) {
        let now = Instant::now();
        let mut r = self.rates.lock().expect("lock");
        let dt =
            r.at.map(|t| now.duration_since(t).as_secs_f64())
                .unwrap_or(0.0);
        let ports: Vec<(u64, u64)> = sh
            .ports
            .iter()
            .map(|p| {
                (
                    p.stats.rx_packets.load(Ordering::Relaxed),
                    p.stats.tx_packets.load(Ordering::Relaxed),
                )
            })
            .collect();
        if dt > 0.0 {
            r.port_rate = ports
                .iter()
                .zip(r.port_prev.iter().chain(std::iter::repeat(&(0, 0))))
                .map(|(n, o)| ((n.0 - o.0) as f64 / dt, (n.1 - o.1) as f64 / dt))
                .collect();
        }
        r.port_prev = ports;
        let mut prev = HashMap::new();
        let mut rate = HashMap::new();
        for &iid in reg.nfs.keys() {
            let now_c = nf_tx(sh, iid);
            if let (Some(o), true) = (r.nf_prev.get(&iid), dt > 0.0) {
                rate.insert(
                    iid,
                    ((now_c.0 - o.0) as f64 / dt, (now_c.1 - o.1) as f64 / dt),
                );
            }
            prev.insert(iid, now_c);
        }
        r.nf_prev = prev;
        r.nf_rate = rate;
        r.at = Some(now);
    }

    /// One NF's line.
    pub fn nf_info(&self, sh: &Shared, nf: &Nf) -> NfInfo {
        let inst = sh.region.instance(nf.iid);
        let st = &inst.stats;
        let (rx_pps, tx_pps) = self
            .rates
            .lock()
            .expect("lock")
            .nf_rate
            .get(&nf.iid)
            .copied()
            .unwrap_or((0.0, 0.0));
        let actions = BTreeMap::from([
            ("drop".to_string(), st.act_drop.get()),
            ("next".to_string(), st.act_next.get()),
            ("tonf".to_string(), st.act_tonf.get()),
            ("out".to_string(), st.act_out.get()),
        ]);
        let drops = BTreeMap::from([
            ("nf_drop".to_string(), st.act_drop.get()),
            ("no_route".to_string(), st.drop_no_route.get()),
            ("ring_full".to_string(), st.drop_ring_full.get()),
            ("rx_ring_full".to_string(), st.rx_drop_full.get()),
            ("bad_rx_descriptor".to_string(), st.drop_bad_desc.get()),
            (
                "bad_tx_descriptor".to_string(),
                sh.bad_desc[nf.iid as usize].get(),
            ),
        ]);
        NfInfo {
            instance: nf.iid,
            service: nf.service,
            service_name: String::new(),
            name: nf.name.clone(),
            pid: nf.pid,
            state: nf.state.name().to_string(),
            mode: nf.mode,
            rx: st.rx.get(),
            tx: st.tx_nf.get() + st.tx_mgr.get(),
            rx_pps,
            tx_pps,
            actions,
            drops,
            sleeps: st.sleeps.get(),
            wakeups: st.wakeups.get(),
            rx_queue: sh.region.rx_ring(nf.iid).len(),
        }
    }

    /// Every port's line.
    pub fn ports(&self, sh: &Shared) -> Vec<PortInfo> {
        let r = self.rates.lock().expect("lock");
        sh.ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let s = &p.stats;
                let (rx_pps, tx_pps) = r.port_rate.get(i).copied().unwrap_or((0.0, 0.0));
                PortInfo {
                    id: i as u16,
                    name: p.name.clone(),
                    kind: p.kind.to_string(),
                    rx: s.rx_packets.load(Ordering::Relaxed),
                    tx: s.tx_packets.load(Ordering::Relaxed),
                    rx_bytes: s.rx_bytes.load(Ordering::Relaxed),
                    tx_bytes: s.tx_bytes.load(Ordering::Relaxed),
                    rx_pps,
                    tx_pps,
                    drops: s.drops(),
                    link: if s.link_up.load(Ordering::Relaxed) {
                        "up"
                    } else {
                        "down"
                    }
                    .into(),
                    errors: s.rx_errors.load(Ordering::Relaxed)
                        + s.tx_errors.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Everything, with packet accounting.
    pub fn snapshot(&self, sh: &Shared, reg: &Registry) -> StatsSnapshot {
        let ports = self.ports(sh);
        let mut nfs: Vec<NfInfo> = reg.gone.iter().cloned().collect();
        nfs.extend(reg.nfs.values().map(|n| self.nf_info(sh, n)));
        for n in &mut nfs {
            n.service_name = reg
                .services
                .get(&n.service)
                .map(|s| s.name.clone())
                .unwrap_or_default();
        }
        let drops = sh.drops();
        let manager_drops = (1..drop_reason::COUNT as u8)
            .map(|r| (drop_reason::name(r).to_string(), drops[r as usize]))
            .collect();
        let pool_free = sh.free_buffers();
        let accounting = Accounting {
            entered: ports.iter().map(|p| p.rx).sum::<u64>()
                + sh.nf_alloc.load(Ordering::Relaxed)
                + sh.copies.load(Ordering::Relaxed),
            left: ports.iter().map(|p| p.tx).sum(),
            dropped: drops.iter().sum(),
            in_flight: sh.in_flight() as u64,
        };
        StatsSnapshot {
            uptime_s: self.start.elapsed().as_secs_f64(),
            pool_size: sh.region.slots(),
            pool_free,
            memory: match sh.region.backing() {
                Backing::HugePages => "hugepages".into(),
                Backing::NormalPages => "normal pages".into(),
            },
            ports,
            nfs,
            manager_drops,
            accounting,
        }
    }
}
