#!/usr/bin/env bash
# End to end (DESIGN.md 6.3): two vxrouted nodes joined by a veth underlay
# (af_packet), kernel pods in namespaces; ping and TCP across and within a
# node, and the VXLAN on the wire checked from a capture in node B.
# usage: tests/e2e/two_node.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"

setup() {
  tb_require_root && tb_require_tools ip ethtool tshark python3 ping &&
    tb_require_binaries && tb_require_hugepages 128 &&
    tb_up e2e2n && tb_write_configs "$TB_TMP" && tb_start_routers "$TB_TMP"
}

# counters_nonzero JSON_FILE: the counters JSON parses and some encap and
# some decap counter (key containing "encap"/"decap", not a drop/error) is > 0.
counters_nonzero() {
  python3 - "$1" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
try:
    doc = json.loads(text)
except ValueError as e:
    sys.exit(f"show counters --json is not JSON ({e}): {text[:200]!r}")
sums = {"encap": 0, "decap": 0}
seen = {"encap": [], "decap": []}
def walk(node, path):
    if isinstance(node, dict):
        for k, v in node.items():
            walk(v, path + [str(k)])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, path + [str(i)])
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        key = ".".join(path).lower()
        if any(w in key for w in ("drop", "err", "fail", "invalid", "bad")):
            return
        for what in sums:
            if what in key:
                sums[what] += node
                seen[what].append(f"{'.'.join(path)}={node}")
walk(doc, [])
for what, total in sums.items():
    if not seen[what]:
        sys.exit(f"no {what} counter in show counters --json: {text[:300]!r}")
    if total <= 0:
        sys.exit(f"{what} counters all zero: {', '.join(seen[what])}")
print(", ".join(seen["encap"][:4] + seen["decap"][:4]))
PY
}

# port_links a|b "NAME=up|down ...": each named port's link in show ports --json.
port_links() {
  local node=$1 want=$2 json
  json=$(tb_ctl "$node" show ports --json) || { echo "vxroutectl show ports failed"; return 1; }
  python3 - "$want" "$json" <<'PY'
import json, sys
links = {p["name"]: p["link"] for p in json.loads(sys.argv[2])["ports"]}
bad = [f"{n}: {links.get(n, 'missing')}, want {w}" for n, w in (x.split("=") for x in sys.argv[1].split())
       if links.get(n) != w]
sys.exit("; ".join(bad)) if bad else print(" ".join(f"{n}={l}" for n, l in sorted(links.items())))
PY
}

