#!/usr/bin/env bash
# Install the Debian packages Sluice's tests and features use, only those missing (needs
# root; without it, say what is missing and go on: those tests print SKIP).
set -euo pipefail

# tshark: decodes captures; python3-scapy: frames from the kernel side; libdpdk-dev,
# dpdk-dev, pkg-config: the `dpdk` feature and testpmd; zookeeper: the cluster tests.
packages=(tshark iproute2 python3-scapy libdpdk-dev dpdk-dev pkg-config zookeeper)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "not root: cannot install ${missing[*]}; the tests that need them will SKIP" >&2
    exit 0
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
