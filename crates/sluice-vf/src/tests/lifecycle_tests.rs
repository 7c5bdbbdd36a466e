use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::{base, registry, with};
use crate::config::{Owner, Rule};
use crate::lifecycle::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "sluice-vf-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn setup() -> (TempDir, Lifecycle) {
    let t = TempDir::new();
    let lc = Lifecycle::new(t.0.join("config"), false);
    lc.ensure_dirs().unwrap();
    (t, lc)
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, v.to_string()).unwrap();
    p
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn dirs_follow_config_dir() {
    let lc = Lifecycle::new("/var/lib/vfd/config/", false);
    assert_eq!(lc.live_dir(), Path::new("/var/lib/vfd/config_live"));
    assert_eq!(
        lc.add_path("vf1"),
        Path::new("/var/lib/vfd/config/vf1.json")
    );
    assert_eq!(
        lc.add_path("vf1.json"),
        Path::new("/var/lib/vfd/config/vf1.json")
    );
    assert_eq!(lc.add_path("/x/y.json"), Path::new("/x/y.json"));
    assert_eq!(
        lc.delete_path("vf1"),
        Path::new("/var/lib/vfd/config_live/vf1.json")
    );
}

#[test]
fn add_moves_to_live() {
    let (_t, lc) = setup();
    let mut reg = registry();
    write(
        lc.config_dir(),
        "vf1.json",
        &base(1, 10, "02:00:00:00:00:01"),
    );
    let a = lc.add(&mut reg, "vf1").unwrap();
    assert_eq!((a.pciid.as_str(), a.vfid), ("0000:07:00.0", 1));
    assert_eq!(a.live_file, lc.live_dir().join("vf1.json"));
    assert!(names(lc.config_dir()).is_empty());
    assert_eq!(names(lc.live_dir()), ["vf1.json"]);
    let vf = reg.pf("0000:07:00.0").unwrap().vf(1).unwrap();
    let meta = fs::metadata(&a.live_file).unwrap();
    assert_eq!(
        vf.owner,
        Some(Owner {
            uid: meta.uid(),
            gid: meta.gid()
        })
    );
}

#[test]
fn failed_add_writes_error_and_changes_nothing() {
    let (_t, lc) = setup();
    let mut reg = registry();
    write(
        lc.config_dir(),
        "ok.json",
        &base(1, 10, "02:00:00:00:00:01"),
    );
    lc.add(&mut reg, "ok").unwrap();
    let before = reg.clone();
    // Conflict: the MAC is VF 1's.
    write(
        lc.config_dir(),
        "bad.json",
        &base(2, 10, "02:00:00:00:00:01"),
    );
    let e = lc.add(&mut reg, "bad").unwrap_err();
    assert_eq!(e.rule(), Some(Rule::MacInUse));
    assert_eq!(reg, before);
    assert_eq!(
        names(lc.config_dir()),
        ["bad.json.error", "bad.json.error.reason"]
    );
    let reason = fs::read_to_string(lc.config_dir().join("bad.json.error.reason")).unwrap();
    assert!(
        reason.contains("bad.json: macs[0]: mac cannot be added"),
        "{reason}"
    );
    assert_eq!(names(lc.live_dir()), ["ok.json"]);
    // Malformed JSON too.
    fs::write(lc.config_dir().join("junk.json"), "{ nope").unwrap();
    assert_eq!(
        lc.add(&mut reg, "junk").unwrap_err().rule(),
        Some(Rule::Json)
    );
    assert!(lc.config_dir().join("junk.json.error").exists());
    // A missing file: nothing to rename.
    let e = lc.add(&mut reg, "missing").unwrap_err();
    assert!(matches!(e, LifecycleError::Read { .. }));
    assert!(e.to_string().starts_with("unable to read config file: "));
    assert_eq!(reg, before);
}

