#!/usr/bin/env bash
# End to end: DPDK pods attached to vxrouted over vhost-user, on the
# two-node testbed. The pods are the reference DPDK pod (tests/pod/vxr_pod.cpp,
# virtio-user in server mode; vxrouted's net_vhost port is the client):
#   dpod-a 10.244.1.10 on node A (usually the sender), dpod-b 10.244.2.10 on
#   node B (UDP echo), dpod-c 10.244.1.12 on node A (added/removed at run time).
# Checks: (a) DPDK <-> DPDK across nodes, no loss; (b) kernel <-> DPDK pods
# (ping answered by the DPDK pod, UDP to a kernel echo server); (c) echo pod
# restart under traffic, (d) vxrouted restart under traffic with its pod up
# (the outage of both is printed as a "# gap" line); (e) 20 hot add/removes
# of a third pod under traffic without loss; (f) a pod killed with SIGKILL
# mid-stream disturbs nobody and restarts on its socket; (g) 100 add/remove
# cycles leave ports, mbufs and file descriptors at their baseline.
# How vxrouted attaches the pods (env VXR_VHOST_PODS):
#   vhost    config "vhost_socket" (auto for dpod-a/b, a path for dpod-c at run time)
#   devargs  "devargs":"net_vhostN,iface=SOCK,client=1,queues=1"
#   auto     (default) vhost if vxrouted accepts it (--check-config), else devargs
# Where dpod-b comes from (env VXR_DPOD_B_RUNTIME): 1 = added at run time with
# vxroutectl, so (d) needs vxrouted to re-create it from state_dir; 0 = in
# node B's config file; auto (default) = 1 with vhost, 0 with devargs.
# usage: tests/e2e/vhost_pods.sh     (root, hugepages; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"

TAG=e2evh
POD_MEM=${VXR_POD_MEM:-128}   # MB of hugepages per pod (mempool of 4095 mbufs + EAL)
POD_CORE=0                    # vxrouted's workers poll lcore 1; pods sleep when idle
DPOD_A_IP=10.244.1.10 DPOD_A_MAC=02:00:00:0a:01:0a
DPOD_B_IP=10.244.2.10 DPOD_B_MAC=02:00:00:0a:02:0a
DPOD_C_IP=10.244.1.12 DPOD_C_MAC=02:00:00:0a:01:0c
MODE=""
B_RUNTIME=""
SOCK_A="" SOCK_B="" SOCK_C=""

# pod_json NAME IP MAC SOCKET VHOST_SOCKET_VALUE DEVARGS_NAME: the pods[] entry in MODE.
pod_json() {
  if [[ $MODE == vhost ]]; then
    printf '{"name":"%s","ip":"%s","mac":"%s","vhost_socket":"%s"}' "$1" "$2" "$3" "$5"
  else
    printf '{"name":"%s","ip":"%s","mac":"%s","devargs":"%s,iface=%s,client=1,queues=1"}' "$1" "$2" "$3" "$6" "$4"
  fi
}

# add_dpod_c: attach dpod-c to node A at run time.
add_dpod_c() {
  if [[ $MODE == vhost ]]; then
    tb_ctl a pod add name=dpod-c ip=$DPOD_C_IP mac=$DPOD_C_MAC vhost_socket="$SOCK_C" >/dev/null
  else
    tb_ctl a pod add name=dpod-c ip=$DPOD_C_IP mac=$DPOD_C_MAC devargs="net_vhost3,iface=$SOCK_C,client=1,queues=1" >/dev/null
  fi
}
del_dpod_c() { tb_ctl a pod del dpod-c >/dev/null; }

