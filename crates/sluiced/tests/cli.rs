//! sluiced's command line: `--help` points at the configuration reference, `--check` accepts
//! a good file, and a missing file is a clear error.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sluiced");

#[test]
fn help_and_check() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("--config") && text.contains("README"),
        "{text}"
    );

    let cfg = std::env::temp_dir().join(format!("sluiced-check-{}.toml", std::process::id()));
    std::fs::write(&cfg, "[[services]]\nid = 1\nname = \"a\"\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("--check")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&cfg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));

    let out = Command::new(BIN)
        .args(["--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent.toml") && err.contains("cannot read"),
        "{err}"
    );
}