main() {
  tb_trap
  if ! setup; then
    tb_not_ok "testbed and routers up" "see errors above"
    exit 1
  fi
  tb_ok "testbed and routers up"

  # Each node's capture sees what arrives from the wire: net_af_packet
  # sends with PACKET_QDISC_BYPASS (its default), which packet taps on the
  # sending interface never see. So A -> B is checked on vxr-ub in node B,
  # B -> A on vxr-ua in node A.
  local pcap_b=$TB_TMP/underlay-b.pcap pcap_a=$TB_TMP/underlay-a.pcap cap_a cap_b
  if ! tb_capture_start "$TB_NS_B" "$TB_UPLINK_B" "$pcap_b"; then
    tb_not_ok "underlay capture on $TB_UPLINK_B started"
    exit 1
  fi
  cap_b=$TB_CAPTURE_PID
  if ! tb_capture_start "$TB_NS_A" "$TB_UPLINK_A" "$pcap_a"; then
    tb_not_ok "underlay capture on $TB_UPLINK_A started"
    exit 1
  fi
  cap_a=$TB_CAPTURE_PID

  tb_check "ping pod-a -> pod-b (cross node)" tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 3 || true
  tb_check "ping pod-b -> pod-a (cross node)" tb_ping "$TB_NS_POD_B" "$TB_POD_A_IP" 3 || true
  tb_check "ping pod-a -> pod-a2 (same node)" tb_ping "$TB_NS_POD_A" "$TB_POD_A2_IP" 3 || true
  tb_check "ping pod-a2 -> pod-a (same node)" tb_ping "$TB_NS_POD_A2" "$TB_POD_A_IP" 3 || true
  tb_check "TCP 4 MiB pod-b -> pod-a, sha256 matches" \
    tb_tcp_transfer "$TB_NS_POD_B" "$TB_NS_POD_A" "$TB_POD_A_IP" $((4 * 1024 * 1024)) 5201 || true
  tb_check "TCP 1 MiB pod-a -> pod-a2, sha256 matches" \
    tb_tcp_transfer "$TB_NS_POD_A" "$TB_NS_POD_A2" "$TB_POD_A2_IP" $((1024 * 1024)) 5202 || true
  tb_capture_stop "$cap_b"
  tb_capture_stop "$cap_a"

  tb_check "underlay VXLAN node-a -> node-b (seen on $TB_UPLINK_B): VNI 1, port 8472, VTEP MACs, DF, sport 49152-65535" \
    tb_check_vxlan_capture "$pcap_b" "$TB_NODE_IP_A" "$TB_NODE_IP_B" "$TB_VTEP_A" "$TB_VTEP_B" \
      --vni 1 --port 8472 --sport-min 49152 --sport-max 65535 --df set --min-frames 3 || true
  tb_check "underlay VXLAN node-b -> node-a (seen on $TB_UPLINK_A): VNI 1, port 8472, VTEP MACs, DF, sport 49152-65535" \
    tb_check_vxlan_capture "$pcap_a" "$TB_NODE_IP_B" "$TB_NODE_IP_A" "$TB_VTEP_B" "$TB_VTEP_A" \
      --vni 1 --port 8472 --sport-min 49152 --sport-max 65535 --df set --min-frames 3 || true

  local n
  for n in a b; do
    if tb_ctl "$n" show counters --json >"$TB_TMP/counters-$n.json" 2>"$TB_TMP/counters-$n.err"; then
      tb_check "node-$n: show counters --json parses, encap and decap > 0" \
        counters_nonzero "$TB_TMP/counters-$n.json" || true
    else
      tb_not_ok "node-$n: show counters --json parses, encap and decap > 0" \
        "vxroutectl failed: $(head -c 300 "$TB_TMP/counters-$n.err")"
    fi
  done

  # A kernel pod's tap lives in the pod's namespace, out of net_tap's sight:
  # show ports must report what the pod's interface really is.
  tb_check "node-a: show ports: kernel pods pod-a, pod-a2 link up" \
    port_links a "pod-a=up pod-a2=up" || true
  ip -n "$TB_NS_POD_A2" link set dev eth0 down
  tb_check "node-a: show ports: pod-a2 link down after the pod sets eth0 down" \
    port_links a "pod-a=up pod-a2=down" || true
  ip -n "$TB_NS_POD_A2" link set dev eth0 up

  # SIGTERM -> clean exit (status 0) that removes the pod interfaces.
  if tb_stop_routers; then
    tb_ok "routers exit 0 on SIGTERM"
  else
    tb_not_ok "routers exit 0 on SIGTERM" "see errors above; logs in $TB_TMP"
  fi
  local left=""
  for n in "$TB_NS_POD_A" "$TB_NS_POD_A2" "$TB_NS_POD_B"; do
    ip -n "$n" link show eth0 >/dev/null 2>&1 && left+=" $n:eth0"
  done
  for n in "$TB_NS_A" "$TB_NS_B"; do
    ip -n "$n" link show vxr-host >/dev/null 2>&1 && left+=" $n:vxr-host"
  done
  if [[ -z "$left" ]]; then
    tb_ok "pod and host interfaces removed on exit"
  else
    tb_not_ok "pod and host interfaces removed on exit" "still present:$left"
  fi

  if ((TB_FAILED)); then
    echo "# router logs:"
    for n in a b; do [[ -f "$TB_TMP/node-$n.log" ]] && tail -n 15 "$TB_TMP/node-$n.log" | sed "s/^/# node-$n: /"; done
  fi
  tb_summary
}

main "$@"
