#!/usr/bin/env bash
# The node scripts (hugepages.sh, bind-nic.sh, node-tune.sh, node-check.sh):
# dry runs change nothing, refusals exit non-zero with their reason, real
# runs against a copy of /proc and /sys (VXR_NODE_ROOT) do what they say, and
# node-check tells the truth about this machine. Nothing global is changed:
# the machine is shared with concurrent tests.
# usage: tests/e2e/node_scripts.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"
S=$TB_ROOT/scripts
NS=vxr-nd-e2e                     # our own namespace for the "management NIC"
TMP=$(mktemp -d /tmp/vxr-node-scripts.XXXXXX)
cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# expect NAME STATUS PATTERN CMD...: CMD exits with STATUS and its output
# (stdout+stderr) matches the extended regex PATTERN.
expect() {
  local name=$1 want=$2 pat=$3 out rc=0
  shift 3
  out=$("$@" 2>&1) || rc=$?
  if [[ "$rc" == "$want" ]] && grep -Eq -- "$pat" <<<"$out"; then
    tb_ok "$name"
  else
    tb_not_ok "$name" "exit $rc (want $want), output: $(head -c 600 <<<"$out" | tr '\n' ' ')"
  fi
}

# snapshot: what a dry run must not touch (1 GiB pools and persistence files;
# 2 MiB pools are left out: concurrent tests grow them).
snapshot() {
  local f
  for f in /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages \
      /sys/devices/system/node/node*/hugepages/hugepages-1048576kB/nr_hugepages; do
    [[ -e "$f" ]] && echo "$f=$(cat "$f")"
  done
  grep hugetlbfs /proc/mounts | sort
  ls /etc/sysctl.d/90-vxroute* /etc/systemd/system/vxroute-* /etc/systemd/system/dev-hugepages1G.mount 2>/dev/null || true
  ls /var/lib/vxroute/nic-* 2>/dev/null || true
  local e key
  for e in "${NODE_SYSCTLS[@]}"; do key=${e%%|*}; echo "$key=$(sysctl -n "$key" 2>/dev/null)"; done
}

