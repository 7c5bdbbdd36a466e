//! `flow-tracker`: openNetVM's `flow_tracker` for Sluice. Keeps a table of the flows it sees
//! (both directions of a conversation are one flow) with packet and byte counts and first/last
//! seen times, expires idle flows, and prints the busiest flows every few seconds. Packets go
//! on unchanged to the next chain step or `--dest`.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use sluice_nf::wire::FlowKey;
use sluice_nf::{Action, Batch, Context, NetworkFunction, Packet};

/// Options of the flow tracker.
#[derive(clap::Args, Clone, Debug)]
pub struct Opts {
    /// Forget flows idle for this many seconds (0 = never)
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub idle_timeout: u64,

    /// Most flows tracked at once; packets of further new flows are counted as untracked
    #[arg(long, value_name = "N", default_value_t = 65536,
          value_parser = clap::value_parser!(u64).range(1..=u64::from(u32::MAX)))]
    pub max_flows: u64,

    /// Flows listed in each report, busiest (by bytes) first
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,

    /// Seconds between reports (0 = only at exit)
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub print_every: u64,

    /// Send packets to this service id (1-64) [default: the next step of their chain]
    #[arg(short = 'd', long, value_name = "SERVICE_ID",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub dest: Option<u16>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            idle_timeout: 30,
            max_flows: 65536,
            top: 5,
            print_every: 5,
            dest: None,
        }
    }
}

/// A small fast hasher for flow keys (FxHash's mixing; keys are not attacker-chosen secrets
/// here, and the table is bounded).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// What is known about one flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowStats {
    /// Packets in both directions.
    pub packets: u64,
    /// Frame bytes in both directions.
    pub bytes: u64,
    /// Time of the first packet (ns, the run loop's clock).
    pub first_ns: u64,
    /// Time of the latest packet.
    pub last_ns: u64,
    /// True if the first packet went in the direction of the stored (canonical) key.
    first_forward: bool,
}

/// The direction-independent key of a flow: the smaller of the key and its reverse.
/// Returns the key and whether `k` already was in that direction.
#[inline]
pub fn canonical(k: FlowKey) -> (FlowKey, bool) {
    let r = k.reversed();
    if r < k {
        (r, false)
    } else {
        (k, true)
    }
}

/// What [`FlowTable::observe`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Started a new flow.
    New,
    /// Counted in an existing flow.
    Existing,
    /// A new flow, but the table is full.
    Untracked,
    /// Not an IP packet (or malformed).
    NotIp,
}

/// Counters of the table itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounters {
    /// Flows created.
    pub created: u64,
    /// Flows expired.
    pub expired: u64,
    /// Packets of new flows not tracked because the table was full.
    pub untracked: u64,
    /// Frames that were not IP.
    pub not_ip: u64,
}

/// The flow table: bounded, keyed by the canonical 5-tuple.
pub struct FlowTable {
    map: HashMap<FlowKey, FlowStats, BuildHasherDefault<FxHasher>>,
    max: usize,
    /// Counters.
    pub counters: TableCounters,
}

impl FlowTable {
    /// A table for at most `max` flows (room for up to 2^20 of them is reserved at once so
    /// that inserting does not reallocate; beyond that the table grows on new flows).
    pub fn new(max: usize) -> FlowTable {
        FlowTable {
            map: HashMap::with_capacity_and_hasher(max.min(1 << 20), Default::default()),
            max,
            counters: TableCounters::default(),
        }
    }

    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True without flows.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Account one frame of `len` bytes seen at `now_ns`.
    #[inline]
    pub fn observe(&mut self, frame: &[u8], now_ns: u64) -> Observed {
        match FlowKey::parse(frame) {
            Some(k) => self.observe_key(k, frame.len(), now_ns),
            None => {
                self.counters.not_ip += 1;
                Observed::NotIp
            }
        }
    }

    /// Account one packet of flow `k` (either direction).
    #[inline]
    pub fn observe_key(&mut self, k: FlowKey, len: usize, now_ns: u64) -> Observed {
        let (key, fwd) = canonical(k);
        if let Some(s) = self.map.get_mut(&key) {
            s.packets += 1;
            s.bytes += len as u64;
            s.last_ns = now_ns;
            return Observed::Existing;
        }
        if self.map.len() >= self.max {
            self.counters.untracked += 1;
            return Observed::Untracked;
        }
        self.map.insert(
            key,
            FlowStats {
                packets: 1,
                bytes: len as u64,
                first_ns: now_ns,
                last_ns: now_ns,
                first_forward: fwd,
            },
        );
        self.counters.created += 1;
        Observed::New
    }

