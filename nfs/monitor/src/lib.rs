//! `monitor`: openNetVM's `basic_monitor` for Sluice. Counts packets and bytes, prints the
//! rates every second and, every `--print-every` seconds, one decoded packet. Packets go on
//! unchanged: to the next chain step, to `--dest` or out of `--out-port`.

#![warn(missing_docs)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sluice_nf::wire::{
    parse, L3Kind, L4Kind, MacAddr, MacFmt, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, TCP_ACK,
    TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG,
};
use sluice_nf::{Action, Batch, Context, NetworkFunction, Packet};

/// Options of the monitor.
#[derive(clap::Args, Clone, Debug)]
pub struct Opts {
    /// Seconds between two decoded packets printed (0 = never)
    ///
    /// The first packet received after each period is decoded (Ethernet, VLANs, IP, TCP/UDP/
    /// ICMP) and printed at the next one-second tick.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub print_every: u64,

    /// Send packets to this service id (1-64) [default: the next step of their chain]
    #[arg(short = 'd', long, value_name = "SERVICE_ID", conflicts_with = "out_port",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub dest: Option<u16>,

    /// Send packets out of this port [default: the next step of their chain]
    #[arg(long, value_name = "PORT")]
    pub out_port: Option<u16>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            print_every: 5,
            dest: None,
            out_port: None,
        }
    }
}

/// The transport layer of a decoded packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Summary {
    /// No transport header (not IP, unknown protocol or a non-first fragment).
    None,
    /// TCP ports and flags.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Flag bits (`TCP_*`).
        flags: u8,
    },
    /// UDP ports and datagram length.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// UDP length field.
        len: u16,
    },
    /// ICMP or ICMPv6 type, code, and identifier/sequence (meaningful for echo).
    Icmp {
        /// Message type.
        typ: u8,
        /// Code.
        code: u8,
        /// Identifier.
        id: u16,
        /// Sequence number.
        seq: u16,
    },
}

/// The network layer of a decoded packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3Summary {
    /// IPv4 or IPv6.
    Ip {
        /// Source address.
        src: IpAddr,
        /// Destination address.
        dst: IpAddr,
        /// IP protocol / next header after extension headers.
        proto: u8,
        /// TTL / hop limit.
        ttl: u8,
        /// A fragment (first or later).
        fragment: bool,
        /// Transport header.
        l4: L4Summary,
    },
    /// ARP.
    Arp {
        /// Operation (1 request, 2 reply).
        oper: u16,
        /// Sender protocol address.
        spa: Ipv4Addr,
        /// Target protocol address.
        tpa: Ipv4Addr,
    },
    /// Another EtherType (see [`Decoded::ethertype`]).
    Other,
    /// Headers that could not be parsed (truncated or malformed).
    Malformed,
}

/// One packet summarised without allocating, printable with `Display`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Frame length.
    pub len: usize,
    /// Source MAC (zero for frames shorter than an Ethernet header).
    pub src_mac: MacAddr,
    /// Destination MAC.
    pub dst_mac: MacAddr,
    /// VLAN ids, outer first.
    pub vlans: [Option<u16>; 2],
    /// EtherType after the VLAN tags.
    pub ethertype: u16,
    /// Network layer and above.
    pub l3: L3Summary,
}

/// Decode `frame` into a [`Decoded`] (never fails: bad headers give `Malformed`).
pub fn decode(frame: &[u8]) -> Decoded {
    let mut d = Decoded {
        len: frame.len(),
        src_mac: [0; 6],
        dst_mac: [0; 6],
        vlans: [None; 2],
        ethertype: 0,
        l3: L3Summary::Malformed,
    };
    if frame.len() >= 14 {
        d.dst_mac.copy_from_slice(&frame[0..6]);
        d.src_mac.copy_from_slice(&frame[6..12]);
        d.ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    }
    let Ok(h) = parse(frame) else { return d };
    d.ethertype = h.ethertype;
    d.vlans = [h.vlans[0].map(|v| v.vid), h.vlans[1].map(|v| v.vid)];
    let l4 = match h.l4 {
        L4Kind::Tcp => h.tcp(frame).map(|t| L4Summary::Tcp {
            sport: t.src_port(),
            dport: t.dst_port(),
            flags: t.flags(),
        }),
        L4Kind::Udp => h.udp(frame).map(|u| L4Summary::Udp {
            sport: u.src_port(),
            dport: u.dst_port(),
            len: u.length(),
        }),
        L4Kind::Icmp | L4Kind::Icmpv6 => h.icmp(frame).map(|i| L4Summary::Icmp {
            typ: i.msg_type(),
            code: i.code(),
            id: i.identifier(),
            seq: i.sequence(),
        }),
        _ => None,
    }
    .unwrap_or(L4Summary::None);
    d.l3 = match h.l3 {
        L3Kind::Ipv4 => match h.ipv4(frame) {
            Some(ip) => L3Summary::Ip {
                src: IpAddr::V4(ip.src_addr()),
                dst: IpAddr::V4(ip.dst_addr()),
                proto: h.ip_proto,
                ttl: ip.ttl(),
                fragment: h.is_fragment,
                l4,
            },
            None => L3Summary::Malformed,
        },
        L3Kind::Ipv6 => match h.ipv6(frame) {
            Some(ip) => L3Summary::Ip {
                src: IpAddr::V6(Ipv6Addr::from(ip.src())),
                dst: IpAddr::V6(Ipv6Addr::from(ip.dst())),
                proto: h.ip_proto,
                ttl: ip.hop_limit(),
                fragment: h.is_fragment,
                l4,
            },
            None => L3Summary::Malformed,
        },
        L3Kind::Arp => match h.arp(frame) {
            Some(a) => L3Summary::Arp {
                oper: a.oper(),
                spa: a.spa_addr(),
                tpa: a.tpa_addr(),
            },
            None => L3Summary::Malformed,
        },
        L3Kind::Other(_) => L3Summary::Other,
    };
    d
}

