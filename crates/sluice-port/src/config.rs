//! Configuration of ports: the manager's TOML `[[ports]]` tables.
//!
//! Each table names the port and picks its kind; the remaining keys belong to the kind:
//!
//! ```toml
//! [[ports]]
//! name = "gen0"
//! kind = "generator"
//! size = 64
//! flows = 16
//!
//! [[ports]]
//! name = "sink"
//! kind = "null"
//!
//! [[ports]]
//! name = "trace"
//! kind = "pcap"
//! read = "in.pcap"
//! write = "out.pcapng"
//!
//! [[ports]]
//! name = "eth"
//! kind = "af-packet"
//! interface = "veth0"
//!
//! [[ports]]
//! name = "host"
//! kind = "tap"
//! interface = "sluice0"
//!
//! [[ports]]
//! name = "fast"
//! kind = "af-xdp"
//! interface = "veth1"
//!
//! [[ports]]
//! name = "nic"
//! kind = "dpdk"
//! device = "net_af_packet0,iface=veth2"
//! ```
//!
//! Unknown keys are refused. Values are checked when the port is opened ([`crate::open`]),
//! where errors can name the port.

use std::path::PathBuf;

use serde::Deserialize;

/// One `[[ports]]` table: a named port of some kind.
///
/// Deserialised from a flat table `{ name, kind, ...fields of the kind }`; a key the kind does
/// not know is an error naming it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "RawPort")]
pub struct PortConfig {
    /// Port name, used in logs, stats and errors. Required.
    pub name: String,
    /// Kind of port and its settings (the `kind` key: `generator`, `null`, `pcap`,
    /// `af-packet`, `tap`, `af-xdp` or `dpdk`).
    pub kind: PortKind,
}

/// Kind of port with its settings.
#[derive(Clone, Debug, PartialEq)]
pub enum PortKind {
    /// `kind = "generator"`: synthetic UDP traffic, receive only.
    Generator(GeneratorConfig),
    /// `kind = "null"`: a transmit sink that counts and frees every frame. No other keys.
    Null,
    /// `kind = "pcap"`: replay a capture file (receive) and/or record one (transmit).
    Pcap(PcapConfig),
    /// `kind = "af-packet"`: a Linux interface through AF_PACKET (TPACKET_V3 receive ring,
    /// `sendmmsg` transmit).
    AfPacket(AfPacketConfig),
    /// `kind = "tap"`: a TAP interface to the host stack or a VM, created or attached.
    Tap(TapConfig),
    /// `kind = "af-xdp"`: one queue of a Linux interface through an AF_XDP socket whose UMEM
    /// is the packet pool.
    AfXdp(AfXdpConfig),
    /// `kind = "dpdk"`: a DPDK ethdev (PCI device or vdev); needs a build with the `dpdk`
    /// feature.
    Dpdk(DpdkConfig),
}

impl PortKind {
    /// The `kind` value of this kind in the configuration.
    pub fn name(&self) -> &'static str {
        match self {
            PortKind::Generator(_) => "generator",
            PortKind::Null => "null",
            PortKind::Pcap(_) => "pcap",
            PortKind::AfPacket(_) => "af-packet",
            PortKind::Tap(_) => "tap",
            PortKind::AfXdp(_) => "af-xdp",
            PortKind::Dpdk(_) => "dpdk",
        }
    }
}

/// How an `af-xdp` socket moves frames between the driver and the UMEM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum XdpMode {
    /// `"auto"`: zero-copy if the driver supports it, else copy (the default; the port logs
    /// which it got).
    #[default]
    Auto,
    /// `"copy"`: the kernel copies frames (works on every interface, veth included).
    Copy,
    /// `"zero-copy"`: the driver DMAs straight into the UMEM; opening fails with a clear error
    /// where the driver does not support it.
    ZeroCopy,
}

/// Order in which a generator picks its flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// `"round-robin"`: flow 0, 1, ..., flows-1, 0, 1, ... (the default).
    #[default]
    RoundRobin,
    /// `"random"`: a uniformly random flow for every frame (xorshift, fixed seed).
    Random,
}

