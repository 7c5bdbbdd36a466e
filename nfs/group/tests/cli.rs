//! The binary's command line: `--help` explains the group file, and running without a
//! manager fails with a message naming the socket.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sluice-group");

#[test]
fn help_lists_options() {
    let out = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in ["--socket", "--mode", "--config", "[[member]]"] {
        assert!(text.contains(opt), "--help lacks {opt}:\n{text}");
    }
}

#[test]
fn no_manager_is_a_clear_error() {
    let cfg = std::env::temp_dir().join(format!("sluice-group-cli-{}.toml", std::process::id()));
    std::fs::write(&cfg, "[[member]]\nnf = \"forward\"\nservice = \"1\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["--socket", "/nonexistent/sluiced.sock", "--config"])
        .arg(&cfg)
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&cfg);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/sluiced.sock"),
        "message names the socket: {err}"
    );
}
