//! Unit tests: round trips, literal files, every error.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::*;

// ---- helpers ---------------------------------------------------------------

type Packets = Vec<(PacketInfo, Vec<u8>)>;

fn read_all(bytes: &[u8]) -> Result<Packets> {
    let mut r = PcapReader::new(bytes)?;
    collect(&mut r)
}

fn collect<R: Read>(r: &mut PcapReader<R>) -> Result<Packets> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(info) = r.next_packet(&mut buf)? {
        assert_eq!(info.caplen, buf.len());
        out.push((info, buf.clone()));
    }
    Ok(out)
}

/// Reads until the first error and returns it (panics if there is none).
fn first_error(bytes: &[u8]) -> PcapError {
    match read_all(bytes) {
        Ok(p) => panic!("expected an error, read {} packets", p.len()),
        Err(e) => e,
    }
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn u16b(be: bool, v: u16) -> [u8; 2] {
    if be {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

fn u32b(be: bool, v: u32) -> [u8; 4] {
    if be {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

/// A pcapng block: body is padded to 4 bytes, lengths filled in.
fn ng_block(be: bool, ty: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len() + pad4(body.len());
    let total = (12 + padded) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&u32b(be, ty));
    b.extend_from_slice(&u32b(be, total));
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&u32b(be, total));
    b
}

fn ng_shb(be: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(be, BYTE_ORDER_MAGIC));
    body.extend_from_slice(&u16b(be, 1));
    body.extend_from_slice(&u16b(be, 0));
    body.extend_from_slice(&[0xff; 8]);
    ng_block(be, BT_SHB, &body)
}

fn ng_idb(be: bool, linktype: u16, snaplen: u32, opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16b(be, linktype));
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&u32b(be, snaplen));
    if !opts.is_empty() {
        for (code, val) in opts {
            body.extend_from_slice(&u16b(be, *code));
            body.extend_from_slice(&u16b(be, val.len() as u16));
            body.extend_from_slice(val);
            body.resize(body.len() + pad4(val.len()), 0);
        }
        body.extend_from_slice(&[0; 4]);
    }
    ng_block(be, BT_IDB, &body)
}

fn ng_epb(be: bool, iface: u32, ts: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(be, iface));
    body.extend_from_slice(&u32b(be, (ts >> 32) as u32));
    body.extend_from_slice(&u32b(be, ts as u32));
    body.extend_from_slice(&u32b(be, data.len() as u32));
    body.extend_from_slice(&u32b(be, orig));
    body.extend_from_slice(data);
    ng_block(be, BT_EPB, &body)
}

fn ng_simple(be: bool) -> Vec<u8> {
    let mut f = ng_shb(be);
    f.extend(ng_idb(be, 1, 0, &[]));
    f
}

/// Little-endian microsecond pcap header.
fn pcap_hdr_le() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&PCAP_MAGIC_MICRO.to_le_bytes());
    h.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h
}

fn pcap_rec_le(caplen: u32, orig: u32) -> Vec<u8> {
    let mut r = vec![0u8; 8];
    r.extend_from_slice(&caplen.to_le_bytes());
    r.extend_from_slice(&orig.to_le_bytes());
    r
}

// ---- Format ----------------------------------------------------------------

#[test]
fn format_from_path() {
    assert_eq!(Format::from_path(Path::new("a/b.pcapng")), Format::PcapNg);
    assert_eq!(Format::from_path(Path::new("B.PCAPNG")), Format::PcapNg);
    assert_eq!(Format::from_path(Path::new("x.pcap")), Format::Pcap);
    assert_eq!(Format::from_path(Path::new("x.cap")), Format::Pcap);
    assert_eq!(Format::from_path(Path::new("noext")), Format::Pcap);
    assert_eq!(Format::from_path(Path::new("x.pcapng.gz")), Format::Pcap);
}

// ---- round trips -------------------------------------------------------------

const SIZES: [usize; 13] = [0, 1, 2, 3, 4, 5, 59, 60, 64, 1514, 1515, 9000, 9001];

fn round_trip(format: Format, timestamps: &[u64]) {
    let mut w = PcapWriter::new(Vec::new(), format, MAX_CAPLEN).unwrap();
    let frames: Vec<Vec<u8>> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &n)| frame(n, i as u8))
        .collect();
    for (f, &ts) in frames.iter().zip(timestamps) {
        w.write_packet(ts, f).unwrap();
    }
    assert_eq!(w.packets_written(), frames.len() as u64);
    let written = w.bytes_written();
    let bytes = w.into_inner().unwrap();
    assert_eq!(bytes.len() as u64, written);

    let mut r = PcapReader::new(&bytes[..]).unwrap();
    assert_eq!(r.format(), format);
    assert_eq!(r.linktype(), Some(LINKTYPE_ETHERNET));
    let got = collect(&mut r).unwrap();
    assert_eq!(r.offset(), bytes.len() as u64);
    assert_eq!(got.len(), frames.len());
    for ((info, data), (f, &ts)) in got.iter().zip(frames.iter().zip(timestamps)) {
        assert_eq!(data, f);
        assert_eq!(info.ts_nanos, ts);
        assert_eq!(info.caplen, f.len());
        assert_eq!(info.orig_len, f.len());
        assert_eq!(info.interface, 0);
        assert_eq!(info.linktype, LINKTYPE_ETHERNET);
    }
}