    /// The stats of flow `k` (either direction).
    pub fn get(&self, k: &FlowKey) -> Option<&FlowStats> {
        self.map.get(&canonical(*k).0)
    }

    /// Remove flows whose last packet is `idle_ns` or more before `now_ns`; returns how many.
    pub fn expire(&mut self, now_ns: u64, idle_ns: u64) -> usize {
        let before = self.map.len();
        self.map
            .retain(|_, s| now_ns.saturating_sub(s.last_ns) < idle_ns);
        let n = before - self.map.len();
        self.counters.expired += n as u64;
        n
    }

    /// The `n` flows with the most bytes, busiest first, each keyed in the direction of its
    /// first packet.
    pub fn top(&self, n: usize) -> Vec<(FlowKey, FlowStats)> {
        let mut best: Vec<(FlowKey, FlowStats)> = Vec::with_capacity(n + 1);
        if n == 0 {
            return best;
        }
        for (k, s) in &self.map {
            if best.len() == n && best[n - 1].1.bytes >= s.bytes {
                continue;
            }
            let at = best.partition_point(|(_, b)| b.bytes >= s.bytes);
            best.insert(at, (*k, *s));
            best.truncate(n);
        }
        for (k, s) in &mut best {
            if !s.first_forward {
                *k = k.reversed();
            }
        }
        best
    }
}

/// The flow-tracker NF.
pub struct FlowTracker {
    opts: Opts,
    table: FlowTable,
    action: Action,
    next_report_ns: u64,
}

/// Build the NF from its options.
pub fn build(opts: &Opts) -> anyhow::Result<FlowTracker> {
    let max = usize::try_from(opts.max_flows)?;
    anyhow::ensure!(max > 0, "--max-flows must be at least 1");
    Ok(FlowTracker {
        opts: opts.clone(),
        table: FlowTable::new(max),
        action: opts.dest.map_or(Action::Next, Action::ToService),
        next_report_ns: 0,
    })
}

impl FlowTracker {
    /// The table.
    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// The report: a counters line and the top flows, each line prefixed with `name`.
    pub fn report(&self, name: &str, now_ns: u64) -> String {
        let c = &self.table.counters;
        let mut s = format!(
            "{name}: {} flows (created {}, expired {}, untracked packets {}, non-IP {})",
            self.table.len(),
            c.created,
            c.expired,
            c.untracked,
            c.not_ip
        );
        for (i, (k, f)) in self.table.top(self.opts.top).iter().enumerate() {
            let secs = |ns: u64| ns as f64 / 1e9;
            s.push_str(&format!(
                "\n{name}: {:>3}. {k}  packets={} bytes={} age={:.1}s idle={:.1}s",
                i + 1,
                f.packets,
                f.bytes,
                secs(now_ns.saturating_sub(f.first_ns)),
                secs(now_ns.saturating_sub(f.last_ns)),
            ));
        }
        s
    }
}

impl NetworkFunction for FlowTracker {
    #[inline]
    fn handle(&mut self, pkt: &mut Packet<'_>, ctx: &Context) -> Action {
        self.table.observe(pkt.data(), ctx.now_ns());
        self.action
    }

    #[inline]
    fn handle_batch(&mut self, batch: &mut Batch<'_>, ctx: &Context) {
        let now = ctx.now_ns();
        for i in 0..batch.len() {
            self.table.observe(batch.packet(i).data(), now);
        }
        batch.set_all(self.action);
    }

    fn tick(&mut self, ctx: &Context) {
        if self.opts.idle_timeout > 0 {
            self.table.expire(
                ctx.now_ns(),
                self.opts.idle_timeout.saturating_mul(1_000_000_000),
            );
        }
        if self.opts.print_every == 0 {
            return;
        }
        if self.next_report_ns == 0 {
            self.next_report_ns =
                ctx.now_ns() + self.opts.print_every.saturating_mul(1_000_000_000);
        } else if ctx.now_ns() >= self.next_report_ns {
            self.next_report_ns =
                ctx.now_ns() + self.opts.print_every.saturating_mul(1_000_000_000);
            println!("{}", self.report(&ctx.name, ctx.now_ns()));
        }
    }

