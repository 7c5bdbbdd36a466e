//! The cluster view: an immutable snapshot of live hosts and which hosts run which service.
//!
//! The registry builds a new [`ClusterView`] after every change seen in ZooKeeper and publishes
//! it through an `ArcSwap`; data-plane threads load it lock-free and route on it. When
//! ZooKeeper is unreachable the last view stays published.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::records::{HostRecord, ServiceRecord};
use crate::routing;

/// Most instances of one service on one host that count for hashing weight (bounds the cost
/// of a lookup; more instances still work, they just do not attract more flows).
pub const MAX_WEIGHT_PER_HOST: u32 = 64;

/// One host running a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceHost {
    /// The host id.
    pub host_id: String,
    /// Ready instances of the service on that host.
    pub instances: u32,
}

/// The hosts running one service, sorted by host id, plus precomputed hashing candidates.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServiceEntry {
    /// Hosts running the service (only hosts with a valid host record), sorted by id.
    pub hosts: Vec<ServiceHost>,
    /// One candidate per instance (capped at [`MAX_WEIGHT_PER_HOST`] per host): index into
    /// `hosts` and the candidate's hash seed.
    #[serde(skip)]
    pub(crate) candidates: Vec<(u32, u64)>,
}

impl ServiceEntry {
    /// Whether `host_id` runs this service.
    pub fn has_host(&self, host_id: &str) -> bool {
        self.hosts
            .binary_search_by(|h| h.host_id.as_str().cmp(host_id))
            .is_ok()
    }

    /// Total instances over all hosts.
    pub fn total_instances(&self) -> u64 {
        self.hosts.iter().map(|h| u64::from(h.instances)).sum()
    }
}

/// A snapshot of the cluster as last seen in ZooKeeper.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClusterView {
    /// Live hosts with a valid host record, by host id.
    pub hosts: BTreeMap<String, HostRecord>,
    /// Service id → hosts running it.
    pub services: BTreeMap<u16, ServiceEntry>,
    /// Znodes ignored in the last refresh, each as `"znode PATH: reason"`.
    pub ignored: Vec<String>,
    /// Increases with every published refresh (0: never refreshed).
    pub generation: u64,
    /// Unix time in ms of the last successful refresh from ZooKeeper.
    pub refreshed_at_ms: u64,
}

impl ClusterView {
    /// Builds a view from decoded records. Service records of hosts without a valid host
    /// record, and records with zero instances, are left out (nothing to send them to).
    pub fn from_records(
        hosts: impl IntoIterator<Item = HostRecord>,
        services: impl IntoIterator<Item = ServiceRecord>,
    ) -> ClusterView {
        let hosts: BTreeMap<String, HostRecord> =
            hosts.into_iter().map(|h| (h.host_id.clone(), h)).collect();
        let mut by_service: BTreeMap<u16, BTreeMap<String, u32>> = BTreeMap::new();
        for s in services {
            if s.instances == 0 || !hosts.contains_key(&s.host_id) {
                continue;
            }
            by_service
                .entry(s.service)
                .or_default()
                .insert(s.host_id, s.instances);
        }
        let services = by_service
            .into_iter()
            .map(|(sid, m)| {
                let hosts: Vec<ServiceHost> = m
                    .into_iter()
                    .map(|(host_id, instances)| ServiceHost { host_id, instances })
                    .collect();
                let mut candidates = Vec::new();
                for (i, h) in hosts.iter().enumerate() {
                    for k in 0..h.instances.min(MAX_WEIGHT_PER_HOST) {
                        candidates.push((i as u32, routing::candidate_seed(&h.host_id, k)));
                    }
                }
                (sid, ServiceEntry { hosts, candidates })
            })
            .collect();
        ClusterView {
            hosts,
            services,
            ignored: Vec::new(),
            generation: 0,
            refreshed_at_ms: 0,
        }
    }

    /// The host record of `host_id`, if live.
    pub fn host(&self, host_id: &str) -> Option<&HostRecord> {
        self.hosts.get(host_id)
    }

    /// The entry of `service`, if any host runs it.
    pub fn service(&self, service: u16) -> Option<&ServiceEntry> {
        self.services.get(&service)
    }

    /// Sorted ids of the live hosts running `service`.
    pub fn hosts_for(&self, service: u16) -> Vec<&str> {
        self.services
            .get(&service)
            .map(|e| e.hosts.iter().map(|h| h.host_id.as_str()).collect())
            .unwrap_or_default()
    }

    /// Whether the view holds the same hosts and services as `other` (ignores generation,
    /// timestamps and the ignored list).
    pub fn same_membership(&self, other: &ClusterView) -> bool {
        self.hosts == other.hosts
            && self.services.len() == other.services.len()
            && self
                .services
                .iter()
                .zip(other.services.iter())
                .all(|((a, ea), (b, eb))| a == b && ea.hosts == eb.hosts)
    }
}