/// TCP flags as letters (`S`, `A`, `F`, `R`, `P`, `U`), `.` for none.
pub struct TcpFlags(pub u8);

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (bit, c) in [
            (TCP_SYN, 'S'),
            (TCP_ACK, 'A'),
            (TCP_FIN, 'F'),
            (TCP_RST, 'R'),
            (TCP_PSH, 'P'),
            (TCP_URG, 'U'),
        ] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
                any = true;
            }
        }
        if !any {
            f.write_str(".")?;
        }
        Ok(())
    }
}

struct Endpoint(IpAddr, Option<u16>);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (a, Some(p)) => write!(f, "{a}:{p}"),
            (a, None) => write!(f, "{a}"),
        }
    }
}

impl fmt::Display for Decoded {
    /// e.g. `60 bytes 02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 10.0.0.1:1024 > 10.0.1.1:5001 UDP len=26 ttl=64`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.len)?;
        if self.len < 14 {
            return f.write_str(" (runt)");
        }
        write!(f, " {} > {}", MacFmt(self.src_mac), MacFmt(self.dst_mac))?;
        for vid in self.vlans.iter().flatten() {
            write!(f, " vlan {vid}")?;
        }
        match self.l3 {
            L3Summary::Ip {
                src,
                dst,
                proto,
                ttl,
                fragment,
                l4,
            } => {
                f.write_str(if src.is_ipv4() { " IPv4 " } else { " IPv6 " })?;
                let ports = match l4 {
                    L4Summary::Tcp { sport, dport, .. } | L4Summary::Udp { sport, dport, .. } => {
                        (Some(sport), Some(dport))
                    }
                    _ => (None, None),
                };
                write!(f, "{} > {}", Endpoint(src, ports.0), Endpoint(dst, ports.1))?;
                match l4 {
                    L4Summary::Tcp { flags, .. } => write!(f, " TCP [{}]", TcpFlags(flags))?,
                    L4Summary::Udp { len, .. } => write!(f, " UDP len={len}")?,
                    L4Summary::Icmp { typ, code, id, seq } => {
                        let v = if proto == 58 { "ICMPv6" } else { "ICMP" };
                        write!(f, " {v} type={typ} code={code} id={id} seq={seq}")?
                    }
                    L4Summary::None => write!(f, " proto={proto}")?,
                }
                write!(f, " ttl={ttl}")?;
                if fragment {
                    f.write_str(" fragment")?;
                }
            }
            L3Summary::Arp { oper, spa, tpa } => match oper {
                1 => write!(f, " ARP who-has {tpa} tell {spa}")?,
                2 => write!(f, " ARP reply {spa} to {tpa}")?,
                o => write!(f, " ARP oper={o} {spa} > {tpa}")?,
            },
            L3Summary::Other => write!(f, " ethertype=0x{:04x}", self.ethertype)?,
            L3Summary::Malformed => {
                let what = match self.ethertype {
                    ETHERTYPE_IPV4 => "IPv4",
                    ETHERTYPE_IPV6 => "IPv6",
                    ETHERTYPE_ARP => "ARP",
                    _ => "headers",
                };
                write!(f, " malformed {what} (ethertype=0x{:04x})", self.ethertype)?
            }
        }
        Ok(())
    }
}