fn timestamps(last: u64) -> Vec<u64> {
    let mut ts: Vec<u64> = (0..SIZES.len() as u64)
        .map(|i| 1_700_000_000_000_000_000 + i * 1_000_000_007)
        .collect();
    ts[0] = 0;
    ts[1] = 1;
    ts[2] = 999_999_999;
    *ts.last_mut().unwrap() = last;
    ts
}

#[test]
fn round_trip_pcap() {
    // Largest representable: 2^32-1 seconds plus 999999999 ns.
    round_trip(
        Format::Pcap,
        &timestamps(u64::from(u32::MAX) * 1_000_000_000 + 999_999_999),
    );
}

#[test]
fn round_trip_pcapng() {
    round_trip(Format::PcapNg, &timestamps(u64::MAX));
}

#[test]
fn snaplen_clips_but_keeps_orig_len() {
    for format in [Format::Pcap, Format::PcapNg] {
        let mut w = PcapWriter::new(Vec::new(), format, 100).unwrap();
        assert_eq!(w.snaplen(), 100);
        let big = frame(1514, 7);
        w.write_packet(5, &big).unwrap();
        w.write_packet(6, &big[..100]).unwrap();
        w.write_packet(7, &big[..99]).unwrap();
        let bytes = w.into_inner().unwrap();
        let mut r = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(r.interfaces()[0].snaplen, 100);
        let got = collect(&mut r).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].0.caplen, got[0].0.orig_len), (100, 1514));
        assert_eq!(got[0].1, &big[..100]);
        assert_eq!((got[1].0.caplen, got[1].0.orig_len), (100, 100));
        assert_eq!((got[2].0.caplen, got[2].0.orig_len), (99, 99));
        assert_eq!(got[2].1, &big[..99]);
    }
}

