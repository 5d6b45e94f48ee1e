#!/usr/bin/env bash
# End to end: node A runs two workers (issue 7, item 4). Each worker owns one
# RX and one TX queue on every port: the af_packet uplink gets qpairs=2 (a
# PACKET_FANOUT_HASH group spreads flows over its two sockets by the outer
# flow hash, whose UDP source port carries the inner flow), kernel pods' taps
# get two queues (the tun driver picks the queue by flow hash). Many TCP
# flows in both directions between pods on node A and node B; asserts that
# both workers encapsulated and decapsulated, that both uplink RX queues
# received, that every transfer arrived intact, that nothing was dropped for
# an unexpected reason, and that both routers exit 0 on SIGTERM.
# usage: tests/e2e/workers.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"

FLOWS=6                       # TCP connections per direction: 2^-(FLOWS-1) odds that a hash puts all on one queue
BYTES=$((2 * 1024 * 1024))    # per connection
METRICS_PORT=9464             # vxrouted's default metrics_listen, inside each node's namespace
# Drops a kernel pod's own chatter can cause (IPv6 router solicitations, ARP
# for its own address); anything else during the transfers is a failure.
EXPECTED_DROPS="unsupported_ethertype arp_ignored"

setup() {
  tb_require_root && tb_require_tools ip ethtool python3 ping curl &&
    tb_require_binaries && tb_require_hugepages 128 &&
    tb_up e2ewk && tb_write_configs "$TB_TMP" || return 1
  # Main lcore and worker 1 on CPU 0, worker 2 on CPU 1: the two workers
  # never share a CPU on this 2-CPU machine.
  tb_config_merge "$TB_TMP/node-a.json" "{\"workers\":2,
    \"uplink\":\"net_af_packet0,iface=$TB_UPLINK_A,qpairs=2\",
    \"eal_args\":[\"--lcores\",\"0@0,1@0,2@1\",\"--file-prefix=$TB_PREFIX_A\"]}" &&
    tb_start_routers "$TB_TMP"
}

# counters NODE FILE: node's `show counters --json` into FILE.
counters() {
  tb_ctl "$1" show counters --json >"$2" 2>"$2.err" || {
    tb_err "vxroutectl show counters on node $1 failed: $(head -c 300 "$2.err")"
    return 1
  }
}

# per_worker_grew BEFORE AFTER: both workers of node A encapsulated and
# decapsulated between the two snapshots; prints the deltas.
per_worker_grew() {
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(f))["workers"] for f in sys.argv[1:3])
if len(b) != 2:
    sys.exit(f"node A reports {len(b)} workers, expected 2")
bad, out = [], []
for w0, w1 in zip(a, b):
    for k in ("encapsulated", "decapsulated", "rx_packets"):
        d = w1[k] - w0[k]
        out.append(f"worker {w1['worker']} (lcore {w1['lcore']}) {k} +{d}")
        if k != "rx_packets" and d <= 0:
            bad.append(f"worker {w1['worker']} {k} did not grow")
print("; ".join(out))
if bad:
    sys.exit("; ".join(bad))
PY
}

# drops_expected BEFORE AFTER NODE: drop counters that grew are all in
# EXPECTED_DROPS, and no port's TX queue overflowed.
drops_expected() {
  python3 - "$1" "$2" "$3" "$EXPECTED_DROPS" <<'PY'
import json, sys
a, b = (json.load(open(f))["total"] for f in sys.argv[1:3])
node, allowed = sys.argv[3], set(sys.argv[4].split())
grew = {k: b["drops"][k] - a["drops"][k] for k in b["drops"] if b["drops"][k] != a["drops"][k]}
bad = {k: v for k, v in grew.items() if k not in allowed}
txd = b["tx_dropped"] - a["tx_dropped"]
print(f"node {node}: drops grew {grew or 'nowhere'}, tx_dropped +{txd}")
if bad:
    sys.exit(f"node {node}: unexpected drops {bad}")
PY
}

# queues_used FILE PORT...: every RX queue 0 and 1 of each PORT has received,
# as the device counts it (vxroute_port_queue_rx_packets_total).
queues_used() {
  local file=$1
  shift
  python3 - "$file" "$@" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rx = {}
for m in re.finditer(r'^vxroute_port_queue_rx_packets_total\{port="([^"]+)",queue="(\d+)"\} (\d+)', text, re.M):
    rx[(m[1], int(m[2]))] = int(m[3])
bad, out = [], []
for port in sys.argv[2:]:
    for q in (0, 1):
        n = rx.get((port, q))
        out.append(f"{port} q{q}={n}")
        if n is None:
            bad.append(f"{port} has no RX queue {q}")
        elif n == 0:
            bad.append(f"{port} RX queue {q} received nothing")
print(", ".join(out))
if bad:
    sys.exit("; ".join(bad))
PY
}