# fake_root DIR [1G]: a copy of what the scripts read, for real runs and dry
# runs alike, so that no result depends on the host's page sizes or NUMA
# layout. One NUMA node (node0); with 1G, the kernel also offers 1 GiB pages
# (empty pools), without it only 2 MiB pages, as on a kernel or VM lacking pdpe1gb.
fake_root() {
  local r=$1 sizes="2048" e key kb d
  [[ "${2:-}" == 1G ]] && sizes="2048 1048576"
  mkdir -p "$r/proc" "$r/sys/devices/system/node/node0" "$r/etc"
  for kb in $sizes; do
    for d in "$r/sys/kernel/mm/hugepages/hugepages-${kb}kB" "$r/sys/devices/system/node/node0/hugepages/hugepages-${kb}kB"; do
      mkdir -p "$d"
      echo 0 >"$d/nr_hugepages"
      echo 0 >"$d/free_hugepages"
    done
  done
  echo 100 >"$r/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
  echo 40 >"$r/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
  printf 'MemTotal: 8000000 kB\nMemAvailable: 6000000 kB\nHugepagesize: 2048 kB\nHugePages_Free: 40\n' >"$r/proc/meminfo"
  printf 'Node 0 MemTotal:       8000000 kB\nNode 0 MemFree:        6000000 kB\n' >"$r/sys/devices/system/node/node0/meminfo"
  echo "nodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0" >"$r/proc/mounts"
  for e in "${NODE_SYSCTLS[@]}"; do
    key=${e%%|*}
    mkdir -p "$r/proc/sys/$(dirname "${key//.//}")"
    sysctl -n "$key" >"$r/proc/sys/${key//.//}" 2>/dev/null || rm -f "$r/proc/sys/${key//.//}"
  done
}

main() {
  tb_require_root || { tb_not_ok "running as root"; exit 1; }
  tb_require_tools shellcheck sysctl ip python3 || { tb_not_ok "tools present"; exit 1; }
  # shellcheck source-path=SCRIPTDIR source=../../scripts/lib/node.sh
  source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/node.sh"

  tb_check "shellcheck: node scripts and scripts/lib/node.sh" \
    shellcheck -x "$S/hugepages.sh" "$S/bind-nic.sh" "$S/node-tune.sh" "$S/node-check.sh" "$S/lib/node.sh" || true

  # --- dry runs change nothing -----------------------------------------------------
  # Hugepage dry runs read copies of /sys: one kernel with 1 GiB pages, one
  # without (no test depends on which the host has).
  local host_before before after g1=$TMP/root-1g g0=$TMP/root-no1g
  fake_root "$g1" 1G
  fake_root "$g0"
  host_before=$(snapshot)
  before=$(echo "$host_before"; find "$g1" "$g0" -type f -exec md5sum {} + | sort)
  expect "hugepages.sh --dry-run (2M, more than free) prints the write" 0 "would write: echo 164 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages" \
    env VXR_NODE_ROOT="$g0" "$S/hugepages.sh" --dry-run 104
  expect "hugepages.sh --dry-run --size 1G --node 0 --persistent prints writes, mount and unit (kernel with 1G pages)" 0 \
    "would write /etc/systemd/system/vxroute-hugepages-1G-node0.service" \
    env VXR_NODE_ROOT="$g1" "$S/hugepages.sh" --dry-run --size 1G --node 0 --persistent 1
  expect "hugepages.sh --size 1G on a kernel without 1G pages says so and fails" 1 \
    "kernel has no 1G hugepage support \(/sys/kernel/mm/hugepages/hugepages-1048576kB missing; supported: 2M\)" \
    env VXR_NODE_ROOT="$g0" "$S/hugepages.sh" --dry-run --size 1G --node 0 --persistent 1
  expect "hugepages.sh --dry-run --persistent (2M) prints the sysctl.d file" 0 "would write /etc/sysctl.d/90-vxroute-hugepages.conf" \
    env VXR_NODE_ROOT="$g1" "$S/hugepages.sh" --dry-run --persistent 41
  expect "node-tune.sh --dry-run --persistent prints the changes and the conf" 0 "would write /etc/sysctl.d/90-vxroute.conf" \
    "$S/node-tune.sh" --dry-run --persistent
  after=$(snapshot; find "$g1" "$g0" -type f -exec md5sum {} + | sort)
  if [[ "$before" == "$after" ]]; then
    tb_ok "dry runs changed nothing (1G pools, mounts, sysctls, /etc files, the copies of /sys)"
  else
    tb_not_ok "dry runs changed nothing" "$(diff <(echo "$before") <(echo "$after") | tr '\n' ' ')"
  fi

  # --- refusals ----------------------------------------------------------------
  expect "hugepages.sh refuses an unsupported page size" 1 "no 4M hugepage support" \
    env VXR_NODE_ROOT="$g1" "$S/hugepages.sh" --dry-run --size 4M
  expect "hugepages.sh refuses a NUMA node that does not exist" 1 "NUMA node 99 does not exist \(nodes: 0\)" \
    env VXR_NODE_ROOT="$g1" "$S/hugepages.sh" --dry-run --node 99
  expect "hugepages.sh refuses more memory than the machine has" 1 "no hugepages could be reserved" \
    env VXR_NODE_ROOT="$g1" "$S/hugepages.sh" --dry-run 100000000
  expect "bind-nic.sh refuses a PCI address with no device" 1 "no PCI device 0000:ee:1f.7" "$S/bind-nic.sh" --dry-run 0000:ee:1f.7
  ip netns add "$NS"
  ip -n "$NS" link add vxr-mgmt type veth peer name vxr-spare
  ip -n "$NS" addr add 192.0.2.10/24 dev vxr-mgmt
  ip -n "$NS" link set vxr-mgmt up
  ip -n "$NS" link set vxr-spare up
  ip -n "$NS" route add default via 192.0.2.1 dev vxr-mgmt
  expect "bind-nic.sh refuses the interface that carries the node's routes" 1 "refusing: vxr-mgmt is up with addresses 192.0.2.10/24.*default route" \
    ip netns exec "$NS" "$S/bind-nic.sh" --dry-run vxr-mgmt
  expect "bind-nic.sh refuses a virtual interface (not a PCI NIC)" 1 "vxr-spare is not a PCI NIC" \
    ip netns exec "$NS" "$S/bind-nic.sh" --dry-run vxr-spare
  local mgmt
  mgmt=$(ip route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
  if [[ -n "$mgmt" ]]; then
    expect "bind-nic.sh refuses this machine's own default-route NIC ($mgmt)" 1 "refusing: $mgmt is up|$mgmt is not a PCI NIC" \
      "$S/bind-nic.sh" --dry-run "$mgmt"
  fi
  expect "node-tune.sh refuses another network namespace" 1 "not in the host's network namespace \\($NS\\)" \
    ip netns exec "$NS" "$S/node-tune.sh" --dry-run

  # --- real runs against a copy -------------------------------------------------------
  local r=$TMP/root
  fake_root "$r"
  expect "hugepages.sh refuses to shrink below the pages in use" 1 "refusing to shrink the 2 MiB pool to 10 pages: 60 are in use" \
    env VXR_NODE_ROOT="$r" "$S/hugepages.sh" --total 10
  expect "hugepages.sh --total 80 --persistent (copy of /sys)" 0 "ok: 40 of 80 2 MiB pages free" \
    env VXR_NODE_ROOT="$r" "$S/hugepages.sh" --total 80 --persistent
  if [[ "$(cat "$r/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" == 80 ]] &&
      grep -qx "vm.nr_hugepages = 80" "$r/etc/sysctl.d/90-vxroute-hugepages.conf"; then
    tb_ok "hugepages.sh wrote nr_hugepages=80 and sysctl.d vm.nr_hugepages = 80"
  else
    tb_not_ok "hugepages.sh wrote nr_hugepages=80 and sysctl.d vm.nr_hugepages = 80"
  fi
  mkdir -p "$r/sys/bus/pci/devices/0000:ee:1f.6"
  expect "bind-nic.sh without IOMMU refuses vfio-pci and names no-IOMMU mode" 1 "no IOMMU.*enable_unsafe_noiommu_mode" \
    env VXR_NODE_ROOT="$r" "$S/bind-nic.sh" --dry-run 0000:ee:1f.6
  mkdir -p "$r/sys/kernel/iommu_groups/7" "$r/sys/module/vfio_pci"
  expect "bind-nic.sh --dry-run with IOMMU and vfio-pci prints the dpdk-devbind.py call" 0 \
    "would run: .*dpdk-devbind.py --bind=vfio-pci 0000:ee:1f.6" env VXR_NODE_ROOT="$r" "$S/bind-nic.sh" --dry-run 0000:ee:1f.6
  expect "node-tune.sh --persistent (copy of /proc/sys) reports before -> after" 0 "ok: [0-9]+ changed" \
    env VXR_NODE_ROOT="$r" "$S/node-tune.sh" --persistent --this-netns
  local e key mode want cur bad=""
  for e in "${NODE_SYSCTLS[@]}"; do
    IFS='|' read -r key mode want _ <<<"$e"
    [[ -e "$r/proc/sys/${key//.//}" ]] || continue
    cur=$(cat "$r/proc/sys/${key//.//}")
    node_sysctl_ok "$mode" "$want" "$cur" || bad+=" $key=$cur"
    grep -q "^$key = " "$r/etc/sysctl.d/90-vxroute.conf" || bad+=" $key:not-in-conf"
  done
  if [[ -z "$bad" ]]; then tb_ok "node-tune.sh: every recommended value in force and in 90-vxroute.conf"
  else tb_not_ok "node-tune.sh: every recommended value in force and in 90-vxroute.conf" "$bad"; fi
  after=$(snapshot)
  if [[ "$host_before" == "$after" ]]; then
    tb_ok "real runs on the copy left the machine alone"
  else
    tb_not_ok "real runs on the copy left the machine alone" "$(diff <(echo "$host_before") <(echo "$after") | tr '\n' ' ')"
  fi

  # --- node-check tells the truth ----------------------------------------------------
  local out rc=0 groups
  out=$("$S/node-check.sh" 2>&1) || rc=$?
  if grep -q '^MISSING' <<<"$out"; then want=1; else want=0; fi
  if [[ "$rc" == "$want" ]]; then
    tb_ok "node-check.sh exit status $rc matches its MISSING lines"
  else
    tb_not_ok "node-check.sh exit status matches its MISSING lines" "exit $rc: $out"
  fi
  groups=$(find /sys/kernel/iommu_groups -mindepth 1 -maxdepth 1 | wc -l)
  if ((groups == 0)); then want="^warn +IOMMU: none"; else want="^ok +IOMMU: $groups IOMMU groups"; fi
  expect "node-check.sh: IOMMU as /sys/kernel/iommu_groups says ($groups groups)" 0 "$want" grep -E . <<<"$out"
  expect "node-check.sh: CPUs as the kernel says ($(nproc --all) online)" 0 "(ok|MISSING) +CPUs: $(getconf _NPROCESSORS_ONLN) online" grep -E . <<<"$out"
  if [[ -d /sys/module/vfio_pci ]]; then want="^ok +vfio-pci"; else want="^warn +vfio-pci: not loaded nor built in"; fi
  expect "node-check.sh: vfio-pci as /sys/module says" 0 "$want" grep -E . <<<"$out"
  if [[ -c /dev/net/tun ]]; then want="^ok +/dev/net/tun"; else want="^MISSING +/dev/net/tun"; fi
  expect "node-check.sh: /dev/net/tun as /dev says" 0 "$want" grep -E . <<<"$out"
  if [[ -n "$(cat /sys/devices/system/cpu/isolated)" ]]; then want="^ok +isolated CPUs"; else want="^warn +isolated CPUs: none"; fi
  expect "node-check.sh: isolated CPUs as /sys says" 0 "$want" grep -E . <<<"$out"
  if ((groups == 0)); then
    expect "node-check.sh --pci: IOMMU required, so it fails here" 1 "^MISSING +IOMMU" "$S/node-check.sh" --pci
  else
    expect "node-check.sh --pci: IOMMU present" 0 "^ok +IOMMU" "$S/node-check.sh" --pci
  fi
  local jrc=0
  "$S/node-check.sh" --json >"$TMP/check.json" || jrc=$?
  tb_check "node-check.sh --json: same items and statuses as the text" python3 -c '
import json, re, sys
items = json.load(open(sys.argv[1]))
text = [l for l in sys.argv[2].splitlines() if re.match(r"^(ok|warn|MISSING) ", l)]
assert len(items) == len(text), (len(items), len(text))
for i, l in zip(items, text):
    st, rest = l.split(None, 1)
    assert i["status"] == st.lower() and rest.startswith(i["item"] + ":"), (i, l)
assert (int(sys.argv[3]) != 0) == any(i["status"] == "missing" for i in items)
print(len(items), "items")' "$TMP/check.json" "$out" "$jrc" || true

  tb_summary
}

main "$@"
