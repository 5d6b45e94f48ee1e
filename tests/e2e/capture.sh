#!/usr/bin/env bash
# Packet capture with DPDK's own tool: dpdk-dumpcap attaches to node A's
# vxrouted as a secondary process (rte_pdump) and captures its uplink
# (net_af_packet: VXLAN with the inner ICMP), a kernel pod's port (net_tap),
# the host exception port (net_tap) and a DPDK pod's port (net_vhost) while
# pings cross the nodes. tshark checks each capture holds exactly the pings;
# the pings lose nothing while captures run, and vxrouted still forwards and
# exits 0 afterwards.
# usage: tests/e2e/capture.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"

PINGS=10                                   # echo requests per capture
DPOD_IP=10.244.1.10 DPOD_MAC=02:00:00:0a:01:0a
DUMPCAP=${VXR_DUMPCAP:-dpdk-dumpcap}       # Debian package dpdk-dev

setup() {
  tb_require_root && tb_require_tools ip ethtool tshark python3 ping stdbuf "$DUMPCAP" &&
    tb_require_binaries && tb_require_dpod && tb_require_hugepages 192 &&
    tb_up e2ecap && tb_write_configs "$TB_TMP" || return 1
  SOCK=$TB_TMP/sockets-a/dpod-a-eth0.sock
  tb_config_merge "$TB_TMP/node-a.json" \
    "{\"pods\":[{\"name\":\"dpod-a\",\"ip\":\"$DPOD_IP\",\"mac\":\"$DPOD_MAC\",\"vhost_socket\":\"auto\"}]}" &&
    tb_start_routers "$TB_TMP" &&
    tb_dpod_start dpod-a a "$DPOD_IP" "$DPOD_MAC" "$SOCK" --mode echo --core 0 --mem 128 &&
    tb_dpod_wait_link dpod-a 15
}

# port_field POD_OR_KIND FIELD: a field of node A's show ports entry whose
# name or kind is POD_OR_KIND ("capture" alone: the top-level hint).
port_field() {
  tb_ctl a --json show ports | python3 -c '
import json, sys
doc = json.load(sys.stdin)
key, field = sys.argv[1], sys.argv[2]
if key == "capture":
    print(doc["capture"]); sys.exit(0)
for p in doc["ports"]:
    if key in (p["name"], p["kind"]):
        print(p[field]); sys.exit(0)
sys.exit("no port %s in show ports" % key)' "$1" "$2"
}

# dropped_total: node A's summed drop counter.
dropped_total() {
  tb_ctl a --json show counters | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["dropped"])'
}

# capture_ping NAME IFACE FILTER PING_NS DST OUT: run dumpcap on node A's
# IFACE (BPF FILTER, stop after 2*PINGS frames), ping DST from PING_NS
# while it runs; ok if ping lost nothing and dumpcap ended by itself with
# 2*PINGS frames and none dropped.
capture_ping() {
  local name=$1 iface=$2 filter=$3 ns=$4 dst=$5 out=$6 log=${6%.pcapng}.log pid t=0
  # stdbuf: dumpcap says "Capturing on" on stdout once rte_pdump is enabled.
  stdbuf -oL timeout 60 "$DUMPCAP" --file-prefix="$TB_PREFIX_A" -p -q -i "$iface" -f "$filter" \
    -c $((2 * PINGS)) -w "$out" >"$log" 2>&1 &
  pid=$!
  TB_BG_PIDS+=("$pid")
  while ! grep -q "Capturing on '$iface'" "$log" && kill -0 "$pid" 2>/dev/null && ((t < 300)); do
    sleep 0.1
    t=$((t + 1))
  done
  if ! grep -q "Capturing on '$iface'" "$log"; then
    tb_not_ok "$name: dpdk-dumpcap attached to $iface" "$(tr '\n' ' ' <"$log" | head -c 400)"
    return 1
  fi
  tb_ok "$name: dpdk-dumpcap attached to $iface (file prefix $TB_PREFIX_A)"
  # dumpcap prints "Capturing on" before its request to enable capture has
  # reached vxrouted; on a loaded machine the first ping could go uncaptured.
  sleep 2
  local ping_out rc=0
  ping_out=$(ip netns exec "$ns" ping -n -q -c "$PINGS" -i 0.2 -W 2 "$dst" 2>&1) || rc=$?
  if ((rc == 0)) && grep -q " 0% packet loss" <<<"$ping_out"; then
    tb_ok "$name: $PINGS pings to $dst during the capture, none lost"
  else
    tb_not_ok "$name: $PINGS pings to $dst during the capture, none lost" "$(grep loss <<<"$ping_out")"
  fi
  rc=0
  wait "$pid" || rc=$?
  if ((rc == 0)) && grep -q "'$iface': $((2 * PINGS))/0 " "$log"; then
    tb_ok "$name: dumpcap stopped after $((2 * PINGS)) frames, none dropped"
  else
    tb_not_ok "$name: dumpcap stopped after $((2 * PINGS)) frames, none dropped" \
      "exit $rc: $(tr '\n' ' ' <"$log" | head -c 400)"
  fi
}

# count PCAP DISPLAY_FILTER: frames of PCAP matching the tshark filter.
count() {
  tshark -n -r "$1" -d "udp.port==$TB_UDP_PORT,vxlan" -Y "$2" -T fields -e frame.number 2>/dev/null | grep -c . || true
}

