//! `nat`: IPv4 source NAT (NAPT) for Sluice.
//!
//! Packets arriving from `--inside-port` are outbound: their source address becomes
//! `--public-ip` and their TCP/UDP source port (or ICMP echo identifier) a public port from
//! `--port-range`, one per (inside address, inside port, protocol). Other packets are inbound:
//! those addressed to the public address and a mapped public port are rewritten back to the
//! inside address and port. Checksums are updated incrementally (RFC 1624). Mappings idle for
//! `--idle-timeout` seconds are released.
//!
//! NAT changes the 5-tuple, so after translating the NF sets each packet's flow hash to the
//! hash of the *public-side* 5-tuple (public address:port <-> remote): both directions of a
//! translated flow then carry the same hash and reach the same instance of any service after
//! the NAT.

#![warn(missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;

use sluice_nf::wire::icmp::{ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST};
use sluice_nf::wire::{flow_hash, parse, update_u16, update_u32, L3Kind, L4Kind};
use sluice_nf::{Action, Batch, Context, NetworkFunction, Packet};

/// An inclusive range of public ports, `LO-HI`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub lo: u16,
    /// Last port.
    pub hi: u16,
}

impl PortRange {
    /// Ports in the range.
    pub fn len(&self) -> usize {
        usize::from(self.hi - self.lo) + 1
    }

    /// Never true (a range has at least one port); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.lo, self.hi)
    }
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<PortRange, String> {
        let bad = || format!("{s:?} is not a port range like 20000-29999 (ports 1-65535)");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let lo: u16 = a.trim().parse().map_err(|_| bad())?;
        let hi: u16 = b.trim().parse().map_err(|_| bad())?;
        if lo == 0 || lo > hi {
            return Err(bad());
        }
        Ok(PortRange { lo, hi })
    }
}

/// Options of the NAT.
#[derive(clap::Args, Clone, Debug)]
pub struct Opts {
    /// Port of the inside network: packets arriving from it are outbound, all others inbound
    #[arg(long, value_name = "PORT")]
    pub inside_port: u16,

    /// Public IPv4 address written as the source of outbound packets
    #[arg(long, value_name = "A.B.C.D")]
    pub public_ip: Ipv4Addr,

    /// Public ports (and ICMP echo identifiers) to map inside endpoints to
    ///
    /// Each protocol (TCP, UDP, ICMP) has the whole range, so at most that many mappings of
    /// each exist at once; when none is free the packet is dropped and counted as
    /// nat_table_full.
    #[arg(long, value_name = "LO-HI", default_value = "20000-29999")]
    pub port_range: PortRange,

    /// Release mappings idle for this many seconds (0 = never)
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub idle_timeout: u64,

    /// Send translated packets to this service id (1-64) [default: the next step of their
    /// chain]
    #[arg(short = 'd', long, value_name = "SERVICE_ID",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub dest: Option<u16>,
}

/// Protocols with their own public port space, in pool order.
const PROTO_NAMES: [&str; 3] = ["tcp", "udp", "icmp"];
const TCP: usize = 0;
const UDP: usize = 1;
const ICMP: usize = 2;

/// A u64 key hasher (splitmix64's finaliser): keys are packed (protocol, address, port).
#[derive(Default, Clone, Copy)]
struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[inline]
fn out_key(proto: usize, ip: [u8; 4], port: u16) -> u64 {
    (proto as u64) << 48 | u64::from(u32::from_be_bytes(ip)) << 16 | u64::from(port)
}

/// One public port of one protocol.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    inside_ip: [u8; 4],
    inside_port: u16,
    used: bool,
    last_ns: u64,
}

/// The public ports of one protocol.
struct Pool {
    slots: Vec<Slot>,
    /// Free offsets, oldest released first (so a port is not reused at once).
    free: VecDeque<u16>,
    used: usize,
}

impl Pool {
    fn new(n: usize) -> Pool {
        Pool {
            slots: vec![Slot::default(); n],
            free: (0..n).map(|i| i as u16).collect(),
            used: 0,
        }
    }
}

