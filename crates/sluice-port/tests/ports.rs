//! Behaviour of the generator, null and pcap ports against a real (small) shared region.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sluice_pcap::{Format, PcapReader, PcapWriter};
use sluice_port::{
    open, GeneratorConfig, Pattern, PcapConfig, Port, PortConfig, PortError, PortKind,
};
use sluice_shm::{owner, Buffers, HugePolicy, Region, RegionConfig};
use sluice_wire::{flow_hash, parse, verify_checksums, L3Kind, L4Kind};

fn region() -> Region {
    let cfg = RegionConfig {
        slots: 1024,
        data_room: 2048,
        headroom: 128,
        max_nfs: 4,
        ring_size: 64,
    };
    Region::create(&cfg, HugePolicy::Never).expect("region")
}

fn gen_port(r: &Region, cfg: GeneratorConfig) -> Port {
    let pc = PortConfig {
        name: "gen0".into(),
        kind: PortKind::Generator(cfg),
    };
    open(3, &pc, r).expect("open generator")
}

fn frame(r: &Region, idx: u32) -> Vec<u8> {
    // SAFETY: the test holds the slot; ports write data_off/len inside the data area.
    unsafe {
        let m = *r.meta(idx);
        assert!(m.data_off as usize + m.len as usize <= r.data_area());
        std::slice::from_raw_parts(r.data(idx).add(m.data_off as usize), m.len as usize).to_vec()
    }
}

fn meta(r: &Region, idx: u32) -> sluice_shm::SlotMeta {
    // SAFETY: the test holds the slot.
    unsafe { *r.meta(idx) }
}

fn ports_of(f: &[u8]) -> (u16, u16) {
    let h = parse(f).expect("parses");
    let u = h.udp(f).expect("udp");
    (u.src_port(), u.dst_port())
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn tmp(name: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("sluice-port-{}-{n}-{name}", std::process::id()))
}

#[test]
fn generator_emits_valid_udp_frames_of_the_requested_size() {
    let r = region();
    for (size, src, dst) in [
        (64, "10.0.0.1", "10.0.1.1"),
        (1500, "fd00::1", "fd00::2"),
        (42, "1.2.3.4", "5.6.7.8"),
    ] {
        let mut p = gen_port(
            &r,
            GeneratorConfig {
                size,
                src_ip: src.into(),
                dst_ip: dst.into(),
                ..Default::default()
            },
        );
        let rx = p.rx.as_mut().expect("rx half");
        assert!(p.tx.is_none());
        assert!(rx.provides_flow_hash());
        let mut out = [0u32; 32];
        let n = rx.rx_burst(&mut Buffers::direct(&r), &mut out);
        assert_eq!(n, 32);
        for &idx in &out[..n] {
            let m = meta(&r, idx);
            assert_eq!(m.data_off as u32, r.headroom());
            assert_eq!(m.len as usize, size);
            assert_eq!(m.in_port, 3);
            assert_eq!(m.owner, owner::MANAGER);
            assert_eq!(
                (m.chain, m.chain_index, m.action, m.src, m.flags),
                (0, 0, 0, 0, 0)
            );
            assert!(m.timestamp > 0);
            let f = frame(&r, idx);
            let h = parse(&f).expect("parses");
            let l3 = if src.contains(':') {
                L3Kind::Ipv6
            } else {
                L3Kind::Ipv4
            };
            assert_eq!((h.l3, h.l4), (l3, L4Kind::Udp));
            assert!(verify_checksums(&f), "bad checksum in {f:02x?}");
            assert_eq!(ports_of(&f), (1024, 5001));
            assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 2]);
            assert_eq!(&f[6..12], &[2, 0, 0, 0, 0, 1]);
            assert_eq!(m.flow_hash, flow_hash(&f));
        }
        assert_eq!(p.stats.rx_packets.load(Ordering::Relaxed), 32);
        assert_eq!(p.stats.rx_bytes.load(Ordering::Relaxed), 32 * size as u64);
        r.free(&out[..n]);
    }
    assert_eq!(r.pool_available(), 1024);
}

