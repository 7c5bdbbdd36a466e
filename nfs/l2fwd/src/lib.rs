//! `l2fwd`: openNetVM's `l2fwd` (after DPDK's l2fwd) for Sluice. Rewrites the destination MAC
//! (and optionally the source MAC) of every frame and sends it out of a port: `--port`, or by
//! default the port adjacent to the one the frame arrived on (0 <-> 1, 2 <-> 3, ...).

#![warn(missing_docs)]

use sluice_nf::wire::{parse_mac, MacAddr, MacFmt};
use sluice_nf::{Action, Batch, Context, NetworkFunction, NfError, Packet, Start};

fn mac_arg(s: &str) -> Result<MacAddr, String> {
    parse_mac(s).map_err(|e| e.to_string())
}

/// Options of the L2 forwarder.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Opts {
    /// Port to send every frame out of [default: the port adjacent to its arrival port]
    ///
    /// The default pairs ports as DPDK l2fwd does: 0 <-> 1, 2 <-> 3, ...; a frame from a port
    /// without a partner (the last of an odd number) goes back out of its own port.
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Destination MAC to write [default: 02:00:00:00:00:<output port>]
    #[arg(long, value_name = "MAC", value_parser = mac_arg)]
    pub dst_mac: Option<MacAddr>,

    /// Source MAC to write [default: left unchanged]
    #[arg(long, value_name = "MAC", value_parser = mac_arg)]
    pub src_mac: Option<MacAddr>,

    /// Do not touch the frames: only choose the output port
    #[arg(long, conflicts_with_all = ["dst_mac", "src_mac"])]
    pub no_mac_update: bool,
}

/// Output port for a frame that arrived on `in_port`, with `ports` ports in the manager.
#[inline]
pub fn out_port(fixed: Option<u16>, in_port: u16, ports: u16) -> u16 {
    if let Some(p) = fixed {
        return p;
    }
    let p = in_port ^ 1;
    if p < ports {
        p
    } else {
        in_port
    }
}

/// The default destination MAC for output port `port`: `02:00:00:00:<hi>:<lo>`.
#[inline]
pub fn default_dst_mac(port: u16) -> MacAddr {
    let [hi, lo] = port.to_be_bytes();
    [0x02, 0, 0, 0, hi, lo]
}

/// Write `dst` (and `src` when given) into the Ethernet header. False for a runt frame
/// (shorter than 14 bytes), which is left alone.
#[inline]
pub fn rewrite_macs(frame: &mut [u8], dst: MacAddr, src: Option<MacAddr>) -> bool {
    if frame.len() < 14 {
        return false;
    }
    frame[0..6].copy_from_slice(&dst);
    if let Some(s) = src {
        frame[6..12].copy_from_slice(&s);
    }
    true
}

/// The L2 forwarder NF.
pub struct L2Fwd {
    opts: Opts,
    ports: u16,
    packets: u64,
    per_port: Vec<u64>,
    reported: u64,
}

/// Build the NF from its options.
pub fn build(opts: &Opts) -> anyhow::Result<L2Fwd> {
    Ok(L2Fwd {
        opts: opts.clone(),
        ports: u16::MAX,
        packets: 0,
        per_port: Vec::new(),
        reported: 0,
    })
}

impl L2Fwd {
    /// Rewrite `frame` for a frame that arrived on `in_port` and return its output port.
    #[inline]
    pub fn process(&mut self, frame: &mut [u8], in_port: u16) -> u16 {
        let p = out_port(self.opts.port, in_port, self.ports);
        if !self.opts.no_mac_update {
            let dst = self.opts.dst_mac.unwrap_or_else(|| default_dst_mac(p));
            rewrite_macs(frame, dst, self.opts.src_mac);
        }
        self.packets += 1;
        if let Some(c) = self.per_port.get_mut(usize::from(p)) {
            *c += 1;
        }
        p
    }

    /// Packets forwarded so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    fn report(&self, name: &str) -> String {
        let mut s = format!("{name}: {} packets", self.packets);
        for (p, c) in self.per_port.iter().enumerate().filter(|(_, &c)| c > 0) {
            s.push_str(&format!(", out port {p}: {c}"));
        }
        s
    }
}