# parallel_tcp SRC_NS DST_NS DST_IP BASE_PORT: FLOWS concurrent transfers of
# BYTES each, every one checked by sha256 (tb_tcp_transfer). Prints a line
# per transfer; fails if any failed.
parallel_tcp() {
  local src=$1 dst=$2 ip=$3 base=$4 i pids=() rc=0
  for ((i = 0; i < FLOWS; i++)); do
    mkdir -p "$TB_TMP/tcp-$base-$i"
    # own scratch dir each: tb_tcp_transfer names its files after $$, which
    # subshells share
    (TB_TMP=$TB_TMP/tcp-$base-$i tb_tcp_transfer "$src" "$dst" "$ip" "$BYTES" $((base + i))) \
      >"$TB_TMP/tcp-$base-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      rc=1
      echo "transfer $i to $ip:$((base + i)) failed: $(tail -n 3 "$TB_TMP/tcp-$base-$i.log" | tr '\n' ' ')"
    fi
  done
  ((rc == 0)) && echo "$FLOWS transfers of $BYTES bytes to $ip, sha256 of each matches"
  return "$rc"
}

main() {
  tb_trap
  if ! setup; then
    tb_not_ok "testbed and routers up (node A: 2 workers, uplink qpairs=2)" "see errors above"
    exit 1
  fi
  tb_ok "testbed and routers up (node A: 2 workers, uplink qpairs=2)"

  tb_check "ping pod-a -> pod-b (cross node)" tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 3 || true
  local c0a=$TB_TMP/counters0-a.json c1a=$TB_TMP/counters1-a.json c0b=$TB_TMP/counters0-b.json
  local c1b=$TB_TMP/counters1-b.json
  if ! { counters a "$c0a" && counters b "$c0b"; }; then
    tb_not_ok "counters before traffic" "see errors above"
    exit 1
  fi

  # Both directions at once, so that each worker both encapsulates and
  # decapsulates.
  local out_ab=$TB_TMP/tcp-ab.out out_ba=$TB_TMP/tcp-ba.out pab pba rab=0 rba=0
  parallel_tcp "$TB_NS_POD_A" "$TB_NS_POD_B" "$TB_POD_B_IP" 5300 >"$out_ab" 2>&1 &
  pab=$!
  parallel_tcp "$TB_NS_POD_B" "$TB_NS_POD_A" "$TB_POD_A_IP" 5400 >"$out_ba" 2>&1 &
  pba=$!
  wait "$pab" || rab=$?
  wait "$pba" || rba=$?
  if ((rab == 0)); then tb_ok "$FLOWS parallel TCP pod-a -> pod-b: $(tail -n 1 "$out_ab")"
  else tb_not_ok "$FLOWS parallel TCP pod-a -> pod-b" "$(tr '\n' ' ' <"$out_ab")"; fi
  if ((rba == 0)); then tb_ok "$FLOWS parallel TCP pod-b -> pod-a: $(tail -n 1 "$out_ba")"
  else tb_not_ok "$FLOWS parallel TCP pod-b -> pod-a" "$(tr '\n' ' ' <"$out_ba")"; fi

  if counters a "$c1a" && counters b "$c1b"; then
    tb_check "node A: both workers encapsulated and decapsulated" per_worker_grew "$c0a" "$c1a" || true
    tb_check "node A: no drops by unexpected reasons" drops_expected "$c0a" "$c1a" A || true
    tb_check "node B: no drops by unexpected reasons" drops_expected "$c0b" "$c1b" B || true
  else
    tb_not_ok "counters after traffic" "see errors above"
  fi

  local m=$TB_TMP/metrics-a.txt
  if ip netns exec "$TB_NS_A" curl -s -m 5 -o "$m" "http://127.0.0.1:$METRICS_PORT/metrics"; then
    tb_check "node A: both RX queues of the uplink and of pod-a's tap received (device counters)" \
      queues_used "$m" net_af_packet0 pod-a || true
  else
    tb_not_ok "node A: /metrics answered" "curl 127.0.0.1:$METRICS_PORT in $TB_NS_A failed"
  fi

  # Directly, not through tb_check: its subshell cannot wait for the routers.
  if tb_stop_routers; then
    tb_ok "routers exit 0 on SIGTERM"
  else
    tb_not_ok "routers exit 0 on SIGTERM" "see errors above; logs in $TB_TMP"
  fi

  if ((TB_FAILED)); then
    echo "# router logs:"
    for n in a b; do [[ -f "$TB_TMP/node-$n.log" ]] && tail -n 15 "$TB_TMP/node-$n.log" | sed "s/^/# node-$n: /"; done
  fi
  tb_summary
}

main "$@"