#[test]
fn generator_flows_are_distinct_and_hashed() {
    let r = region();
    let mut p = gen_port(
        &r,
        GeneratorConfig {
            flows: 8,
            ..Default::default()
        },
    );
    let rx = p.rx.as_mut().unwrap();
    let mut out = [0u32; 16];
    assert_eq!(rx.rx_burst(&mut Buffers::direct(&r), &mut out), 16);
    let mut seen = HashSet::new();
    for (k, &idx) in out.iter().enumerate() {
        let f = frame(&r, idx);
        let (sp, dp) = ports_of(&f);
        assert_eq!(sp, 1024 + (k % 8) as u16, "round robin order");
        assert_eq!(dp, 5001);
        assert_eq!(meta(&r, idx).flow_hash, flow_hash(&f));
        seen.insert((sp, meta(&r, idx).flow_hash));
    }
    assert_eq!(seen.len(), 8);
    r.free(&out);

    // Random pattern: only configured flows, and (with enough frames) all of them.
    let mut p = gen_port(
        &r,
        GeneratorConfig {
            flows: 5,
            pattern: Pattern::Random,
            ..Default::default()
        },
    );
    let rx = p.rx.as_mut().unwrap();
    let mut ports = HashSet::new();
    for _ in 0..10 {
        let n = rx.rx_burst(&mut Buffers::direct(&r), &mut out);
        for &idx in &out[..n] {
            let f = frame(&r, idx);
            assert_eq!(meta(&r, idx).flow_hash, flow_hash(&f));
            ports.insert(ports_of(&f).0);
        }
        r.free(&out[..n]);
    }
    assert_eq!(ports, (1024..1029).collect());
}

#[test]
fn generator_beyond_65536_flows_varies_the_source_address() {
    let r = region();
    let mut p = gen_port(
        &r,
        GeneratorConfig {
            flows: 65536 + 2,
            ..Default::default()
        },
    );
    let rx = p.rx.as_mut().unwrap();
    let mut out = [0u32; 512];
    let mut seen = HashSet::new();
    let mut total = 0;
    while total < 65538 {
        let n = rx.rx_burst(&mut Buffers::direct(&r), &mut out);
        for &idx in &out[..n] {
            let f = frame(&r, idx);
            let h = parse(&f).unwrap();
            let src = h.ipv4(&f).unwrap().src();
            seen.insert((src, ports_of(&f).0));
        }
        total += n;
        r.free(&out[..n]);
    }
    assert_eq!(seen.len(), 65538);
    assert!(seen.contains(&([10, 0, 0, 2], 1024)));
    assert!(seen.contains(&([10, 0, 0, 2], 1025)));
}

#[test]
fn generator_bidirectional_alternates_directions_with_the_same_hash() {
    let r = region();
    for pattern in [Pattern::RoundRobin, Pattern::Random] {
        let mut p = gen_port(
            &r,
            GeneratorConfig {
                flows: 3,
                bidirectional: true,
                pattern,
                ..Default::default()
            },
        );
        let rx = p.rx.as_mut().unwrap();
        let mut out = [0u32; 60];
        assert_eq!(rx.rx_burst(&mut Buffers::direct(&r), &mut out), 60);
        let mut per_flow: std::collections::HashMap<u32, Vec<(u16, u16)>> = Default::default();
        for &idx in &out {
            let f = frame(&r, idx);
            let h = meta(&r, idx).flow_hash;
            assert_eq!(h, flow_hash(&f));
            per_flow.entry(h).or_default().push(ports_of(&f));
        }
        assert_eq!(per_flow.len(), 3, "{pattern:?}");
        for seq in per_flow.values() {
            for (k, &(sp, dp)) in seq.iter().enumerate() {
                if k % 2 == 0 {
                    assert_eq!(dp, 5001, "{pattern:?}: frame {k} of a flow goes forward");
                } else {
                    assert_eq!(sp, 5001, "{pattern:?}: frame {k} of a flow goes back");
                }
            }
        }
        // A reverse frame has swapped MACs and addresses too.
        let f = out
            .iter()
            .map(|&i| frame(&r, i))
            .find(|f| ports_of(f).0 == 5001)
            .unwrap();
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 1]);
        let h = parse(&f).unwrap();
        assert_eq!(h.ipv4(&f).unwrap().src(), [10, 0, 1, 1]);
        r.free(&out);
    }
}

