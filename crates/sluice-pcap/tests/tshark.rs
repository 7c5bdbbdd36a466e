//! Cross-checks against Wireshark's `tshark`: files we write must parse in
//! tshark with the right lengths, addresses and checksums, and files tshark
//! writes (pcap and pcapng) must read back identically with our reader.
//!
//! If `tshark` is not installed the test prints a SKIP line and passes.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sluice_pcap::{Format, PacketInfo, PcapReader, PcapWriter, LINKTYPE_ETHERNET};

const N: usize = 10;

/// Ethernet + IPv4 + UDP frame with valid IP and UDP checksums.
fn udp_frame(i: usize) -> Vec<u8> {
    let payload_len = 18 + i * 97; // frames of 60..=933 bytes
    let src = [10, 0, 0, i as u8 + 1];
    let dst = [10, 0, 1, 1];
    let (sport, dport) = (40_000 + i as u16, 9_000u16);

    let mut f = Vec::with_capacity(14 + 28 + payload_len);
    f.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0x00, 0x01]); // dst MAC
    f.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0x00, 0x02]); // src MAC
    f.extend_from_slice(&0x0800u16.to_be_bytes());

    let ip_start = f.len();
    let total_len = (20 + 8 + payload_len) as u16;
    f.extend_from_slice(&[0x45, 0x00]);
    f.extend_from_slice(&total_len.to_be_bytes());
    f.extend_from_slice(&(0x1000 + i as u16).to_be_bytes()); // id
    f.extend_from_slice(&0x4000u16.to_be_bytes()); // DF
    f.extend_from_slice(&[64, 17, 0, 0]); // ttl, udp, checksum placeholder
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    let csum = checksum(&[&f[ip_start..ip_start + 20]]);
    f[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());

    let udp_start = f.len();
    let udp_len = (8 + payload_len) as u16;
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend((0..payload_len).map(|k| (k + i) as u8));
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&udp_len.to_be_bytes());
    let csum = match checksum(&[&pseudo, &f[udp_start..]]) {
        0 => 0xffff,
        c => c,
    };
    f[udp_start + 6..udp_start + 8].copy_from_slice(&csum.to_be_bytes());
    f
}

/// Internet checksum over the concatenation of `parts` (each of even length
/// except possibly the last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for part in parts {
        for chunk in part.chunks(2) {
            let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Timestamps in whole microseconds so that a conversion to microsecond
/// pcap by tshark is lossless.
fn ts(i: usize) -> u64 {
    1_700_000_000_000_000_000 + i as u64 * 1_234_567_000
}

fn write_capture(path: &Path, format: Format, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::create(path, format).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(ts(i), f).unwrap();
    }
    w.into_inner().unwrap();
}

type Packets = Vec<(PacketInfo, Vec<u8>)>;

fn read_capture(path: &Path) -> (PcapReader<io::BufReader<std::fs::File>>, Packets) {
    let mut r = PcapReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(info) = r
        .next_packet(&mut buf)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        out.push((info, buf.clone()));
    }
    (r, out)
}

fn assert_same_packets(path: &Path, frames: &[Vec<u8>]) {
    let (r, got) = read_capture(path);
    assert_eq!(r.format(), Format::from_path(path), "{}", path.display());
    assert_eq!(r.linktype(), Some(LINKTYPE_ETHERNET), "{}", path.display());
    assert_eq!(got.len(), frames.len(), "{}", path.display());
    for (i, ((info, data), f)) in got.iter().zip(frames).enumerate() {
        assert_eq!(data, f, "{} frame {i}", path.display());
        assert_eq!(info.ts_nanos, ts(i), "{} frame {i}", path.display());
        assert_eq!(info.orig_len, f.len(), "{} frame {i}", path.display());
        assert_eq!(info.linktype, LINKTYPE_ETHERNET);
    }
}

fn tshark(args: &[&str]) -> Output {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("running tshark");
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn tshark_installed() -> bool {
    match Command::new("tshark").arg("--version").output() {
        Ok(out) => out.status.success(),
        Err(_) => false,
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("sluice-pcap-tshark-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn tshark_reads_our_files_and_we_read_theirs() {
    let frames: Vec<Vec<u8>> = (0..N).map(udp_frame).collect();
    let dir = TempDir::new();
    let pcap = dir.0.join("ours.pcap");
    let pcapng = dir.0.join("ours.pcapng");
    write_capture(&pcap, Format::Pcap, &frames);
    write_capture(&pcapng, Format::PcapNg, &frames);
    // Our own reader first (independent of tshark).
    assert_same_packets(&pcap, &frames);
    assert_same_packets(&pcapng, &frames);

    if !tshark_installed() {
        eprintln!("SKIP: tshark not installed (apt-get install tshark)");
        return;
    }

    for file in [&pcap, &pcapng] {
        let out = tshark(&[
            "-r",
            file.to_str().unwrap(),
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=,",
            "-e",
            "frame.len",
            "-e",
            "ip.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.checksum.status",
            "-e",
            "udp.checksum.status",
            "-e",
            "frame.time_epoch",
        ]);
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), N, "{}:\n{text}", file.display());
        for (i, line) in lines.iter().enumerate() {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 6, "{line}");
            assert_eq!(fields[0], frames[i].len().to_string(), "{line}");
            assert_eq!(fields[1], format!("10.0.0.{}", i + 1), "{line}");
            assert_eq!(fields[2], (40_000 + i).to_string(), "{line}");
            // Wireshark checksum status: 0 = Bad, 1 = Good, 2 = Unverified.
            assert_eq!(fields[3], "1", "IP checksum status: {line}");
            assert_eq!(fields[4], "1", "UDP checksum status: {line}");
            let expected = format!("{}.{:09}", ts(i) / 1_000_000_000, ts(i) % 1_000_000_000);
            assert_eq!(fields[5], expected, "timestamp: {line}");
        }
    }

    // tshark-written files, both formats, from both of ours.
    for (src, format, name) in [
        (&pcap, "pcapng", "from-pcap.pcapng"),
        (&pcapng, "pcapng", "from-pcapng.pcapng"),
        (&pcapng, "pcap", "from-pcapng.pcap"),
        (&pcapng, "nsecpcap", "from-pcapng-nsec.pcap"),
    ] {
        let conv = dir.0.join(name);
        tshark(&[
            "-r",
            src.to_str().unwrap(),
            "-F",
            format,
            "-w",
            conv.to_str().unwrap(),
        ]);
        assert_same_packets(&conv, &frames);
    }
}
