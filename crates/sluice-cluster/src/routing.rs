//! Remote routing: which host a to-service packet goes to.
//!
//! Rendezvous (highest-random-weight) hashing of the flow over the service's instances in the
//! cluster: every instance is a candidate with a seed derived from `(host_id, k)`; the flow
//! goes to the candidate with the highest `mix(flow_hash, seed)`. Properties:
//! - deterministic and identical on every host (no per-process random state), so a flow keeps
//!   its host for as long as the set of instances does not change;
//! - removing a host moves only the flows that were on it; adding an instance moves only the
//!   flows it takes over;
//! - a host with more instances gets proportionally more flows.
//!
//! These are pure functions over a [`ClusterView`]; no allocation, no lock, no syscall. The cost
//! is one multiply-xorshift per candidate instance, so the manager should still remember the
//! choice in its flow table rather than hash every packet of a long flow.

use serde::Serialize;

use crate::view::ClusterView;

/// How to choose between the local host and remote hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SpreadPolicy {
    /// A local instance always wins; remote hosts are chosen only when the local host does not
    /// run the service (openNetVM's rule, and the default).
    #[default]
    PreferLocal,
    /// Hash every flow over all instances in the cluster, local ones included: spreads load
    /// across hosts at the cost of tunnel traffic.
    Spread,
}

/// SplitMix64 finalizer: a good 64-bit mixer.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of candidate `k` of `host_id` (FNV-1a of the id, mixed with `k`). Stable across
/// processes, builds and hosts.
pub(crate) fn candidate_seed(host_id: &str, k: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in host_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h ^ mix64(u64::from(k) + 1))
}

#[inline]
fn score(flow: u64, seed: u64) -> u64 {
    mix64(flow ^ seed)
}

fn best<'v>(
    view: &'v ClusterView,
    service: u16,
    flow_hash: u64,
    exclude: Option<&str>,
) -> Option<&'v str> {
    let entry = view.services.get(&service)?;
    let flow = mix64(flow_hash);
    let mut best: Option<(u64, u32)> = None;
    for &(idx, seed) in &entry.candidates {
        let host = &entry.hosts[idx as usize].host_id;
        if exclude == Some(host.as_str()) {
            continue;
        }
        let s = score(flow, seed);
        // Ties (practically impossible) go to the lower index, i.e. the lower host id.
        if best.is_none_or(|(b, _)| s > b) {
            best = Some((s, idx));
        }
    }
    best.map(|(_, idx)| entry.hosts[idx as usize].host_id.as_str())
}

/// The host a packet of flow `flow_hash` for `service` goes to, preferring `local_host` when it
/// runs the service ([`SpreadPolicy::PreferLocal`]). `None`: no live host runs the service.
pub fn pick_host<'v>(
    view: &'v ClusterView,
    service: u16,
    flow_hash: u64,
    local_host: &str,
) -> Option<&'v str> {
    pick_host_with(
        view,
        service,
        flow_hash,
        local_host,
        SpreadPolicy::PreferLocal,
    )
}

/// Like [`pick_host`] with an explicit policy.
pub fn pick_host_with<'v>(
    view: &'v ClusterView,
    service: u16,
    flow_hash: u64,
    local_host: &str,
    policy: SpreadPolicy,
) -> Option<&'v str> {
    match policy {
        SpreadPolicy::PreferLocal => {
            let entry = view.services.get(&service)?;
            if let Some(h) = entry.hosts.iter().find(|h| h.host_id == local_host) {
                return Some(h.host_id.as_str());
            }
            best(view, service, flow_hash, None)
        }
        SpreadPolicy::Spread => best(view, service, flow_hash, None),
    }
}

/// The remote-only rule: the host among those other than `local_host` that runs `service`,
/// for a packet the manager has decided to send off-host (its local instances are gone or
/// the service never ran locally). `None`: no other live host runs it.
pub fn pick_remote<'v>(
    view: &'v ClusterView,
    service: u16,
    flow_hash: u64,
    local_host: &str,
) -> Option<&'v str> {
    best(view, service, flow_hash, Some(local_host))
}

/// One line of the operator's route table (`sluice cluster routes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteSummary {
    /// The service id.
    pub service: u16,
    /// Instances on this host (as registered in ZooKeeper).
    pub local_instances: u32,
    /// Where packets for this service go: `"local"`, `"remote"` or `"none"` (dropped).
    pub route: &'static str,
    /// Remote hosts that get flows: (host id, tunnel endpoint `ip:port`, instances).
    pub remote: Vec<(String, String, u32)>,
}

