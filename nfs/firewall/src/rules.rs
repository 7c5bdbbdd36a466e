//! The rule file: parsing, checking and first-match evaluation.
//!
//! ```toml
//! default = "deny"            # verdict when no rule matches: "allow" or "deny" (default deny)
//!
//! [[rule]]
//! action = "allow"            # required: "allow" or "deny"
//! name = "web"                # optional label for the statistics
//! src = "10.0.0.0/8"          # optional: IPv4 or IPv6 prefix (or a single address)
//! dst = "192.168.1.10"        # optional, same family as src
//! proto = "tcp"               # optional: "tcp", "udp", "icmp", "icmpv6" or a number 0-255
//! dst_port = 80               # optional: one port ...
//! # dst_ports = "1000-2000"   # ... or a range (not both)
//! # src_port / src_ports      # likewise for the source port
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sluice_nf::wire::flow::{parse_proto, proto_name};
use sluice_nf::wire::{parse, L3Kind, L4Kind, IPPROTO_TCP, IPPROTO_UDP};

/// What happens to a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through.
    Allow,
    /// Drop it.
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        })
    }
}

/// Address family of a prefix or packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (addresses held in the low 32 bits).
    V4,
    /// IPv6.
    V6,
}

/// An address prefix. IPv4 addresses are held in the low 32 bits of `addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// Network address (host bits zero).
    pub addr: u128,
    /// Prefix length.
    pub len: u8,
    /// Family.
    pub family: Family,
}

impl Cidr {
    /// Mask of the prefix over the family's bits.
    pub fn mask(&self) -> u128 {
        let bits = match self.family {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        if self.len == 0 {
            0
        } else {
            (u128::MAX >> (128 - bits)) & !((1u128 << (bits - u32::from(self.len))) - 1)
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    /// `10.0.0.0/8`, `2001:db8::/32`, or one address (`10.0.0.1` = `/32`, IPv6 `/128`).
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 or IPv6 address (in {s:?})"))?;
        let (addr, family, max) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), Family::V4, 32u8),
            IpAddr::V6(v6) => (u128::from(v6), Family::V6, 128u8),
        };
        let len = match len {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("prefix length `{l}` must be 0 to {max} (in {s:?})")),
            },
        };
        let c = Cidr { addr, len, family };
        if addr & !c.mask() != 0 {
            let net = Cidr {
                addr: addr & c.mask(),
                ..c
            };
            return Err(format!("{s:?} has host bits set (did you mean \"{net}\"?)"));
        }
        Ok(c)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            Family::V4 => write!(f, "{}/{}", Ipv4Addr::from(self.addr as u32), self.len),
            Family::V6 => write!(f, "{}/{}", Ipv6Addr::from(self.addr), self.len),
        }
    }
}

/// One rule as written (checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Verdict when the rule matches.
    pub verdict: Verdict,
    /// Optional label.
    pub name: Option<String>,
    /// Source prefix.
    pub src: Option<Cidr>,
    /// Destination prefix.
    pub dst: Option<Cidr>,
    /// IP protocol.
    pub proto: Option<u8>,
    /// Source port range (inclusive); matches only TCP and UDP.
    pub src_ports: Option<(u16, u16)>,
    /// Destination port range (inclusive); matches only TCP and UDP.
    pub dst_ports: Option<(u16, u16)>,
}

fn fmt_ports(f: &mut fmt::Formatter<'_>, what: &str, p: Option<(u16, u16)>) -> fmt::Result {
    match p {
        Some((a, b)) if a == b => write!(f, " {what}_port={a}"),
        Some((a, b)) => write!(f, " {what}_ports={a}-{b}"),
        None => Ok(()),
    }
}

