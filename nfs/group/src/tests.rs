use super::*;

const GROUP: &str = r#"
[[member]]
nf = "firewall"
service = "fw"
name = "fw-1"
args = ["--rules", "RULES"]

[[member]]
nf = "monitor"
service = 3
args = ["--print-every", "0", "--dest", "4"]

[[member]]
nf = "forward"
service = "fwd"

[[member]]
nf = "speed-tester"
service = "bounce"
args = ["--packets", 64, "--latency"]

[[member]]
nf = "l2fwd"
service = "l2"
args = ["--port", "1"]

[[member]]
nf = "flow-tracker"
service = "ft"
args = ["--top", "3"]

[[member]]
nf = "nat"
service = "nat"
args = ["--inside-port", "0", "--public-ip", "203.0.113.1", "--port-range", "1000-1999"]
"#;

fn rules_file() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-group-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("rules.toml");
    std::fs::write(&p, "default = \"allow\"\n").unwrap();
    p
}

#[test]
fn parse_and_build_all_kinds() {
    let rules = rules_file();
    let text = GROUP.replace("RULES", rules.to_str().unwrap());
    let specs = parse_group(&text, "group.toml").unwrap();
    assert_eq!(specs.len(), 7);
    assert_eq!(
        specs[0],
        MemberSpec {
            nf: "firewall".into(),
            service: "fw".into(),
            name: "fw-1".into(),
            args: vec!["--rules".into(), rules.to_str().unwrap().into()],
        }
    );
    assert_eq!(
        (specs[1].service.as_str(), specs[1].name.as_str()),
        ("3", "monitor-2")
    );
    assert_eq!(specs[2].args, Vec::<String>::new());
    assert_eq!(specs[3].args, ["--packets", "64", "--latency"]);
    let members = build_members(&specs, "group.toml").unwrap();
    assert_eq!(members.len(), 7);
    let _ = std::fs::remove_file(rules);
}

fn err(text: &str) -> String {
    parse_group(text, "g.toml").unwrap_err()
}

#[test]
fn file_errors() {
    assert!(err("[[member]\n").starts_with("g.toml: not valid TOML"));
    assert_eq!(
        err(""),
        "g.toml: no [[member]] sections: a group needs at least one NF"
    );
    assert!(err("[[members]]\nnf = \"forward\"")
        .contains("unknown key `members` (the sections are [[member]])"));
    assert_eq!(
        err("[[member]]\nnf = \"forward\"\nservice = 1\n[[member]]\nnf = \"fwd\"\nservice = 2"),
        "g.toml: member 2: field `nf`: \"fwd\" is not one of speed-tester, monitor, forward, \
         l2fwd, firewall, flow-tracker, nat"
    );
    assert_eq!(
        err("[[member]]\nnf = \"forward\""),
        "g.toml: member 1: field `service`: missing (a service id or name)"
    );
    assert!(err("[[member]]\nnf = \"forward\"\nservice = 99")
        .contains("99 is not a service id 1-64 or name"));
    assert!(
        err("[[member]]\nnf = \"forward\"\nservice = 1\nargs = \"-d 2\"")
            .contains("field `args`: expected a list")
    );
    assert!(err("[[member]]\nnf = \"forward\"\nservice = 1\nargz = []")
        .contains("field `argz`: unknown field"));
    assert!(err("[[member]]\nnf = \"forward\"\nservice = 1\nname = \"a\"\n[[member]]\nnf = \"forward\"\nservice = 1\nname = \"a\"")
        .contains("member 2: name \"a\" is used twice"));
}

#[test]
fn member_option_errors_name_member_and_nf() {
    let text = "[[member]]\nnf = \"forward\"\nservice = 1\n\
                [[member]]\nnf = \"nat\"\nservice = 2\nargs = [\"--inside-port\", \"0\"]\n";
    let specs = parse_group(text, "g.toml").unwrap();
    let e = build_members(&specs, "g.toml").err().unwrap().to_string();
    assert!(
        e.starts_with(
            "g.toml: member 2 (nat): the following required arguments were not provided:"
        ),
        "{e}"
    );
    assert!(e.contains("--public-ip <A.B.C.D>"), "{e}");
    assert!(e.contains("Usage: nat "), "{e}");

    let text = "[[member]]\nnf = \"firewall\"\nservice = 1\nargs = [\"--rules\", \"/nonexistent/x.toml\"]\n";
    let specs = parse_group(text, "g.toml").unwrap();
    let e = build_members(&specs, "g.toml").err().unwrap().to_string();
    assert!(
        e.starts_with("g.toml: member 1 (firewall): reading rule file /nonexistent/x.toml:"),
        "{e}"
    );

    let text = "[[member]]\nnf = \"forward\"\nservice = 1\nargs = [\"--dset\", \"2\"]\n";
    let e = build_members(&parse_group(text, "g.toml").unwrap(), "g.toml")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("g.toml: member 1 (forward): unexpected argument '--dset' found"),
        "{e}"
    );
}