/// The route table of `local_host` under `policy`, one line per service known in the view.
pub fn route_table(
    view: &ClusterView,
    local_host: &str,
    policy: SpreadPolicy,
) -> Vec<RouteSummary> {
    view.services
        .iter()
        .map(|(&service, e)| {
            let local_instances = e
                .hosts
                .iter()
                .find(|h| h.host_id == local_host)
                .map_or(0, |h| h.instances);
            let remote: Vec<(String, String, u32)> = e
                .hosts
                .iter()
                .filter(|h| h.host_id != local_host)
                .filter_map(|h| {
                    let rec = view.hosts.get(&h.host_id)?;
                    let ep = std::net::SocketAddr::new(rec.tunnel_ip, rec.tunnel_udp_port);
                    Some((h.host_id.clone(), ep.to_string(), h.instances))
                })
                .collect();
            let uses_remote =
                !remote.is_empty() && (local_instances == 0 || policy == SpreadPolicy::Spread);
            let route = if uses_remote {
                "remote"
            } else if local_instances > 0 {
                "local"
            } else {
                "none"
            };
            let remote = if uses_remote { remote } else { Vec::new() };
            RouteSummary {
                service,
                local_instances,
                route,
                remote,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClusterConfig, MacAddr};
    use crate::records::{HostRecord, ServiceRecord};
    use std::collections::HashMap;

    fn view(spec: &[(&str, u32)]) -> ClusterView {
        let hosts = spec.iter().map(|(h, _)| {
            let cfg = ClusterConfig::new("127.0.0.1:1", h, "192.0.2.1".parse().unwrap());
            HostRecord::from_config(&cfg, MacAddr::default(), "", "t", 0)
        });
        let svcs = spec.iter().map(|(h, n)| ServiceRecord {
            v: 1,
            host_id: h.to_string(),
            service: 1,
            instances: *n,
        });
        ClusterView::from_records(hosts, svcs)
    }

    fn flows() -> impl Iterator<Item = u64> {
        // Flow hashes as an RSS hash would produce: arbitrary 32-bit values.
        (0..20_000u64).map(|i| mix64(i * 7 + 3) & 0xffff_ffff)
    }

    #[test]
    fn stable_and_local_first() {
        let v = view(&[("a", 1), ("b", 1), ("c", 1)]);
        for f in flows().take(1000) {
            let x = pick_host(&v, 1, f, "z").unwrap();
            assert_eq!(pick_host(&v, 1, f, "z"), Some(x));
            // A rebuilt view (another host's) picks the same host.
            let v2 = view(&[("c", 1), ("a", 1), ("b", 1)]);
            assert_eq!(pick_host(&v2, 1, f, "y"), Some(x));
            assert_eq!(pick_host(&v, 1, f, "b"), Some("b"));
            assert_ne!(pick_remote(&v, 1, f, "b"), Some("b"));
        }
        assert_eq!(pick_host(&v, 2, 5, "a"), None);
        assert_eq!(pick_remote(&view(&[("a", 1)]), 1, 5, "a"), None);
    }

    #[test]
    fn removing_a_host_moves_only_its_flows() {
        let before = view(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
        let after = view(&[("a", 1), ("b", 1), ("d", 1)]);
        let mut moved = 0;
        for f in flows() {
            let x = pick_host(&before, 1, f, "z").unwrap();
            let y = pick_host(&after, 1, f, "z").unwrap();
            if x != "c" {
                assert_eq!(x, y, "flow {f} moved from {x} although {x} stayed");
            } else {
                moved += 1;
                assert_ne!(y, "c");
            }
        }
        assert!(moved > 0);
        // Adding an instance moves only flows to the new instance.
        let grown = view(&[("a", 1), ("b", 2), ("c", 1), ("d", 1)]);
        for f in flows() {
            let x = pick_host(&before, 1, f, "z").unwrap();
            let y = pick_host(&grown, 1, f, "z").unwrap();
            assert!(x == y || y == "b", "flow {f} moved {x} -> {y}");
        }
    }

    #[test]
    fn distribution_roughly_even_and_weighted() {
        let v = view(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
        let mut count: HashMap<&str, usize> = HashMap::new();
        let n = flows().count();
        for f in flows() {
            *count.entry(pick_host(&v, 1, f, "z").unwrap()).or_default() += 1;
        }
        for (h, c) in &count {
            let share = *c as f64 / n as f64;
            assert!((0.20..0.30).contains(&share), "{h}: {share}");
        }
        let w = view(&[("a", 3), ("b", 1)]);
        let a = flows()
            .filter(|&f| pick_host(&w, 1, f, "z") == Some("a"))
            .count();
        let share = a as f64 / n as f64;
        assert!(
            (0.70..0.80).contains(&share),
            "a with 3 of 4 instances: {share}"
        );
    }

    #[test]
    fn route_table_lines() {
        let v = view(&[("a", 1), ("b", 2)]);
        let t = route_table(&v, "a", SpreadPolicy::PreferLocal);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].route, "local");
        let t = route_table(&v, "z", SpreadPolicy::PreferLocal);
        assert_eq!(t[0].route, "remote");
        assert_eq!(t[0].remote.len(), 2);
        assert_eq!(
            t[0].remote[1],
            ("b".to_string(), "192.0.2.1:4790".to_string(), 2)
        );
    }
}
