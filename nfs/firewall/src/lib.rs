//! `firewall`: a stateless first-match packet filter for Sluice.
//!
//! Rules come from a TOML file (see [`rules`] and README.md). Each packet's addresses,
//! protocol and ports are compared with the rules in file order; the first rule that matches
//! decides (allow: the packet goes to the next chain step or `--dest`; deny: dropped). Packets
//! matching no rule, and frames that are not IP or whose headers do not parse, get the
//! file's `default` verdict. Every rule counts its hits.

#![warn(missing_docs)]

pub mod rules;

use std::path::PathBuf;

use anyhow::Context as _;
use sluice_nf::{Action, Batch, Context, NetworkFunction, Packet};

pub use rules::{parse_rules, Cidr, Matcher, Rule, RuleSet, Tuple, Verdict};

/// Options of the firewall.
#[derive(clap::Args, Clone, Debug)]
pub struct Opts {
    /// Rule file (TOML: `default = "deny"` and [[rule]] sections; see README)
    ///
    /// Each [[rule]] has `action = "allow"|"deny"` and optional `src`/`dst` (IPv4 or IPv6
    /// prefix), `proto` ("tcp", "udp", "icmp", "icmpv6" or a number), `dst_port = 80` or
    /// `dst_ports = "1000-2000"`, `src_port`/`src_ports`, and `name`. The first matching rule
    /// wins; `default` (allow or deny, default deny) applies to everything else.
    #[arg(long, value_name = "FILE")]
    pub rules: PathBuf,

    /// Send allowed packets to this service id (1-64) [default: the next step of their chain]
    #[arg(short = 'd', long, value_name = "SERVICE_ID",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub dest: Option<u16>,
}

/// The firewall NF.
pub struct Firewall {
    set: RuleSet,
    matcher: Matcher,
    allow: Action,
    /// Hits per rule, then the default at the end.
    hits: Vec<u64>,
    reported: Vec<u64>,
    allowed: u64,
    denied: u64,
}

/// Build the NF from its options: read and check the rule file.
pub fn build(opts: &Opts) -> anyhow::Result<Firewall> {
    let text = std::fs::read_to_string(&opts.rules)
        .with_context(|| format!("reading rule file {}", opts.rules.display()))?;
    let set = parse_rules(&text, &opts.rules.display().to_string()).map_err(anyhow::Error::msg)?;
    Ok(Firewall::new(set, opts.dest))
}

impl Firewall {
    /// A firewall for `set`, sending allowed packets to `dest` (or Next).
    pub fn new(set: RuleSet, dest: Option<u16>) -> Firewall {
        let n = set.rules.len() + 1;
        Firewall {
            matcher: Matcher::new(&set),
            set,
            allow: dest.map_or(Action::Next, Action::ToService),
            hits: vec![0; n],
            reported: vec![0; n],
            allowed: 0,
            denied: 0,
        }
    }

    /// The rules.
    pub fn rule_set(&self) -> &RuleSet {
        &self.set
    }

    /// Decide on one frame and count it.
    #[inline]
    pub fn filter(&mut self, frame: &[u8]) -> Action {
        let (rule, allow) = self.matcher.classify_frame(frame);
        let i = rule.unwrap_or(self.hits.len() - 1);
        self.hits[i] += 1;
        if allow {
            self.allowed += 1;
            self.allow
        } else {
            self.denied += 1;
            Action::Drop
        }
    }

    /// Packets allowed and denied so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.allowed, self.denied)
    }

    /// Hits of each rule (in file order) and, last, of the default.
    pub fn hits(&self) -> &[u64] {
        &self.hits
    }

    /// One-line counters: `allowed=N denied=M | rule 1: a, rule 2: b, default: c`.
    pub fn counters_line(&self) -> String {
        let mut s = format!("allowed={} denied={} |", self.allowed, self.denied);
        for (i, h) in self.hits.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            if i + 1 == self.hits.len() {
                s.push_str(&format!("{sep}default: {h}"));
            } else {
                s.push_str(&format!("{sep}rule {}: {h}", i + 1));
            }
        }
        s
    }
}

impl NetworkFunction for Firewall {
    #[inline]
    fn handle(&mut self, pkt: &mut Packet<'_>, _ctx: &Context) -> Action {
        self.filter(pkt.data())
    }

    #[inline]
    fn handle_batch(&mut self, batch: &mut Batch<'_>, _ctx: &Context) {
        for i in 0..batch.len() {
            let a = self.filter(batch.packet(i).data());
            batch.set_action(i, a);
        }
    }

    fn start(&mut self, start: &mut sluice_nf::Start<'_>) -> Result<(), sluice_nf::NfError> {
        tracing::info!(
            nf = %start.ctx().name,
            rules = self.set.rules.len(),
            default = %self.set.default,
            "firewall rules loaded"
        );
        Ok(())
    }

    fn tick(&mut self, ctx: &Context) {
        if self.hits != self.reported {
            self.reported.copy_from_slice(&self.hits);
            println!("{}: {}", ctx.name, self.counters_line());
        }
    }

    fn stop(&mut self, ctx: &Context) {
        println!(
            "{}: allowed={} denied={}",
            ctx.name, self.allowed, self.denied
        );
        for (i, r) in self.set.rules.iter().enumerate() {
            println!(
                "{}:   rule {:>3}: {:>12}  {r}",
                ctx.name,
                i + 1,
                self.hits[i]
            );
        }
        println!(
            "{}:   default : {:>12}  {}",
            ctx.name,
            self.hits[self.hits.len() - 1],
            self.set.default
        );
    }
}

#[cfg(test)]
mod tests;