/// Packet and byte counters with the values at the last report, for rates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets seen.
    pub packets: u64,
    /// Frame bytes seen (without FCS, preamble or gap).
    pub bytes: u64,
}

/// The monitor NF.
pub struct Monitor {
    action: Action,
    print_every_ns: u64,
    total: Counters,
    last: Counters,
    last_ns: u64,
    next_sample_ns: u64,
    want_sample: bool,
    sample: Option<Decoded>,
}

/// Build the NF from its options.
pub fn build(opts: &Opts) -> anyhow::Result<Monitor> {
    let action = match (opts.dest, opts.out_port) {
        (Some(_), Some(_)) => anyhow::bail!("--dest and --out-port exclude each other"),
        (Some(s), None) => Action::ToService(s),
        (None, Some(p)) => Action::Out(p),
        (None, None) => Action::Next,
    };
    Ok(Monitor {
        action,
        print_every_ns: opts.print_every.saturating_mul(1_000_000_000),
        total: Counters::default(),
        last: Counters::default(),
        last_ns: 0,
        next_sample_ns: 0,
        want_sample: opts.print_every > 0,
        sample: None,
    })
}

impl Monitor {
    /// The action this NF gives every packet.
    pub fn action(&self) -> Action {
        self.action
    }

    /// Totals so far.
    pub fn counters(&self) -> Counters {
        self.total
    }

    /// Count one frame (and decode it if a sample is wanted).
    #[inline]
    pub fn observe(&mut self, frame: &[u8]) {
        self.total.packets += 1;
        self.total.bytes += frame.len() as u64;
        if self.want_sample {
            self.want_sample = false;
            self.sample = Some(decode(frame));
        }
    }

    /// Rate line since the previous call, e.g. `1.234 Mpps 0.632 Gbps (total 1234 packets, 78976 bytes)`.
    pub fn rate_line(&mut self, now_ns: u64) -> String {
        let dt = now_ns.saturating_sub(self.last_ns) as f64 / 1e9;
        let dp = self.total.packets - self.last.packets;
        let db = self.total.bytes - self.last.bytes;
        let (mpps, gbps) = if self.last_ns != 0 && dt > 0.0 {
            (dp as f64 / dt / 1e6, db as f64 * 8.0 / dt / 1e9)
        } else {
            (0.0, 0.0)
        };
        self.last = self.total;
        self.last_ns = now_ns;
        format!(
            "{mpps:.3} Mpps {gbps:.3} Gbps (total {} packets, {} bytes)",
            self.total.packets, self.total.bytes
        )
    }

    /// Take the decoded sample, if one was captured, and arm the next one when due.
    pub fn take_sample(&mut self, now_ns: u64) -> Option<Decoded> {
        let s = self.sample.take();
        if s.is_some() {
            self.next_sample_ns = now_ns.saturating_add(self.print_every_ns);
        }
        if self.print_every_ns > 0
            && self.sample.is_none()
            && !self.want_sample
            && now_ns >= self.next_sample_ns
        {
            self.want_sample = true;
        }
        s
    }
}

impl NetworkFunction for Monitor {
    #[inline]
    fn handle(&mut self, pkt: &mut Packet<'_>, _ctx: &Context) -> Action {
        self.observe(pkt.data());
        self.action
    }

    #[inline]
    fn handle_batch(&mut self, batch: &mut Batch<'_>, _ctx: &Context) {
        for i in 0..batch.len() {
            self.observe(batch.packet(i).data());
        }
        batch.set_all(self.action);
    }

    fn start(&mut self, start: &mut sluice_nf::Start<'_>) -> Result<(), sluice_nf::NfError> {
        self.last_ns = start.ctx().now_ns();
        Ok(())
    }

    fn tick(&mut self, ctx: &Context) {
        let line = self.rate_line(ctx.now_ns());
        println!("{}: {line}", ctx.name);
        if let Some(d) = self.take_sample(ctx.now_ns()) {
            println!("{}: packet: {d}", ctx.name);
        }
    }