/// Defines a kind's public settings struct (with its documented defaults) and the private
/// struct that deserialises a `[[ports]]` table of that kind (`name` + the same keys, unknown
/// keys refused), from one list of fields.
macro_rules! kind_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident / $raw:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $default:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $raw {
            name: String,
            $( #[serde(default)] $field: Option<$ty>, )*
        }

        impl $raw {
            fn split(self) -> (String, $name) {
                let d = $name::default();
                (self.name, $name { $( $field: self.$field.unwrap_or(d.$field), )* })
            }
        }
    };
}

kind_config! {
    /// Settings of a `generator` port (like openNetVM's load generator): UDP frames built
    /// once per flow at open and copied into slots at the requested rate.
    pub struct GeneratorConfig / RawGenerator {
        /// Frame length in bytes without the FCS. Default 64. At least 42 (IPv4) or 62 (IPv6)
        /// and at most the region's data room.
        size: usize = 64,
        /// Frames per second; 0 = as fast as possible. Default 0.
        rate_pps: f64 = 0.0,
        /// Number of distinct UDP 5-tuples: flow `i` uses source port `src_port + i`
        /// (wrapping), and beyond 65536 flows also a different source address. Default 1.
        flows: u32 = 1,
        /// Order of the flows: `"round-robin"` or `"random"`. Default `"round-robin"`.
        pattern: Pattern = Pattern::RoundRobin,
        /// Frames to send in total; 0 = endless. Default 0. The port is exhausted after them.
        count: u64 = 0,
        /// Source MAC address. Default `"02:00:00:00:00:01"`.
        src_mac: String = "02:00:00:00:00:01".into(),
        /// Destination MAC address. Default `"02:00:00:00:00:02"`.
        dst_mac: String = "02:00:00:00:00:02".into(),
        /// Source IP address, IPv4 or IPv6 (same family as `dst_ip`). Default `"10.0.0.1"`.
        src_ip: String = "10.0.0.1".into(),
        /// Destination IP address. Default `"10.0.1.1"`.
        dst_ip: String = "10.0.1.1".into(),
        /// UDP source port of flow 0. Default 1024.
        src_port: u16 = 1024,
        /// UDP destination port. Default 5001.
        dst_port: u16 = 5001,
        /// When true, every other frame of each flow goes the reverse way (MACs, addresses and
        /// ports swapped), as a two-way conversation would. Default false.
        bidirectional: bool = false,
    }
}

kind_config! {
    /// Settings of a `pcap` port: replay a capture file on receive and/or record transmitted
    /// frames to one. At least one of `read` and `write` is required.
    pub struct PcapConfig / RawPcap {
        /// Capture file (pcap or pcapng, Ethernet) to replay. Default: none (no receive half).
        read: Option<PathBuf> = None,
        /// File to record transmitted frames to: pcapng if its name ends in `.pcapng`, else
        /// pcap (nanosecond timestamps). Truncated at open. Default: none (no transmit half).
        write: Option<PathBuf> = None,
        /// Times to replay `read`; 0 = forever. Default 1.
        loops: u32 = 1,
        /// Replay rate in frames per second; 0 = as fast as possible. Default 0.
        rate_pps: f64 = 0.0,
        /// Longest frame stored when recording (longer ones are clipped). Default 65535.
        snaplen: u32 = 65535,
    }
}

