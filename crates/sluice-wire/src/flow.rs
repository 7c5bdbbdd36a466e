//! Flow keys (5-tuples) and deterministic symmetric flow hashing for the
//! data plane. Nothing here allocates except `FromStr` errors.

use core::fmt;
use core::str::FromStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ethernet::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN};
use crate::field::{array, be16};
use crate::ipv6::{find_upper_layer, IPV6_HEADER_LEN};
use crate::{WireError, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};

/// A flow 5-tuple. Addresses are 16 bytes; IPv4 addresses are stored
/// IPv4-mapped (`::ffff:a.b.c.d`) with `is_ipv6 == false`. Ports are 0 for
/// protocols other than TCP/UDP and for non-first fragments.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct FlowKey {
    /// Source address (IPv4-mapped for IPv4).
    pub src: [u8; 16],
    /// Destination address (IPv4-mapped for IPv4).
    pub dst: [u8; 16],
    /// Source port (0 if none).
    pub src_port: u16,
    /// Destination port (0 if none).
    pub dst_port: u16,
    /// IP protocol / upper-layer next header.
    pub proto: u8,
    /// True for IPv6 flows, false for IPv4.
    pub is_ipv6: bool,
}

/// Maps an IPv4 address to `::ffff:a.b.c.d`.
#[inline]
pub const fn ipv4_mapped(a: [u8; 4]) -> [u8; 16] {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[0], a[1], a[2], a[3],
    ]
}

/// Name of a protocol number as used in flow text (`tcp`, `udp`, `icmp`,
/// `icmpv6`), if it has one.
#[inline]
pub const fn proto_name(proto: u8) -> Option<&'static str> {
    match proto {
        IPPROTO_TCP => Some("tcp"),
        IPPROTO_UDP => Some("udp"),
        IPPROTO_ICMP => Some("icmp"),
        IPPROTO_ICMPV6 => Some("icmpv6"),
        _ => None,
    }
}

/// Parses a protocol name (case-insensitive `tcp`, `udp`, `icmp`,
/// `icmpv6`/`icmp6`) or a number 0..=255.
pub fn parse_proto(s: &str) -> Option<u8> {
    let s = s.trim();
    for (name, p) in [
        ("tcp", IPPROTO_TCP),
        ("udp", IPPROTO_UDP),
        ("icmp", IPPROTO_ICMP),
        ("icmpv6", IPPROTO_ICMPV6),
        ("icmp6", IPPROTO_ICMPV6),
    ] {
        if s.eq_ignore_ascii_case(name) {
            return Some(p);
        }
    }
    s.parse().ok()
}

// wyhash's default secrets.
const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

/// 64x64 -> 128-bit multiply folded to 64 bits (wyhash "mum").
#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// Mixes two canonically ordered endpoints and a tail word. The three
/// first multiplies are independent, so they run in parallel.
#[inline(always)]
fn mix(a_hi: u64, a_lo: u64, b_hi: u64, b_lo: u64, tail: u64) -> u32 {
    let x = mum(a_lo ^ P0, b_lo ^ P1);
    let y = mum(a_hi ^ P2, b_hi ^ P3);
    let z = mum(tail ^ P1, P0);
    let h = mum(x ^ P3, y ^ z ^ P2);
    (h ^ (h >> 32)) as u32
}

impl FlowKey {
    /// An IPv4 flow.
    #[inline]
    pub const fn v4(src: [u8; 4], dst: [u8; 4], src_port: u16, dst_port: u16, proto: u8) -> Self {
        FlowKey {
            src: ipv4_mapped(src),
            dst: ipv4_mapped(dst),
            src_port,
            dst_port,
            proto,
            is_ipv6: false,
        }
    }

    /// An IPv6 flow.
    #[inline]
    pub const fn v6(src: [u8; 16], dst: [u8; 16], src_port: u16, dst_port: u16, proto: u8) -> Self {
        FlowKey {
            src,
            dst,
            src_port,
            dst_port,
            proto,
            is_ipv6: true,
        }
    }