#[test]
fn create_and_open_file() {
    let dir = std::env::temp_dir().join(format!("sluice-pcap-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["t.pcap", "t.pcapng"] {
        let path = dir.join(name);
        let format = Format::from_path(&path);
        let mut w = PcapWriter::create(&path, format).unwrap();
        assert_eq!(w.format(), format);
        w.write_packet(42, &frame(60, 1)).unwrap();
        w.flush().unwrap();
        drop(w);
        let mut r = PcapReader::open(&path).unwrap();
        assert_eq!(r.format(), format);
        let got = collect(&mut r).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.ts_nanos, 42);
        assert_eq!(got[0].1, frame(60, 1));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn buffer_capacity_is_reused() {
    let mut w = PcapWriter::new(Vec::new(), Format::PcapNg, MAX_CAPLEN).unwrap();
    w.write_packet(1, &frame(9000, 0)).unwrap();
    for i in 0..50 {
        w.write_packet(2 + i, &frame(64 + i as usize * 100, 3))
            .unwrap();
    }
    let bytes = w.into_inner().unwrap();
    let mut r = PcapReader::new(&bytes[..]).unwrap();
    let mut buf = Vec::new();
    r.next_packet(&mut buf).unwrap().unwrap();
    let (ptr, cap) = (buf.as_ptr(), buf.capacity());
    let mut n = 1;
    while let Some(info) = r.next_packet(&mut buf).unwrap() {
        assert_eq!(buf.len(), info.caplen);
        assert_eq!(buf.as_ptr(), ptr);
        assert_eq!(buf.capacity(), cap);
        n += 1;
    }
    assert_eq!(n, 51);
}

// ---- writer byte layout ------------------------------------------------------

#[test]
fn writer_pcap_bytes() {
    let mut w = PcapWriter::new(Vec::new(), Format::Pcap, 65535).unwrap();
    w.write_packet(1_700_000_000_123_456_789, &[0xaa, 0xbb, 0xcc])
        .unwrap();
    let bytes = w.into_inner().unwrap();
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x4d, 0x3c, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, // magic (ns), 2.4
        0, 0, 0, 0, 0, 0, 0, 0,                         // thiszone, sigfigs
        0xff, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // snaplen, ethernet
        0x00, 0xf1, 0x53, 0x65, 0x15, 0xcd, 0x5b, 0x07, // 1700000000 s, 123456789 ns
        0x03, 0, 0, 0, 0x03, 0, 0, 0,                   // caplen, orig len
        0xaa, 0xbb, 0xcc,
    ];
    assert_eq!(bytes, expected);
}

#[test]
fn writer_pcapng_blocks() {
    let w = PcapWriter::with_interface_name(Vec::new(), Format::PcapNg, 1500, "port0").unwrap();
    let hdr_len = w.bytes_written() as usize;
    let mut w = w;
    w.write_packet(0x0102_0304_0506_0708, &[1, 2, 3, 4, 5])
        .unwrap();
    w.write_packet(9, &[]).unwrap();
    let bytes = w.into_inner().unwrap();

    // SHB then IDB with if_name and if_tsresol = 9.
    assert_eq!(&bytes[0..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
    assert_eq!(&bytes[8..12], &BYTE_ORDER_MAGIC.to_le_bytes());
    let shb_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(&bytes[shb_len - 4..shb_len], &bytes[4..8]);
    let idb = &bytes[shb_len..hdr_len];
    assert_eq!(&idb[0..4], &[1, 0, 0, 0]);
    assert_eq!(
        idb.len(),
        u32::from_le_bytes(idb[4..8].try_into().unwrap()) as usize
    );
    #[rustfmt::skip]
    let idb_body: &[u8] = &[
        1, 0, 0, 0, 0xdc, 0x05, 0, 0,             // ethernet, reserved, snaplen 1500
        2, 0, 5, 0, b'p', b'o', b'r', b't', b'0', 0, 0, 0, // if_name "port0" + pad
        9, 0, 1, 0, 9, 0, 0, 0,                   // if_tsresol = 9 + pad
        0, 0, 0, 0,                               // opt_endofopt
    ];
    assert_eq!(&idb[8..idb.len() - 4], idb_body);

    #[rustfmt::skip]
    let epbs: &[u8] = &[
        6, 0, 0, 0, 40, 0, 0, 0,                 // EPB, total length 40
        0, 0, 0, 0,                              // interface 0
        0x04, 0x03, 0x02, 0x01, 0x08, 0x07, 0x06, 0x05, // ts high, ts low
        5, 0, 0, 0, 5, 0, 0, 0,                  // caplen, orig len
        1, 2, 3, 4, 5, 0, 0, 0,                  // data + 3 bytes padding
        40, 0, 0, 0,                             // trailing length
        6, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0, 0,     // empty frame: length 32
        0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        32, 0, 0, 0,
    ];
    assert_eq!(&bytes[hdr_len..], epbs);

    let mut r = PcapReader::new(&bytes[..]).unwrap();
    let iface = &r.interfaces()[0];
    assert_eq!(iface.name.as_deref(), Some("port0"));
    assert_eq!(iface.ts_resolution, 9);
    assert_eq!(iface.snaplen, 1500);
    let got = collect(&mut r).unwrap();
    assert_eq!(got[0].0.ts_nanos, 0x0102_0304_0506_0708);
    assert_eq!(got[1].0.caplen, 0);
}

#[test]
fn interface_name_ignored_for_pcap() {
    let a = PcapWriter::with_interface_name(Vec::new(), Format::Pcap, 100, "x").unwrap();
    let b = PcapWriter::new(Vec::new(), Format::Pcap, 100).unwrap();
    assert_eq!(a.into_inner().unwrap(), b.into_inner().unwrap());
}

// ---- literal files -----------------------------------------------------------

#[test]
fn literal_pcap_little_endian_micro() {
    #[rustfmt::skip]
    let file: &[u8] = &[
        0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, // magic (us, LE), 2.4
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // thiszone, sigfigs
        0xff, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // snaplen 65535, ethernet
        // record 1: 1700000000 s, 123456 us, caplen 4, orig 60
        0x00, 0xf1, 0x53, 0x65, 0x40, 0xe2, 0x01, 0x00,
        0x04, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00,
        0xde, 0xad, 0xbe, 0xef,
        // record 2: 1700000001 s, 999999 us, caplen 1, orig 1
        0x01, 0xf1, 0x53, 0x65, 0x3f, 0x42, 0x0f, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x42,
    ];
    let mut r = PcapReader::new(file).unwrap();
    assert_eq!(r.format(), Format::Pcap);
    assert_eq!(r.linktype(), Some(1));
    assert_eq!(r.interfaces()[0].ts_resolution, 6);
    assert_eq!(r.interfaces()[0].snaplen, 65535);
    let got = collect(&mut r).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].0,
        PacketInfo {
            ts_nanos: 1_700_000_000_123_456_000,
            caplen: 4,
            orig_len: 60,
            interface: 0,
            linktype: 1
        }
    );
    assert_eq!(got[0].1, [0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(got[1].0.ts_nanos, 1_700_000_001_999_999_000);
    assert_eq!(got[1].1, [0x42]);
}

#[test]
fn literal_pcap_big_endian_nano() {
    #[rustfmt::skip]
    let file: &[u8] = &[
        0xa1, 0xb2, 0x3c, 0x4d, 0x00, 0x02, 0x00, 0x04, // magic (ns, BE), 2.4
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x05, 0xdc, 0x00, 0x00, 0x00, 0x71, // snaplen 1500, linktype 113
        0x65, 0x53, 0xf1, 0x00, 0x07, 0x5b, 0xcd, 0x15, // 1700000000 s, 123456789 ns
        0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03,
        0x01, 0x02, 0x03,
    ];
    let mut r = PcapReader::new(file).unwrap();
    assert_eq!(r.linktype(), Some(113));
    assert_eq!(r.interfaces()[0].ts_resolution, 9);
    let got = collect(&mut r).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.ts_nanos, 1_700_000_000_123_456_789);
    assert_eq!(got[0].0.linktype, 113);
    assert_eq!(got[0].1, [1, 2, 3]);
}

#[test]
fn literal_pcap_big_endian_micro_and_le_nano() {
    #[rustfmt::skip]
    let be_micro: &[u8] = &[
        0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x02, 0x00, 0x04,
        0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x04, 0x00, 0x00, 0x10, 0x00, 0x00, 0x01, // FCS bits in the top of the link type
        0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07, // 2 s, 7 us
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x40,
        0x99,
    ];
    let got = read_all(be_micro).unwrap();
    assert_eq!(got[0].0.ts_nanos, 2_000_007_000);
    assert_eq!(got[0].0.linktype, 1);
    assert_eq!(got[0].0.orig_len, 64);

    #[rustfmt::skip]
    let le_nano: &[u8] = &[
        0x4d, 0x3c, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00,
        0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x02, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, // 2 s, 7 ns
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // empty record
    ];
    let got = read_all(le_nano).unwrap();
    assert_eq!(got[0].0.ts_nanos, 2_000_000_007);
    assert_eq!(got[0].0.caplen, 0);
}

#[test]
fn literal_pcapng_spb_and_unknown_block() {
    #[rustfmt::skip]
    let file: &[u8] = &[
        // SHB, 28 bytes: BOM, 1.0, section length -1
        0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0x00, 0x00, 0x00,
        0x4d, 0x3c, 0x2b, 0x1a, 0x01, 0x00, 0x00, 0x00,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x1c, 0x00, 0x00, 0x00,
        // unknown block type 0xbad before any interface, 16 bytes
        0xad, 0x0b, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
        0x01, 0x02, 0x03, 0x04, 0x10, 0x00, 0x00, 0x00,
        // IDB, 20 bytes: ethernet, snaplen 0 (unlimited), no options
        0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x14, 0x00, 0x00, 0x00,
        // SPB, 24 bytes: orig len 5, "abcde" + 3 bytes padding
        0x03, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
        0x05, 0x00, 0x00, 0x00, 0x61, 0x62, 0x63, 0x64,
        0x65, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
        // Name Resolution Block (type 4), 16 bytes: skipped
        0x04, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
        // EPB, 36 bytes: iface 0, ts 1000 (default resolution: us), "xyz"
        0x06, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xe8, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x00, 0x78, 0x79, 0x7a, 0x00,
        0x24, 0x00, 0x00, 0x00,
    ];
    let mut r = PcapReader::new(file).unwrap();
    assert_eq!(r.format(), Format::PcapNg);
    assert_eq!(r.linktype(), Some(1));
    assert_eq!(r.interfaces()[0].ts_resolution, 6);
    let got = collect(&mut r).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].0,
        PacketInfo {
            ts_nanos: 0,
            caplen: 5,
            orig_len: 5,
            interface: 0,
            linktype: 1
        }
    );
    assert_eq!(got[0].1, b"abcde");
    assert_eq!(got[1].0.ts_nanos, 1_000_000);
    assert_eq!(got[1].1, b"xyz");
    assert_eq!(r.offset(), file.len() as u64);
}