kind_config! {
    /// Settings of an `af-packet` port: any Linux interface (NIC, veth, VF) through AF_PACKET
    /// sockets. Needs CAP_NET_RAW.
    pub struct AfPacketConfig / RawAfPacket {
        /// Interface name, e.g. `"veth0"`. Required; it must exist when the port opens.
        interface: String = String::new(),
        /// Join this PACKET_FANOUT group (hash mode), so several ports on the same interface
        /// share its traffic by flow. Default: none.
        fanout_group: Option<u16> = None,
        /// Transmit past the interface's qdisc (PACKET_QDISC_BYPASS): faster, but no traffic
        /// shaping and no backpressure from the qdisc. Default true.
        qdisc_bypass: bool = true,
        /// Receive frames addressed to any MAC (PACKET_MR_PROMISC; the kernel drops the
        /// membership when the port closes). Default true, like a switch port.
        promiscuous: bool = true,
        /// Bytes per receive-ring block: a power of two, a multiple of the page size.
        /// Default 1 MiB.
        block_size: u32 = 1 << 20,
        /// Blocks in the receive ring. Default 16 (16 MiB with the default block size).
        block_count: u32 = 16,
        /// Nominal frame size of the ring (a multiple of 16, at least 128); TPACKET_V3 packs
        /// frames by their real size, so this only sizes the kernel's bookkeeping. Default 2048.
        frame_size: u32 = 2048,
    }
}

kind_config! {
    /// Settings of a `tap` port: a TAP interface, created if missing or attached if it
    /// exists (a persistent TAP device). Needs CAP_NET_ADMIN.
    pub struct TapConfig / RawTap {
        /// Interface name. Default `"sluice0"`.
        interface: String = "sluice0".into(),
        /// MAC address to set, e.g. `"02:00:00:00:01:01"`. Default: keep the kernel's.
        mac: Option<String> = None,
        /// MTU to set (68..=65521). Default: keep the kernel's (1500 for a new device).
        mtu: Option<u32> = None,
        /// Bring the interface up at open. Default true.
        up: bool = true,
    }
}

kind_config! {
    /// Settings of an `af-xdp` port: one receive/transmit queue of a Linux interface through
    /// an AF_XDP socket. The packet pool is the socket's UMEM, so the region's slot size must
    /// be 2048..=4096 bytes. Needs root (CAP_NET_ADMIN, CAP_BPF, CAP_IPC_LOCK).
    pub struct AfXdpConfig / RawAfXdp {
        /// Interface name, e.g. `"veth0"`. Required; it must exist when the port opens.
        interface: String = String::new(),
        /// First queue of the interface to bind. Default 0.
        queue: u32 = 0,
        /// Number of queues to bind, `queue .. queue + queues`: one AF_XDP socket per queue,
        /// all on the same packet pool, received from in turn (give a multi-queue NIC's RSS
        /// the whole port). Default 1.
        queues: u32 = 1,
        /// Receive frames addressed to any MAC (the interface's promiscuous count is held
        /// while the port is open). Default true, like a switch port.
        promiscuous: bool = true,
        /// `"auto"`, `"copy"` or `"zero-copy"`. Default `"auto"`.
        mode: XdpMode = XdpMode::Auto,
        /// Use the kernel's need-wakeup flags, so system calls happen only when the kernel
        /// asks for them. Default true.
        need_wakeup: bool = true,
        /// Entries in each of the RX, TX, fill and completion rings: a power of two,
        /// 64..=65536. The pool must hold at least `(queues + 1) * ring_size` slots.
        /// Default 2048.
        ring_size: u32 = 2048,
    }
}

