//! SR-IOV back end: per-VF policy applied to a real PF through rtnetlink (IFLA_VF_*).
//!
//! - [`VfSettings`]: what the kernel's VF interface can set (MAC, port VLAN with QoS and
//!   802.1Q/802.1ad, min/max rate, spoof check, trust, link state, RSS query).
//! - [`map_vf_file`]: a VFd-style VF file ([`VfFile`]) → [`VfSettings`] plus, per field, what
//!   the kernel cannot express ([`Unsupported`]) or expresses only loosely ([`Caveat`]).
//! - [`apply`] / [`apply_best_effort`]: send the settings to the PF, one `RTM_SETLINK` per
//!   attribute so a refusal names the attribute; [`read_vfs`] / [`read_pf`]: VF state and
//!   counters (`RTM_GETLINK` with `RTEXT_FILTER_VF`).
//! - [`msg`]: the message encoding and decoding, hand-written and byte-tested.
//!
//! Everything happens in the network namespace of the calling thread.

#![warn(missing_docs)]

mod consts;
pub mod msg;
mod settings;
pub mod socket;
mod vfd;

use std::io;

use serde::{Deserialize, Serialize};

pub use msg::{PfInfo, VfInfo, VfStats};
pub use settings::{
    BadMac, LinkState, MacAddr, TxRate, VfAttr, VfAttrValue, VfSettings, VfVlan, VlanProto,
};
pub use socket::{NlSocket, Reply, SocketError};
pub use vfd::{
    map_vf_file, Caveat, MapError, MapOptions, Mirror, QueueShare, Unsupported, VfFile, VfMapping,
};

use consts::{IFNAMSIZ, RTEXT_FILTER_SKIP_STATS, RTEXT_FILTER_VF, RTM_NEWLINK};

/// Why an SR-IOV operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The PF name cannot be an interface name.
    #[error("invalid PF name {pf:?}: {reason}")]
    BadPfName {
        /// The name given.
        pf: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No interface of that name in this network namespace.
    #[error("PF {pf}: no such network interface (in this network namespace)")]
    NoSuchPf {
        /// The name given.
        pf: String,
    },
    /// The kernel or the PF driver refused one VF attribute.
    #[error(
        "PF {pf} refused {attr} for VF {vf}: {}{}{}",
        errno_text(*.errno),
        .detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default(),
        .hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Refused {
        /// PF name.
        pf: String,
        /// VF index.
        vf: u32,
        /// The refused attribute.
        attr: VfAttr,
        /// The value that was sent.
        value: VfAttrValue,
        /// Positive errno.
        errno: i32,
        /// The kernel's extended-ACK message, if any.
        detail: Option<String>,
        /// Our reading of the errno in context.
        hint: Option<String>,
        /// Attributes already applied before this one (they stay applied).
        applied: Vec<VfAttr>,
    },
    /// A request other than a VF attribute failed (e.g. reading the link).
    #[error("PF {pf}: {op} failed: {}{}", errno_text(*.errno), .detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Kernel {
        /// PF name.
        pf: String,
        /// The request (RTM_GETLINK...).
        op: &'static str,
        /// Positive errno.
        errno: i32,
        /// Extended-ACK message.
        detail: Option<String>,
    },
    /// The socket failed or the answer made no sense.
    #[error("PF {pf}: {source}")]
    Socket {
        /// PF name.
        pf: String,
        /// The failure.
        source: SocketError,
    },
}

/// "Operation not supported" for 95, without std's " (os error 95)" suffix.
fn errno_text(errno: i32) -> String {
    let s = io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// One attribute a NIC refused, in a best-effort [`Report`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The attribute.
    pub attr: VfAttr,
    /// The value sent.
    pub value: VfAttrValue,
    /// Positive errno.
    pub errno: i32,
    /// Full message, as [`Error::Refused`] would print it.
    pub message: String,
}

/// What [`apply`] / [`apply_best_effort`] did.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Report {
    /// PF name.
    pub pf: String,
    /// PF ifindex.
    pub ifindex: u32,
    /// `IFLA_NUM_VF` of the PF at the time (0 when the kernel does not report it).
    pub num_vfs: u32,
    /// VF index.
    pub vf: u32,
    /// Attributes the kernel acknowledged, in the order sent.
    pub applied: Vec<VfAttr>,
    /// Attributes refused (only [`apply_best_effort`] fills this).
    pub refused: Vec<Refusal>,
}

/// Checks that `name` can be an interface name (1..=15 bytes, no NUL, '/' or whitespace —
/// the kernel's `dev_valid_name()`).
pub fn check_ifname(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::BadPfName {
            pf: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name == "." || name == ".." {
        return bad("empty or a dot name");
    }
    if name.len() >= IFNAMSIZ {
        return bad("longer than 15 bytes");
    }
    if name
        .bytes()
        .any(|c| c == 0 || c == b'/' || c == b':' || c.is_ascii_whitespace())
    {
        return bad("contains NUL, '/', ':' or whitespace");
    }
    Ok(())
}

fn sock_err(pf: &str) -> impl FnOnce(SocketError) -> Error + '_ {
    move |source| Error::Socket {
        pf: pf.to_string(),
        source,
    }
}

