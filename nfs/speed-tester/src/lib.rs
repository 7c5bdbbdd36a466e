//! `speed-tester`: openNetVM's `speed_tester` for Sluice.
//!
//! At start it allocates `--packets` buffers, writes an Ethernet/IPv4/UDP frame of `--size`
//! bytes into each (spread over `--flows` 5-tuples) and sends them to `--dest` (by default its
//! own service). Every packet it receives goes to the same destination again, so the packets
//! circulate as fast as the rings let them; it counts them and prints the rate every second.
//! With `--latency` it also measures, for every packet it receives, the time since it (or
//! whoever last stamped the packet) sent it.

#![warn(missing_docs)]

pub mod histogram;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sluice_nf::wire::{flow_hash, write_udp_ipv4, MacAddr, WireError};
use sluice_nf::{Action, Batch, Context, NetworkFunction, NfError, Packet, Start};

pub use histogram::Histogram;

/// Source MAC of the generated frames.
pub const SRC_MAC: MacAddr = [0x02, 0, 0, 0, 0, 0x01];
/// Destination MAC of the generated frames.
pub const DST_MAC: MacAddr = [0x02, 0, 0, 0, 0, 0x02];
/// Source address of flow 0.
pub const SRC_IP: [u8; 4] = [10, 0, 0, 1];
/// Destination address of every flow.
pub const DST_IP: [u8; 4] = [10, 0, 1, 1];
/// UDP source port of flow 0.
pub const SRC_PORT: u16 = 1024;
/// UDP destination port of every flow.
pub const DST_PORT: u16 = 5001;
/// Smallest frame the NF can build (Ethernet + IPv4 + UDP headers).
pub const MIN_SIZE: u16 = 42;

/// Options of the speed tester.
#[derive(clap::Args, Clone, Debug)]
pub struct Opts {
    /// Service id (1-64) to send the packets to [default: this NF's own service]
    ///
    /// By default the packets loop back to this NF's own service (to this instance or to
    /// another instance of the service, by flow hash).
    #[arg(short = 'd', long, value_name = "SERVICE_ID",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub dest: Option<u16>,

    /// Packets to allocate at start and keep in flight.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub packets: u32,

    /// Frame length in bytes (at least 42)
    ///
    /// Ethernet/IPv4/UDP frames without FCS; at most the data room of sluiced's packet
    /// buffers (the NF fails at start if it does not fit).
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(i64::from(MIN_SIZE)..))]
    pub size: u16,

    /// Distinct UDP 5-tuples among the packets
    ///
    /// Packet i belongs to flow i % FLOWS; flow f goes from 10.0.0.1 + f / 64512, port
    /// 1024 + f % 64512, to 10.0.1.1:5001. Each packet gets its flow's hash, so with several
    /// instances of the destination service the flows spread over them.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub flows: u32,

    /// Measure latency (p50/p99/p99.9 in ns, every second and at exit)
    ///
    /// Each packet is stamped with the time it is sent; for each packet received the time
    /// since its stamp is recorded in a fixed log-linear histogram (within ~3%). Only one NF
    /// in a chain should stamp packets.
    #[arg(short = 'l', long)]
    pub latency: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            dest: None,
            packets: 128,
            size: 64,
            flows: 1,
            latency: false,
        }
    }
}

/// Source address and port of flow `f` (see [`Opts::flows`]).
pub fn flow_tuple(f: u32) -> ([u8; 4], u16) {
    const PORTS: u32 = 65536 - SRC_PORT as u32;
    let port = SRC_PORT + (f % PORTS) as u16;
    let ip = u32::from_be_bytes(SRC_IP).wrapping_add(f / PORTS);
    (ip.to_be_bytes(), port)
}

/// Write the test frame of flow `f`, `size` bytes long, at the front of `buf`.
pub fn write_frame(buf: &mut [u8], f: u32, size: usize) -> Result<usize, WireError> {
    let (src, sport) = flow_tuple(f);
    write_udp_ipv4(buf, SRC_MAC, DST_MAC, src, DST_IP, sport, DST_PORT, size)
}

/// Latency percentiles in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Packets measured.
    pub samples: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest.
    pub max_ns: u64,
}

impl LatencySummary {
    /// Percentiles of `h` (None when it is empty).
    pub fn of(h: &Histogram) -> Option<LatencySummary> {
        Some(LatencySummary {
            samples: h.count(),
            p50_ns: h.percentile(0.5)?,
            p99_ns: h.percentile(0.99)?,
            p999_ns: h.percentile(0.999)?,
            max_ns: h.max()?,
        })
    }
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50_ns={} p99_ns={} p999_ns={} max_ns={}",
            self.p50_ns, self.p99_ns, self.p999_ns, self.max_ns
        )
    }
}