#[test]
fn pcapng_spb_clipped_by_snaplen() {
    let mut f = ng_shb(false);
    f.extend(ng_idb(false, 1, 2, &[]));
    let mut body = 5u32.to_le_bytes().to_vec();
    body.extend_from_slice(b"ab");
    f.extend(ng_block(false, BT_SPB, &body));
    let got = read_all(&f).unwrap();
    assert_eq!((got[0].0.caplen, got[0].0.orig_len), (2, 5));
    assert_eq!(got[0].1, b"ab");
}

#[test]
fn pcapng_big_endian_tsresol_multi_section() {
    // Section 1, big-endian: iface 0 in 2^-10 s units with if_name and a
    // +10 s offset, iface 1 in milliseconds with linktype 113.
    let mut f = ng_shb(true);
    f.extend(ng_idb(
        true,
        1,
        65535,
        &[
            (OPT_IF_NAME, b"eth0\0"),
            (OPT_IF_TSRESOL, &[0x80 | 10]),
            (OPT_IF_TSOFFSET, &10i64.to_be_bytes()),
            (1, b"a comment"),
        ],
    ));
    f.extend(ng_idb(true, 113, 0, &[(OPT_IF_TSRESOL, &[3])]));
    f.extend(ng_epb(true, 0, 1536, b"one", 3)); // 1.5 s + 10 s
    f.extend(ng_epb(true, 1, 2_500, b"two", 3)); // 2.5 s
                                                 // Section 2, little-endian, interface ids restart; 10^-12 s units.
    f.extend(ng_shb(false));
    f.extend(ng_idb(false, 1, 0, &[(OPT_IF_TSRESOL, &[12])]));
    f.extend(ng_epb(false, 0, 7_000_000_000_123, b"three", 300));

    let mut r = PcapReader::new(&f[..]).unwrap();
    assert_eq!(r.linktype(), Some(1));
    assert_eq!(r.interfaces().len(), 1); // only the first IDB is read ahead
    assert_eq!(r.interfaces()[0].name.as_deref(), Some("eth0"));
    assert_eq!(r.interfaces()[0].ts_resolution, 0x8a);
    assert_eq!(r.interfaces()[0].ts_offset_secs, 10);
    let got = collect(&mut r).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].0.ts_nanos, 11_500_000_000);
    assert_eq!((got[0].0.interface, got[0].0.linktype), (0, 1));
    assert_eq!(got[1].0.ts_nanos, 2_500_000_000);
    assert_eq!((got[1].0.interface, got[1].0.linktype), (1, 113));
    assert_eq!(got[2].0.ts_nanos, 7_000_000_000);
    assert_eq!((got[2].0.caplen, got[2].0.orig_len), (5, 300));
    assert_eq!(got[2].1, b"three");
    // After the second SHB only its own interface is known.
    assert_eq!(r.interfaces().len(), 1);
    assert_eq!(r.linktype(), Some(1));
}

