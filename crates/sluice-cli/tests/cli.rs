//! The `sluice` CLI without a running sluiced: `--help` lists the commands, and a call names
//! the socket it could not reach.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

#[test]
fn help_and_unreachable_socket() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "nfs", "services", "chains", "ports", "flow", "stats", "demo",
    ] {
        assert!(text.contains(cmd), "--help lacks {cmd}: {text}");
    }
    let out = Command::new(BIN)
        .args(["--socket", "/nonexistent/s.sock", "nfs"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/s.sock") && err.contains("is sluiced running"),
        "{err}"
    );
}