    /// A flow from `std::net` addresses; if either is IPv6 the key is IPv6
    /// (an IPv4 address then becomes IPv4-mapped).
    pub fn from_ips(src: IpAddr, dst: IpAddr, src_port: u16, dst_port: u16, proto: u8) -> Self {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                Self::v4(s.octets(), d.octets(), src_port, dst_port, proto)
            }
            _ => {
                let v6 = |a: IpAddr| match a {
                    IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                    IpAddr::V6(a) => a.octets(),
                };
                Self::v6(v6(src), v6(dst), src_port, dst_port, proto)
            }
        }
    }

    #[inline]
    fn ip(&self, a: [u8; 16]) -> IpAddr {
        if self.is_ipv6 {
            IpAddr::V6(Ipv6Addr::from(a))
        } else {
            IpAddr::V4(Ipv4Addr::new(a[12], a[13], a[14], a[15]))
        }
    }

    /// Source address.
    #[inline]
    pub fn src_ip(&self) -> IpAddr {
        self.ip(self.src)
    }

    /// Destination address.
    #[inline]
    pub fn dst_ip(&self) -> IpAddr {
        self.ip(self.dst)
    }

    /// The key of the opposite direction (addresses and ports swapped).
    #[inline]
    pub const fn reversed(&self) -> Self {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            proto: self.proto,
            is_ipv6: self.is_ipv6,
        }
    }

    /// A 32-bit hash equal for this key and its [`reversed`](Self::reversed)
    /// key; deterministic across processes and runs.
    #[inline]
    pub fn symmetric_hash(&self) -> u32 {
        let s = u128::from_be_bytes(self.src);
        let d = u128::from_be_bytes(self.dst);
        let (a, ap, b, bp) = if (s, self.src_port) <= (d, self.dst_port) {
            (s, self.src_port, d, self.dst_port)
        } else {
            (d, self.dst_port, s, self.src_port)
        };
        let tail = (u64::from(ap) << 32)
            | (u64::from(bp) << 16)
            | (u64::from(self.proto) << 8)
            | u64::from(self.is_ipv6);
        mix((a >> 64) as u64, a as u64, (b >> 64) as u64, b as u64, tail)
    }

    /// Extracts the flow of an Ethernet frame (up to two VLAN tags, IPv4 or
    /// IPv6 with extension headers skipped). `None` if the frame is not IP
    /// or is malformed; ports are 0 for non-TCP/UDP and non-first fragments.
    #[inline]
    pub fn parse(frame: &[u8]) -> Option<FlowKey> {
        if frame.len() < 14 {
            return None;
        }
        let mut type_pos = 12;
        let mut et = be16(frame, type_pos);
        for _ in 0..2 {
            if et != ETHERTYPE_VLAN && et != ETHERTYPE_QINQ {
                break;
            }
            type_pos += 4;
            if frame.len() < type_pos + 2 {
                return None;
            }
            et = be16(frame, type_pos);
        }
        let l3 = &frame[type_pos + 2..];
        match et {
            ETHERTYPE_IPV4 => parse_ipv4(l3),
            ETHERTYPE_IPV6 => parse_ipv6(l3),
            _ => None,
        }
    }
}

#[inline]
fn ports(proto: u8, l4: &[u8]) -> Option<(u16, u16)> {
    if proto == IPPROTO_TCP || proto == IPPROTO_UDP {
        if l4.len() < 4 {
            return None;
        }
        Some((be16(l4, 0), be16(l4, 2)))
    } else {
        Some((0, 0))
    }
}

#[inline]
fn parse_ipv4(b: &[u8]) -> Option<FlowKey> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return None;
    }
    let hl = usize::from(b[0] & 0x0f) * 4;
    let total = usize::from(be16(b, 2));
    if hl < 20 || total < hl || total > b.len() {
        return None;
    }
    let proto = b[9];
    let (sp, dp) = if be16(b, 6) & 0x1fff == 0 {
        ports(proto, &b[hl..total])?
    } else {
        (0, 0)
    };
    Some(FlowKey::v4(array(b, 12), array(b, 16), sp, dp, proto))
}

#[inline]
fn parse_ipv6(b: &[u8]) -> Option<FlowKey> {
    if b.len() < IPV6_HEADER_LEN || b[0] >> 4 != 6 {
        return None;
    }
    let end = IPV6_HEADER_LEN + usize::from(be16(b, 4));
    if end > b.len() {
        return None;
    }
    let payload = &b[IPV6_HEADER_LEN..end];
    let ul = find_upper_layer(b[6], payload).ok()?;
    let (sp, dp) = if ul.has_l4_header() {
        ports(ul.proto, payload.get(ul.offset..)?)?
    } else {
        (0, 0)
    };
    Some(FlowKey::v6(array(b, 8), array(b, 24), sp, dp, ul.proto))
}

