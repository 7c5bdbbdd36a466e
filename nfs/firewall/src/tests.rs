use super::*;
use clap::Parser;
use sluice_nf::wire::{
    write_arp_ipv4, write_icmp_echo_ipv4, write_tcp_ipv4, write_tcp_ipv6, write_udp_ipv4,
    ARP_REQUEST, TCP_SYN,
};

#[derive(Parser)]
struct W {
    #[command(flatten)]
    o: Opts,
}

const M: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn udp4(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    write_udp_ipv4(&mut b, M, M, src, dst, sp, dp, 64).unwrap();
    b
}

fn tcp4(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    write_tcp_ipv4(&mut b, M, M, src, dst, sp, dp, TCP_SYN, 64).unwrap();
    b
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn tcp6(src: &str, dst: &str, sp: u16, dp: u16) -> Vec<u8> {
    let mut b = vec![0u8; 80];
    write_tcp_ipv6(&mut b, M, M, v6(src), v6(dst), sp, dp, TCP_SYN, 80).unwrap();
    b
}

const RULES: &str = r#"
default = "deny"

[[rule]]
action = "deny"
name = "bad host"
src = "10.0.0.66"

[[rule]]
action = "allow"
src = "10.0.0.0/8"
proto = "tcp"
dst_port = 80

[[rule]]
action = "allow"
proto = "udp"
dst_ports = "1000-2000"

[[rule]]
action = "allow"
proto = 1

[[rule]]
action = "allow"
src = "2001:db8::/32"
dst = "2001:db8:1::/48"
src_ports = "1024-65535"

[[rule]]
action = "deny"
dst_port = 53
"#;

fn fw(text: &str) -> Firewall {
    Firewall::new(parse_rules(text, "rules.toml").unwrap(), None)
}

#[test]
fn parse_example() {
    let set = parse_rules(RULES, "rules.toml").unwrap();
    assert_eq!(set.default, Verdict::Deny);
    assert_eq!(set.rules.len(), 6);
    let shown: Vec<String> = set.rules.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        shown,
        [
            "deny [bad host] src=10.0.0.66/32",
            "allow src=10.0.0.0/8 proto=tcp dst_port=80",
            "allow proto=udp dst_ports=1000-2000",
            "allow proto=icmp",
            "allow src=2001:db8::/32 dst=2001:db8:1::/48 src_ports=1024-65535",
            "deny dst_port=53",
        ]
    );
    let empty = parse_rules("", "x").unwrap();
    assert_eq!((empty.default, empty.rules.len()), (Verdict::Deny, 0));
    let all = parse_rules("default = \"allow\"\n[[rule]]\naction = \"deny\"\n", "x").unwrap();
    assert_eq!(all.default, Verdict::Allow);
    assert_eq!(all.rules[0].to_string(), "deny all");
}

#[test]
fn first_match_wins() {
    let mut f = fw(RULES);
    let allow = Action::Next;
    // rule 1 before rule 2
    assert_eq!(
        f.filter(&tcp4([10, 0, 0, 66], [1, 1, 1, 1], 5000, 80)),
        Action::Drop
    );
    assert_eq!(
        f.filter(&tcp4([10, 9, 0, 1], [1, 1, 1, 1], 5000, 80)),
        allow
    );
    // rule 2 needs tcp and port 80 and 10/8
    assert_eq!(
        f.filter(&tcp4([10, 9, 0, 1], [1, 1, 1, 1], 5000, 81)),
        Action::Drop
    );
    assert_eq!(
        f.filter(&tcp4([11, 9, 0, 1], [1, 1, 1, 1], 5000, 80)),
        Action::Drop
    );
    assert_eq!(
        f.filter(&udp4([10, 9, 0, 1], [1, 1, 1, 1], 5000, 80)),
        Action::Drop
    );
    // rule 3: range edges
    assert_eq!(f.filter(&udp4([9, 9, 9, 9], [1, 1, 1, 1], 1, 1000)), allow);
    assert_eq!(f.filter(&udp4([9, 9, 9, 9], [1, 1, 1, 1], 1, 2000)), allow);
    assert_eq!(
        f.filter(&udp4([9, 9, 9, 9], [1, 1, 1, 1], 1, 2001)),
        Action::Drop
    );
    // rule 4: icmp
    let mut b = vec![0u8; 64];
    let n = write_icmp_echo_ipv4(&mut b, M, M, [1, 2, 3, 4], [5, 6, 7, 8], 1, 1, 64).unwrap();
    assert_eq!(f.filter(&b[..n]), allow);
    // rule 5: IPv6 prefixes and a source port range; IPv4 never matches an IPv6 rule
    assert_eq!(
        f.filter(&tcp6("2001:db8::1", "2001:db8:1::5", 40000, 22)),
        allow
    );
    assert_eq!(
        f.filter(&tcp6("2001:db8::1", "2001:db8:1::5", 1023, 22)),
        Action::Drop
    );
    assert_eq!(
        f.filter(&tcp6("2001:db9::1", "2001:db8:1::5", 40000, 22)),
        Action::Drop
    );
    // non-IP follows the default
    let n = write_arp_ipv4(&mut b, ARP_REQUEST, M, [1, 1, 1, 1], [0; 6], [2, 2, 2, 2]).unwrap();
    assert_eq!(f.filter(&b[..n]), Action::Drop);
    assert_eq!(f.hits(), &[1, 1, 2, 1, 1, 0, 7]);
    assert_eq!(f.totals(), (5, 8));
    assert_eq!(
        f.counters_line(),
        "allowed=5 denied=8 | rule 1: 1, rule 2: 1, rule 3: 2, rule 4: 1, rule 5: 1, rule 6: 0, default: 7"
    );
}