/// What the NAT counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatCounters {
    /// Outbound packets translated.
    pub outbound: u64,
    /// Inbound packets translated.
    pub inbound: u64,
    /// Mappings created.
    pub created: u64,
    /// Mappings released after the idle timeout.
    pub expired: u64,
    /// Outbound packets dropped because no public port was free.
    pub nat_table_full: u64,
    /// Inbound packets to the public address without a mapping (dropped).
    pub inbound_unknown: u64,
    /// Inbound IPv4 packets not addressed to the public address (dropped).
    pub inbound_not_public: u64,
    /// IPv4 packets that cannot be translated: fragments, other protocols, ICMP other than
    /// echo, malformed headers (dropped).
    pub untranslatable: u64,
    /// Frames that are not IPv4 (ARP, IPv6, ...), passed on unchanged.
    pub passed: u64,
}

impl fmt::Display for NatCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out={} in={} created={} expired={} nat_table_full={} inbound_unknown={} \
             inbound_not_public={} untranslatable={} passed={}",
            self.outbound,
            self.inbound,
            self.created,
            self.expired,
            self.nat_table_full,
            self.inbound_unknown,
            self.inbound_not_public,
            self.untranslatable,
            self.passed
        )
    }
}

/// What [`Nat::translate`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Rewritten; the packet's flow hash should become `hash`.
    Translated {
        /// Hash of the public-side 5-tuple.
        hash: u32,
    },
    /// Not IPv4: passed on unchanged.
    Passed,
    /// To be dropped (the reason was counted).
    Drop,
}

/// The NAT NF.
pub struct Nat {
    inside_port: u16,
    public_ip: [u8; 4],
    range: PortRange,
    idle_ns: u64,
    action: Action,
    pools: [Pool; 3],
    out: HashMap<u64, u16, BuildHasherDefault<U64Hasher>>,
    counters: NatCounters,
    reported: NatCounters,
}

/// Build the NF from its options.
pub fn build(opts: &Opts) -> anyhow::Result<Nat> {
    let n = opts.port_range.len();
    let out = HashMap::with_capacity_and_hasher(3 * n, Default::default());
    Ok(Nat {
        inside_port: opts.inside_port,
        public_ip: opts.public_ip.octets(),
        range: opts.port_range,
        idle_ns: opts.idle_timeout.saturating_mul(1_000_000_000),
        action: opts.dest.map_or(Action::Next, Action::ToService),
        pools: [Pool::new(n), Pool::new(n), Pool::new(n)],
        out,
        counters: NatCounters::default(),
        reported: NatCounters::default(),
    })
}