/// Symmetric flow hash of a frame: [`FlowKey::symmetric_hash`] of its
/// 5-tuple when it is IP, else a symmetric hash of the two MAC addresses and
/// the first EtherType; 0 for frames shorter than 14 bytes. Never panics.
#[inline]
pub fn flow_hash(frame: &[u8]) -> u32 {
    if let Some(k) = FlowKey::parse(frame) {
        return k.symmetric_hash();
    }
    if frame.len() < 14 {
        return 0;
    }
    let mac = |o: usize| {
        let m: [u8; 6] = array(frame, o);
        u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
    };
    let (d, s) = (mac(0), mac(6));
    let (a, b) = if d <= s { (d, s) } else { (s, d) };
    mix(0, a, 0, b, (1 << 63) | u64::from(be16(frame, 12)))
}

fn fmt_endpoint(f: &mut fmt::Formatter<'_>, ip: IpAddr, port: u16, with_port: bool) -> fmt::Result {
    match (ip, with_port) {
        (IpAddr::V4(a), true) => write!(f, "{a}:{port}"),
        (IpAddr::V4(a), false) => write!(f, "{a}"),
        (IpAddr::V6(a), true) => write!(f, "[{a}]:{port}"),
        (IpAddr::V6(a), false) => write!(f, "[{a}]"),
    }
}

impl fmt::Display for FlowKey {
    /// `10.0.0.1:1234 -> 10.0.0.2:80 udp`; IPv6 addresses in brackets;
    /// ports left out when both are 0; unnamed protocols as numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_ports = self.src_port != 0 || self.dst_port != 0;
        fmt_endpoint(f, self.src_ip(), self.src_port, with_ports)?;
        f.write_str(" -> ")?;
        fmt_endpoint(f, self.dst_ip(), self.dst_port, with_ports)?;
        match proto_name(self.proto) {
            Some(n) => write!(f, " {n}"),
            None => write!(f, " {}", self.proto),
        }
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .map_err(|_| format!("bad port `{p}` (expected 0-65535)"))
}

fn parse_endpoint(t: &str) -> Result<(IpAddr, u16), String> {
    if let Some(rest) = t.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("missing `]` in `{t}`"))?;
        let ip: Ipv6Addr = addr
            .parse()
            .map_err(|_| format!("bad IPv6 address `{addr}`"))?;
        let port = if after.is_empty() {
            0
        } else {
            let p = after
                .strip_prefix(':')
                .ok_or_else(|| format!("expected `:port` after `]`, found `{after}`"))?;
            parse_port(p)?
        };
        return Ok((IpAddr::V6(ip), port));
    }
    match t.split_once(':') {
        None => {
            let ip: Ipv4Addr = t.parse().map_err(|_| format!("bad IPv4 address `{t}`"))?;
            Ok((IpAddr::V4(ip), 0))
        }
        Some((addr, port)) if !port.contains(':') => {
            let ip: Ipv4Addr = addr
                .parse()
                .map_err(|_| format!("bad IPv4 address `{addr}`"))?;
            Ok((IpAddr::V4(ip), parse_port(port)?))
        }
        Some(_) => {
            let ip: Ipv6Addr = t
                .parse()
                .map_err(|_| format!("bad IPv6 address `{t}` (write `[addr]:port` for a port)"))?;
            Ok((IpAddr::V6(ip), 0))
        }
    }
}

impl FromStr for FlowKey {
    type Err = WireError;