fn query(sock: &mut NlSocket, pf: &str, ext_mask: u32) -> Result<PfInfo, Error> {
    check_ifname(pf)?;
    match sock
        .request(|seq| msg::encode_getlink(pf, seq, ext_mask))
        .map_err(sock_err(pf))?
    {
        Reply::Msg(RTM_NEWLINK, payload) => {
            msg::parse_newlink(&payload).map_err(|e| sock_err(pf)(SocketError::Parse(e)))
        }
        Reply::Msg(ty, _) => Err(sock_err(pf)(SocketError::Parse(msg::ParseError(format!(
            "RTM_GETLINK answered with message type {ty}"
        ))))),
        Reply::Ack(a) if a.errno == libc::ENODEV => Err(Error::NoSuchPf { pf: pf.to_string() }),
        Reply::Ack(a) if a.errno == 0 => Err(sock_err(pf)(SocketError::Parse(msg::ParseError(
            "RTM_GETLINK answered with a bare ACK".into(),
        )))),
        Reply::Ack(a) => Err(Error::Kernel {
            pf: pf.to_string(),
            op: "RTM_GETLINK",
            errno: a.errno,
            detail: a.message,
        }),
    }
}

/// Reads the PF's link and its VFs (`IFLA_NUM_VF`, `IFLA_VFINFO_LIST` with `IFLA_VF_STATS`).
pub fn read_pf(pf: &str) -> Result<PfInfo, Error> {
    let mut sock = NlSocket::open().map_err(sock_err(pf))?;
    query(&mut sock, pf, RTEXT_FILTER_VF)
}

/// Reads every VF of the PF, with counters. Empty for a device without VFs.
pub fn read_vfs(pf: &str) -> Result<Vec<VfInfo>, Error> {
    Ok(read_pf(pf)?.vfs)
}

/// Applies `settings` to VF `settings.vf` of PF `pf`, one attribute per `RTM_SETLINK`, in
/// the kernel's order (MAC, VLAN, rate, spoof check, link state, RSS query, trust). Stops at
/// the first refusal with [`Error::Refused`], which names the PF, attribute and VF and lists
/// what was already applied (the kernel has no transactions; nothing is rolled back).
pub fn apply(pf: &str, settings: &VfSettings) -> Result<Report, Error> {
    apply_inner(pf, settings, true)
}

/// Like [`apply`], but tries every attribute and lists refusals in [`Report::refused`]
/// (so one NIC's missing `IFLA_VF_TRUST` does not block its MAC and VLAN).
pub fn apply_best_effort(pf: &str, settings: &VfSettings) -> Result<Report, Error> {
    apply_inner(pf, settings, false)
}

fn apply_inner(pf: &str, s: &VfSettings, stop_at_refusal: bool) -> Result<Report, Error> {
    let mut sock = NlSocket::open().map_err(sock_err(pf))?;
    // One read first: the ifindex, and IFLA_NUM_VF to explain refusals.
    let link = query(&mut sock, pf, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS)?;
    let mut report = Report {
        pf: pf.to_string(),
        ifindex: link.ifindex,
        num_vfs: link.num_vfs,
        vf: s.vf,
        ..Default::default()
    };
    for value in s.attrs() {
        let attr = value.attr();
        let reply = sock
            .request(|seq| msg::encode_setlink(link.ifindex, seq, s.vf, &[value]))
            .map_err(sock_err(pf))?;
        let ack = match reply {
            Reply::Ack(a) => a,
            Reply::Msg(ty, _) => {
                return Err(sock_err(pf)(SocketError::Parse(msg::ParseError(format!(
                    "RTM_SETLINK answered with message type {ty}"
                )))))
            }
        };
        if ack.errno == 0 {
            tracing::info!(pf, vf = s.vf, %value, "applied {attr}");
            report.applied.push(attr);
            continue;
        }
        let err = Error::Refused {
            pf: pf.to_string(),
            vf: s.vf,
            attr,
            value,
            errno: ack.errno,
            detail: ack.message,
            hint: hint(ack.errno, &value, s.vf, link.num_vfs),
            applied: report.applied.clone(),
        };
        tracing::warn!("{err}");
        if stop_at_refusal {
            return Err(err);
        }
        report.refused.push(Refusal {
            attr,
            value,
            errno: ack.errno,
            message: err.to_string(),
        });
    }
    Ok(report)
}