#[test]
fn pcapng_obsolete_packet_block_and_epb_options() {
    let mut f = ng_simple(false);
    let mut body = Vec::new();
    body.extend_from_slice(&0u16.to_le_bytes()); // interface
    body.extend_from_slice(&0u16.to_le_bytes()); // drops
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&77u32.to_le_bytes());
    body.extend_from_slice(&2u32.to_le_bytes());
    body.extend_from_slice(&2u32.to_le_bytes());
    body.extend_from_slice(b"pb\0\0");
    body.extend_from_slice(&[1, 0, 3, 0, b'c', b'm', b't', 0, 0, 0, 0, 0]); // comment option
    f.extend(ng_block(false, BT_PB, &body));
    // EPB with options after the data
    let mut epb = ng_epb(false, 0, 5, b"e", 1);
    let trailer_at = epb.len() - 4;
    epb.splice(trailer_at..trailer_at, [2, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0]); // epb_flags
    let len = epb.len() as u32;
    epb[4..8].copy_from_slice(&len.to_le_bytes());
    epb[trailer_at + 12..].copy_from_slice(&len.to_le_bytes());
    f.extend(epb);
    let got = read_all(&f).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0.ts_nanos, 77_000);
    assert_eq!(got[0].1, b"pb");
    assert_eq!(got[1].0.ts_nanos, 5_000);
    assert_eq!(got[1].1, b"e");
}

#[test]
fn pcapng_without_interfaces() {
    let f = ng_shb(false);
    let mut r = PcapReader::new(&f[..]).unwrap();
    assert_eq!(r.linktype(), None);
    assert!(r.interfaces().is_empty());
    assert_eq!(r.next_packet(&mut Vec::new()).unwrap(), None);
}

#[test]
fn reads_through_short_and_interrupted_reads() {
    struct Trickle<'a>(&'a [u8], bool);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1 = !self.1;
            if self.1 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }
    for format in [Format::Pcap, Format::PcapNg] {
        let mut w = PcapWriter::new(Vec::new(), format, 9000).unwrap();
        w.write_packet(3, &frame(300, 1)).unwrap();
        w.write_packet(4, &frame(1, 2)).unwrap();
        let bytes = w.into_inner().unwrap();
        let mut r = PcapReader::new(Trickle(&bytes, false)).unwrap();
        let got = collect(&mut r).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, frame(300, 1));
        assert_eq!(got[1].0.ts_nanos, 4);
    }
}

// ---- reader errors -------------------------------------------------------------

fn assert_msg(e: &PcapError, expected: &str) {
    assert_eq!(e.to_string(), expected, "{e:?}");
}

#[test]
fn error_empty() {
    let e = first_error(&[]);
    assert!(matches!(e, PcapError::Empty));
    assert_msg(&e, "not a pcap or pcapng file: the file is empty");
}