# expect_frames NAME PCAP FILTER: exactly PINGS frames match.
expect_frames() {
  local n
  n=$(count "$2" "$3")
  if [[ "$n" == "$PINGS" ]]; then
    tb_ok "$1: $PINGS frames [$3]"
  else
    tb_not_ok "$1: $PINGS frames [$3]" "got $n; capture: $(tshark -n -r "$2" -d "udp.port==$TB_UDP_PORT,vxlan" 2>&1 | head -4 | tr '\n' ';')"
  fi
}

main() {
  tb_trap
  trap 'tb_dpod_down; tb_down' EXIT
  trap 'tb_dpod_down; tb_down; trap - EXIT; exit 130' INT
  trap 'tb_dpod_down; tb_down; trap - EXIT; exit 143' TERM
  if ! setup; then
    tb_not_ok "testbed, routers and DPDK pod up" "see errors above"
    exit 1
  fi
  tb_ok "testbed, routers and DPDK pod up"

  local hint
  hint=$(port_field capture x)
  if [[ "$hint" == *"dpdk-dumpcap --file-prefix=$TB_PREFIX_A "* ]]; then
    tb_ok "show ports gives the capture command with the file prefix: $hint"
  else
    tb_not_ok "show ports gives the capture command with the file prefix" "got '$hint'"
  fi
  local up_if pod_if host_if dpod_if
  up_if=$(port_field uplink dpdk_name)
  pod_if=$(port_field pod-a dpdk_name)
  host_if=$(port_field host dpdk_name)
  dpod_if=$(port_field dpod-a dpdk_name)
  # Neighbours learned before the captures (no ARP in the way of the counts).
  tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 1 >/dev/null || true
  tb_ping "$TB_NS_A" "$TB_NODE_IP_B" 1 >/dev/null || true
  local drops0
  drops0=$(dropped_total)

  local a=$TB_POD_A_IP b=$TB_POD_B_IP
  capture_ping "uplink" "$up_if" "udp port $TB_UDP_PORT" "$TB_NS_POD_A" "$b" "$TB_TMP/uplink.pcapng" || true
  expect_frames "uplink" "$TB_TMP/uplink.pcapng" \
    "vxlan && vxlan.vni==$TB_VNI && udp.dstport==$TB_UDP_PORT && ip.src==$TB_NODE_IP_A && ip.dst==$TB_NODE_IP_B && icmp.type==8 && ip.src==$a && ip.dst==$b"
  expect_frames "uplink" "$TB_TMP/uplink.pcapng" \
    "vxlan && vxlan.vni==$TB_VNI && udp.dstport==$TB_UDP_PORT && ip.src==$TB_NODE_IP_B && ip.dst==$TB_NODE_IP_A && icmp.type==0 && ip.src==$b && ip.dst==$a"

  capture_ping "kernel pod port" "$pod_if" "icmp" "$TB_NS_POD_A" "$b" "$TB_TMP/pod.pcapng" || true
  expect_frames "kernel pod port" "$TB_TMP/pod.pcapng" "!vxlan && icmp.type==8 && ip.src==$a && ip.dst==$b"
  expect_frames "kernel pod port" "$TB_TMP/pod.pcapng" "!vxlan && icmp.type==0 && ip.src==$b && ip.dst==$a"

  capture_ping "host port" "$host_if" "icmp" "$TB_NS_A" "$TB_NODE_IP_B" "$TB_TMP/host.pcapng" || true
  expect_frames "host port" "$TB_TMP/host.pcapng" "icmp.type==8 && ip.src==$TB_NODE_IP_A && ip.dst==$TB_NODE_IP_B"
  expect_frames "host port" "$TB_TMP/host.pcapng" "icmp.type==0 && ip.src==$TB_NODE_IP_B && ip.dst==$TB_NODE_IP_A"

  capture_ping "DPDK pod port (vhost-user)" "$dpod_if" "icmp" "$TB_NS_POD_B" "$DPOD_IP" "$TB_TMP/dpod.pcapng" || true
  expect_frames "DPDK pod port (vhost-user)" "$TB_TMP/dpod.pcapng" "icmp.type==8 && ip.src==$b && ip.dst==$DPOD_IP"
  expect_frames "DPDK pod port (vhost-user)" "$TB_TMP/dpod.pcapng" "icmp.type==0 && ip.src==$DPOD_IP && ip.dst==$b"

  local drops1
  drops1=$(dropped_total)
  if [[ "$drops0" == "$drops1" ]]; then
    tb_ok "node A counted no drops during the captures ($drops1)"
  else
    tb_not_ok "node A counted no drops during the captures" "dropped $drops0 -> $drops1"
  fi
  tb_check "forwarding after the captures ended (pod-a -> pod-b)" tb_ping "$TB_NS_POD_A" "$b" 3 || true
  tb_check "forwarding after the captures ended (pod-b -> dpod-a)" tb_ping "$TB_NS_POD_B" "$DPOD_IP" 3 || true

  tb_dpod_down
  if tb_stop_routers; then
    tb_ok "routers exit 0 on SIGTERM after captures (rte_pdump_uninit)"
  else
    tb_not_ok "routers exit 0 on SIGTERM after captures (rte_pdump_uninit)" "see errors above; logs in $TB_TMP"
  fi
  if ((TB_FAILED)); then
    echo "# router A log:"
    tail -n 15 "$TB_TMP/node-a.log" | sed 's/^/# /'
  fi
  tb_summary
}

main "$@"