#[test]
fn default_allow_and_dest() {
    let set = parse_rules(
        "default = \"allow\"\n[[rule]]\naction = \"deny\"\ndst = \"192.168.0.0/16\"\n",
        "r",
    )
    .unwrap();
    let mut f = Firewall::new(set, Some(9));
    assert_eq!(
        f.filter(&udp4([1, 1, 1, 1], [192, 168, 3, 4], 1, 2)),
        Action::Drop
    );
    assert_eq!(
        f.filter(&udp4([1, 1, 1, 1], [192, 169, 3, 4], 1, 2)),
        Action::ToService(9)
    );
    assert_eq!(f.filter(&[0u8; 20]), Action::ToService(9)); // not IP: default
    assert_eq!(f.filter(&[1, 2, 3]), Action::ToService(9)); // runt: default
}

#[test]
fn ports_and_fragments() {
    // A port rule without proto matches TCP and UDP, not ICMP or later fragments.
    let mut f = fw("[[rule]]\naction = \"allow\"\ndst_port = 53\n");
    assert_eq!(
        f.filter(&udp4([1, 1, 1, 1], [2, 2, 2, 2], 9, 53)),
        Action::Next
    );
    assert_eq!(
        f.filter(&tcp4([1, 1, 1, 1], [2, 2, 2, 2], 9, 53)),
        Action::Next
    );
    let mut frag = udp4([1, 1, 1, 1], [2, 2, 2, 2], 9, 53);
    // fragment offset 8 bytes (a later fragment), fix the IPv4 checksum
    frag[14 + 6] = 0;
    frag[14 + 7] = 1;
    sluice_nf::wire::fill_checksums(&mut frag).unwrap();
    assert_eq!(f.filter(&frag), Action::Drop);
}

fn err(text: &str) -> String {
    parse_rules(text, "fw.toml").unwrap_err()
}