pick_mode() {
  MODE=${VXR_VHOST_PODS:-auto}
  if [[ $MODE == auto ]]; then
    local probe=$TB_TMP/probe.json
    cat >"$probe" <<EOF
{"node_name":"probe","node_ip":"198.18.0.1/24","uplink":"net_null0","vtep_mac":"02:76:78:00:00:01",
 "pod_cidr":"10.244.1.0/24","socket_dir":"$TB_TMP","pods":[{"name":"p","ip":"10.244.1.10","mac":"02:00:00:0a:01:0a","vhost_socket":"auto"}]}
EOF
    if "$TB_VXROUTED" -c "$probe" --check-config >/dev/null 2>&1; then
      MODE=vhost
    else
      MODE=devargs
    fi
  fi
  [[ $MODE == vhost || $MODE == devargs ]] || { tb_err "VXR_VHOST_PODS must be vhost, devargs or auto"; return 1; }
  B_RUNTIME=${VXR_DPOD_B_RUNTIME:-auto}
  [[ $B_RUNTIME == auto ]] && { [[ $MODE == vhost ]] && B_RUNTIME=1 || B_RUNTIME=0; }
  [[ $B_RUNTIME == 0 || $B_RUNTIME == 1 ]] || { tb_err "VXR_DPOD_B_RUNTIME must be 0, 1 or auto"; return 1; }
}

setup() {
  tb_require_root && tb_require_tools ip ethtool python3 ping &&
    tb_require_binaries && tb_require_dpod && tb_require_hugepages $((3 * POD_MEM / 2 + 200)) &&
    tb_up "$TAG" && pick_mode && tb_write_configs "$TB_TMP" || return 1
  mkdir -p "$TB_TMP/sockets-a" "$TB_TMP/sockets-b"
  # "auto" = <socket_dir>/<name>-eth0.sock
  SOCK_A=$TB_TMP/sockets-a/dpod-a-eth0.sock
  SOCK_B=$TB_TMP/sockets-b/dpod-b-eth0.sock
  SOCK_C=$TB_TMP/sockets-a/dpod-c.sock
  # Own state_dir: pods added at run time must not land in the machine's.
  tb_config_merge "$TB_TMP/node-a.json" "{\"state_dir\":\"$TB_TMP/state-a\",\"socket_dir\":\"$TB_TMP/sockets-a\",
    \"pods\":[$(pod_json dpod-a $DPOD_A_IP $DPOD_A_MAC "$SOCK_A" auto net_vhost1)]}" &&
    tb_config_merge "$TB_TMP/node-b.json" "{\"state_dir\":\"$TB_TMP/state-b\",\"socket_dir\":\"$TB_TMP/sockets-b\"}" ||
    return 1
  if ((B_RUNTIME == 0)); then
    tb_config_merge "$TB_TMP/node-b.json" "{\"pods\":[$(pod_json dpod-b $DPOD_B_IP $DPOD_B_MAC "$SOCK_B" auto net_vhost2)]}" ||
      return 1
  fi
  if [[ $MODE == devargs ]]; then  # a vxrouted without vhost pods rejects the keys
    python3 - "$TB_TMP/node-a.json" "$TB_TMP/node-b.json" <<'PY'
import json, sys
for p in sys.argv[1:]:
    c = json.load(open(p)); c.pop("socket_dir", None); json.dump(c, open(p, "w"), indent=1)
PY
  fi
  tb_start_routers "$TB_TMP" || return 1
  if ((B_RUNTIME)); then
    local how="vhost_socket=auto"
    [[ $MODE == devargs ]] && how="devargs=net_vhost2,iface=$SOCK_B,client=1,queues=1"
    tb_ctl b pod add name=dpod-b ip=$DPOD_B_IP mac=$DPOD_B_MAC "$how" >/dev/null || {
      tb_err "vxroutectl pod add dpod-b ($how) on node B failed"
      return 1
    }
  fi
  start_pod b echo && start_pod a echo || return 1
  tb_dpod_wait_link dpod-b 15 && tb_dpod_wait_link dpod-a 15
}

# start_pod [--gw-arp] a|b|c MODE [vxr-pod options]: start dpod-X on its
# socket (--gw-arp: the pod learns the gateway MAC by ARP).
start_pod() {
  local gw=()
  [[ "$1" == --gw-arp ]] && { gw=(--gw-mac arp); shift; }
  local x=$1 mode=$2 node ip mac sock
  shift 2
  case $x in
    a) node=a ip=$DPOD_A_IP mac=$DPOD_A_MAC sock=$SOCK_A ;;
    b) node=b ip=$DPOD_B_IP mac=$DPOD_B_MAC sock=$SOCK_B ;;
    c) node=a ip=$DPOD_C_IP mac=$DPOD_C_MAC sock=$SOCK_C ;;
  esac
  tb_dpod_start "dpod-$x" "$node" "$ip" "$mac" "$sock" --mode "$mode" --core $POD_CORE --mem "$POD_MEM" "${gw[@]}" -- "$@"
}

