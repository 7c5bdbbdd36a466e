//! The operator's statistics table, shared by sluiced's console and `sluice stats`
//! (openNetVM's per-port and per-NF lines, plus drops by reason and packet accounting).

use std::fmt::Write;

use crate::StatsSnapshot;

/// Format a rate with a unit (pps).
pub fn rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// Non-zero counters as `reason=count ...`, or `-`.
pub fn drops_text(m: &std::collections::BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = m
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// Render the table.
pub fn render(s: &StatsSnapshot) -> String {
    let mut o = String::new();
    let a = &s.accounting;
    let _ = writeln!(
        o,
        "sluiced  up {:.1}s  pool {}/{} free ({})  in {} = out {} + dropped {} + in flight {}",
        s.uptime_s, s.pool_free, s.pool_size, s.memory, a.entered, a.left, a.dropped, a.in_flight
    );
    let _ = writeln!(
        o,
        "{:<3} {:<12} {:<9} {:>9} {:>9} {:>12} {:>12}  drops",
        "ID", "PORT", "KIND", "RX pps", "TX pps", "RX", "TX"
    );
    for p in &s.ports {
        let _ = writeln!(
            o,
            "{:<3} {:<12} {:<9} {:>9} {:>9} {:>12} {:>12}  {}",
            p.id,
            p.name,
            p.kind,
            rate(p.rx_pps),
            rate(p.tx_pps),
            p.rx,
            p.tx,
            drops_text(&p.drops)
        );
    }
    let _ = writeln!(
        o,
        "{:<4} {:<20} {:<16} {:<8} {:>9} {:>9} {:>12} {:>12}  {:<26} drops",
        "IID", "NF", "SERVICE", "STATE", "RX pps", "TX pps", "RX", "TX", "out/tonf/next/drop"
    );
    for n in &s.nfs {
        let act = |k: &str| n.actions.get(k).copied().unwrap_or(0);
        let acts = format!(
            "{}/{}/{}/{}",
            act("out"),
            act("tonf"),
            act("next"),
            act("drop")
        );
        let mut extra = drops_text(&n.drops);
        if n.mode == crate::RunMode::SharedCore {
            let _ = write!(extra, "  sleeps={} wakeups={}", n.sleeps, n.wakeups);
        }
        let _ = writeln!(
            o,
            "{:<4} {:<20} {:<16} {:<8} {:>9} {:>9} {:>12} {:>12}  {:<26} {}",
            n.instance,
            n.name,
            format!("{}:{}", n.service, n.service_name),
            n.state,
            rate(n.rx_pps),
            rate(n.tx_pps),
            n.rx,
            n.tx,
            acts,
            extra
        );
    }
    let _ = writeln!(o, "manager drops: {}", drops_text(&s.manager_drops));
    o
}