    /// Parses `SRC -> DST PROTO` where an endpoint is `a.b.c.d[:port]` or
    /// `[v6addr][:port]` (a bare IPv6 address without port is accepted too)
    /// and PROTO is `tcp`, `udp`, `icmp`, `icmpv6` or a number. Missing
    /// ports are 0.
    fn from_str(s: &str) -> Result<Self, WireError> {
        let err = |reason: String| WireError::InvalidFlow {
            input: s.to_string(),
            reason,
        };
        let (left, right) = s
            .split_once("->")
            .ok_or_else(|| err("missing `->` between source and destination".into()))?;
        let src_tok = left.trim();
        if src_tok.is_empty() {
            return Err(err("missing source address".into()));
        }
        if let Some(extra) = src_tok.split_whitespace().nth(1) {
            return Err(err(format!("unexpected `{extra}` in source")));
        }
        let mut it = right.split_whitespace();
        let dst_tok = it
            .next()
            .ok_or_else(|| err("missing destination address".into()))?;
        let proto_tok = it
            .next()
            .ok_or_else(|| err("missing protocol (tcp, udp, icmp, icmpv6 or a number)".into()))?;
        if let Some(extra) = it.next() {
            return Err(err(format!("unexpected trailing text `{extra}`")));
        }
        let (sip, sport) = parse_endpoint(src_tok).map_err(|r| err(format!("source: {r}")))?;
        let (dip, dport) = parse_endpoint(dst_tok).map_err(|r| err(format!("destination: {r}")))?;
        let proto = parse_proto(proto_tok).ok_or_else(|| {
            err(format!(
                "unknown protocol `{proto_tok}` (expected tcp, udp, icmp, icmpv6 or 0-255)"
            ))
        })?;
        match (sip, dip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                Ok(FlowKey::v4(a.octets(), b.octets(), sport, dport, proto))
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                Ok(FlowKey::v6(a.octets(), b.octets(), sport, dport, proto))
            }
            _ => Err(err(
                "source and destination are of different IP versions".into()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{ARP_REQUEST, ICMP4_ECHO, IPV4_UDP, IPV6_EXT_UDP, IPV6_TCP, QINQ_UDP};

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn parse_frames() {
        let k = FlowKey::parse(&IPV4_UDP).unwrap();
        assert_eq!(
            k,
            FlowKey::v4([192, 168, 1, 10], [192, 168, 1, 1], 53000, 53, IPPROTO_UDP)
        );
        assert_eq!(k.to_string(), "192.168.1.10:53000 -> 192.168.1.1:53 udp");

        let k = FlowKey::parse(&QINQ_UDP).unwrap();
        assert_eq!(k, FlowKey::v4([10, 1, 1, 1], [10, 2, 2, 2], 1111, 2222, 17));

        let k = FlowKey::parse(&IPV6_TCP).unwrap();
        assert!(k.is_ipv6);
        assert_eq!(k.to_string(), "[2001:db8::1]:40000 -> [2001:db8::2]:80 tcp");

        let k = FlowKey::parse(&IPV6_EXT_UDP).unwrap();
        assert_eq!(k.to_string(), "[2001:db8::a]:7 -> [2001:db8::b]:9 udp");

        let k = FlowKey::parse(&ICMP4_ECHO).unwrap();
        assert_eq!(k.to_string(), "10.0.0.1 -> 10.0.0.2 icmp");

        assert_eq!(FlowKey::parse(&ARP_REQUEST), None);
        assert_eq!(FlowKey::parse(&IPV4_UDP[..20]), None);
    }

    #[test]
    fn fragments_have_no_ports() {
        let mut f = IPV4_UDP;
        f[20] = 0x00;
        f[21] = 0x10; // offset 16 * 8
        let k = FlowKey::parse(&f).unwrap();
        assert_eq!((k.src_port, k.dst_port, k.proto), (0, 0, 17));
        f[21] = 0;
        f[20] = 0x20; // first fragment (MF): ports present
        assert_eq!(FlowKey::parse(&f).unwrap().src_port, 53000);

        let mut g = IPV6_EXT_UDP;
        g[14 + 40 + 24 + 2] = 0x05;
        g[14 + 40 + 24 + 3] = 0xc8;
        let k = FlowKey::parse(&g).unwrap();
        assert_eq!((k.src_port, k.dst_port, k.proto), (0, 0, 17));
    }

    #[test]
    fn text_round_trip() {
        for s in [
            "10.0.0.1:1234 -> 10.0.0.2:80 udp",
            "[2001:db8::1]:5 -> [::1]:6 tcp",
            "10.0.0.1 -> 10.0.0.2 icmp",
            "[fe80::1] -> [fe80::2] icmpv6",
            "1.2.3.4:1 -> 5.6.7.8:2 132",
        ] {
            let k: FlowKey = s.parse().unwrap();
            assert_eq!(k.to_string(), s);
        }
        let k: FlowKey = "10.0.0.1:1234->10.0.0.2:80   TCP".parse().unwrap();
        assert_eq!(k, FlowKey::v4([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, 6));
        let k: FlowKey = "2001:db8::1 -> 2001:db8::2 17".parse().unwrap();
        assert_eq!(k.to_string(), "[2001:db8::1] -> [2001:db8::2] udp");
        let k = FlowKey::from_ips("10.0.0.1".parse().unwrap(), "::1".parse().unwrap(), 1, 2, 6);
        assert!(k.is_ipv6);
        assert_eq!(k.to_string(), "[::ffff:10.0.0.1]:1 -> [::1]:2 tcp");
        assert_eq!(k.src_ip(), "::ffff:10.0.0.1".parse::<IpAddr>().unwrap());
        let k = FlowKey::from_ips(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.9".parse().unwrap(),
            1,
            2,
            6,
        );
        assert_eq!(k.dst_ip(), "10.0.0.9".parse::<IpAddr>().unwrap());
        assert!(!k.is_ipv6);
    }

    #[test]
    fn text_errors() {
        let cases = [
            ("10.0.0.1:1 10.0.0.2:2 udp", "missing `->`"),
            (" -> 10.0.0.2:2 udp", "missing source address"),
            ("10.0.0.1:1 ->", "missing destination address"),
            ("10.0.0.1:1 -> 10.0.0.2:2", "missing protocol"),
            (
                "10.0.0.1:1 -> 10.0.0.2:2 udp x",
                "unexpected trailing text `x`",
            ),
            ("10.0.0.1:1 -> 10.0.0.2:2 sctp", "unknown protocol `sctp`"),
            ("10.0.0.1:1 -> 10.0.0.2:2 256", "unknown protocol `256`"),
            (
                "10.0.0.256:1 -> 10.0.0.2:2 udp",
                "source: bad IPv4 address `10.0.0.256`",
            ),
            (
                "10.0.0.1:1 -> 10.0.0.2:70000 udp",
                "destination: bad port `70000`",
            ),
            ("[::1:1 -> [::2]:2 udp", "source: missing `]`"),
            ("[::1]x -> [::2]:2 udp", "expected `:port` after `]`"),
            ("[::g]:1 -> [::2]:2 udp", "bad IPv6 address `::g`"),
            ("10.0.0.1:1 -> [::2]:2 udp", "different IP versions"),
            ("a b -> 10.0.0.2 udp", "unexpected `b` in source"),
        ];
        for (input, want) in cases {
            let e = input.parse::<FlowKey>().unwrap_err().to_string();
            assert!(e.contains(want), "{input:?}: {e}");
            assert!(e.starts_with("invalid flow"), "{e}");
        }
    }

    #[test]
    fn symmetric_and_deterministic() {
        let k = FlowKey::v4([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80, 17);
        assert_eq!(k.symmetric_hash(), k.reversed().symmetric_hash());
        assert_eq!(k.reversed().reversed(), k);
        assert_ne!(
            k.symmetric_hash(),
            FlowKey { proto: 6, ..k }.symmetric_hash()
        );
        // Fixed value: the hash must not change between runs or releases
        // without notice (flows are pinned to NF instances by it).
        assert_eq!(k.symmetric_hash(), 0x604e_b5f5);
        let mut r = XorShift(0x1234_5678_9abc_def1);
        for _ in 0..10_000 {
            let (a, b) = (r.next(), r.next());
            let k = if a & 1 == 0 {
                FlowKey::v4(
                    (a as u32).to_be_bytes(),
                    (b as u32).to_be_bytes(),
                    (a >> 32) as u16,
                    (b >> 32) as u16,
                    6,
                )
            } else {
                let mut s = [0u8; 16];
                s[..8].copy_from_slice(&a.to_be_bytes());
                let mut d = [0u8; 16];
                d[8..].copy_from_slice(&b.to_be_bytes());
                FlowKey::v6(s, d, (a >> 40) as u16, (b >> 40) as u16, 17)
            };
            assert_eq!(k.symmetric_hash(), k.reversed().symmetric_hash());
        }
        // frames: both directions hash equal
        let mut f = IPV4_UDP;
        let fwd = flow_hash(&f);
        f[26..30].copy_from_slice(&[192, 168, 1, 1]);
        f[30..34].copy_from_slice(&[192, 168, 1, 10]);
        f[34..36].copy_from_slice(&53u16.to_be_bytes());
        f[36..38].copy_from_slice(&53000u16.to_be_bytes());
        crate::swap_macs(&mut f);
        assert_eq!(flow_hash(&f), fwd);
        let mut a = ARP_REQUEST;
        let h = flow_hash(&a);
        crate::swap_macs(&mut a);
        assert_eq!(flow_hash(&a), h);
        assert_eq!(flow_hash(&[1, 2, 3]), 0);
    }

    fn buckets(keys: impl Iterator<Item = FlowKey>) -> [usize; 3] {
        let mut b = [0usize; 3];
        for k in keys {
            b[(k.symmetric_hash() % 3) as usize] += 1;
        }
        b
    }

    fn assert_balanced(b: [usize; 3], what: &str) {
        let n: usize = b.iter().sum();
        for c in b {
            let pct = c as f64 * 100.0 / n as f64;
            eprintln!("{what}: {pct:.2}%");
            assert!((30.0..=37.0).contains(&pct), "{what}: {b:?}");
        }
    }

    #[test]
    fn distribution_into_three_buckets() {
        let mut r = XorShift(0xdead_beef_cafe_f00d);
        let random = (0..100_000).map(|_| {
            let (a, b) = (r.next(), r.next());
            FlowKey::v4(
                (a as u32).to_be_bytes(),
                (b as u32).to_be_bytes(),
                (a >> 32) as u16,
                (b >> 32) as u16,
                17,
            )
        });
        assert_balanced(buckets(random), "random IPv4");
        // Structured traffic: one server, sequential client ports.
        let seq = (0..100_000u32)
            .map(|i| FlowKey::v4([10, 0, (i >> 16) as u8, 1], [10, 0, 0, 2], i as u16, 80, 6));
        assert_balanced(buckets(seq), "sequential ports");
        // Sequential addresses, fixed ports.
        let addrs = (0..100_000u32).map(|i| {
            FlowKey::v4(
                (0x0a00_0000 + i).to_be_bytes(),
                [10, 255, 0, 1],
                5000,
                5000,
                17,
            )
        });
        assert_balanced(buckets(addrs), "sequential addresses");
        let v6 = (0..100_000u32).map(|i| {
            let mut s = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            s[12..].copy_from_slice(&i.to_be_bytes());
            FlowKey::v6(s, [0xfe; 16], 443, 40000, 6)
        });
        assert_balanced(buckets(v6), "sequential IPv6");
        // Power-of-two masks (low bits) are balanced too.
        let mut b8 = [0usize; 8];
        for i in 0..80_000u32 {
            let k = FlowKey::v4([192, 168, 0, 1], [10, 0, 0, 2], i as u16, 443, 6);
            b8[(k.symmetric_hash() & 7) as usize] += 1;
        }
        assert!(b8.iter().all(|&c| (9_000..11_000).contains(&c)), "{b8:?}");
    }

    /// Rough speed check: `cargo test --release -p sluice-wire -- --ignored`.
    #[test]
    #[ignore]
    fn speed() {
        let n = 10_000_000u32;
        let t = std::time::Instant::now();
        let mut acc = 0u32;
        for i in 0..n {
            let f = FlowKey::v4(i.to_be_bytes(), [10, 0, 0, 2], i as u16, 80, 6);
            acc = acc.wrapping_add(std::hint::black_box(f).symmetric_hash());
        }
        eprintln!(
            "symmetric_hash: {:.2} ns",
            t.elapsed().as_nanos() as f64 / f64::from(n)
        );
        let frames = [
            &IPV4_UDP[..],
            &QINQ_UDP[..],
            &IPV6_TCP[..],
            &IPV6_EXT_UDP[..],
        ];
        let t = std::time::Instant::now();
        for i in 0..n {
            acc = acc.wrapping_add(flow_hash(std::hint::black_box(frames[(i & 3) as usize])));
        }
        eprintln!(
            "flow_hash(frame): {:.2} ns",
            t.elapsed().as_nanos() as f64 / f64::from(n)
        );
        let t = std::time::Instant::now();
        for i in 0..n {
            let h = crate::parse(std::hint::black_box(frames[(i & 3) as usize])).unwrap();
            acc = acc.wrapping_add(h.l3_end as u32);
        }
        eprintln!(
            "parse(frame): {:.2} ns",
            t.elapsed().as_nanos() as f64 / f64::from(n)
        );
        assert_ne!(acc, 1);
    }
}