#[test]
fn errors_name_file_rule_and_field() {
    assert!(err("default = ").starts_with("fw.toml: not valid TOML"));
    assert_eq!(
        err("default = \"maybe\""),
        "fw.toml: `default`: expected \"allow\" or \"deny\", found \"maybe\""
    );
    assert!(err("[[rules]]\naction = \"allow\"")
        .contains("unknown key `rules` (the sections are [[rule]])"));
    assert!(err("rule = 3").contains("`rule` must be an array of tables"));
    let two = "[[rule]]\naction = \"allow\"\n[[rule]]\n";
    assert_eq!(
        err(two),
        "fw.toml: rule 2: field `action`: missing (\"allow\" or \"deny\")"
    );
    let e = err("[[rule]]\naction = \"allow\"\ndts = \"1.2.3.4\"");
    assert!(
        e.starts_with("fw.toml: rule 1: field `dts`: unknown field (expected one of action,"),
        "{e}"
    );
    let cases = [
        (
            "src = \"10.0.0.0/33\"",
            "rule 1: field `src`: prefix length `33` must be 0 to 32",
        ),
        (
            "src = \"10.0.0.1/8\"",
            "rule 1: field `src`: \"10.0.0.1/8\" has host bits set (did you mean \"10.0.0.0/8\"?)",
        ),
        (
            "dst = \"nope\"",
            "rule 1: field `dst`: `nope` is not an IPv4 or IPv6 address",
        ),
        (
            "dst = 5",
            "rule 1: field `dst`: expected a string like \"10.0.0.0/8\", found 5",
        ),
        (
            "src = \"10.0.0.0/8\"\ndst = \"::/0\"",
            "rule 1: field `dst`: ::/0 and src 10.0.0.0/8 are of different IP versions",
        ),
        (
            "proto = \"tcpp\"",
            "rule 1: field `proto`: \"tcpp\" is not tcp, udp, icmp, icmpv6 or a number 0-255",
        ),
        (
            "proto = 300",
            "rule 1: field `proto`: protocol 300 is not in 0-255",
        ),
        (
            "dst_port = 70000",
            "rule 1: field `dst_port`: port 70000 is not in 0-65535",
        ),
        (
            "dst_ports = \"2000-1000\"",
            "rule 1: field `dst_ports`: \"2000-1000\": the range is empty (2000 > 1000)",
        ),
        (
            "src_ports = \"a-b\"",
            "rule 1: field `src_ports`: \"a-b\" is not a port range like \"1000-2000\"",
        ),
        (
            "dst_port = 1\ndst_ports = \"1-2\"",
            "rule 1: field `dst_ports`: give either `dst_port` or `dst_ports`, not both",
        ),
        (
            "proto = \"icmp\"\ndst_port = 1",
            "rule 1: field `dst_port`: ports only exist for proto \"tcp\" or \"udp\"",
        ),
        (
            "name = 1",
            "rule 1: field `name`: expected a string, found 1",
        ),
    ];
    for (body, want) in cases {
        let e = err(&format!("[[rule]]\naction = \"deny\"\n{body}\n"));
        assert!(e.starts_with(&format!("fw.toml: {want}")), "{body}: {e}");
    }
    assert!(err("[[rule]]\naction = \"reject\"")
        .contains("rule 1: field `action`: expected \"allow\" or \"deny\""));
}

#[test]
fn cidr_parsing() {
    let c: Cidr = "0.0.0.0/0".parse().unwrap();
    assert_eq!(c.mask(), 0);
    let c: Cidr = "192.168.1.0/24".parse().unwrap();
    assert_eq!(c.mask(), 0xffff_ff00);
    assert_eq!(c.to_string(), "192.168.1.0/24");
    let c: Cidr = "2001:db8::/32".parse().unwrap();
    assert_eq!(c.mask(), u128::MAX << 96);
    let c: Cidr = "::1".parse().unwrap();
    assert_eq!((c.len, c.mask()), (128, u128::MAX));
}

#[test]
fn build_from_file_and_options() {
    let dir = std::env::temp_dir().join(format!("sluice-fw-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("rules.toml");
    std::fs::write(&p, RULES).unwrap();
    let o = W::try_parse_from(["fw", "--rules", p.to_str().unwrap(), "-d", "4"])
        .unwrap()
        .o;
    let mut f = build(&o).unwrap();
    assert_eq!(f.rule_set().rules.len(), 6);
    assert_eq!(
        f.filter(&udp4([9, 9, 9, 9], [1, 1, 1, 1], 1, 1500)),
        Action::ToService(4)
    );
    std::fs::write(&p, "[[rule]]\naction = \"allow\"\nproto = \"xyz\"\n").unwrap();
    let e = build(&o).err().unwrap().to_string();
    assert!(e.contains("rules.toml: rule 1: field `proto`"), "{e}");
    let missing = W::try_parse_from(["fw", "--rules", "/nonexistent/r.toml"])
        .unwrap()
        .o;
    let e = format!("{:#}", build(&missing).err().unwrap());
    assert!(
        e.starts_with("reading rule file /nonexistent/r.toml: "),
        "{e}"
    );
    assert!(W::try_parse_from(["fw"]).is_err(), "--rules is required");
    std::fs::remove_dir_all(&dir).unwrap();
}