/// Add 0xffff for a UDP checksum that came out as 0 (0 means "no checksum").
#[inline]
fn udp_csum(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

impl Nat {
    /// Counters so far.
    pub fn counters(&self) -> NatCounters {
        self.counters
    }

    /// Mappings in use, per protocol (tcp, udp, icmp).
    pub fn mappings(&self) -> [usize; 3] {
        [self.pools[0].used, self.pools[1].used, self.pools[2].used]
    }

    /// The public port of an inside endpoint, if mapped (`proto` = 6, 17 or 1).
    pub fn lookup(&self, proto: u8, inside_ip: Ipv4Addr, inside_port: u16) -> Option<u16> {
        let p = match proto {
            6 => TCP,
            17 => UDP,
            1 => ICMP,
            _ => return None,
        };
        let off = self.out.get(&out_key(p, inside_ip.octets(), inside_port))?;
        Some(self.range.lo + off)
    }

    /// Find or make the mapping of an inside endpoint; its offset in the range.
    #[inline]
    fn map_out(&mut self, p: usize, ip: [u8; 4], port: u16, now_ns: u64) -> Option<u16> {
        let key = out_key(p, ip, port);
        if let Some(&off) = self.out.get(&key) {
            self.pools[p].slots[usize::from(off)].last_ns = now_ns;
            return Some(off);
        }
        let pool = &mut self.pools[p];
        let off = pool.free.pop_front()?;
        pool.slots[usize::from(off)] = Slot {
            inside_ip: ip,
            inside_port: port,
            used: true,
            last_ns: now_ns,
        };
        pool.used += 1;
        self.out.insert(key, off);
        self.counters.created += 1;
        Some(off)
    }

    /// Translate one frame that arrived on `in_port`, in place.
    pub fn translate(&mut self, frame: &mut [u8], in_port: u16, now_ns: u64) -> Outcome {
        let Ok(h) = parse(frame) else {
            self.counters.untranslatable += 1;
            return Outcome::Drop;
        };
        if h.l3 != L3Kind::Ipv4 {
            self.counters.passed += 1;
            return Outcome::Passed;
        }
        let Some(ip) = h.ipv4(frame) else {
            self.counters.untranslatable += 1;
            return Outcome::Drop;
        };
        let (src, dst) = (ip.src(), ip.dst());
        let outbound = in_port == self.inside_port;
        if !outbound && dst != self.public_ip {
            self.counters.inbound_not_public += 1;
            return Outcome::Drop;
        }
        // The protocol pool and the inside-side port or identifier.
        let (p, port) = match (h.is_fragment, h.l4) {
            (false, L4Kind::Tcp) => match h.tcp(frame) {
                Some(t) => (TCP, if outbound { t.src_port() } else { t.dst_port() }),
                None => (usize::MAX, 0),
            },
            (false, L4Kind::Udp) => match h.udp(frame) {
                Some(u) => (UDP, if outbound { u.src_port() } else { u.dst_port() }),
                None => (usize::MAX, 0),
            },
            (false, L4Kind::Icmp) => match h.icmp(frame) {
                Some(i) if outbound && i.msg_type() == ICMP_ECHO_REQUEST => (ICMP, i.identifier()),
                Some(i) if !outbound && i.msg_type() == ICMP_ECHO_REPLY => (ICMP, i.identifier()),
                _ => (usize::MAX, 0),
            },
            _ => (usize::MAX, 0),
        };
        if p == usize::MAX {
            self.counters.untranslatable += 1;
            return Outcome::Drop;
        }
        if outbound {
            let Some(off) = self.map_out(p, src, port, now_ns) else {
                self.counters.nat_table_full += 1;
                return Outcome::Drop;
            };
            let public_port = self.range.lo + off;
            rewrite(frame, &h, p, true, self.public_ip, public_port);
            self.counters.outbound += 1;
            Outcome::Translated {
                hash: flow_hash(frame),
            }
        } else {
            let slot = port
                .checked_sub(self.range.lo)
                .filter(|_| port <= self.range.hi)
                .and_then(|off| self.pools[p].slots.get_mut(usize::from(off)))
                .filter(|s| s.used);
            let Some(slot) = slot else {
                self.counters.inbound_unknown += 1;
                return Outcome::Drop;
            };
            slot.last_ns = now_ns;
            let (inside_ip, inside_port) = (slot.inside_ip, slot.inside_port);
            let hash = flow_hash(frame);
            rewrite(frame, &h, p, false, inside_ip, inside_port);
            self.counters.inbound += 1;
            Outcome::Translated { hash }
        }
    }

    /// Release mappings idle for the timeout; returns how many.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        if self.idle_ns == 0 {
            return 0;
        }
        let mut n = 0;
        for (p, pool) in self.pools.iter_mut().enumerate() {
            if pool.used == 0 {
                continue;
            }
            for (off, s) in pool.slots.iter_mut().enumerate() {
                if s.used && now_ns.saturating_sub(s.last_ns) >= self.idle_ns {
                    s.used = false;
                    self.out.remove(&out_key(p, s.inside_ip, s.inside_port));
                    pool.free.push_back(off as u16);
                    pool.used -= 1;
                    n += 1;
                }
            }
        }
        self.counters.expired += n as u64;
        n
    }

    fn status(&self) -> String {
        let m = self.mappings();
        format!(
            "mappings tcp={} udp={} icmp={} (of {} each) {}",
            m[0],
            m[1],
            m[2],
            self.range.len(),
            self.counters
        )
    }
}