impl NetworkFunction for L2Fwd {
    #[inline]
    fn handle(&mut self, pkt: &mut Packet<'_>, _ctx: &Context) -> Action {
        let in_port = pkt.in_port();
        Action::Out(self.process(pkt.data_mut(), in_port))
    }

    #[inline]
    fn handle_batch(&mut self, batch: &mut Batch<'_>, _ctx: &Context) {
        for i in 0..batch.len() {
            let mut pkt = batch.packet(i);
            let in_port = pkt.in_port();
            let p = self.process(pkt.data_mut(), in_port);
            batch.set_action(i, Action::Out(p));
        }
    }

    fn start(&mut self, start: &mut Start<'_>) -> Result<(), NfError> {
        let ports = start.ctx().ports;
        if let Some(p) = self.opts.port.filter(|&p| p >= ports) {
            return Err(NfError::Setup(format!(
                "--port {p}: sluiced has {ports} port(s)"
            )));
        }
        self.ports = ports;
        self.per_port = vec![0; usize::from(ports)];
        match (self.opts.no_mac_update, self.opts.dst_mac) {
            (true, _) => tracing::info!("l2fwd: MAC update off"),
            (false, Some(d)) => tracing::info!("l2fwd: destination MAC {}", MacFmt(d)),
            (false, None) => tracing::info!("l2fwd: destination MAC 02:00:00:00:00:<port>"),
        }
        Ok(())
    }

    fn tick(&mut self, ctx: &Context) {
        if self.packets != self.reported {
            self.reported = self.packets;
            println!("{}", self.report(&ctx.name));
        }
    }

    fn stop(&mut self, ctx: &Context) {
        println!("{}", self.report(&ctx.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use sluice_nf::wire::{verify_checksums, write_udp_ipv4};

    #[derive(Parser)]
    struct W {
        #[command(flatten)]
        o: Opts,
    }

    fn frame() -> Vec<u8> {
        let mut buf = vec![0u8; 64];
        write_udp_ipv4(
            &mut buf,
            [0xaa; 6],
            [0xbb; 6],
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            1,
            2,
            64,
        )
        .unwrap();
        buf
    }

    #[test]
    fn ports() {
        assert_eq!(out_port(None, 0, 2), 1);
        assert_eq!(out_port(None, 1, 2), 0);
        assert_eq!(out_port(None, 2, 3), 2);
        assert_eq!(out_port(None, 0, 1), 0);
        assert_eq!(out_port(Some(5), 0, 2), 5);
        assert_eq!(default_dst_mac(3), [2, 0, 0, 0, 0, 3]);
        assert_eq!(default_dst_mac(0x0102), [2, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn rewrite() {
        let o = W::try_parse_from(["l2fwd"]).unwrap().o;
        let mut nf = build(&o).unwrap();
        nf.ports = 2;
        nf.per_port = vec![0; 2];
        let mut f = frame();
        assert_eq!(nf.process(&mut f, 0), 1);
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[6..12], &[0xaa; 6]);
        assert!(verify_checksums(&f));
        assert_eq!(nf.process(&mut f, 1), 0);
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 0]);
        assert_eq!(nf.report("x"), "x: 2 packets, out port 0: 1, out port 1: 1");

        let o = W::try_parse_from([
            "l2fwd",
            "--port",
            "1",
            "--dst-mac",
            "02:11:22:33:44:55",
            "--src-mac",
            "02-aa-bb-cc-dd-ee",
        ])
        .unwrap()
        .o;
        let mut nf = build(&o).unwrap();
        let mut f = frame();
        assert_eq!(nf.process(&mut f, 1), 1);
        assert_eq!(
            &f[0..12],
            &[2, 0x11, 0x22, 0x33, 0x44, 0x55, 2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]
        );

        let o = W::try_parse_from(["l2fwd", "--no-mac-update", "-p", "0"])
            .unwrap()
            .o;
        let mut nf = build(&o).unwrap();
        let mut f = frame();
        let orig = f.clone();
        assert_eq!(nf.process(&mut f, 1), 0);
        assert_eq!(f, orig);
        assert!(!rewrite_macs(&mut [0u8; 10], [1; 6], None));
        assert!(
            W::try_parse_from(["l2fwd", "--no-mac-update", "--dst-mac", "02:00:00:00:00:01"])
                .is_err()
        );
        assert!(W::try_parse_from(["l2fwd", "--dst-mac", "02:00:00:00:00"]).is_err());
    }
}
