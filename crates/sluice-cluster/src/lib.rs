//! Distributed mode: the ZooKeeper registry of hosts, services and NF stats, with a local cache.
//!
//! - [`config`]: the optional `[cluster]` table ([`ClusterConfig`]);
//! - [`records`]: versioned JSON payloads of the znodes;
//! - [`registry`]: [`Registry`], which registers this host and keeps a [`ClusterView`]
//!   published for lock-free reads;
//! - [`routing`]: which host a to-service packet goes to (rendezvous hashing);
//! - [`testing`]: a real ZooKeeper ensemble launcher for tests (hidden from the docs).
//!
//! Without a `[cluster]` table nothing here runs and Sluice needs no ZooKeeper.

#![deny(missing_docs)]

pub mod config;
pub mod records;
pub mod registry;
pub mod routing;
#[doc(hidden)]
pub mod testing;
pub mod view;

pub use config::{ClusterConfig, ConfigError, MacAddr, TunnelConfig, TunnelMode};
pub use records::{HostRecord, HostStatsRecord, NfStatsRecord, RecordError, ServiceRecord};
pub use registry::{Registry, RegistryError, RegistryStatus, ViewHandle};
pub use routing::{
    pick_host, pick_host_with, pick_remote, route_table, RouteSummary, SpreadPolicy,
};
pub use view::{ClusterView, ServiceEntry, ServiceHost};
