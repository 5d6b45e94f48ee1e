#!/usr/bin/env bash
# End to end: route changes do not disturb unaffected flows (DESIGN.md 3).
# While pod-a pings pod-b (1000 packets, 10 ms apart), a third peer
# (198.18.0.3, 10.244.3.0/24) is added and removed 50 times on both nodes
# through vxroutectl; the ping must lose nothing and the routes table must
# list the peer after each add and not after each del.
# usage: tests/e2e/route_change.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"

readonly PEER3_IP=198.18.0.3 PEER3_VTEP=02:76:78:00:00:03 PEER3_CIDR=10.244.3.0/24
readonly ROUNDS=50 PINGS=1000

setup() {
  tb_require_root && tb_require_tools ip ethtool python3 ping &&
    tb_require_binaries && tb_require_hugepages 128 &&
    tb_up e2erc && tb_write_configs "$TB_TMP" && tb_start_routers "$TB_TMP"
}

# lists_route NODE CIDR: does `show routes` on NODE mention CIDR?
lists_route() {
  local out
  out=$(tb_ctl "$1" show routes) || { echo "vxroutectl show routes failed on node-$1" >&2; return 2; }
  grep -qF "$2" <<<"$out"
}

main() {
  tb_trap
  if ! setup; then
    tb_not_ok "testbed and routers up" "see errors above"
    exit 1
  fi
  tb_ok "testbed and routers up"

  if ! tb_check "warm-up ping pod-a -> pod-b" tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 3; then
    echo "# no point measuring loss without connectivity"
    tb_summary || exit 1
  fi

  local ping_log=$TB_TMP/ping.log
  ip netns exec "$TB_NS_POD_A" ping -n -q -i 0.01 -c "$PINGS" -W 2 "$TB_POD_B_IP" >"$ping_log" 2>&1 &
  local ping_pid=$!
  TB_BG_PIDS+=("$ping_pid")
  local start=$SECONDS

  local i n add_fail="" del_fail="" listed_after_add=0 gone_after_del=0 rc
  for ((i = 1; i <= ROUNDS; i++)); do
    for n in a b; do
      if ! out=$(tb_ctl "$n" peer add "node_ip=$PEER3_IP" "vtep_mac=$PEER3_VTEP" "pod_cidr=$PEER3_CIDR" name=node-c 2>&1); then
        add_fail+=" round $i node-$n: $out;"
        continue
      fi
      rc=0; lists_route "$n" "$PEER3_CIDR" || rc=$?
      if ((rc == 0)); then listed_after_add=$((listed_after_add + 1)); else add_fail+=" round $i node-$n: $PEER3_CIDR not in routes after add;"; fi
    done
    for n in a b; do
      if ! out=$(tb_ctl "$n" peer del "$PEER3_IP" 2>&1); then
        del_fail+=" round $i node-$n: $out;"
        continue
      fi
      rc=0; lists_route "$n" "$PEER3_CIDR" || rc=$?
      if ((rc == 1)); then gone_after_del=$((gone_after_del + 1)); else del_fail+=" round $i node-$n: $PEER3_CIDR still in routes after del (or show failed);"; fi
    done
    sleep 0.15  # spread the churn over most of the ping's ~10 s
  done
  local churn_s=$((SECONDS - start))
  local ping_running=0
  kill -0 "$ping_pid" 2>/dev/null && ping_running=1

  if [[ -z "$add_fail" ]]; then
    tb_ok "peer add x$ROUNDS on both nodes: routes list $PEER3_CIDR every time ($listed_after_add/$((2 * ROUNDS)))"
  else
    tb_not_ok "peer add x$ROUNDS on both nodes: routes list $PEER3_CIDR every time" "${add_fail:0:600}"
  fi
  if [[ -z "$del_fail" ]]; then
    tb_ok "peer del x$ROUNDS on both nodes: $PEER3_CIDR gone every time ($gone_after_del/$((2 * ROUNDS)))"
  else
    tb_not_ok "peer del x$ROUNDS on both nodes: $PEER3_CIDR gone every time" "${del_fail:0:600}"
  fi

  wait "$ping_pid" || true
  echo "# churn took ${churn_s}s; ping still running when churn ended: $ping_running; ping took $((SECONDS - start))s"
  ((ping_running)) || echo "# note: the churn outlasted the ping; the last rounds ran without traffic"
  local sent recv
  sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$ping_log")
  recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$ping_log")
  sed '/^$/d; s/^/#   /' "$ping_log"
  if [[ "$sent" == "$PINGS" && "$recv" == "$PINGS" ]]; then
    tb_ok "ping pod-a -> pod-b during churn: $recv/$sent, 0% loss"
  else
    tb_not_ok "ping pod-a -> pod-b during churn: 0% loss" "sent ${sent:-?}, received ${recv:-?} of $PINGS"
  fi

  for n in a b; do
    local want=$TB_CIDR_B
    [[ $n == b ]] && want=$TB_CIDR_A
    tb_check "node-$n: route to the other node ($want) still listed" lists_route "$n" "$want" || true
  done

  if tb_stop_routers; then tb_ok "routers exit 0 on SIGTERM"; else tb_not_ok "routers exit 0 on SIGTERM" "see errors above"; fi
  if ((TB_FAILED)); then
    for n in a b; do [[ -f "$TB_TMP/node-$n.log" ]] && tail -n 15 "$TB_TMP/node-$n.log" | sed "s/^/# node-$n: /"; done
  fi
  tb_summary
}

main "$@"
