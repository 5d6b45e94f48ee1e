#!/usr/bin/env bash
# The two-node demo topology (scripts/lib/testbed.sh) with each vxrouted in
# the container image, run as the DaemonSet runs it (its capabilities, not
# privileged, no -l: lcores from the 2 CPUs the container gets). Pods ping
# and move data across and within nodes; start-up time to ready and the
# hugepages each node uses are reported.
# Not in scripts/test.sh's default run: it needs the image (scripts/image.sh,
# ~10-15 min the first time on a 2-core machine).
# usage: tests/image/two_node.sh [IMAGE]        (root; TAP-style lines)
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { sed -n '2,9p' "$0"; exit 0; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$here/../../scripts/lib/testbed.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
export VXR_IMAGE=${1:-$VXR_IMAGE}

free_hugepages() { awk '$1 == "HugePages_Free:" { print $2 }' /proc/meminfo; }

setup() {
  tb_require_root && tb_require_tools ip ethtool python3 ping podman && vxr_require_image &&
    tb_require_binaries && tb_require_hugepages 300 && tb_up img && tb_write_configs "$TB_TMP" || return 1
  # As in the ConfigMap: no -l, workers auto.
  tb_config_merge "$TB_TMP/node-a.json" "{\"eal_args\":[\"--file-prefix=$TB_PREFIX_A\"],\"workers\":0}" &&
    tb_config_merge "$TB_TMP/node-b.json" "{\"eal_args\":[\"--file-prefix=$TB_PREFIX_B\"],\"workers\":0}"
}

main() {
  tb_trap
  if ! setup; then
    tb_not_ok "testbed up" "see errors above"
    exit 1
  fi
  local hp0 t0 t1 n
  hp0=$(free_hugepages)
  t0=$(date +%s.%N)
  export TB_ROUTER_WRAP=$here/podman_router.sh
  if ! tb_start_routers "$TB_TMP"; then
    tb_not_ok "both vxrouted containers ready" "see errors above"
    exit 1
  fi
  t1=$(date +%s.%N)
  tb_ok "both vxrouted containers ready in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s (podman run to 'ready:', started together)"
  echo "# hugepages in use by both nodes: $((hp0 - $(free_hugepages))) x 2 MiB"
  for n in a b; do
    tb_check "node-$n: lcores derived from the container's CPUs (main 0, worker 1)" \
      grep -h 'lcores from the CPU affinity: main lcore on CPU 0, 1 worker on CPU 1' "$TB_TMP/node-$n.log" || true
    tb_check "node-$n: vxrouted runs inside container vxr-img-vxr-node-$n-img" \
      podman --runtime runc --cgroup-manager cgroupfs container exists "vxr-img-vxr-node-$n-img" || true
  done

  tb_check "ping pod-a -> pod-b (cross node)" tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 3 || true
  tb_check "ping pod-b -> pod-a (cross node)" tb_ping "$TB_NS_POD_B" "$TB_POD_A_IP" 3 || true
  tb_check "ping pod-a -> pod-a2 (same node)" tb_ping "$TB_NS_POD_A" "$TB_POD_A2_IP" 3 || true
  tb_check "TCP 2 MiB pod-b -> pod-a, sha256 matches" \
    tb_tcp_transfer "$TB_NS_POD_B" "$TB_NS_POD_A" "$TB_POD_A_IP" $((2 * 1024 * 1024)) 5211 || true
  tb_check "vxroutectl on the host reaches node-a through the shared socket" tb_ctl a show ports || true

  if tb_stop_routers; then
    tb_ok "containers exit 0 on SIGTERM"
  else
    tb_not_ok "containers exit 0 on SIGTERM" "see errors above"
  fi
  local left=""
  for n in "$TB_NS_POD_A" "$TB_NS_POD_A2" "$TB_NS_POD_B"; do
    ip -n "$n" link show eth0 >/dev/null 2>&1 && left+=" $n:eth0"
  done
  if [[ -z "$left" ]]; then tb_ok "pod interfaces removed on exit"; else tb_not_ok "pod interfaces removed on exit" "still there:$left"; fi
  left=$(podman --runtime runc --cgroup-manager cgroupfs ps -a --filter name=vxr-img-vxr-node- --format '{{.Names}}')
  if [[ -z "$left" ]]; then tb_ok "no container left"; else tb_not_ok "no container left" "$left"; fi
  if ((TB_FAILED)); then
    for n in a b; do [[ -f "$TB_TMP/node-$n.log" ]] && tail -n 15 "$TB_TMP/node-$n.log" | sed "s/^/# node-$n: /"; done
  fi
  tb_summary
}

main "$@"