/// What the speed tester measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Packets received.
    pub packets: u64,
    /// Seconds since start (until stop once stopped).
    pub seconds: f64,
    /// Average rate in millions of packets per second.
    pub mpps: f64,
    /// Latency over the whole run (with `--latency` and at least one packet measured).
    pub latency: Option<LatencySummary>,
}

impl fmt::Display for Summary {
    /// `speed-tester summary: packets=N seconds=S mpps=M [p50_ns=.. p99_ns=.. p999_ns=.. max_ns=..]`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "speed-tester summary: packets={} seconds={:.3} mpps={:.3}",
            self.packets, self.seconds, self.mpps
        )?;
        if let Some(l) = &self.latency {
            write!(f, " {l}")?;
        }
        Ok(())
    }
}

/// A handle to read the speed tester's [`Summary`] from another thread or after the NF was
/// moved into [`sluice_nf::run`] or a [`sluice_nf::Group`]. Updated every tick and at stop.
#[derive(Clone, Debug, Default)]
pub struct SummaryHandle(Arc<Mutex<Summary>>);

impl SummaryHandle {
    /// The latest summary.
    pub fn get(&self) -> Summary {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The speed-tester NF.
pub struct SpeedTester {
    opts: Opts,
    action: Action,
    packets: u64,
    started: Option<Instant>,
    stopped: Option<Instant>,
    last_tick: Option<(Instant, u64)>,
    /// Latency since the last tick.
    interval: Box<Histogram>,
    /// Latency over the whole run.
    total: Box<Histogram>,
    shared: SummaryHandle,
}

/// Build the NF from its options.
pub fn build(opts: &Opts) -> anyhow::Result<SpeedTester> {
    anyhow::ensure!(
        opts.size >= MIN_SIZE,
        "--size {} is below {MIN_SIZE} bytes",
        opts.size
    );
    anyhow::ensure!(
        opts.packets > 0 && opts.flows > 0,
        "--packets and --flows must be at least 1"
    );
    Ok(SpeedTester {
        opts: opts.clone(),
        action: Action::ToService(opts.dest.unwrap_or(0)),
        packets: 0,
        started: None,
        stopped: None,
        last_tick: None,
        interval: Box::default(),
        total: Box::default(),
        shared: SummaryHandle::default(),
    })
}

impl SpeedTester {
    /// What was measured so far (or over the whole run once stopped).
    pub fn summary(&self) -> Summary {
        let seconds = match (self.started, self.stopped) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            (Some(a), None) => a.elapsed().as_secs_f64(),
            _ => 0.0,
        };
        let mpps = if seconds > 0.0 {
            self.packets as f64 / seconds / 1e6
        } else {
            0.0
        };
        Summary {
            packets: self.packets,
            seconds,
            mpps,
            latency: if self.opts.latency {
                LatencySummary::of(&self.total)
            } else {
                None
            },
        }
    }

    /// A handle that keeps giving the summary after the NF was handed to the run loop.
    pub fn summary_handle(&self) -> SummaryHandle {
        self.shared.clone()
    }

    /// The destination service (known after `start`).
    pub fn dest(&self) -> Option<u16> {
        match self.action {
            Action::ToService(0) => None,
            Action::ToService(s) => Some(s),
            _ => None,
        }
    }

    #[inline]
    fn measure(&mut self, pkt: &mut Packet<'_>, now: u64) {
        let d = now.saturating_sub(pkt.timestamp());
        self.interval.record(d);
        self.total.record(d);
        pkt.set_timestamp(now);
    }

    fn publish(&self) {
        let s = self.summary();
        *self.shared.0.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }
}

impl NetworkFunction for SpeedTester {
    #[inline]
    fn handle(&mut self, pkt: &mut Packet<'_>, ctx: &Context) -> Action {
        self.packets += 1;
        if self.opts.latency {
            self.measure(pkt, ctx.now_ns());
        }
        self.action
    }

    #[inline]
    fn handle_batch(&mut self, batch: &mut Batch<'_>, ctx: &Context) {
        let n = batch.len();
        self.packets += n as u64;
        if self.opts.latency {
            let now = ctx.now_ns();
            for i in 0..n {
                self.measure(&mut batch.packet(i), now);
            }
        }
        batch.set_all(self.action);
    }

