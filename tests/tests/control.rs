//! The control plane from the outside: bad configs are refused at start with file, place
//! and reason; registrations are refused with a reason; the CLI speaks to a live sluiced.

use std::process::Command;

use sluice_tests::*;

fn refused(name: &str, config: &str, expect: &[&str]) {
    let dir = TestDir::new(name);
    let path = dir.path("bad.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(bin("sluiced"))
        .args(["--config", &path.display().to_string()])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{name}: a bad config must be refused"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml"),
        "{name}: the message names the file: {err}"
    );
    for e in expect {
        assert!(err.contains(e), "{name}: expected {e:?} in: {err}");
    }
}

#[test]
fn bad_configs_are_refused_with_location_and_reason() {
    refused(
        "unknown-field",
        "[manager]\nsockett = \"/x\"\n",
        &["sockett", "line 2"],
    );
    refused("malformed", "[[services]\nid = 1\n", &["line 1"]);
    refused(
        "dup-service",
        "[[services]]\nid = 1\nname = \"a\"\n[[services]]\nid = 1\nname = \"b\"\n",
        &["[[services]] #2", "duplicate service id 1"],
    );
    refused(
        "undefined-service",
        "[[services]]\nid = 1\nname = \"a\"\n[[chains]]\nname = \"c\"\nsteps = [\"a\", \"zz\"]\n",
        &["[[chains]] #1", "step 2", "\"zz\""],
    );
    refused(
        "bad-port",
        "[[ports]]\nname = \"p\"\nkind = \"warp-drive\"\n",
        &["warp-drive"],
    );
}

#[test]
fn registrations_are_refused_with_a_reason_and_the_cli_works() {
    let dir = TestDir::new("cli");
    let d = Daemon::start(
        &dir,
        &format!(
            "{MANAGER}\n[[services]]\nid = 1\nname = \"fwd\"\n\n[[ports]]\nname = \"sink\"\nkind = \"null\"\n\n[[chains]]\nname = \"main\"\nsteps = [\"fwd\", \"port:sink\"]\n"
        ),
    );
    let _a = NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "a", &["--instance", "5"]);
    d.wait_running(1);
    let mut taken = NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "b", &["--instance", "5"]);
    assert!(!taken.wait(std::time::Duration::from_secs(10)).success());
    assert!(
        taken.output().contains("instance id 5 is taken by a"),
        "{}",
        taken.output()
    );
    let mut unknown = NfProc::spawn(&dir, &d, "sluice-forward", "nat", "c", &[]);
    assert!(!unknown.wait(std::time::Duration::from_secs(10)).success());
    assert!(
        unknown.output().contains("unknown service \"nat\""),
        "{}",
        unknown.output()
    );

    let sluice = |args: &[&str]| {
        let out = Command::new(bin("sluice"))
            .arg("--socket")
            .arg(&d.sock)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = sluice(&["nfs"]);
    assert!(
        ok && out.contains(" a ") && out.contains("running"),
        "{out}"
    );
    let (ok, out) = sluice(&["services"]);
    assert!(
        ok && out.contains("fwd") && out.contains("5(1024)"),
        "{out}"
    );
    let (ok, out) = sluice(&["chains"]);
    assert!(ok && out.contains("service:fwd -> port:sink"), "{out}");
    let (ok, out) = sluice(&["flow", "add", "10.0.0.1:1 -> 10.0.0.2:2 tcp", "main"]);
    assert!(ok, "{out}");
    let (ok, out) = sluice(&["flow", "list"]);
    assert!(
        ok && out.contains("10.0.0.1:1 -> 10.0.0.2:2 tcp  =>  main"),
        "{out}"
    );
    let (ok, out) = sluice(&["flow", "del", "10.0.0.1:1 -> 10.0.0.2:2 tcp"]);
    assert!(ok, "{out}");
    let (ok, out) = sluice(&["flow", "del", "10.0.0.1:1 -> 10.0.0.2:2 tcp"]);
    assert!(!ok && out.contains("no rule"), "{out}");
    let (ok, out) = sluice(&["stats", "--json"]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("stats --json is JSON");
    assert_eq!(v["stats"]["pool_size"], 32768);
    let (ok, out) = sluice(&["stats"]);
    assert!(ok && out.contains("PORT") && out.contains("sink"), "{out}");
    assert!(d.shutdown().success());
}