impl fmt::Display for Rule {
    /// e.g. `allow src=10.0.0.0/8 proto=tcp dst_port=80`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.verdict)?;
        if let Some(n) = &self.name {
            write!(f, " [{n}]")?;
        }
        if let Some(c) = self.src {
            write!(f, " src={c}")?;
        }
        if let Some(c) = self.dst {
            write!(f, " dst={c}")?;
        }
        match self.proto.map(|p| (p, proto_name(p))) {
            Some((_, Some(n))) => write!(f, " proto={n}")?,
            Some((p, None)) => write!(f, " proto={p}")?,
            None => {}
        }
        fmt_ports(f, "src", self.src_ports)?;
        fmt_ports(f, "dst", self.dst_ports)?;
        if self.src.is_none()
            && self.dst.is_none()
            && self.proto.is_none()
            && self.src_ports.is_none()
            && self.dst_ports.is_none()
        {
            f.write_str(" all")?;
        }
        Ok(())
    }
}

/// A whole rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSet {
    /// Verdict when no rule matches (and for frames that are not IP).
    pub default: Verdict,
    /// Rules in file order.
    pub rules: Vec<Rule>,
}

const RULE_KEYS: &str = "action, name, src, dst, proto, src_port, src_ports, dst_port, dst_ports";

fn verdict(v: &toml::Value) -> Result<Verdict, String> {
    match v.as_str() {
        Some("allow") => Ok(Verdict::Allow),
        Some("deny") => Ok(Verdict::Deny),
        _ => Err(format!("expected \"allow\" or \"deny\", found {v}")),
    }
}

fn port(v: &toml::Value) -> Result<u16, String> {
    match v {
        toml::Value::Integer(i) => {
            u16::try_from(*i).map_err(|_| format!("port {i} is not in 0-65535"))
        }
        toml::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a port number 0-65535")),
        other => Err(format!("expected a port number, found {other}")),
    }
}

fn port_range(v: &toml::Value) -> Result<(u16, u16), String> {
    let toml::Value::String(s) = v else {
        let p = port(v)?;
        return Ok((p, p));
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s.as_str(), s.as_str()),
    };
    let p = |x: &str| {
        x.trim()
            .parse::<u16>()
            .map_err(|_| format!("{s:?} is not a port range like \"1000-2000\" (ports 0-65535)"))
    };
    let (a, b) = (p(a)?, p(b)?);
    if a > b {
        return Err(format!("{s:?}: the range is empty ({a} > {b})"));
    }
    Ok((a, b))
}

fn ports_field(
    t: &toml::Table,
    one: &str,
    range: &str,
) -> Result<Option<(u16, u16)>, (String, String)> {
    match (t.get(one), t.get(range)) {
        (Some(_), Some(_)) => Err((
            range.to_string(),
            format!("give either `{one}` or `{range}`, not both"),
        )),
        (Some(v), None) => port(v)
            .map(|p| Some((p, p)))
            .map_err(|e| (one.to_string(), e)),
        (None, Some(v)) => port_range(v).map(Some).map_err(|e| (range.to_string(), e)),
        (None, None) => Ok(None),
    }
}

fn cidr_field(t: &toml::Table, key: &str) -> Result<Option<Cidr>, (String, String)> {
    let Some(v) = t.get(key) else { return Ok(None) };
    let s = v.as_str().ok_or_else(|| {
        (
            key.to_string(),
            format!("expected a string like \"10.0.0.0/8\", found {v}"),
        )
    })?;
    s.parse().map(Some).map_err(|e| (key.to_string(), e))
}