#[test]
fn generator_count_stops_it() {
    let r = region();
    let mut p = gen_port(
        &r,
        GeneratorConfig {
            count: 100,
            ..Default::default()
        },
    );
    let rx = p.rx.as_mut().unwrap();
    let mut out = [0u32; 32];
    let mut total = 0;
    for _ in 0..10 {
        assert!(!rx.exhausted() || total == 100);
        let n = rx.rx_burst(&mut Buffers::direct(&r), &mut out);
        total += n;
        r.free(&out[..n]);
    }
    assert_eq!(total, 100);
    assert!(rx.exhausted());
    assert_eq!(p.stats.rx_packets.load(Ordering::Relaxed), 100);
}

#[test]
fn generator_counts_frames_it_had_no_buffer_for() {
    let r = region();
    let mut hog = vec![0u32; 1000];
    assert_eq!(r.alloc(&mut hog, owner::MANAGER), 1000);
    let mut p = gen_port(&r, GeneratorConfig::default());
    let rx = p.rx.as_mut().unwrap();
    let mut out = [0u32; 32];
    assert_eq!(rx.rx_burst(&mut Buffers::direct(&r), &mut out), 24);
    assert_eq!(rx.rx_burst(&mut Buffers::direct(&r), &mut out[24..]), 0);
    assert_eq!(p.stats.rx_no_buffer.load(Ordering::Relaxed), 8 + 8);
    assert_eq!(p.stats.drops()["rx_no_buffer"], 16);
    r.free(&hog);
    r.free(&out[..24]);
}

#[test]
fn generator_rate_limit_is_roughly_honoured() {
    let r = region();
    let rate = 20_000.0;
    let mut p = gen_port(
        &r,
        GeneratorConfig {
            rate_pps: rate,
            ..Default::default()
        },
    );
    let rx = p.rx.as_mut().unwrap();
    let mut out = [0u32; 32];
    let start = Instant::now();
    let mut total = 0usize;
    while start.elapsed() < Duration::from_millis(200) {
        let n = rx.rx_burst(&mut Buffers::direct(&r), &mut out);
        total += n;
        r.free(&out[..n]);
        std::thread::sleep(Duration::from_micros(100));
    }
    let expect = rate * start.elapsed().as_secs_f64();
    assert!(
        (total as f64) > 0.5 * expect && (total as f64) < 1.5 * expect,
        "sent {total}, expected about {expect}"
    );
}