# send_run [--gw-arp] NAME DST [vxr-pod options]: restart dpod-NAME as a
# sender (starts 200 ms after its link is up: the vhost side may still be
# enabling its queues).
send_run() {
  local gw=()
  [[ "$1" == --gw-arp ]] && { gw=(--gw-arp); shift; }
  local x=$1 dst=$2
  shift 2
  tb_dpod_stop "dpod-$x" >/dev/null 2>&1 || true
  start_pod "${gw[@]}" "$x" send --dst "$dst" --delay-ms 200 "$@"
}

st() { tb_dpod_stat "$1" "$2"; }

# expect_all_replies NAME [WANT_TX]: the sender's run ended, every packet
# was answered, none missing, none reordered.
expect_all_replies() {
  local pod=$1 want=${2:-}
  tb_dpod_wait_exit "$pod" 30 || return 1
  local tx rx lost re
  tx=$(st "$pod" sent) rx=$(st "$pod" rx_matched) lost=$(st "$pod" rx_lost) re=$(st "$pod" rx_reordered)
  echo "$pod: sent $tx, replies $rx, missing $lost, reordered $re, tx_dropped $(st "$pod" tx_dropped), rtt avg $(st "$pod" rtt_avg_us) us max $(st "$pod" rtt_max_us) us"
  [[ -z "$want" || "$tx" == "$want" ]] || { echo "sent $tx, want $want"; return 1; }
  local txd
  txd=$(st "$pod" tx_dropped)
  ((tx > 0)) || { echo "nothing sent"; return 1; }
  ((rx == tx)) || { echo "$((tx - rx)) of $tx sent were not answered"; return 1; }
  ((txd == 0)) || { echo "the pod could not send $txd (its TX ring was full: vxrouted did not poll the port for a while)"; return 1; }
  ((lost == 0)) || { echo "$lost replies missing"; return 1; }
}

# vh_gap NAME: after a run with an outage: replies resumed, the gap is under 5 s.
vh_gap() {
  local pod=$1 tx last gap
  tb_dpod_wait_exit "$pod" 40 || return 1
  tx=$(st "$pod" sent) last=$(st "$pod" last_seq) gap=$(st "$pod" max_gap_ms)
  echo "$pod: sent $tx, replies $(st "$pod" rx_matched), missing $(st "$pod" rx_lost), largest gap $gap ms at $(st "$pod" max_gap_at_ms) ms, last reply seq $last"
  # Replies until the end: the last reply is one of the last 100 sent.
  ((last >= tx - 100)) || { echo "replies did not resume: last reply for packet $last of $tx"; return 1; }
  python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 5000 else 1)" "$gap" || {
    echo "gap $gap ms is over 5 s"
    return 1
  }
}

ports_json() { tb_ctl "$1" --json show ports; }

# link_of NODE POD: "up"/"down" as vxrouted's show ports has it.
link_of() {
  ports_json "$1" | python3 -c '
import json, sys
doc = json.load(sys.stdin)
ports = doc.get("ports", doc.get("result", {}).get("ports", [])) if isinstance(doc, dict) else doc
for p in ports:
    if p.get("name") == sys.argv[1]:
        print(p.get("link")); break
else:
    print("absent")' "$2"
}

expect_link() {  # NODE POD WANT: within 2 s
  local got t=0
  while :; do
    got=$(link_of "$1" "$2")
    [[ "$got" == "$3" ]] && break
    ((t >= 20)) && break
    sleep 0.1
    t=$((t + 1))
  done
  echo "node-$1 show ports: $2 link $got"
  [[ "$got" == "$3" ]]
}
expect_links_up() { expect_link a dpod-a up && expect_link b dpod-b up; }