#[test]
fn error_bad_magic() {
    let e = first_error(b"GIF89a\x01\x00");
    assert!(matches!(e, PcapError::BadMagic { magic: 0x4749_4638 }));
    assert_msg(&e, "not a pcap or pcapng file: magic 0x47494638");
}

#[test]
fn error_truncated_magic_and_pcap_header() {
    let e = first_error(&[0xd4, 0xc3]);
    assert_msg(
        &e,
        "truncated file magic at offset 0: need 4 bytes, file ends after 2",
    );
    let e = first_error(&pcap_hdr_le()[..10]);
    assert!(matches!(
        e,
        PcapError::TruncatedHeader {
            needed: 24,
            available: 10,
            ..
        }
    ));
    assert_msg(
        &e,
        "truncated pcap file header at offset 0: need 24 bytes, file ends after 10",
    );
}

#[test]
fn error_pcap_unsupported_version() {
    let mut f = pcap_hdr_le();
    f[4] = 1;
    f[6] = 0;
    let e = first_error(&f);
    assert_msg(&e, "pcap file header at offset 0: unsupported version 1.0");
}

#[test]
fn error_truncated_record_header() {
    let mut f = pcap_hdr_le();
    f.extend(pcap_rec_le(1, 1));
    f.push(0);
    f.extend_from_slice(&[0; 5]);
    let e = first_error(&f);
    assert_msg(
        &e,
        "truncated pcap packet record header at offset 41: need 16 bytes, file ends after 5",
    );
}

#[test]
fn error_truncated_packet() {
    let mut f = pcap_hdr_le();
    f.extend(pcap_rec_le(1500, 1500));
    f.extend_from_slice(&[0; 100]);
    let mut r = PcapReader::new(&f[..]).unwrap();
    let mut buf = Vec::new();
    let e = r.next_packet(&mut buf).unwrap_err();
    assert!(matches!(
        e,
        PcapError::TruncatedPacket {
            offset: 24,
            caplen: 1500,
            available: 100
        }
    ));
    assert_msg(
        &e,
        "truncated packet record at offset 24: header says 1500 bytes, file ends after 100",
    );
    assert_eq!(buf.len(), 100);
}

#[test]
fn error_pcap_caplen_too_large() {
    // Exactly the limit is fine.
    let mut f = pcap_hdr_le();
    f.extend(pcap_rec_le(MAX_CAPLEN, MAX_CAPLEN));
    f.resize(f.len() + MAX_CAPLEN as usize, 0xab);
    assert_eq!(read_all(&f).unwrap()[0].0.caplen, MAX_CAPLEN as usize);

    let mut f = pcap_hdr_le();
    f.extend(pcap_rec_le(MAX_CAPLEN + 1, MAX_CAPLEN + 1));
    let e = first_error(&f);
    assert_msg(
        &e,
        "pcap packet record at offset 24: captured length 262145 exceeds the 262144-byte limit (corrupt file?)",
    );
}

#[test]
fn error_pcapng_block_length_unaligned() {
    let mut f = ng_simple(false); // 28 + 20 = 48 bytes
    f.extend_from_slice(&[6, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0]);
    let e = first_error(&f);
    assert!(matches!(
        e,
        PcapError::BlockLengthUnaligned { offset: 48, len: 7 }
    ));
    assert_msg(
        &e,
        "pcapng block at offset 48: block length 7 is not a multiple of 4",
    );
}

#[test]
fn error_pcapng_block_length_out_of_range() {
    let mut f = ng_simple(false);
    f.extend_from_slice(&[6, 0, 0, 0, 28, 0, 0, 0]);
    let e = first_error(&f);
    assert_msg(
        &e,
        "pcapng enhanced packet block at offset 48: block length 28 is outside the valid range 32..=16777216",
    );

    let mut f = ng_simple(false);
    f.extend_from_slice(&[0x55, 0, 0, 0]);
    f.extend_from_slice(&(MAX_BLOCK_LEN + 4).to_le_bytes());
    let e = first_error(&f);
    assert!(matches!(
        e,
        PcapError::BlockLengthOutOfRange { offset: 48, .. }
    ));

    let mut f = ng_shb(false);
    f[4] = 24;
    let e = first_error(&f);
    assert_msg(
        &e,
        "pcapng section header block at offset 0: block length 24 is outside the valid range 28..=16777216",
    );
}