#[test]
fn add_refuses_to_overwrite_a_live_file() {
    let (_t, lc) = setup();
    let mut reg = registry();
    write(
        lc.config_dir(),
        "vf.json",
        &base(1, 10, "02:00:00:00:00:01"),
    );
    lc.add(&mut reg, "vf").unwrap();
    write(
        lc.config_dir(),
        "vf.json",
        &base(2, 11, "02:00:00:00:00:02"),
    );
    let before = reg.clone();
    let e = lc.add(&mut reg, "vf").unwrap_err();
    assert!(
        e.to_string()
            .contains("a live config with this file name exists"),
        "{e}"
    );
    assert_eq!(reg, before);
}

#[test]
fn restart_reapplies_live_only() {
    let (_t, lc) = setup();
    write(lc.live_dir(), "a.json", &base(1, 10, "02:00:00:00:00:01"));
    write(lc.live_dir(), "b.json", &base(1, 11, "02:00:00:00:00:02")); // conflicts with a
    write(lc.live_dir(), "notes.txt", &json!({}));
    write(
        lc.config_dir(),
        "pending.json",
        &base(3, 12, "02:00:00:00:00:03"),
    );
    let mut reg = registry();
    let r = lc.restore(&mut reg).unwrap();
    assert_eq!(r.added.len(), 1);
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].1.rule(), Some(Rule::VfidTaken));
    let pf = reg.pf("0000:07:00.0").unwrap();
    assert_eq!(pf.vfs().map(|v| v.vfid()).collect::<Vec<_>>(), [1]);
    // The pending file was not applied; the failed one was moved off to config_dir.
    assert_eq!(names(lc.config_dir()), ["b.json-", "pending.json"]);
    assert_eq!(names(lc.live_dir()), ["a.json", "notes.txt"]);
}

#[test]
fn delete_checks_name_and_removes() {
    let (_t, lc) = setup();
    let mut reg = registry();
    write(
        lc.config_dir(),
        "vf1.json",
        &base(1, 10, "02:00:00:00:00:01"),
    );
    lc.add(&mut reg, "vf1").unwrap();
    let before = reg.clone();
    // The live file edited to another name: refused, file kept, VF kept.
    let live = lc.live_dir().join("vf1.json");
    fs::write(
        &live,
        with(base(1, 10, "02:00:00:00:00:01"), "name", json!("intruder")).to_string(),
    )
    .unwrap();
    let e = lc.delete(&mut reg, "vf1").unwrap_err();
    assert_eq!(e.rule(), Some(Rule::DeleteNameMismatch));
    assert!(e.to_string().contains("expected vf1, found intruder"));
    assert!(live.exists());
    assert_eq!(reg, before);
    // The right name: removed.
    fs::write(&live, base(1, 10, "02:00:00:00:00:01").to_string()).unwrap();
    let vf = lc.delete(&mut reg, "vf1").unwrap();
    assert_eq!(vf.vfid(), 1);
    assert!(!live.exists());
    assert_eq!(reg, registry());
    // A file naming no configured VF is refused and removed (as VFd).
    write(
        lc.live_dir(),
        "ghost.json",
        &base(9, 10, "02:00:00:00:00:09"),
    );
    assert_eq!(
        lc.delete(&mut reg, "ghost").unwrap_err().rule(),
        Some(Rule::DeleteNotConfigured)
    );
    assert!(names(lc.live_dir()).is_empty());
    // No file: refused.
    assert!(matches!(
        lc.delete(&mut reg, "vf1"),
        Err(LifecycleError::Read { .. })
    ));
}

#[test]
fn delete_keep_leaves_a_dash_file() {
    let t = TempDir::new();
    let lc = Lifecycle::new(t.0.join("config"), true);
    lc.ensure_dirs().unwrap();
    let mut reg = registry();
    write(
        lc.config_dir(),
        "vf1.json",
        &base(1, 10, "02:00:00:00:00:01"),
    );
    lc.add(&mut reg, "vf1").unwrap();
    lc.delete(&mut reg, "vf1").unwrap();
    assert_eq!(names(lc.config_dir()), ["vf1.json-"]);
    assert!(names(lc.live_dir()).is_empty());
}

// ---- Callbacks ---------------------------------------------------------------------------

