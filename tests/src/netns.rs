//! Test hosts in network namespaces: veth pairs into namespaces the test creates, raw-socket
//! senders and capturers run inside them (Debian's /usr/bin/python3, standard library only),
//! and a guard that deletes every namespace and link even when the test fails.

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

/// Debian's Python (the one on PATH may lack Debian's modules; only `socket` is used).
pub const PYTHON: &str = "/usr/bin/python3";
/// Ethertype of test frames (IEEE local experimental), so stray kernel traffic (IPv6 router
/// solicitations and the like) is told apart.
pub const ETHERTYPE: u16 = 0x88b5;

const CAPTURE_PY: &str = r#"
import socket, sys
ifname, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind((ifname, 0x88b5))
s.settimeout(15)
print("READY", flush=True)
for _ in range(n):
    print(s.recv(65536).hex(), flush=True)
"#;

const SEND_PY: &str = r#"
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for line in sys.stdin:
    line = line.strip()
    if line:
        s.send(bytes.fromhex(line))
"#;

/// True if namespace tests can run here; otherwise prints why they skip.
pub fn available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: {test} needs root (CAP_NET_ADMIN) for network namespaces");
        return false;
    }
    let ok = |c: &str, a: &str| {
        Command::new(c)
            .arg(a)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ok("ip", "-V") {
        eprintln!("SKIP: {test} needs the `ip` command (apt-get install iproute2)");
        return false;
    }
    if !ok(PYTHON, "-V") {
        eprintln!("SKIP: {test} needs {PYTHON}");
        return false;
    }
    true
}

/// Run `ip` and fail the test with its error if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the namespaces and links it holds when dropped (also on panic).
#[derive(Default)]
pub struct Hosts {
    links: Vec<String>,
    netns: Vec<String>,
}

impl Hosts {
    /// A namespace `ns` joined to this one by a veth pair: `root` here, `root`p inside,
    /// both up, IPv6 off inside (no stray traffic). Returns the inner name.
    pub fn add(&mut self, ns: &str, root: &str) -> String {
        let peer = format!("{root}p");
        ip(&["netns", "add", ns]);
        self.netns.push(ns.to_string());
        ip(&[
            "link", "add", root, "type", "veth", "peer", "name", &peer, "netns", ns,
        ]);
        self.links.push(root.to_string());
        ip(&["link", "set", root, "up"]);
        ip(&["-n", ns, "link", "set", &peer, "up"]);
        peer
    }
}

impl Hosts {
    /// Also delete link `name` (created by the test in this namespace) when dropped.
    pub fn own_link(&mut self, name: &str) {
        self.links.push(name.to_string());
    }

    /// Also delete namespace `name` (created by the test) when dropped.
    pub fn own_netns(&mut self, name: &str) {
        self.netns.push(name.to_string());
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = Command::new("ip")
                .args(["link", "del", l])
                .stderr(Stdio::null())
                .status();
        }
        for n in &self.netns {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Python with `script` inside namespace `ns` ("" = this namespace).
fn python_in(ns: &str, script: &str) -> Command {
    if ns.is_empty() {
        let mut c = Command::new(PYTHON);
        c.args(["-c", script]);
        c
    } else {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, PYTHON, "-c", script]);
        c
    }
}

/// A raw-socket capture of `n` test frames on `ifname` inside `ns` ("" = this namespace),
/// killed on drop.
pub struct Capture {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Capture {
    /// Start capturing; returns once the socket is bound.
    pub fn start(ns: &str, ifname: &str, n: usize) -> Capture {
        let mut child = python_in(ns, CAPTURE_PY)
            .args([ifname, &n.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("capture in namespace");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        assert_eq!(lines.next().expect("capture ready").expect("read"), "READY");
        Capture { child, lines }
    }

    /// The captured frames as hex, in arrival order (stops at `n` or after 15 s of silence).
    pub fn frames(mut self) -> Vec<String> {
        let got = self.lines.by_ref().map_while(Result::ok).collect();
        let _ = self.child.wait();
        got
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send `frames` from a raw socket on `ifname` inside `ns` ("" = this namespace).
pub fn send(ns: &str, ifname: &str, frames: &[Vec<u8>]) {
    let mut child = python_in(ns, SEND_PY)
        .arg(ifname)
        .stdin(Stdio::piped())
        .spawn()
        .expect("sender in namespace");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for f in frames {
            writeln!(stdin, "{}", hex(f)).expect("write to sender");
        }
    }
    assert!(
        child.wait().expect("wait sender").success(),
        "sender failed"
    );
}

/// `n` broadcast test frames of sizes 60..=1514 with distinct payloads.
pub fn frames(n: usize, seed: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let size = 60 + i * (1514 - 60) / (n.max(2) - 1);
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[0x02, 0, 0, 0, seed, 1]);
            f.extend_from_slice(&ETHERTYPE.to_be_bytes());
            f.extend_from_slice(&(i as u16).to_be_bytes());
            while f.len() < size {
                f.push((f.len() * 7 + i * 13) as u8 ^ seed);
            }
            f
        })
        .collect()
}

/// Assert that `got` (captured, as hex) is `sent`, frame for frame and in order.
pub fn assert_frames(got: &[String], sent: &[Vec<u8>], what: &str) {
    assert_eq!(
        got.len(),
        sent.len(),
        "{what}: got {} of {} frames",
        got.len(),
        sent.len()
    );
    for (i, (g, f)) in got.iter().zip(sent).enumerate() {
        assert_eq!(*g, hex(f), "{what}: frame {i} changed on the way");
    }
}

/// Lower-case hex of a frame.
pub fn hex(f: &[u8]) -> String {
    f.iter().map(|b| format!("{b:02x}")).collect()
}