    fn stop(&mut self, ctx: &Context) {
        println!("{}", self.report(&ctx.name, ctx.now_ns()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use sluice_nf::wire::{write_arp_ipv4, write_udp_ipv4, ARP_REQUEST};

    #[derive(Parser)]
    struct W {
        #[command(flatten)]
        o: Opts,
    }

    const M: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const S: u64 = 1_000_000_000;

    fn udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        write_udp_ipv4(&mut b, M, M, src, dst, sp, dp, len).unwrap();
        b
    }

    #[test]
    fn both_directions_are_one_flow() {
        let mut t = FlowTable::new(10);
        let a = udp([10, 0, 0, 2], [10, 0, 0, 1], 5000, 53, 100);
        let b = udp([10, 0, 0, 1], [10, 0, 0, 2], 53, 5000, 60);
        assert_eq!(t.observe(&a, S), Observed::New);
        assert_eq!(t.observe(&b, 2 * S), Observed::Existing);
        assert_eq!(t.observe(&a, 3 * S), Observed::Existing);
        assert_eq!(t.len(), 1);
        let k = FlowKey::parse(&b).unwrap();
        let s = t.get(&k).unwrap();
        assert_eq!(
            (s.packets, s.bytes, s.first_ns, s.last_ns),
            (3, 260, S, 3 * S)
        );
        // shown in the direction of the first packet
        let top = t.top(5);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0.to_string(), "10.0.0.2:5000 -> 10.0.0.1:53 udp");
        let mut arp = vec![0u8; 42];
        write_arp_ipv4(&mut arp, ARP_REQUEST, M, [1, 1, 1, 1], [0; 6], [2, 2, 2, 2]).unwrap();
        assert_eq!(t.observe(&arp, S), Observed::NotIp);
        assert_eq!(t.counters.not_ip, 1);
    }

    #[test]
    fn bounded_expiry_and_top() {
        let mut t = FlowTable::new(3);
        for i in 0..3u16 {
            let f = udp(
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                1000 + i,
                80,
                64 + usize::from(i) * 100,
            );
            assert_eq!(t.observe(&f, S * u64::from(i + 1)), Observed::New);
        }
        let extra = udp([10, 0, 0, 1], [10, 0, 0, 2], 999, 80, 64);
        assert_eq!(t.observe(&extra, 4 * S), Observed::Untracked);
        assert_eq!(t.observe(&extra, 4 * S), Observed::Untracked);
        assert_eq!(t.counters.untracked, 2);
        assert_eq!(t.len(), 3);
        let top = t.top(2);
        assert_eq!(
            top.iter().map(|(k, _)| k.src_port).collect::<Vec<_>>(),
            [1002, 1001]
        );
        assert_eq!(t.top(0).len(), 0);
        assert_eq!(t.top(10).len(), 3);
        // flows last seen at 1 s and 2 s expire at 12 s with a 10 s timeout; the 3 s one stays
        assert_eq!(t.expire(12 * S, 10 * S), 2);
        assert_eq!(t.len(), 1);
        assert_eq!(t.counters.expired, 2);
        assert_eq!(t.observe(&extra, 12 * S), Observed::New);
        assert_eq!(t.counters.created, 4);
    }

    #[test]
    fn nf_report_and_options() {
        let o = W::try_parse_from(["ft", "--max-flows", "100", "--top", "1", "-d", "2"])
            .unwrap()
            .o;
        let mut nf = build(&o).unwrap();
        assert_eq!(nf.action, Action::ToService(2));
        let f = udp([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, 64);
        nf.table.observe(&f, S);
        nf.table.observe(&f, 2 * S);
        assert_eq!(
            nf.report("ft", 3 * S),
            "ft: 1 flows (created 1, expired 0, untracked packets 0, non-IP 0)\n\
             ft:   1. 10.0.0.1:1234 -> 10.0.0.2:80 udp  packets=2 bytes=128 age=2.0s idle=1.0s"
        );
        let d = W::try_parse_from(["ft"]).unwrap().o;
        assert_eq!(
            (d.idle_timeout, d.max_flows, d.top, d.print_every),
            (30, 65536, 5, 5)
        );
        assert_eq!(build(&d).unwrap().action, Action::Next);
        assert!(W::try_parse_from(["ft", "--max-flows", "0"]).is_err());
    }

    #[test]
    fn hasher_spreads_keys() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let b = BuildHasherDefault::<FxHasher>::default();
        let mut seen = std::collections::HashSet::new();
        for p in 0..1000u16 {
            let k = FlowKey::v4([10, 0, 0, 1], [10, 0, 0, 2], p, 80, 17);
            seen.insert(b.hash_one(k));
        }
        assert_eq!(seen.len(), 1000);
    }
}