    fn start(&mut self, start: &mut Start<'_>) -> Result<(), NfError> {
        let dest = self.opts.dest.unwrap_or(start.ctx().service);
        self.action = Action::ToService(dest);
        let (size, flows, action) = (usize::from(self.opts.size), self.opts.flows, self.action);
        let mut k = 0u32;
        let mut err: Option<String> = None;
        // The SDK stamps each allocated buffer with the current time, which is the send time
        // latency measurement needs for this first round.
        let granted = start.alloc(self.opts.packets, |pkt, _| {
            let f = k % flows;
            k += 1;
            if err.is_some() {
                return Action::Drop;
            }
            if !pkt.set_len(size) {
                err = Some(format!(
                    "--size {size} does not fit in a packet buffer ({} bytes of room)",
                    pkt.capacity()
                ));
                return Action::Drop;
            }
            if let Err(e) = write_frame(pkt.data_mut(), f, size) {
                err = Some(format!("building the test frame: {e}"));
                return Action::Drop;
            }
            let h = flow_hash(pkt.data());
            pkt.set_flow_hash(h);
            action
        })?;
        if let Some(e) = err {
            return Err(NfError::Setup(e));
        }
        if granted < self.opts.packets {
            tracing::warn!(
                requested = self.opts.packets,
                granted,
                "sluiced granted fewer buffers"
            );
        }
        tracing::info!(
            packets = granted,
            size,
            flows,
            dest,
            latency = self.opts.latency,
            "speed-tester sending"
        );
        self.started = Some(Instant::now());
        Ok(())
    }

    fn tick(&mut self, _ctx: &Context) {
        let now = Instant::now();
        let Some(started) = self.started else { return };
        let (t0, c0) = self.last_tick.unwrap_or((started, 0));
        let dt = (now - t0).as_secs_f64();
        let mpps = if dt > 0.0 {
            (self.packets - c0) as f64 / dt / 1e6
        } else {
            0.0
        };
        self.last_tick = Some((now, self.packets));
        match LatencySummary::of(&self.interval).filter(|_| self.opts.latency) {
            Some(l) => println!("speed-tester: {mpps:.2} Mpps {l}"),
            None => println!("speed-tester: {mpps:.2} Mpps"),
        }
        self.interval.reset();
        self.publish();
    }

    fn stop(&mut self, _ctx: &Context) {
        if self.started.is_some() {
            self.stopped = Some(Instant::now());
        }
        println!("{}", self.summary());
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use sluice_nf::wire::{parse, verify_checksums, FlowKey, L4Kind};

    #[derive(Parser)]
    struct W {
        #[command(flatten)]
        o: Opts,
    }

    #[test]
    fn frames_are_valid_and_flows_distinct() {
        let mut buf = vec![0u8; 2048];
        let mut hashes = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for f in [0u32, 1, 2, 100, 64511, 64512, 64513, 200_000] {
            let n = write_frame(&mut buf, f, 64).unwrap();
            assert_eq!(n, 64);
            let frame = &buf[..n];
            assert!(verify_checksums(frame));
            let h = parse(frame).unwrap();
            assert_eq!(h.l4, L4Kind::Udp);
            keys.insert(FlowKey::parse(frame).unwrap());
            hashes.insert(flow_hash(frame));
        }
        assert_eq!(keys.len(), 8);
        assert_eq!(hashes.len(), 8);
        assert_eq!(flow_tuple(0), ([10, 0, 0, 1], 1024));
        assert_eq!(flow_tuple(64511), ([10, 0, 0, 1], 65535));
        assert_eq!(flow_tuple(64512), ([10, 0, 0, 2], 1024));
        assert!(write_frame(&mut buf, 0, 41).is_err());
        assert_eq!(write_frame(&mut buf, 0, 1514).unwrap(), 1514);
    }

    #[test]
    fn options() {
        let o = W::try_parse_from(["t"]).unwrap().o;
        assert_eq!(
            (o.packets, o.size, o.flows, o.dest, o.latency),
            (128, 64, 1, None, false)
        );
        let o = W::try_parse_from(["t", "-d", "3", "--packets", "512", "--size", "1500", "-l"])
            .unwrap()
            .o;
        assert_eq!(
            (o.packets, o.size, o.dest, o.latency),
            (512, 1500, Some(3), true)
        );
        assert!(W::try_parse_from(["t", "--size", "41"]).is_err());
        assert!(W::try_parse_from(["t", "--dest", "0"]).is_err());
        assert!(W::try_parse_from(["t", "--packets", "0"]).is_err());
    }

    #[test]
    fn summary_line() {
        let st = build(&Opts::default()).unwrap();
        let s = st.summary();
        assert_eq!(s.packets, 0);
        assert_eq!(
            s.to_string(),
            "speed-tester summary: packets=0 seconds=0.000 mpps=0.000"
        );
        let s = Summary {
            packets: 10_000_000,
            seconds: 2.0,
            mpps: 5.0,
            latency: Some(LatencySummary {
                samples: 10,
                p50_ns: 900,
                p99_ns: 2000,
                p999_ns: 4000,
                max_ns: 5000,
            }),
        };
        assert_eq!(
            s.to_string(),
            "speed-tester summary: packets=10000000 seconds=2.000 mpps=5.000 \
             p50_ns=900 p99_ns=2000 p999_ns=4000 max_ns=5000"
        );
        assert_eq!(st.summary_handle().get(), Summary::default());
    }
}
