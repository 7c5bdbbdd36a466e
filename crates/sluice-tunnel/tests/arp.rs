//! ARP for the underlay next hop.

mod common;

use common::*;
use sluice_tunnel::{arp_request, handle_arp, ArpCache};

#[test]
fn request_bytes() {
    let mut out = [0u8; 64];
    let n = arp_request(&mut out, &host_a(), IP_B).unwrap();
    assert_eq!(n, 42);
    #[rustfmt::skip]
    let want = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0x0a, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
        2, 0, 0, 0, 0, 0x0a, 10, 9, 0, 1,
        0, 0, 0, 0, 0, 0, 10, 9, 0, 2,
    ];
    assert_eq!(&out[..n], &want);
}

#[test]
fn request_for_us_is_answered_and_reply_learned() {
    // A asks for B; B answers; A learns B.
    let mut req = [0u8; 42];
    arp_request(&mut req, &host_a(), IP_B).unwrap();
    let mut cache_b = ArpCache::default();
    let mut reply = [0u8; 60];
    let o = handle_arp(&req, &host_b(), &mut cache_b, 5, &mut reply).unwrap();
    assert_eq!(o.learned, Some((IP_A, MAC_A)), "the asker is learned");
    let n = o.reply_len.unwrap();
    assert_eq!(&reply[..6], &MAC_A);
    assert_eq!(&reply[6..12], &MAC_B);
    assert_eq!(&reply[20..22], &[0, 2]);
    assert_eq!(&reply[28..32], &IP_B.octets());
    let mut cache_a = ArpCache::new(1_000);
    let mut out = [0u8; 60];
    let o = handle_arp(&reply[..n], &host_a(), &mut cache_a, 100, &mut out).unwrap();
    assert_eq!((o.learned, o.reply_len), (Some((IP_B, MAC_B)), None));
    assert_eq!(cache_a.lookup(IP_B, 100), Some(MAC_B));
    assert_eq!(cache_a.lookup(IP_B, 1_099), Some(MAC_B));
    assert_eq!(cache_a.lookup(IP_B, 1_100), None, "expired");
    assert_eq!(cache_a.expire(2_000), 1);
    assert!(cache_a.is_empty());
}

#[test]
fn others_are_ignored() {
    let mut req = [0u8; 42];
    arp_request(&mut req, &host_a(), std::net::Ipv4Addr::new(10, 9, 0, 77)).unwrap();
    let mut cache = ArpCache::default();
    let mut out = [0u8; 60];
    let o = handle_arp(&req, &host_b(), &mut cache, 0, &mut out).unwrap();
    assert_eq!((o.learned, o.reply_len), (None, None));
    assert!(cache.is_empty(), "not for us and not known: not learned");
    // Known sender: refreshed (RFC 826 merge).
    cache.insert(IP_A, [2, 2, 2, 2, 2, 2], 0);
    let o = handle_arp(&req, &host_b(), &mut cache, 10, &mut out).unwrap();
    assert_eq!(o.learned, Some((IP_A, MAC_A)));
    assert_eq!(cache.lookup(IP_A, 10), Some(MAC_A));
    // Not ARP at all.
    let o = handle_arp(&gpe_frame(), &host_b(), &mut cache, 10, &mut out).unwrap();
    assert_eq!((o.learned, o.reply_len), (None, None));
}

#[test]
fn static_mac_wins() {
    let mut cache = ArpCache::new(10);
    cache.set_static(IP_B, [2, 0, 0, 0, 0, 0x99]);
    assert!(!cache.insert(IP_B, MAC_B, 0));
    let mut req = [0u8; 42];
    arp_request(&mut req, &host_b(), IP_A).unwrap();
    let mut out = [0u8; 60];
    // B's request for A carries B's MAC; the static entry stays.
    let o = handle_arp(&req, &host_a(), &mut cache, 1, &mut out).unwrap();
    assert_eq!(o.learned, None);
    assert!(o.reply_len.is_some());
    assert_eq!(cache.lookup(IP_B, u64::MAX), Some([2, 0, 0, 0, 0, 0x99]));
}
