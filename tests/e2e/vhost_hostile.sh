#!/usr/bin/env bash
# vhost-user robustness (issue: vhost-user pod ports): a "pod" whose
# vhost-user frontend asks for features vxrouted never offered, sends an
# undefined request, or sends garbage, while kernel pods on both nodes talk.
# vxrouted must keep running, keep the bad pod's port down, and lose nothing
# of the other pods' traffic.
# usage: tests/e2e/vhost_hostile.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }

here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$here/../../scripts/lib/testbed.sh"

setup() {
  tb_require_root && tb_require_tools ip ping python3 && tb_require_binaries && tb_require_hugepages 128 &&
    tb_up e2evh && tb_write_configs "$TB_TMP" && tb_start_routers "$TB_TMP"
}

# port_of NAME: the pod's port as "link link_changes" from show ports.
port_state() {
  tb_ctl a --json show ports | python3 -c '
import json, sys
for p in json.load(sys.stdin)["ports"]:
    if p["name"] == sys.argv[1]:
        print(p["link"], p["link_changes"])
' "$1"
}

main() {
  tb_trap
  if ! setup; then
    tb_not_ok "testbed and routers up" "see errors above"
    exit 1
  fi
  tb_ok "testbed and routers up"
  local mode sock pid ping_out i=0
  for mode in features unknown garbage; do
    i=$((i + 1))
    sock=$TB_TMP/bad-$mode.sock
    python3 "$here/lib/hostile_vhost_frontend.py" "$sock" "$mode" --connections 3 --timeout 15 \
      >"$TB_TMP/bad-$mode.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do [[ -S "$sock" ]] && break; sleep 0.1; done
    # Traffic between kernel pods on both nodes flows the whole time.
    ping_out=$TB_TMP/ping-$mode.txt
    ip netns exec "$TB_NS_POD_A" ping -n -q -i 0.01 -c 400 -W 2 "$TB_POD_B_IP" >"$ping_out" 2>&1 &
    local ping_pid=$!
    tb_check "pod add bad-$mode (frontend: $mode)" \
      tb_ctl a pod add name=bad-$mode ip=10.244.1.$((40 + i)) mac=02:00:00:0b:0a:0$i vhost_socket="$sock" || true
    wait "$pid" || true
    tb_check "bad-$mode: the frontend was served and dropped by vxrouted ($(tail -n 1 "$TB_TMP/bad-$mode.log"))" \
      grep -q "served [1-9]" "$TB_TMP/bad-$mode.log" || true
    local rc=0
    wait "$ping_pid" || rc=$?
    tb_check "bad-$mode: pod-a -> pod-b meanwhile: 400 pings, 0% loss" \
      bash -c "cat '$ping_out'; (($rc == 0)) && grep -q ' 0% packet loss' '$ping_out'" || true
    tb_check "bad-$mode: vxrouted node A still running" kill -0 "${TB_ROUTER_PIDS[0]}" || true
    local st
    st=$(port_state "bad-$mode")
    tb_check "bad-$mode: its port is down ($st)" test "${st%% *}" = down || true
    tb_check "bad-$mode: pod del" tb_ctl a pod del "bad-$mode" || true
  done
  tb_check "after all: ping pod-a -> pod-a2 (same node) and pod-b" \
    bash -c "$(declare -f tb_ping); tb_ping $TB_NS_POD_A $TB_POD_A2_IP 3 && tb_ping $TB_NS_POD_A $TB_POD_B_IP 3" || true
  if tb_stop_routers; then tb_ok "routers exit 0 on SIGTERM"; else tb_not_ok "routers exit 0 on SIGTERM"; fi
  if ((TB_FAILED)); then
    tail -n 20 "$TB_TMP/node-a.log" | sed 's/^/# node-a: /'
  fi
  tb_summary
}

main "$@"