fn rule(t: &toml::Table) -> Result<Rule, (String, String)> {
    for k in t.keys() {
        if !RULE_KEYS.split(", ").any(|x| x == k) {
            return Err((
                k.clone(),
                format!("unknown field (expected one of {RULE_KEYS})"),
            ));
        }
    }
    let a = t.get("action").ok_or_else(|| {
        (
            "action".to_string(),
            "missing (\"allow\" or \"deny\")".to_string(),
        )
    })?;
    let verdict = verdict(a).map_err(|e| ("action".to_string(), e))?;
    let name = match t.get("name") {
        None => None,
        Some(toml::Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(("name".into(), format!("expected a string, found {v}"))),
    };
    let src = cidr_field(t, "src")?;
    let dst = cidr_field(t, "dst")?;
    if let (Some(s), Some(d)) = (src, dst) {
        if s.family != d.family {
            return Err((
                "dst".into(),
                format!("{d} and src {s} are of different IP versions"),
            ));
        }
    }
    let proto = match t.get("proto") {
        None => None,
        Some(toml::Value::Integer(i)) => Some(
            u8::try_from(*i)
                .map_err(|_| ("proto".to_string(), format!("protocol {i} is not in 0-255")))?,
        ),
        Some(toml::Value::String(s)) => Some(parse_proto(s).ok_or_else(|| {
            (
                "proto".to_string(),
                format!("{s:?} is not tcp, udp, icmp, icmpv6 or a number 0-255"),
            )
        })?),
        Some(v) => {
            return Err((
                "proto".into(),
                format!("expected a name or number, found {v}"),
            ))
        }
    };
    let src_ports = ports_field(t, "src_port", "src_ports")?;
    let dst_ports = ports_field(t, "dst_port", "dst_ports")?;
    if let Some(p) = proto {
        if (src_ports.is_some() || dst_ports.is_some()) && p != IPPROTO_TCP && p != IPPROTO_UDP {
            let which = if dst_ports.is_some() {
                "dst_port"
            } else {
                "src_port"
            };
            return Err((
                which.into(),
                "ports only exist for proto \"tcp\" or \"udp\"".to_string(),
            ));
        }
    }
    Ok(Rule {
        verdict,
        name,
        src,
        dst,
        proto,
        src_ports,
        dst_ports,
    })
}

/// Parse and check a rule file's text; errors start with `file` and name the rule (from 1)
/// and field.
pub fn parse_rules(text: &str, file: &str) -> Result<RuleSet, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        format!("{file}: not valid TOML: {}", e.to_string().trim_end())
    })?;
    let mut default = Verdict::Deny;
    let mut rules = Vec::new();
    for (k, v) in &table {
        match k.as_str() {
            "default" => default = verdict(v).map_err(|e| format!("{file}: `default`: {e}"))?,
            "rule" => {
                let arr = v.as_array().ok_or_else(|| {
                    format!("{file}: `rule` must be an array of tables: write [[rule]] sections")
                })?;
                for (i, r) in arr.iter().enumerate() {
                    let t = r.as_table().ok_or_else(|| {
                        format!("{file}: rule {}: must be a table ([[rule]] section)", i + 1)
                    })?;
                    rules.push(
                        rule(t).map_err(|(f, e)| {
                            format!("{file}: rule {}: field `{f}`: {e}", i + 1)
                        })?,
                    );
                }
            }
            other => {
                let hint = if other == "rules" {
                    " (the sections are [[rule]])"
                } else {
                    ""
                };
                return Err(format!(
                    "{file}: unknown key `{other}`{hint}: expected `default` or [[rule]] sections"
                ));
            }
        }
    }
    Ok(RuleSet { default, rules })
}

/// The fields of a packet rules look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuple {
    /// Family.
    pub family: Family,
    /// Source address (IPv4 in the low 32 bits).
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// IP protocol (after IPv6 extension headers).
    pub proto: u8,
    /// TCP/UDP ports; `None` for other protocols and non-first fragments.
    pub ports: Option<(u16, u16)>,
}