kind_config! {
    /// Settings of a `dpdk` port: one receive and one transmit queue of a DPDK ethdev, probed
    /// at open by PCI address or vdev string. Frames are copied between the port's mbufs and
    /// the packet pool. Needs a build with `--features dpdk`; the EAL is set up once per
    /// process (sluiced's `[dpdk]` table).
    pub struct DpdkConfig / RawDpdk {
        /// The device: a PCI address (`"0000:01:00.0"`, bound to vfio-pci) or a vdev string
        /// with its arguments, e.g. `"net_null0"`, `"net_ring0"`,
        /// `"net_af_packet0,iface=veth1"`, `"net_af_xdp0,iface=veth1"`, `"net_tap0"`,
        /// `"net_pcap0,rx_pcap=in.pcap"`, `"net_memif0,role=server"`. Required; each device
        /// may be used by one port.
        device: String = String::new(),
        /// Receive descriptors (the driver may adjust it). Default 1024.
        rx_ring: u16 = 1024,
        /// Transmit descriptors (the driver may adjust it). Default 1024.
        tx_ring: u16 = 1024,
        /// mbufs in the port's DPDK mempool (DPDK memory, apart from the packet pool); at
        /// least `rx_ring + tx_ring + 1024`. Default 8191.
        mbufs: u32 = 8191,
        /// Turn on promiscuous mode. Default true, like a switch port.
        promiscuous: bool = true,
        /// MTU to set. Default: keep the driver's (1500).
        mtu: Option<u16> = None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNull {
    name: String,
}

/// The table as written: internally tagged by `kind`, each variant holding `name` and its
/// own keys, so that `deny_unknown_fields` works (it does not together with `flatten`).
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum RawPort {
    Generator(RawGenerator),
    Null(RawNull),
    Pcap(RawPcap),
    AfPacket(RawAfPacket),
    Tap(RawTap),
    AfXdp(RawAfXdp),
    Dpdk(RawDpdk),
}

impl From<RawPort> for PortConfig {
    fn from(raw: RawPort) -> PortConfig {
        match raw {
            RawPort::Generator(g) => {
                let (name, cfg) = g.split();
                PortConfig {
                    name,
                    kind: PortKind::Generator(cfg),
                }
            }
            RawPort::Null(n) => PortConfig {
                name: n.name,
                kind: PortKind::Null,
            },
            RawPort::Pcap(p) => {
                let (name, cfg) = p.split();
                PortConfig {
                    name,
                    kind: PortKind::Pcap(cfg),
                }
            }
            RawPort::AfPacket(a) => {
                let (name, cfg) = a.split();
                PortConfig {
                    name,
                    kind: PortKind::AfPacket(cfg),
                }
            }
            RawPort::AfXdp(x) => {
                let (name, cfg) = x.split();
                PortConfig {
                    name,
                    kind: PortKind::AfXdp(cfg),
                }
            }
            RawPort::Dpdk(d) => {
                let (name, cfg) = d.split();
                PortConfig {
                    name,
                    kind: PortKind::Dpdk(cfg),
                }
            }
            RawPort::Tap(t) => {
                let (name, cfg) = t.split();
                PortConfig {
                    name,
                    kind: PortKind::Tap(cfg),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        ports: Vec<PortConfig>,
    }

    fn parse(s: &str) -> Result<Vec<PortConfig>, toml::de::Error> {
        toml::from_str::<File>(s).map(|f| f.ports)
    }

    #[test]
    fn generator_defaults_and_values() {
        let ports = parse(
            r#"
            [[ports]]
            name = "gen0"
            kind = "generator"

            [[ports]]
            name = "gen1"
            kind = "generator"
            size = 128
            rate_pps = 1_000_000
            flows = 100
            pattern = "random"
            count = 5000
            src_mac = "02:00:00:00:00:0a"
            dst_mac = "02:00:00:00:00:0b"
            src_ip = "fd00::1"
            dst_ip = "fd00::2"
            src_port = 2000
            dst_port = 53
            bidirectional = true
            "#,
        )
        .unwrap();
        assert_eq!(ports.len(), 2);
        assert_eq!(ports[0].name, "gen0");
        assert_eq!(
            ports[0].kind,
            PortKind::Generator(GeneratorConfig::default())
        );
        let PortKind::Generator(g) = &ports[1].kind else {
            panic!("not a generator")
        };
        assert_eq!(
            *g,
            GeneratorConfig {
                size: 128,
                rate_pps: 1e6,
                flows: 100,
                pattern: Pattern::Random,
                count: 5000,
                src_mac: "02:00:00:00:00:0a".into(),
                dst_mac: "02:00:00:00:00:0b".into(),
                src_ip: "fd00::1".into(),
                dst_ip: "fd00::2".into(),
                src_port: 2000,
                dst_port: 53,
                bidirectional: true,
            }
        );
        let d = GeneratorConfig::default();
        assert_eq!(
            (d.size, d.flows, d.count, d.src_port, d.dst_port),
            (64, 1, 0, 1024, 5001)
        );
        assert_eq!(d.pattern, Pattern::RoundRobin);
        assert_eq!(ports[1].kind.name(), "generator");
    }

    #[test]
    fn null_and_pcap() {
        let ports = parse(
            r#"
            [[ports]]
            name = "sink"
            kind = "null"

            [[ports]]
            name = "replay"
            kind = "pcap"
            read = "/tmp/in.pcap"

            [[ports]]
            name = "both"
            kind = "pcap"
            read = "in.pcapng"
            write = "out.pcapng"
            loops = 0
            rate_pps = 1000.5
            snaplen = 128
            "#,
        )
        .unwrap();
        assert_eq!(
            ports[0],
            PortConfig {
                name: "sink".into(),
                kind: PortKind::Null
            }
        );
        assert_eq!(
            ports[1].kind,
            PortKind::Pcap(PcapConfig {
                read: Some("/tmp/in.pcap".into()),
                ..Default::default()
            })
        );
        assert_eq!(
            ports[2].kind,
            PortKind::Pcap(PcapConfig {
                read: Some("in.pcapng".into()),
                write: Some("out.pcapng".into()),
                loops: 0,
                rate_pps: 1000.5,
                snaplen: 128,
            })
        );
        let d = PcapConfig::default();
        assert_eq!((d.loops, d.rate_pps, d.snaplen), (1, 0.0, 65535));
    }

    #[test]
    fn readme_examples_parse() {
        let readme = include_str!("../README.md");
        let mut blocks = 0;
        for chunk in readme.split("```toml").skip(1) {
            let toml = chunk.split("```").next().unwrap();
            let ports = parse(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
            assert_eq!(ports.len(), 1);
            blocks += 1;
        }
        assert_eq!(blocks, 7);
        // The module docs' example too.
        let doc: String = include_str!("config.rs")
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        let toml = doc
            .split("```toml")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        assert_eq!(parse(toml).unwrap().len(), 7);
    }

    #[test]
    fn af_packet_and_tap() {
        let ports = parse(
            r#"
            [[ports]]
            name = "p0"
            kind = "af-packet"
            interface = "veth0"

            [[ports]]
            name = "p1"
            kind = "af-packet"
            interface = "eth1"
            fanout_group = 7
            qdisc_bypass = false
            block_size = 262144
            block_count = 4
            frame_size = 4096

            [[ports]]
            name = "t0"
            kind = "tap"

            [[ports]]
            name = "t1"
            kind = "tap"
            interface = "vm0"
            mac = "02:00:00:00:01:01"
            mtu = 9000
            up = false
            "#,
        )
        .unwrap();
        assert_eq!(
            ports[0].kind,
            PortKind::AfPacket(AfPacketConfig {
                interface: "veth0".into(),
                ..Default::default()
            })
        );
        assert_eq!(ports[0].kind.name(), "af-packet");
        let d = AfPacketConfig::default();
        assert_eq!(
            (
                d.fanout_group,
                d.qdisc_bypass,
                d.block_size,
                d.block_count,
                d.frame_size
            ),
            (None, true, 1 << 20, 16, 2048)
        );
        assert_eq!(
            ports[1].kind,
            PortKind::AfPacket(AfPacketConfig {
                interface: "eth1".into(),
                fanout_group: Some(7),
                qdisc_bypass: false,
                promiscuous: true,
                block_size: 262144,
                block_count: 4,
                frame_size: 4096,
            })
        );
        assert_eq!(ports[2].kind, PortKind::Tap(TapConfig::default()));
        assert_eq!(ports[2].kind.name(), "tap");
        let d = TapConfig::default();
        assert_eq!(
            (d.interface.as_str(), d.mac, d.mtu, d.up),
            ("sluice0", None, None, true)
        );
        assert_eq!(
            ports[3].kind,
            PortKind::Tap(TapConfig {
                interface: "vm0".into(),
                mac: Some("02:00:00:00:01:01".into()),
                mtu: Some(9000),
                up: false,
            })
        );
        let e =
            parse("[[ports]]\nname = \"a\"\nkind = \"af-packet\"\ninterfce = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `interfce`"), "{e}");
        let e = parse("[[ports]]\nname = \"t\"\nkind = \"tap\"\nfanout_group = 1\n").unwrap_err();
        assert!(
            e.to_string().contains("unknown field `fanout_group`"),
            "{e}"
        );
    }

    #[test]
    fn af_xdp() {
        let ports = parse(
            r#"
            [[ports]]
            name = "x0"
            kind = "af-xdp"
            interface = "veth0"

            [[ports]]
            name = "x1"
            kind = "af-xdp"
            interface = "eth0"
            queue = 3
            queues = 2
            promiscuous = false
            mode = "zero-copy"
            need_wakeup = false
            ring_size = 512
            "#,
        )
        .unwrap();
        assert_eq!(ports[0].kind.name(), "af-xdp");
        assert_eq!(
            ports[0].kind,
            PortKind::AfXdp(AfXdpConfig {
                interface: "veth0".into(),
                ..Default::default()
            })
        );
        let d = AfXdpConfig::default();
        assert_eq!(
            (
                d.queue,
                d.queues,
                d.promiscuous,
                d.mode,
                d.need_wakeup,
                d.ring_size
            ),
            (0, 1, true, XdpMode::Auto, true, 2048)
        );
        assert_eq!(
            ports[1].kind,
            PortKind::AfXdp(AfXdpConfig {
                interface: "eth0".into(),
                queue: 3,
                queues: 2,
                promiscuous: false,
                mode: XdpMode::ZeroCopy,
                need_wakeup: false,
                ring_size: 512,
            })
        );
        let e = parse("[[ports]]\nname = \"x\"\nkind = \"af-xdp\"\nmode = \"fast\"\n").unwrap_err();
        assert!(e.to_string().contains("fast"), "{e}");
    }

    #[test]
    fn dpdk() {
        let ports = parse(
            r#"
            [[ports]]
            name = "d0"
            kind = "dpdk"
            device = "net_null0"

            [[ports]]
            name = "d1"
            kind = "dpdk"
            device = "net_af_packet0,iface=veth1"
            rx_ring = 512
            tx_ring = 2048
            mbufs = 16383
            promiscuous = false
            mtu = 9000
            "#,
        )
        .unwrap();
        assert_eq!(ports[0].kind.name(), "dpdk");
        assert_eq!(
            ports[0].kind,
            PortKind::Dpdk(DpdkConfig {
                device: "net_null0".into(),
                ..Default::default()
            })
        );
        let d = DpdkConfig::default();
        assert_eq!(
            (d.rx_ring, d.tx_ring, d.mbufs, d.promiscuous, d.mtu),
            (1024, 1024, 8191, true, None)
        );
        assert_eq!(
            ports[1].kind,
            PortKind::Dpdk(DpdkConfig {
                device: "net_af_packet0,iface=veth1".into(),
                rx_ring: 512,
                tx_ring: 2048,
                mbufs: 16383,
                promiscuous: false,
                mtu: Some(9000),
            })
        );
        let e = parse("[[ports]]\nname = \"d\"\nkind = \"dpdk\"\niface = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `iface`"), "{e}");
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let e = parse(
            r#"
            [[ports]]
            name = "gen0"
            kind = "generator"
            sise = 64
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `sise`"), "{e}");

        // A key of another kind is unknown too.
        let e = parse("[[ports]]\nname = \"s\"\nkind = \"null\"\nloops = 2\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `loops`"), "{e}");

        let e = parse("[[ports]]\nname = \"x\"\nkind = \"netmap\"\n").unwrap_err();
        assert!(e.to_string().contains("netmap"), "{e}");

        let e = parse("[[ports]]\nkind = \"null\"\n").unwrap_err();
        assert!(e.to_string().contains("name"), "{e}");

        let e = parse("[[ports]]\nname = \"g\"\nkind = \"generator\"\npattern = \"zigzag\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("zigzag"), "{e}");
    }
}