fn open_err(kind: PortKind) -> String {
    let r = region();
    match open(
        0,
        &PortConfig {
            name: "gen0".into(),
            kind,
        },
        &r,
    ) {
        Ok(_) => panic!("opened"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn generator_refuses_bad_values() {
    let g = |f: fn(&mut GeneratorConfig)| {
        let mut c = GeneratorConfig::default();
        f(&mut c);
        open_err(PortKind::Generator(c))
    };
    assert_eq!(
        g(|c| c.size = 30),
        "port gen0: size 30 is below the 42-byte minimum of an Ethernet/IPv4/UDP frame"
    );
    let e = g(|c| {
        c.size = 60;
        c.src_ip = "fd00::1".into();
        c.dst_ip = "fd00::2".into();
    });
    assert!(e.contains("size 60") && e.contains("62-byte"), "{e}");
    let e = g(|c| c.size = 4000);
    assert!(
        e.starts_with("port gen0: size 4000") && e.contains("2048"),
        "{e}"
    );
    let e = g(|c| c.src_mac = "02:00:00:00:00".into());
    assert!(e.contains("src_mac"), "{e}");
    let e = g(|c| c.dst_ip = "10.0.1".into());
    assert!(e.contains("dst_ip"), "{e}");
    let e = g(|c| c.dst_ip = "::1".into());
    assert!(e.contains("families"), "{e}");
    let e = g(|c| c.rate_pps = -1.0);
    assert!(e.contains("rate_pps"), "{e}");
    let e = g(|c| c.flows = 0);
    assert!(e.contains("flows"), "{e}");
    let e = g(|c| {
        c.flows = 10_000_000;
        c.size = 1500;
    });
    assert!(e.contains("flows 10000000"), "{e}");
}

#[test]
fn null_frees_everything() {
    let r = region();
    let mut g = gen_port(
        &r,
        GeneratorConfig {
            size: 100,
            ..Default::default()
        },
    );
    let mut sink = open(
        1,
        &PortConfig {
            name: "sink".into(),
            kind: PortKind::Null,
        },
        &r,
    )
    .unwrap();
    assert_eq!(sink.kind, "null");
    assert!(sink.rx.is_none());
    let tx = sink.tx.as_mut().unwrap();
    let mut out = [0u32; 64];
    for _ in 0..100 {
        let n =
            g.rx.as_mut()
                .unwrap()
                .rx_burst(&mut Buffers::direct(&r), &mut out);
        assert_eq!(tx.tx_burst(&mut Buffers::direct(&r), &out[..n]), n);
    }
    assert_eq!(r.pool_available(), 1024);
    assert_eq!(sink.stats.tx_packets.load(Ordering::Relaxed), 6400);
    assert_eq!(sink.stats.tx_bytes.load(Ordering::Relaxed), 640_000);
}

// ---- pcap ---------------------------------------------------------------------------------

/// Distinct, valid frames of assorted sizes.
fn sample_frames() -> Vec<Vec<u8>> {
    (0..50u16)
        .map(|i| {
            let len = 60 + (i as usize * 37) % 1400;
            let mut f = vec![0u8; len];
            sluice_wire::write_udp_ipv4(
                &mut f,
                [2, 0, 0, 0, 0, 1],
                [2, 0, 0, 0, 0, 2],
                [10, 0, 0, i as u8],
                [10, 0, 1, 1],
                1000 + i,
                53,
                len,
            )
            .unwrap();
            f
        })
        .collect()
}

fn write_capture(path: &PathBuf, format: Format, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::create(path, format).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(1_700_000_000_000_000_000 + i as u64 * 1000, f)
            .unwrap();
    }
    w.into_inner().unwrap();
}

fn read_capture(path: &PathBuf) -> Vec<Vec<u8>> {
    let mut r = PcapReader::open(path).unwrap();
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    while let Some(_info) = r.next_packet(&mut buf).unwrap() {
        frames.push(buf.clone());
    }
    frames
}

fn pcap_port(r: &Region, name: &str, cfg: PcapConfig) -> Result<Port, PortError> {
    open(
        2,
        &PortConfig {
            name: name.into(),
            kind: PortKind::Pcap(cfg),
        },
        r,
    )
}

/// Replay `rx` into `tx` until the source is exhausted; returns frames moved.
fn pump(r: &Region, rx: &mut Port, tx: &mut Port) -> usize {
    let mut out = [0u32; 7];
    let mut total = 0;
    let rxh = rx.rx.as_mut().unwrap();
    let txh = tx.tx.as_mut().unwrap();
    for _ in 0..100_000 {
        if rxh.exhausted() {
            break;
        }
        let n = rxh.rx_burst(&mut Buffers::direct(r), &mut out);
        for &idx in &out[..n] {
            let f = frame(r, idx);
            assert_eq!(meta(r, idx).flow_hash, flow_hash(&f));
            assert_eq!(meta(r, idx).in_port, 2);
        }
        assert_eq!(txh.tx_burst(&mut Buffers::direct(r), &out[..n]), n);
        total += n;
    }
    assert!(rxh.exhausted());
    txh.flush(&mut Buffers::direct(r));
    total
}

#[test]
fn pcap_replay_and_record_round_trip() {
    let r = region();
    let frames = sample_frames();
    let input = tmp("in.pcap");
    let output = tmp("out.pcapng");
    write_capture(&input, Format::Pcap, &frames);

    let mut src = pcap_port(
        &r,
        "replay",
        PcapConfig {
            read: Some(input.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(src.tx.is_none());
    assert!(src.rx.as_ref().unwrap().provides_flow_hash());
    let mut dst = pcap_port(
        &r,
        "record",
        PcapConfig {
            write: Some(output.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(dst.rx.is_none());
    assert_eq!(pump(&r, &mut src, &mut dst), frames.len());
    drop(dst);
    assert_eq!(r.pool_available(), 1024);
    assert_eq!(src.stats.rx_packets.load(Ordering::Relaxed), 50);

    let back = read_capture(&output);
    assert_eq!(PcapReader::open(&output).unwrap().format(), Format::PcapNg);
    assert_eq!(back.len(), frames.len());
    for (a, b) in back.iter().zip(&frames) {
        assert_eq!(a, b);
    }
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
}

#[test]
fn pcap_loops_and_malformed_frames() {
    let r = region();
    let mut frames = sample_frames();
    frames.truncate(10);
    let mut with_bad = frames.clone();
    with_bad.insert(3, vec![0xab; 3000]); // longer than the 2048-byte data room
    with_bad.insert(7, vec![0xcd; 10]); // shorter than an Ethernet header
    let input = tmp("loops.pcapng");
    let output = tmp("loops.pcap");
    write_capture(&input, Format::PcapNg, &with_bad);

    let mut src = pcap_port(
        &r,
        "replay",
        PcapConfig {
            read: Some(input.clone()),
            loops: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let mut dst = pcap_port(
        &r,
        "record",
        PcapConfig {
            write: Some(output.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(pump(&r, &mut src, &mut dst), 20);
    assert_eq!(src.stats.rx_malformed.load(Ordering::Relaxed), 4);
    assert_eq!(src.stats.drops()["rx_malformed"], 4);
    dst.tx.as_mut().unwrap().flush(&mut Buffers::direct(&r));
    let back = read_capture(&output);
    let twice: Vec<_> = frames.iter().chain(&frames).cloned().collect();
    assert_eq!(back, twice);
    assert_eq!(dst.stats.tx_packets.load(Ordering::Relaxed), 20);
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
}

#[test]
fn pcap_one_port_can_replay_and_record() {
    let r = region();
    let frames = sample_frames();
    let input = tmp("both.pcap");
    let output = tmp("both-out.pcap");
    write_capture(&input, Format::Pcap, &frames);
    let mut p = pcap_port(
        &r,
        "both",
        PcapConfig {
            read: Some(input.clone()),
            write: Some(output.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p.kind, "pcap");
    let mut out = [0u32; 64];
    let n =
        p.rx.as_mut()
            .unwrap()
            .rx_burst(&mut Buffers::direct(&r), &mut out);
    assert_eq!(n, 50);
    assert!(p.rx.as_ref().unwrap().exhausted());
    assert_eq!(
        p.tx.as_mut()
            .unwrap()
            .tx_burst(&mut Buffers::direct(&r), &out[..n]),
        n
    );
    drop(p); // flushes on drop
    assert_eq!(read_capture(&output), frames);
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
}

#[test]
fn pcap_read_error_mid_file_ends_the_replay() {
    let r = region();
    let frames = sample_frames();
    let input = tmp("cut.pcap");
    write_capture(&input, Format::Pcap, &frames[..5]);
    // Cut the file in the middle of the last record.
    let len = std::fs::metadata(&input).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&input)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let mut p = pcap_port(
        &r,
        "cut",
        PcapConfig {
            read: Some(input.clone()),
            loops: 0,
            ..Default::default()
        },
    )
    .unwrap();
    let rx = p.rx.as_mut().unwrap();
    let mut out = [0u32; 64];
    let n = rx.rx_burst(&mut Buffers::direct(&r), &mut out);
    assert_eq!(n, 4);
    assert!(rx.exhausted());
    assert_eq!(rx.rx_burst(&mut Buffers::direct(&r), &mut out[n..]), 0);
    assert_eq!(p.stats.rx_errors.load(Ordering::Relaxed), 1);
    r.free(&out[..n]);
    assert_eq!(r.pool_available(), 1024);
    let _ = std::fs::remove_file(&input);
}

#[test]
fn pcap_replay_rate_limit() {
    let r = region();
    let frames = sample_frames();
    let input = tmp("rate.pcap");
    write_capture(&input, Format::Pcap, &frames);
    let rate = 10_000.0;
    let mut p = pcap_port(
        &r,
        "rate",
        PcapConfig {
            read: Some(input.clone()),
            loops: 0,
            rate_pps: rate,
            ..Default::default()
        },
    )
    .unwrap();
    let rx = p.rx.as_mut().unwrap();
    let mut out = [0u32; 32];
    let start = Instant::now();
    let mut total = 0usize;
    while start.elapsed() < Duration::from_millis(200) {
        let n = rx.rx_burst(&mut Buffers::direct(&r), &mut out);
        total += n;
        r.free(&out[..n]);
        std::thread::sleep(Duration::from_micros(100));
    }
    let expect = rate * start.elapsed().as_secs_f64();
    assert!(
        (total as f64) > 0.5 * expect && (total as f64) < 1.5 * expect,
        "replayed {total}, expected about {expect}"
    );
    let _ = std::fs::remove_file(&input);
}

#[test]
fn pcap_config_errors() {
    let r = region();
    let missing = tmp("does-not-exist.pcap");
    let e = match pcap_port(
        &r,
        "p0",
        PcapConfig {
            read: Some(missing.clone()),
            ..Default::default()
        },
    ) {
        Err(e) => e,
        Ok(_) => panic!("opened a missing file"),
    };
    assert!(matches!(e, PortError::Io { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("port p0:") && msg.contains(&*missing.to_string_lossy()),
        "{msg}"
    );

    let e = pcap_port(&r, "p1", PcapConfig::default()).err().unwrap();
    assert!(matches!(e, PortError::Config { .. }));
    assert!(
        e.to_string().contains("read") && e.to_string().contains("write"),
        "{e}"
    );

    // A capture of another link type.
    let raw = tmp("raw.pcap");
    let mut hdr = Vec::new();
    hdr.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&65535u32.to_le_bytes());
    hdr.extend_from_slice(&101u32.to_le_bytes()); // LINKTYPE_RAW
    std::fs::write(&raw, &hdr).unwrap();
    let e = pcap_port(
        &r,
        "p2",
        PcapConfig {
            read: Some(raw.clone()),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("link type 101"), "{e}");
    let _ = std::fs::remove_file(&raw);

    let e = pcap_port(
        &r,
        "p3",
        PcapConfig {
            write: Some(tmp("x.pcap")),
            snaplen: 0,
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("snaplen"), "{e}");

    let e = pcap_port(
        &r,
        "p4",
        PcapConfig {
            write: Some("/nonexistent-dir/x.pcap".into()),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("/nonexistent-dir/x.pcap"), "{e}");
}
