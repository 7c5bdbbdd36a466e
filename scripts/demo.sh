#!/usr/bin/env bash
# Build Sluice in release mode and run the demo: a traffic generator, a chain of three NF
# processes (firewall -> flow-tracker -> monitor) over shared memory, and a sink, with the
# live statistics table. No root, hardware or ZooKeeper needed. Extra arguments go to
# `sluice demo` (see `target/release/sluice demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust with rustup (https://rustup.rs), then run this again" >&2
    exit 1
fi
cargo build --release --workspace
exec target/release/sluice demo "$@"