/// Turns an errno into what it usually means for a VF attribute.
fn hint(errno: i32, value: &VfAttrValue, vf: u32, num_vfs: u32) -> Option<String> {
    Some(match errno {
        libc::EOPNOTSUPP if num_vfs == 0 => "the device has no SR-IOV VFs".into(),
        libc::EOPNOTSUPP => format!("the PF driver does not implement {}", value.attr()),
        libc::EINVAL | libc::ERANGE if num_vfs == 0 => {
            format!("VF {vf} does not exist: the PF has 0 VFs; enable them with sriov_numvfs")
        }
        libc::EINVAL | libc::ERANGE if vf >= num_vfs => {
            format!("VF {vf} does not exist: the PF has {num_vfs} VFs")
        }
        libc::EINVAL | libc::ERANGE => match value {
            VfAttrValue::Rate(r) if r.min_mbps > 0 => {
                "the driver refused the rate: many (ixgbe, i40e) take no min_tx_rate, and max must not exceed the link speed".into()
            }
            VfAttrValue::Rate(_) => "the driver refused the rate (above the link speed?)".into(),
            VfAttrValue::Mac(_) => "the driver refused the MAC (multicast, or in use on this PF?)".into(),
            _ => "the driver refused the value".into(),
        },
        libc::EPROTONOSUPPORT => match value {
            VfAttrValue::Vlan(v) => format!("the driver does not support {} port VLANs", v.proto),
            _ => return None,
        },
        libc::EPERM | libc::EACCES => {
            "needs CAP_NET_ADMIN in the PF's network namespace".into()
        }
        libc::EBUSY | libc::EAGAIN => "the VF or PF is busy (reset in progress?); retry".into(),
        libc::ENODEV => "the PF went away".into(),
        _ => return None,
    })
}

/// The netdev name of the PF at PCI address `pciid` (e.g. `0000:07:00.1`, VFd's `pciid`),
/// from `/sys/bus/pci/devices/<pciid>/net/`. Fails when the PF is bound to vfio/uio (DPDK).
pub fn pf_for_pciid(pciid: &str) -> io::Result<String> {
    if pciid.is_empty() || pciid.contains('/') || pciid.starts_with('.') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{pciid:?} is not a PCI address"),
        ));
    }
    let dir = format!("/sys/bus/pci/devices/{}/net", pciid.trim());
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names.into_iter().next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{dir} is empty: no kernel netdev for this PF"),
        )
    })
}

/// The PF's link speed in Mbps from `/sys/class/net/<pf>/speed`; `None` when the link is
/// down or the driver does not say (to convert VFd's `rate`, a fraction of link speed).
pub fn link_speed_mbps(pf: &str) -> Option<u32> {
    check_ifname(pf).ok()?;
    let s = std::fs::read_to_string(format!("/sys/class/net/{pf}/speed")).ok()?;
    match s.trim().parse::<i64>().ok()? {
        n if n > 0 && n <= u32::MAX as i64 => Some(n as u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_message_names_pf_field_and_vf() {
        let e = Error::Refused {
            pf: "veth0".into(),
            vf: 0,
            attr: VfAttr::Mac,
            value: VfAttrValue::Mac(MacAddr([2, 0, 0, 0, 0, 1])),
            errno: libc::EOPNOTSUPP,
            detail: None,
            hint: hint(
                libc::EOPNOTSUPP,
                &VfAttrValue::Mac(MacAddr::default()),
                0,
                0,
            ),
            applied: vec![],
        };
        assert_eq!(
            e.to_string(),
            "PF veth0 refused IFLA_VF_MAC for VF 0: Operation not supported (the device has no SR-IOV VFs)"
        );
    }

    #[test]
    fn hints_depend_on_context() {
        let v = VfAttrValue::Trust(true);
        assert_eq!(
            hint(libc::EOPNOTSUPP, &v, 0, 8).unwrap(),
            "the PF driver does not implement IFLA_VF_TRUST"
        );
        assert_eq!(
            hint(libc::EINVAL, &v, 9, 8).unwrap(),
            "VF 9 does not exist: the PF has 8 VFs"
        );
        let ad = VfAttrValue::Vlan(VfVlan {
            id: 10,
            qos: 0,
            proto: VlanProto::Dot1Ad,
        });
        assert_eq!(
            hint(libc::EPROTONOSUPPORT, &ad, 0, 8).unwrap(),
            "the driver does not support 802.1ad port VLANs"
        );
        assert_eq!(hint(12345, &v, 0, 8), None);
    }

    #[test]
    fn ifname_checks() {
        for good in ["eth0", "enp7s0f1", "a", "x23456789012345"] {
            check_ifname(good).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "x234567890123456",
            "a/b",
            "a b",
            "a\0b",
            "eth0:1",
        ] {
            assert!(check_ifname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pciid_is_not_a_path() {
        assert!(pf_for_pciid("../../etc").is_err());
        assert!(pf_for_pciid("").is_err());
        assert_eq!(link_speed_mbps("../x"), None);
    }
}