/// Extract the [`Tuple`] of an Ethernet frame; `None` if it is not IP or does not parse.
#[inline]
pub fn tuple(frame: &[u8]) -> Option<Tuple> {
    let h = parse(frame).ok()?;
    let (family, src, dst) = match h.l3 {
        L3Kind::Ipv4 => {
            let ip = h.ipv4(frame)?;
            (
                Family::V4,
                u128::from(u32::from_be_bytes(ip.src())),
                u128::from(u32::from_be_bytes(ip.dst())),
            )
        }
        L3Kind::Ipv6 => {
            let ip = h.ipv6(frame)?;
            (
                Family::V6,
                u128::from_be_bytes(ip.src()),
                u128::from_be_bytes(ip.dst()),
            )
        }
        _ => return None,
    };
    let ports = match h.l4 {
        L4Kind::Tcp => h.tcp(frame).map(|t| (t.src_port(), t.dst_port())),
        L4Kind::Udp => h.udp(frame).map(|u| (u.src_port(), u.dst_port())),
        _ => None,
    };
    Some(Tuple {
        family,
        src,
        dst,
        proto: h.ip_proto,
        ports,
    })
}

const ANY_FAMILY: u8 = 0;

fn fam_code(f: Family) -> u8 {
    match f {
        Family::V4 => 4,
        Family::V6 => 6,
    }
}

/// A rule compiled for matching: masks precomputed, "any" encoded as a zero mask or a full
/// range, so matching is a handful of compares.
#[derive(Clone, Copy, Debug)]
struct Compiled {
    src_addr: u128,
    src_mask: u128,
    dst_addr: u128,
    dst_mask: u128,
    sport: (u16, u16),
    dport: (u16, u16),
    family: u8,
    /// 0..=255, or 256 for any.
    proto: u16,
    needs_ports: bool,
    allow: bool,
}

impl Compiled {
    fn new(r: &Rule) -> Compiled {
        let fam = r.src.or(r.dst).map_or(ANY_FAMILY, |c| fam_code(c.family));
        let (sa, sm) = r.src.map_or((0, 0), |c| (c.addr, c.mask()));
        let (da, dm) = r.dst.map_or((0, 0), |c| (c.addr, c.mask()));
        Compiled {
            src_addr: sa,
            src_mask: sm,
            dst_addr: da,
            dst_mask: dm,
            sport: r.src_ports.unwrap_or((0, u16::MAX)),
            dport: r.dst_ports.unwrap_or((0, u16::MAX)),
            family: fam,
            proto: r.proto.map_or(256, u16::from),
            needs_ports: r.src_ports.is_some() || r.dst_ports.is_some(),
            allow: r.verdict == Verdict::Allow,
        }
    }

    #[inline]
    fn matches(&self, t: &Tuple, fam: u8) -> bool {
        if (self.family != ANY_FAMILY && self.family != fam)
            || t.src & self.src_mask != self.src_addr
            || t.dst & self.dst_mask != self.dst_addr
            || (self.proto != 256 && self.proto != u16::from(t.proto))
        {
            return false;
        }
        if !self.needs_ports {
            return true;
        }
        match t.ports {
            Some((s, d)) => {
                self.sport.0 <= s && s <= self.sport.1 && self.dport.0 <= d && d <= self.dport.1
            }
            None => false,
        }
    }
}

/// A rule set ready for matching.
#[derive(Clone, Debug)]
pub struct Matcher {
    rules: Vec<Compiled>,
    default_allow: bool,
}

impl Matcher {
    /// Compile `set`.
    pub fn new(set: &RuleSet) -> Matcher {
        Matcher {
            rules: set.rules.iter().map(Compiled::new).collect(),
            default_allow: set.default == Verdict::Allow,
        }
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True without rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// First matching rule (index) and the verdict; `None` as index for the default.
    #[inline]
    pub fn classify(&self, t: Option<&Tuple>) -> (Option<usize>, bool) {
        if let Some(t) = t {
            let fam = fam_code(t.family);
            for (i, r) in self.rules.iter().enumerate() {
                if r.matches(t, fam) {
                    return (Some(i), r.allow);
                }
            }
        }
        (None, self.default_allow)
    }

    /// Classify a frame.
    #[inline]
    pub fn classify_frame(&self, frame: &[u8]) -> (Option<usize>, bool) {
        self.classify(tuple(frame).as_ref())
    }
}