#[test]
fn error_pcapng_trailer_mismatch() {
    let mut f = ng_simple(false);
    let at = f.len();
    f.extend(ng_epb(false, 0, 1, b"abcd", 4));
    let end = f.len();
    f[end - 4] = 0x99;
    let e = first_error(&f);
    assert!(
        matches!(e, PcapError::BlockLengthMismatch { offset, len: 36, trailer: 0x99, .. } if offset == at as u64)
    );
    assert_msg(
        &e,
        "pcapng enhanced packet block at offset 48: trailing block length 153 does not match leading block length 36",
    );

    // Same check for an IDB (whose body is parsed in one piece).
    let mut f = ng_shb(false);
    let mut idb = ng_idb(false, 1, 0, &[]);
    idb[16] = 0;
    f.extend(idb);
    let e = first_error(&f);
    assert_msg(
        &e,
        "pcapng interface description block at offset 28: trailing block length 0 does not match leading block length 20",
    );
}

#[test]
fn error_pcapng_truncated_block() {
    let mut f = ng_simple(false);
    f.extend(ng_epb(false, 0, 1, &frame(1500, 0), 1500));
    f.truncate(48 + 28 + 100);
    let e = first_error(&f);
    assert!(matches!(
        e,
        PcapError::TruncatedBlock {
            offset: 48,
            len: 1532,
            available: 128,
            ..
        }
    ));
    assert_msg(
        &e,
        "truncated pcapng enhanced packet block at offset 48: block length is 1532 bytes, file ends after 128",
    );

    // Cut in the trailer.
    let mut f = ng_simple(false);
    f.extend(ng_epb(false, 0, 1, b"abcd", 4));
    f.pop();
    assert!(matches!(
        first_error(&f),
        PcapError::TruncatedBlock { available: 35, .. }
    ));

    // Cut in an unknown block that is skipped.
    let mut f = ng_simple(false);
    f.extend(ng_block(false, 0x0bad, &[0; 100]));
    f.truncate(f.len() - 50);
    assert!(matches!(
        first_error(&f),
        PcapError::TruncatedBlock {
            what: "pcapng block",
            offset: 48,
            len: 112,
            available: 62
        }
    ));

    // Cut in a block header.
    let mut f = ng_simple(false);
    f.extend_from_slice(&[6, 0, 0, 0, 32]);
    assert_msg(
        &first_error(&f),
        "truncated pcapng block header at offset 48: need 8 bytes, file ends after 5",
    );

    // Cut in the first SHB.
    let f = ng_shb(false);
    assert_msg(
        &first_error(&f[..10]),
        "truncated pcapng section header block at offset 0: need 12 bytes, file ends after 10",
    );
    assert!(matches!(
        first_error(&f[..20]),
        PcapError::TruncatedBlock {
            offset: 0,
            len: 28,
            available: 20,
            ..
        }
    ));
}

#[test]
fn error_pcapng_bad_byte_order_magic() {
    let mut f = ng_simple(false);
    f.extend(ng_shb(false));
    f[48 + 8] = 0x4e;
    let e = first_error(&f);
    assert_msg(
        &e,
        "pcapng section header block at offset 48: bad byte-order magic 0x4e3c2b1a",
    );
}

#[test]
fn error_pcapng_unsupported_version() {
    let mut f = ng_shb(false);
    f[12] = 2;
    f[14] = 5;
    assert_msg(
        &first_error(&f),
        "pcapng section header block at offset 0: unsupported version 2.5",
    );
}

#[test]
fn error_pcapng_unknown_interface() {
    let mut f = ng_simple(false);
    f.extend(ng_epb(false, 1, 1, b"x", 1));
    assert_msg(
        &first_error(&f),
        "pcapng enhanced packet block at offset 48: interface 1 is not defined (the section has 1 interfaces)",
    );

    // A packet before any interface fails already in new().
    let mut f = ng_shb(false);
    f.extend(ng_block(false, BT_SPB, &[1, 0, 0, 0, 9, 0, 0, 0]));
    let e = PcapReader::new(&f[..]).unwrap_err();
    assert_msg(
        &e,
        "pcapng simple packet block at offset 28: interface 0 is not defined (the section has 0 interfaces)",
    );

    // Interfaces do not carry over into a new section.
    let mut f = ng_simple(false);
    f.extend(ng_shb(false));
    f.extend(ng_epb(false, 0, 1, b"x", 1));
    assert!(matches!(
        first_error(&f),
        PcapError::UnknownInterface {
            offset: 76,
            interface: 0,
            count: 0,
            ..
        }
    ));
}

#[test]
fn error_pcapng_caplen_exceeds_block() {
    let mut f = ng_simple(false);
    let mut epb = ng_epb(false, 0, 1, b"abcd", 4);
    epb[20] = 9; // caplen 9 in a 36-byte block (room for 4)
    f.extend(epb);
    assert_msg(
        &first_error(&f),
        "pcapng enhanced packet block at offset 48: captured length 9 does not fit in block length 36",
    );
}

