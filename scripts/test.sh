#!/usr/bin/env bash
# The test suite, as CI runs it: install the Debian packages the tests use (only what is
# missing; needs root), then run every test, the DPDK ones included.
#
# Without root the packages cannot be installed: tests needing root, ZooKeeper or DPDK then
# print SKIP and why. `cargo test --workspace` alone runs everything but DPDK.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh

features=()
if pkg-config --exists libdpdk 2>/dev/null; then
    features=(--features dpdk)
else
    echo "libdpdk-dev is missing: the DPDK tests are not built" >&2
fi
cargo test --workspace "${features[@]}" "$@"
