#!/usr/bin/env bash
# Install every Debian (bookworm) package vxroute needs to build, test and demo.
# Idempotent: when everything is already installed, apt-get is not run at all.
# usage: scripts/deps.sh [--check]   (--check: only report missing packages, exit 1 if any)
set -euo pipefail

usage() { echo "usage: $0 [--check]" >&2; }

check_only=0
case "${1:-}" in
  "") ;;
  --check) check_only=1 ;;
  -h|--help) usage; exit 0 ;;
  *) usage; exit 2 ;;
esac

# All verified to exist in bookworm (apt-cache policy).
packages=(
  build-essential g++ meson ninja-build pkg-config
  dpdk dpdk-dev libdpdk-dev
  libcurl4-openssl-dev rapidjson-dev libmicrohttpd-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libpcap-dev
  python3 python3-scapy python3-prometheus-client python3-yaml curl
  tshark tcpdump
  iproute2 nftables ethtool iputils-ping netcat-openbsd socat procps util-linux kmod
  iptables conntrack
  clang openssl shellcheck
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  if [[ "$status" != ii* ]]; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "[deps] all ${#packages[@]} packages installed"
  exit 0
fi

echo "[deps] missing: ${missing[*]}"
if ((check_only)); then
  exit 1
fi
if ((EUID != 0)); then
  echo "[deps] error: need root to install packages (run as root or via sudo)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no, never block.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || still+=("$p")
done
if ((${#still[@]})); then
  echo "[deps] error: still not installed after apt-get: ${still[*]}" >&2
  exit 1
fi
echo "[deps] installed: ${missing[*]}"