#[test]
fn error_pcapng_caplen_too_large() {
    let mut f = ng_simple(false);
    let mut epb = ng_epb(false, 0, 1, b"abcd", 4);
    epb[20..24].copy_from_slice(&(MAX_CAPLEN + 1).to_le_bytes());
    f.extend(epb);
    assert_msg(
        &first_error(&f),
        "pcapng enhanced packet block at offset 48: captured length 262145 exceeds the 262144-byte limit (corrupt file?)",
    );
}

#[test]
fn error_pcapng_option_overrun() {
    let mut f = ng_shb(false);
    let mut idb = ng_idb(false, 1, 0, &[(OPT_IF_NAME, b"eth0")]);
    idb[18] = 40; // if_name claims 40 bytes
    f.extend(idb);
    let e = PcapReader::new(&f[..]).unwrap_err();
    assert_msg(
        &e,
        "pcapng interface description block at offset 28: option code 2 at offset 44 runs past the end of the block",
    );
}

#[test]
fn error_pcapng_bad_tsresol() {
    let mut f = ng_shb(false);
    f.extend(ng_idb(false, 1, 0, &[(OPT_IF_TSRESOL, &[20])]));
    let e = PcapReader::new(&f[..]).unwrap_err();
    assert_msg(
        &e,
        "pcapng interface description block at offset 28: unsupported if_tsresol 0x14",
    );
    // 10^-19 is still fine.
    let mut f = ng_shb(false);
    f.extend(ng_idb(false, 1, 0, &[(OPT_IF_TSRESOL, &[19])]));
    f.extend(ng_epb(false, 0, 30_000_000_000, b"", 0));
    assert_eq!(read_all(&f).unwrap()[0].0.ts_nanos, 3);
}

#[test]
fn error_io_has_offset() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let file = pcap_hdr_le();
            if self.0 >= file.len() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(file.len() - self.0);
            buf[..n].copy_from_slice(&file[self.0..self.0 + n]);
            self.0 += n;
            Ok(n)
        }
    }
    let mut r = PcapReader::new(Failing(0)).unwrap();
    let e = r.next_packet(&mut Vec::new()).unwrap_err();
    assert_msg(&e, "I/O error at offset 24: disk on fire");
}

#[test]
fn error_open_missing_file() {
    let e = PcapReader::open("/nonexistent/dir/x.pcap").unwrap_err();
    assert!(matches!(e, PcapError::File { op: "open", .. }));
    assert!(e
        .to_string()
        .starts_with("cannot open capture file /nonexistent/dir/x.pcap: "));
    let e = PcapWriter::create("/nonexistent/dir/x.pcap", Format::Pcap).unwrap_err();
    assert!(matches!(e, PcapError::File { op: "create", .. }));
}

// ---- writer errors -------------------------------------------------------------

#[test]
fn error_invalid_snaplen() {
    for bad in [0, MAX_CAPLEN + 1] {
        let e = PcapWriter::new(Vec::new(), Format::PcapNg, bad).unwrap_err();
        assert!(matches!(e, PcapError::InvalidSnaplen { snaplen, .. } if snaplen == bad));
    }
    assert_msg(
        &PcapWriter::new(Vec::new(), Format::Pcap, 0).unwrap_err(),
        "invalid snaplen 0: must be between 1 and 262144",
    );
}

#[test]
fn error_timestamp_out_of_range() {
    let mut w = PcapWriter::new(Vec::new(), Format::Pcap, 100).unwrap();
    let before = w.bytes_written();
    let ts = (u64::from(u32::MAX) + 1) * 1_000_000_000;
    let e = w.write_packet(ts, b"x").unwrap_err();
    assert!(matches!(e, PcapError::TimestampOutOfRange { ts_nanos } if ts_nanos == ts));
    assert_eq!(
        w.bytes_written(),
        before,
        "nothing written for a refused packet"
    );
    assert_eq!(w.packets_written(), 0);
    // pcapng has 64 bits of nanoseconds.
    let mut w = PcapWriter::new(Vec::new(), Format::PcapNg, 100).unwrap();
    w.write_packet(ts, b"x").unwrap();
}

#[test]
fn error_interface_name_too_long() {
    let name = "x".repeat(70_000);
    let e = PcapWriter::with_interface_name(Vec::new(), Format::PcapNg, 100, &name).unwrap_err();
    assert_msg(
        &e,
        "interface name is 70000 bytes; a pcapng option holds at most 65535",
    );
}

#[test]
fn error_writer_io() {
    #[derive(Debug)]
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("no space"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = PcapWriter::new(Full, Format::Pcap, 100).unwrap();
    w.write_packet(1, b"abc").unwrap(); // still buffered
    assert_msg(&w.flush().unwrap_err(), "I/O error at offset 43: no space");
    let e = PcapWriter::new(Full, Format::PcapNg, 100)
        .unwrap()
        .into_inner()
        .unwrap_err();
    assert!(matches!(e, PcapError::Io { .. }));
}