#[test]
fn split_command_without_a_shell() {
    assert_eq!(
        split_command("/bin/echo a  b").unwrap(),
        ["/bin/echo", "a", "b"]
    );
    assert_eq!(
        split_command(r#"virsh attach-device 'vm 1' "/x/\"q\".xml" a\ b"#).unwrap(),
        ["virsh", "attach-device", "vm 1", "/x/\"q\".xml", "a b"]
    );
    assert_eq!(split_command("x '' y").unwrap(), ["x", "", "y"]);
    assert_eq!(
        split_command("echo $HOME `id` | cat > f").unwrap(),
        ["echo", "$HOME", "`id`", "|", "cat", ">", "f"]
    );
    assert!(split_command("  ").is_err());
    assert!(split_command("a 'b").is_err());
    assert!(split_command("a \"b").is_err());
}

#[test]
fn callback_runs_without_shell_and_reports_status() {
    let t = TempDir::new();
    let me = fs::metadata(&t.0).unwrap();
    let owner = Owner {
        uid: me.uid(),
        gid: me.gid(),
    };
    // `$HOME` and `;`-free shell syntax reach the program literally.
    let target = t.0.join("$HOME x");
    let cmd = format!("/usr/bin/touch '{}'", target.display());
    let st = run_callback(&cmd, owner, Duration::from_secs(10)).unwrap();
    assert!(st.success());
    assert!(target.exists(), "no shell expansion");
    let st = run_callback("/bin/false", owner, Duration::from_secs(10)).unwrap();
    assert_eq!(st.code(), Some(1));
    assert!(matches!(
        run_callback("/nonexistent/cmd", owner, Duration::from_secs(1)),
        Err(CallbackError::Spawn { .. })
    ));
    assert!(matches!(
        run_callback("/bin/sleep 5", owner, Duration::from_millis(100)),
        Err(CallbackError::Timeout { .. })
    ));
}

#[test]
fn callbacks_run_as_the_file_owner() {
    let (t, lc) = setup();
    let root = me_is_root(&t.0);
    // As root, give the file to nobody and check the callback really ran as nobody.
    let (uid, gid) = if root {
        (65534, 65534)
    } else {
        let m = fs::metadata(&t.0).unwrap();
        (m.uid(), m.gid())
    };
    let out = t.0.join("out");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(&t.0, fs::Permissions::from_mode(0o755)).unwrap();
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "start_cb",
        json!(format!("/usr/bin/touch {}/started", out.display())),
    );
    let v = with(
        v,
        "stop_cb",
        json!(format!("/usr/bin/touch {}/stopped", out.display())),
    );
    let p = write(lc.config_dir(), "vf1.json", &v);
    if root {
        std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
    }
    let mut reg = registry();
    lc.add(&mut reg, "vf1").unwrap();
    // Ownership survives the move to _live.
    assert_eq!(
        fs::metadata(lc.live_dir().join("vf1.json")).unwrap().uid(),
        uid
    );
    let runs = run_callbacks(&reg, CallbackKind::Start, Duration::from_secs(10));
    assert_eq!(runs.len(), 1);
    assert!(runs[0].result.as_ref().unwrap().success());
    let m = fs::metadata(out.join("started")).unwrap();
    assert_eq!((m.uid(), m.gid()), (uid, gid));
    assert!(!out.join("stopped").exists());
    let runs = run_callbacks(&reg, CallbackKind::Stop, Duration::from_secs(10));
    assert_eq!(runs.len(), 1);
    assert_eq!(fs::metadata(out.join("stopped")).unwrap().uid(), uid);
    // After a restart the owner comes from the live file.
    let mut reg2 = registry();
    lc.restore(&mut reg2).unwrap();
    assert_eq!(
        reg2.pf("0000:07:00.0").unwrap().vf(1).unwrap().owner,
        Some(Owner { uid, gid })
    );
}

fn me_is_root(dir: &Path) -> bool {
    // Files we create are owned by our uid.
    let p = dir.join(".probe");
    fs::write(&p, b"").unwrap();
    fs::metadata(&p).unwrap().uid() == 0
}