/// Rewrite the source (outbound) or destination (inbound) address and port/identifier of an
/// IPv4 frame parsed as `h`, updating the IPv4 and L4 checksums incrementally.
fn rewrite(
    frame: &mut [u8],
    h: &sluice_nf::wire::Headers,
    p: usize,
    outbound: bool,
    new_ip: [u8; 4],
    new_port: u16,
) {
    let old_ip = {
        let Some(mut ip) = h.ipv4_mut(frame) else {
            return;
        };
        let old = if outbound { ip.src() } else { ip.dst() };
        if outbound {
            ip.set_src(new_ip);
        } else {
            ip.set_dst(new_ip);
        }
        let c = update_u32(
            ip.checksum(),
            u32::from_be_bytes(old),
            u32::from_be_bytes(new_ip),
        );
        ip.set_checksum(c);
        old
    };
    let (o, n) = (u32::from_be_bytes(old_ip), u32::from_be_bytes(new_ip));
    match p {
        TCP => {
            if let Some(mut t) = h.tcp_mut(frame) {
                let old_port = if outbound { t.src_port() } else { t.dst_port() };
                if outbound {
                    t.set_src_port(new_port);
                } else {
                    t.set_dst_port(new_port);
                }
                let c = update_u16(update_u32(t.checksum(), o, n), old_port, new_port);
                t.set_checksum(c);
            }
        }
        UDP => {
            if let Some(mut u) = h.udp_mut(frame) {
                let old_port = if outbound { u.src_port() } else { u.dst_port() };
                if outbound {
                    u.set_src_port(new_port);
                } else {
                    u.set_dst_port(new_port);
                }
                let c = u.checksum();
                if c != 0 {
                    u.set_checksum(udp_csum(update_u16(
                        update_u32(c, o, n),
                        old_port,
                        new_port,
                    )));
                }
            }
        }
        _ => {
            if let Some(mut i) = h.icmp_mut(frame) {
                let old_id = i.identifier();
                i.set_identifier(new_port);
                let c = update_u16(i.checksum(), old_id, new_port);
                i.set_checksum(c);
            }
        }
    }
}

impl NetworkFunction for Nat {
    #[inline]
    fn handle(&mut self, pkt: &mut Packet<'_>, ctx: &Context) -> Action {
        let in_port = pkt.in_port();
        match self.translate(pkt.data_mut(), in_port, ctx.now_ns()) {
            Outcome::Translated { hash } => {
                pkt.set_flow_hash(hash);
                self.action
            }
            Outcome::Passed => self.action,
            Outcome::Drop => Action::Drop,
        }
    }

    #[inline]
    fn handle_batch(&mut self, batch: &mut Batch<'_>, ctx: &Context) {
        for i in 0..batch.len() {
            let a = self.handle(&mut batch.packet(i), ctx);
            batch.set_action(i, a);
        }
    }

    fn start(&mut self, start: &mut sluice_nf::Start<'_>) -> Result<(), sluice_nf::NfError> {
        tracing::info!(
            nf = %start.ctx().name,
            inside_port = self.inside_port,
            public_ip = %Ipv4Addr::from(self.public_ip),
            ports = %self.range,
            "nat ready ({})",
            PROTO_NAMES.join("/")
        );
        Ok(())
    }

    fn tick(&mut self, ctx: &Context) {
        self.expire(ctx.now_ns());
        if self.counters != self.reported {
            self.reported = self.counters;
            println!("{}: {}", ctx.name, self.status());
        }
    }

    fn stop(&mut self, ctx: &Context) {
        println!("{}: {}", ctx.name, self.status());
    }
}

#[cfg(test)]
mod tests;
