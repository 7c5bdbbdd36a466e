//! The binary's command line: `--help` documents the NF's options and the SDK's, and
//! running without a manager fails with a message naming the socket.

use std::process::Command;

const EXTRA: &[&str] = &[];
const BIN: &str = env!("CARGO_BIN_EXE_sluice-l2fwd");

#[test]
fn help_lists_options() {
    let out = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in ["--socket", "--mode", "--ttl"] {
        assert!(text.contains(opt), "--help lacks {opt}:\n{text}");
    }
}

#[test]
fn no_manager_is_a_clear_error() {
    let out = Command::new(BIN)
        .args(["--socket", "/nonexistent/sluiced.sock", "--service", "1"])
        .args(EXTRA)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/sluiced.sock"),
        "message names the socket: {err}"
    );
}