# baseline NODE: "ports mbufs_in_use fds" of that node's vxrouted.
baseline() {
  local node=$1 pid ports mbufs
  pid=$(tb_router_pid "$node")
  ports=$(ports_json "$node" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(len(d.get("ports", d.get("result", {}).get("ports", []))))')
  mbufs=$(tb_ctl "$node" --json show counters | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d.get("result", d)
print(d["control"]["mbufs_in_use"])')
  local fds=("/proc/$pid/fd"/*)
  echo "$ports $mbufs ${#fds[@]}"
}

test_kernel_pods() {
  tb_check "(b) ping kernel pod-b (node B) -> DPDK pod dpod-a (node A): answered by the DPDK pod" \
    tb_ping "$TB_NS_POD_B" $DPOD_A_IP 5 || true
  tb_check "(b) ping kernel pod-a -> DPDK pod dpod-a (same node)" tb_ping "$TB_NS_POD_A" $DPOD_A_IP 3 || true
  tb_check "(b) ping kernel pod-a (node A) -> DPDK pod dpod-b (node B)" tb_ping "$TB_NS_POD_A" $DPOD_B_IP 3 || true
  # A UDP echo server in kernel pod-b; dpod-a sends to it.
  ip netns exec "$TB_NS_POD_B" timeout 60 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9000))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)' "$TB_POD_B_IP" &
  TB_BG_PIDS+=($!)
  sleep 0.3
  if send_run --gw-arp a "$TB_POD_B_IP" --count 500 --rate 500 --flows 1 --size 200; then
    tb_check "(b) DPDK pod dpod-a (gateway MAC by ARP) -> kernel pod-b UDP echo server: 500 at 500 pps, all replies" \
      expect_all_replies dpod-a 500 || true
  else
    tb_not_ok "(b) DPDK pod dpod-a -> kernel pod-b UDP echo server" "sender did not start"
  fi
}

test_dpdk_pair() {
  if send_run a $DPOD_B_IP --count 2000 --rate 2000 --flows 4; then
    tb_check "(a) dpod-a -> dpod-b (echo) across nodes: 2000 UDP at 2000 pps over 4 flows, all replies" \
      expect_all_replies dpod-a 2000 || true
    local erx etx
    erx=$(st dpod-b rx) etx=$(st dpod-b tx)
    tb_check "(a) echo pod counted what it echoed (rx $erx, tx $etx)" test "$erx" -ge 2000 -a "$erx" == "$etx" || true
  else
    tb_not_ok "(a) dpod-a -> dpod-b across nodes" "sender did not start"
  fi
}

test_pod_restart() {
  send_run a $DPOD_B_IP --duration 6 --rate 1000 --flows 2 || { tb_not_ok "(c) echo pod restart" "sender did not start"; return; }
  tb_dpod_wait_link dpod-a 15 || true
  sleep 1.5
  local rc=0
  tb_dpod_stop dpod-b && start_pod b echo || rc=$?
  if ((rc)); then
    tb_not_ok "(c) echo pod dpod-b restarted on its socket" "dpdk-pod.sh stop/start failed"
    return
  fi
  if tb_check "(c) echo pod dpod-b restarted on its socket under traffic: replies resume, vxrouted untouched" vh_gap dpod-a; then
    echo "# gap (c) echo pod restart: $(st dpod-a max_gap_ms) ms without replies (lost $(st dpod-a rx_lost) of $(st dpod-a sent))"
  fi
}

test_router_restart() {
  local pod_pid
  pod_pid=$(tb_dpod_pid dpod-b)
  send_run a $DPOD_B_IP --duration 8 --rate 1000 --flows 2 || { tb_not_ok "(d) vxrouted restart" "sender did not start"; return; }
  tb_dpod_wait_link dpod-a 15 || true
  sleep 1.5
  # Not under tb_check: the new vxrouted must be a child of this shell.
  local t0=$SECONDS
  if tb_restart_router b "$TB_TMP"; then
    tb_ok "(d) vxrouted node-b restarted (SIGTERM, exit 0, ready again in $((SECONDS - t0)) s)"
  else
    tb_not_ok "(d) vxrouted node-b restarted (SIGTERM, exit 0, ready again)" "see errors above"
    tb_router_pid b >/dev/null || return
  fi
  local how="in node-b's config"
  ((B_RUNTIME)) && how="added at run time, re-created from state_dir"
  if tb_check "(d) dpod-b ($how, kept running) gets traffic again after the vxrouted restart" vh_gap dpod-a; then
    echo "# gap (d) vxrouted restart: $(st dpod-a max_gap_ms) ms without replies (lost $(st dpod-a rx_lost) of $(st dpod-a sent))"
  fi
  tb_check "(d) dpod-b is the same process (PID $pod_pid), its link went down and up" \
    test "$(tb_dpod_pid dpod-b)" == "$pod_pid" -a "$(st dpod-b link_changes)" -ge 3 || true
}

test_hot_add_remove() {
  start_pod c echo || { tb_not_ok "(e) third DPDK pod started" "see errors above"; return; }
  # The sender runs until stopped (SIGTERM: it stops sending, collects the
  # replies in flight and exits) after the cycles.
  send_run a $DPOD_B_IP --duration 90 --rate 2000 --flows 4 || { tb_not_ok "(e) hot add/remove" "sender did not start"; return; }
  tb_dpod_wait_link dpod-a 15 || true
  sleep 0.5
  # Each cycle: add, wait until vxrouted has the vhost-user device up (its
  # queues join the worker's poll list), remove.
  local i fails=0 up=0 t0 t1 ta pid
  t0=$(date +%s%N)
  for i in $(seq 1 20); do
    ta=$(date +%s%N)
    add_dpod_c || { fails=$((fails + 1)); continue; }
    until [[ "$(link_of a dpod-c)" == up ]] || (($(date +%s%N) - ta > 2000000000)); do sleep 0.01; done
    [[ "$(link_of a dpod-c)" == up ]] && up=$((up + 1))
    del_dpod_c || fails=$((fails + 1))
  done
  t1=$(date +%s%N)
  pid=$(tb_dpod_pid dpod-a)
  local still=0
  kill -0 "$pid" 2>/dev/null && still=1
  sleep 0.5
  tb_dpod_stop dpod-a >/dev/null || true
  echo "# (e) 20 add/remove cycles took $(((t1 - t0) / 1000000)) ms; dpod-c saw $(st dpod-c link_changes) link changes (sampled every 20 ms)"
  tb_check "(e) 20 runtime add/remove of dpod-c via vxroutectl, each up before removal ($up of 20), while traffic flowed" \
    test "$fails" == 0 -a "$up" == 20 -a "$still" == 1 || true
  tb_check "(e) dpod-a <-> dpod-b during the add/removes: no loss" expect_all_replies dpod-a || true
}

test_kill_mid_stream() {
  add_dpod_c || { tb_not_ok "(f) dpod-c added" "vxroutectl pod add failed"; return; }
  send_run c $DPOD_B_IP --duration 20 --rate 1000 --flows 2 --port-base 9100 || { tb_not_ok "(f) dpod-c sender started"; return; }
  send_run a $DPOD_B_IP --duration 5 --rate 1000 --flows 2 || { tb_not_ok "(f) dpod-a sender started"; return; }
  tb_dpod_wait_link dpod-a 15 || true
  tb_dpod_wait_link dpod-c 15 || true
  sleep 1.5
  local crx
  crx=$(st dpod-c rx_matched)
  tb_dpod_stop dpod-c --kill >/dev/null || true
  echo "# (f) dpod-c had $crx replies when it was killed with SIGKILL"
  tb_check "(f) dpod-c killed mid-stream: dpod-a <-> dpod-b unaffected, no loss" expect_all_replies dpod-a || true
  tb_check "(f) node-a still answers and shows dpod-c link down" expect_link a dpod-c down || true
  # It comes back on the same socket (stale socket file removed by dpdk-pod.sh).
  if send_run c $DPOD_B_IP --count 300 --rate 1000; then
    tb_check "(f) dpod-c restarted after SIGKILL: 300 of 300 replies" expect_all_replies dpod-c 300 || true
  else
    tb_not_ok "(f) dpod-c restarted after SIGKILL" "did not start"
  fi
}

test_add_remove_leak() {
  del_dpod_c || true
  tb_dpod_stop dpod-c >/dev/null 2>&1 || true
  start_pod c echo || { tb_not_ok "(g) dpod-c started" "see errors above"; return; }
  sleep 0.5
  local before after i fails=0 t0 t1
  before=$(baseline a)
  t0=$(date +%s%N)
  # Every 5th cycle removes the port once vxrouted shows its vhost-user
  # device up (how long that takes is printed), the others right away
  # (often while vhost-user is still negotiating).
  local up=0 up_ms=0 up_max=0 ta ms
  for i in $(seq 1 100); do
    ta=$(date +%s%N)
    add_dpod_c || fails=$((fails + 1))
    if ((i % 5 == 1)); then
      until [[ "$(link_of a dpod-c)" == up ]] || (($(date +%s%N) - ta > 3000000000)); do sleep 0.01; done
      ms=$((($(date +%s%N) - ta) / 1000000))
      if ((ms <= 3000)); then
        up=$((up + 1)) up_ms=$((up_ms + ms))
        ((ms > up_max)) && up_max=$ms
      fi
    fi
    del_dpod_c || fails=$((fails + 1))
  done
  t1=$(date +%s%N)
  echo "# (g) 100 add/remove cycles took $(((t1 - t0) / 1000000)) ms, $fails failed; $up of 20 waited for reached link up" \
    "(pod add to link up: avg $((up_ms / (up ? up : 1))) ms, max $up_max ms); dpod-c saw $(st dpod-c link_changes) link changes (sampled every 20 ms)"
  local t=0
  while :; do
    after=$(baseline a)
    [[ "$after" == "$before" ]] && break
    ((t >= 30)) && break
    sleep 0.2
    t=$((t + 1))
  done
  local b a
  read -ra b <<<"$before"
  read -ra a <<<"$after"
  echo "# (g) node-a ports/mbufs_in_use/fds: before ${b[*]}, after ${a[*]}"
  tb_check "(g) 100 add/remove cycles of a vhost pod: all succeeded, 20 of 20 waited for came up" \
    test "$fails" == 0 -a "$up" == 20 || true
  tb_check "(g) show ports count back to baseline (${b[0]} -> ${a[0]})" test "${a[0]}" == "${b[0]}" || true
  tb_check "(g) control.mbufs_in_use back to baseline (${b[1]} -> ${a[1]})" test "${a[1]}" == "${b[1]}" || true
  tb_check "(g) vxrouted file descriptors back to baseline (${b[2]} -> ${a[2]})" test "${a[2]}" == "${b[2]}" || true
}

cleanup() {
  tb_dpod_down
  tb_down
}

main() {
  tb_trap
  trap 'cleanup' EXIT
  trap 'cleanup; trap - EXIT; exit 130' INT
  trap 'cleanup; trap - EXIT; exit 143' TERM
  local t_start=$SECONDS
  if ! setup; then
    tb_not_ok "testbed, routers and DPDK pods up" "see errors above"
    exit 1
  fi
  tb_ok "testbed, routers and DPDK pods up (pods attached by $MODE; dpod-b from $( ((B_RUNTIME)) && echo "vxroutectl" || echo "the config"))"
  tb_check "vxrouted shows the DPDK pod ports link up" expect_links_up || true

  test_kernel_pods
  test_dpdk_pair
  test_pod_restart
  test_router_restart
  test_hot_add_remove
  test_kill_mid_stream
  test_add_remove_leak

  if tb_stop_routers; then
    tb_ok "routers exit 0 within 30 s of SIGTERM"
  else
    tb_not_ok "routers exit 0 within 30 s of SIGTERM" "see above"
  fi
  if ((TB_FAILED)); then
    echo "# logs:"
    for n in a b; do [[ -f "$TB_TMP/node-$n.log" ]] && grep -v VHOST_CONFIG "$TB_TMP/node-$n.log" | tail -n 15 | sed "s/^/# node-$n: /"; done
    for n in "$TB_TMP"/dpods/*.log; do [[ -f "$n" ]] && tail -n 5 "$n" | sed "s|^|# $(basename "$n"): |"; done
  fi
  echo "# took $((SECONDS - t_start)) s"
  if tb_summary; then exit 0; else exit 1; fi
}

main "$@"