    fn stop(&mut self, ctx: &Context) {
        if let Some(d) = self.sample.take() {
            println!("{}: packet: {d}", ctx.name);
        }
        println!(
            "{}: total {} packets, {} bytes",
            ctx.name, self.total.packets, self.total.bytes
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use sluice_nf::wire::{
        write_arp_ipv4, write_icmp_echo_ipv4, write_tcp_ipv6, write_udp_ipv4, ARP_REQUEST,
    };

    #[derive(Parser)]
    struct W {
        #[command(flatten)]
        o: Opts,
    }

    const A: MacAddr = [2, 0, 0, 0, 0, 1];
    const B: MacAddr = [2, 0, 0, 0, 0, 2];

    #[test]
    fn decode_udp_tcp_icmp_arp() {
        let mut buf = vec![0u8; 256];
        let n =
            write_udp_ipv4(&mut buf, A, B, [10, 0, 0, 1], [10, 0, 1, 1], 1024, 5001, 60).unwrap();
        assert_eq!(
            decode(&buf[..n]).to_string(),
            "60 bytes 02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 10.0.0.1:1024 > 10.0.1.1:5001 \
             UDP len=26 ttl=64"
        );
        let mut s6 = [0u8; 16];
        s6[0] = 0x20;
        s6[1] = 0x01;
        s6[15] = 1;
        let mut d6 = s6;
        d6[15] = 2;
        let n = write_tcp_ipv6(&mut buf, A, B, s6, d6, 40000, 443, TCP_SYN | TCP_ACK, 74).unwrap();
        let d = decode(&buf[..n]);
        assert!(matches!(
            d.l3,
            L3Summary::Ip {
                l4: L4Summary::Tcp {
                    sport: 40000,
                    dport: 443,
                    ..
                },
                proto: 6,
                ..
            }
        ));
        assert!(d
            .to_string()
            .ends_with("IPv6 [2001::1]:40000 > [2001::2]:443 TCP [SA] ttl=64"));
        let n = write_icmp_echo_ipv4(&mut buf, A, B, [1, 1, 1, 1], [2, 2, 2, 2], 7, 9, 42).unwrap();
        assert!(decode(&buf[..n])
            .to_string()
            .ends_with("IPv4 1.1.1.1 > 2.2.2.2 ICMP type=8 code=0 id=7 seq=9 ttl=64"));
        let n = write_arp_ipv4(
            &mut buf,
            ARP_REQUEST,
            A,
            [10, 0, 0, 1],
            [0; 6],
            [10, 0, 0, 9],
        )
        .unwrap();
        assert!(decode(&buf[..n])
            .to_string()
            .ends_with("ARP who-has 10.0.0.9 tell 10.0.0.1"));
    }

    #[test]
    fn decode_odd_frames() {
        assert_eq!(decode(&[1, 2, 3]).to_string(), "3 bytes (runt)");
        let mut buf = vec![0u8; 64];
        let n = write_udp_ipv4(&mut buf, A, B, [10, 0, 0, 1], [10, 0, 1, 1], 1, 2, 60).unwrap();
        let d = decode(&buf[..30]);
        assert_eq!(d.l3, L3Summary::Malformed);
        assert!(d.to_string().ends_with("malformed IPv4 (ethertype=0x0800)"));
        buf[12] = 0x88;
        buf[13] = 0xcc;
        assert!(decode(&buf[..n]).to_string().ends_with("ethertype=0x88cc"));
    }

    #[test]
    fn counting_and_sampling() {
        let o = W::try_parse_from(["m", "--print-every", "2"]).unwrap().o;
        let mut m = build(&o).unwrap();
        assert_eq!(m.action(), Action::Next);
        let mut buf = vec![0u8; 128];
        let n = write_udp_ipv4(&mut buf, A, B, [10, 0, 0, 1], [10, 0, 1, 1], 1, 2, 100).unwrap();
        m.last_ns = 1_000_000_000;
        for _ in 0..1000 {
            m.observe(&buf[..n]);
        }
        assert_eq!(
            m.counters(),
            Counters {
                packets: 1000,
                bytes: 100_000
            }
        );
        let line = m.rate_line(2_000_000_000);
        assert_eq!(
            line,
            "0.001 Mpps 0.001 Gbps (total 1000 packets, 100000 bytes)"
        );
        // The first packet was sampled; the next sample is due 2 s after it is taken.
        assert!(m.take_sample(2_000_000_000).is_some());
        m.observe(&buf[..n]);
        assert!(m.take_sample(3_000_000_000).is_none());
        assert!(m.take_sample(4_000_000_000).is_none()); // armed now
        m.observe(&buf[..n]);
        assert!(m.take_sample(5_000_000_000).is_some());

        let o = W::try_parse_from(["m", "--print-every", "0", "--out-port", "1"])
            .unwrap()
            .o;
        let mut m = build(&o).unwrap();
        assert_eq!(m.action(), Action::Out(1));
        m.observe(&buf[..n]);
        assert!(m.take_sample(10_000_000_000).is_none());
        assert!(m.take_sample(20_000_000_000).is_none());
        let o = W::try_parse_from(["m", "-d", "3"]).unwrap().o;
        assert_eq!(build(&o).unwrap().action(), Action::ToService(3));
        assert!(W::try_parse_from(["m", "-d", "3", "--out-port", "1"]).is_err());
    }
}
