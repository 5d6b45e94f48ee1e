#!/usr/bin/env bash
# End to end: vxrouted's HTTP endpoint (/metrics, /healthz, /readyz) on two
# testbed nodes. Scrapes with curl from inside each node's namespace (the
# default metrics_listen 127.0.0.1:9464), parses the bodies with the
# Prometheus client library's parser (tests/e2e/lib/prom_check.py), checks
# that counters follow the traffic, measures the scrape time under a flood
# ping, then shows /readyz answering 503 while a Kubernetes API server is
# unreachable and a second daemon failing clearly on a port in use.
# usage: tests/e2e/metrics.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"

PROM_CHECK=$TB_ROOT/tests/e2e/lib/prom_check.py
DROP_DEF=$TB_ROOT/src/fastpath/drop_reasons.def
METRICS_PORT=9464
PINGS=40
SCRAPES=20
STREAM_S=26                      # TCP stream and flood ping: outlast every scrape window
SCRAPER_CPU=${SCRAPER_CPU:-0}
MIN_RATIO=0.5                    # scraped/unscraped forwarding rate; a shared 2-core machine is noisy
SCRAPE_LOAD=$TB_ROOT/tests/e2e/lib/scrape_load.py
DUP_PREFIX=vxr-mx-dup            # EAL prefix of the daemon that must fail to start
DUP_PID=""

# Debian's python3-prometheus-client lives in /usr/lib/python3; a python3
# earlier in PATH (pyenv, venv) may not see it.
PY=""
pick_python() {
  local p
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import prometheus_client' 2>/dev/null; then PY=$p; return 0; fi
  done
  tb_err "no python3 can import prometheus_client: install python3-prometheus-client (scripts/deps.sh)"
  return 1
}
prom() { "$PY" "$PROM_CHECK" "$@"; }

ns_of() { if [[ $1 == a ]]; then echo "$TB_NS_A"; else echo "$TB_NS_B"; fi; }

# http NODE METHOD PATH OUT: request on the node's endpoint; prints the status.
http() {
  local how=(-X "$2")
  [[ "$2" == HEAD ]] && how=(--head)  # curl then expects no body
  rm -f "$4"
  ip netns exec "$(ns_of "$1")" curl -s -m 5 "${how[@]}" -o "$4" -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT$3"
}

# scrape NODE OUT: GET /metrics into OUT; fails unless 200 with the right type.
scrape() {
  local ct
  ct=$(ip netns exec "$(ns_of "$1")" curl -s -m 5 -o "$2" -w '%{http_code} %{content_type}' \
    "http://127.0.0.1:$METRICS_PORT/metrics") || { tb_err "curl /metrics on node $1 failed"; return 1; }
  [[ "$ct" == "200 text/plain; version=0.0.4"* ]] || { tb_err "node $1 /metrics: $ct"; return 1; }
}

# expect_status NODE METHOD PATH CODE [BODY_PATTERN]
expect_status() {
  local out=$TB_TMP/http.out code
  code=$(http "$1" "$2" "$3" "$out") || true
  if [[ "$code" != "$4" ]]; then
    echo "got HTTP $code: $(head -c 200 "$out" 2>/dev/null)"
    return 1
  fi
  if [[ -n "${5:-}" ]] && ! grep -q -- "$5" "$out"; then
    echo "HTTP $code but the body lacks '$5': $(head -c 200 "$out")"
    return 1
  fi
  echo "HTTP $code: $(head -c 200 "$out" 2>/dev/null | tr '\r\n' '  ')"
}

# tcp_stream SRC_NS DST_NS DST_IP PORT SECONDS OUT: send zeros over TCP from
# SRC_NS to a receiver in DST_NS for SECONDS; OUT.result gets "N MiB in S s
# (R Mbit/s)". Fails unless the receiver got every byte sent.
tcp_stream() {
  local src=$1 dst=$2 ip=$3 port=$4 secs=$5 out=$6 rx tx_rc=0
  rm -f "$out".*
  ip netns exec "$dst" timeout $((secs + 30)) "$PY" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
open(sys.argv[3] + ".ready", "w").close()
c, _ = s.accept(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    n += len(b)
open(sys.argv[3] + ".rx", "w").write(str(n))
' "$ip" "$port" "$out" &
  rx=$!
  local t=0
  while [[ ! -e "$out.ready" ]] && ((t < 50)); do sleep 0.1; t=$((t + 1)); done
  ip netns exec "$src" timeout $((secs + 30)) "$PY" -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
buf = bytes(1 << 16); n = 0; t0 = time.monotonic()
while time.monotonic() - t0 < float(sys.argv[3]):
    s.sendall(buf); n += len(buf)
s.shutdown(socket.SHUT_WR); s.recv(1); dt = time.monotonic() - t0
open(sys.argv[4] + ".tx", "w").write("%d %.2f\n" % (n, dt))
' "$ip" "$port" "$secs" "$out" || tx_rc=$?
  wait "$rx" || return 1
  ((tx_rc == 0)) || return 1
  local sent secs_taken got
  read -r sent secs_taken <"$out.tx"
  got=$(cat "$out.rx")
  [[ "$sent" == "$got" ]] || { echo "sent $sent bytes, received $got" >"$out.result"; return 1; }
  "$PY" -c "import sys; n, s = int(sys.argv[1]), float(sys.argv[2]); print('%d MiB in %.1f s (%.0f Mbit/s), every byte received' % (n >> 20, s, n * 8 / s / 1e6))" \
    "$sent" "$secs_taken" >"$out.result"
}

# expect_gauges FILE NAME[=VALUE]...: each sample exists (and has VALUE).
expect_gauges() {
  local file=$1 g v rc=0 out=""
  shift
  for g in "$@"; do
    v=$(prom value "$file" "${g%%=*}") || { echo "$v"; rc=1; continue; }
    out+="${g%%=*}=$v "
    if [[ "$g" == *=* && "$v" != "${g#*=}" ]]; then
      echo "${g%%=*} is $v, expected ${g#*=}"
      rc=1
    fi
  done
  echo "$out"
  return "$rc"
}

setup() {
  tb_require_root && tb_require_tools ip ethtool python3 ping curl taskset && pick_python &&
    tb_require_binaries && tb_require_hugepages 128 &&
    tb_up e2emx && tb_write_configs "$TB_TMP" && tb_start_routers "$TB_TMP"
}

cleanup() {
  if [[ -n "$DUP_PID" ]] && kill -0 "$DUP_PID" 2>/dev/null; then kill -KILL "$DUP_PID" 2>/dev/null || true; fi
  rm -rf "/var/run/dpdk/$DUP_PREFIX"
  tb_down
}

# scrape_times NODE N OUT: N scrapes; OUT gets one time_total (s) per line.
scrape_times() {
  local i
  : >"$3"
  for ((i = 0; i < $2; i++)); do
    ip netns exec "$(ns_of "$1")" curl -s -m 5 -o /dev/null -w '%{time_total}\n' \
      "http://127.0.0.1:$METRICS_PORT/metrics" >>"$3" || return 1
  done
}

# stats FILE: "median X ms (min Y, max Z)" of the seconds in FILE.
stats() {
  "$PY" - "$1" <<'PY'
import statistics, sys
v = sorted(float(x) * 1000 for x in open(sys.argv[1]) if x.strip())
print("median %.2f ms (min %.2f, max %.2f, n=%d)" % (statistics.median(v), v[0], v[-1], len(v)))
PY
}

main() {
  tb_trap
  trap 'cleanup' EXIT
  if ! setup; then
    tb_not_ok "testbed and routers up" "see errors above"
    exit 1
  fi
  tb_ok "testbed and routers up"

  local n m0a=$TB_TMP/m0-a.prom m0b=$TB_TMP/m0-b.prom m1a=$TB_TMP/m1-a.prom m1b=$TB_TMP/m1-b.prom
  for n in a b; do
    tb_check "node-$n: /healthz 200 once running" expect_status "$n" GET /healthz 200 ok || true
    tb_check "node-$n: /readyz 200 after start-up" expect_status "$n" GET /readyz 200 ok || true
  done
  tb_check "unknown path: 404" expect_status a GET /nope 404 || true
  tb_check "POST /metrics: 405" expect_status a POST /metrics 405 || true
  tb_check "HEAD /readyz: 200" expect_status a HEAD /readyz 200 || true

  if scrape a "$m0a" && scrape b "$m0b"; then
    tb_check "node-a: /metrics before traffic parses and follows the format rules" prom check "$m0a" "$DROP_DEF" || true
  else
    tb_not_ok "/metrics before traffic" "see errors above"
  fi

  # Traffic: pings across nodes (encap on A, decap on B and back) and on A.
  tb_check "ping pod-a -> pod-b x$PINGS" ip netns exec "$TB_NS_POD_A" ping -n -q -c "$PINGS" -i 0.02 -W 2 "$TB_POD_B_IP" || true
  tb_check "TCP 2 MiB pod-b -> pod-a, sha256 matches" \
    tb_tcp_transfer "$TB_NS_POD_B" "$TB_NS_POD_A" "$TB_POD_A_IP" $((2 * 1024 * 1024)) 5301 || true
  if ! { scrape a "$m1a" && scrape b "$m1b"; }; then tb_not_ok "scrape after traffic" "see errors above"; fi

  tb_check "node-a: /metrics after traffic parses and follows the format rules" prom check "$m1a" "$DROP_DEF" || true
  tb_check "node-b: /metrics after traffic parses and follows the format rules" prom check "$m1b" "$DROP_DEF" || true
  tb_check "node-a: vxroute_encapsulated_total grew by >= $PINGS pings" \
    prom delta "$m0a" "$m1a" "$PINGS" vxroute_encapsulated_total || true
  tb_check "node-a: vxroute_decapsulated_total grew by >= $PINGS replies" \
    prom delta "$m0a" "$m1a" "$PINGS" vxroute_decapsulated_total || true
  tb_check "node-b: vxroute_decapsulated_total grew by >= $PINGS pings" \
    prom delta "$m0b" "$m1b" "$PINGS" vxroute_decapsulated_total || true
  tb_check "node-b: vxroute_encapsulated_total grew by >= $PINGS replies" \
    prom delta "$m0b" "$m1b" "$PINGS" vxroute_encapsulated_total || true
  tb_check "node-a: pod-a port counted >= $PINGS packets received" \
    prom delta "$m0a" "$m1a" "$PINGS" vxroute_port_rx_packets_total port=pod-a kind=pod || true
  tb_check "node-a: uplink counted >= $PINGS packets sent" \
    prom delta "$m0a" "$m1a" "$PINGS" vxroute_port_tx_packets_total kind=uplink || true
  tb_check "node-b: uplink TX bytes grew by >= the 2 MiB sent to pod-a" \
    prom delta "$m0b" "$m1b" $((2 * 1024 * 1024)) vxroute_port_tx_bytes_total kind=uplink || true
  tb_check "node-b: uplink device counted RX packets (ethdev stats, queue 0)" \
    prom delta "$m0b" "$m1b" "$PINGS" vxroute_port_queue_rx_packets_total port=net_af_packet0 queue=0 || true
  tb_check "node-a: worker 0 busy cycles advanced" \
    prom delta "$m0a" "$m1a" 1 vxroute_worker_busy_cycles_total worker=0 || true
  tb_check "node-a: worker 0 total cycles advanced" \
    prom delta "$m0a" "$m1a" 1 vxroute_worker_cycles_total worker=0 || true
  tb_check "node-a: drops by reason present (no_route counted as a series)" \
    prom value "$m1a" vxroute_drops_total reason=no_route || true
  tb_check "node-a: gauges: 1 peer, 2 pods, routes, ready, no Kubernetes, build info" \
    expect_gauges "$m1a" vxroute_peers=1 vxroute_pods=2 vxroute_ready=1 vxroute_healthy=1 vxroute_k8s_configured=0 \
      vxroute_build_info=1 vxroute_routes vxroute_start_time_seconds || true

  # Scrape time: idle, then under traffic: a TCP stream pod-b -> pod-a
  # (node A decapsulates it) and a flood ping pod-a -> pod-b (node A
  # encapsulates). The scraping clients run on CPU 0 (SCRAPER_CPU), where
  # the control threads are, not on the workers' CPU: on a real node the
  # scraper runs elsewhere and the worker cores are isolated.
  local idle=$TB_TMP/scrape-idle.txt busy=$TB_TMP/scrape-busy.txt flood_log=$TB_TMP/flood.txt flood stream
  local mf0=$TB_TMP/mf0-a.prom mf1=$TB_TMP/mf1-a.prom load=$TB_TMP/load.txt
  if scrape_times a "$SCRAPES" "$idle"; then
    echo "# scrape time idle (node-a, $SCRAPES scrapes): $(stats "$idle"), $(wc -c <"$m1a") bytes"
  else
    tb_not_ok "idle scrapes" "curl failed"
  fi
  tcp_stream "$TB_NS_POD_B" "$TB_NS_POD_A" "$TB_POD_A_IP" 5302 "$STREAM_S" "$TB_TMP/stream" &
  stream=$!
  ip netns exec "$TB_NS_POD_A" ping -f -q -s 1000 -w "$STREAM_S" "$TB_POD_B_IP" >"$flood_log" 2>&1 &
  flood=$!
  TB_BG_PIDS+=("$stream" "$flood")
  sleep 1
  scrape a "$mf0" || true
  if scrape_times a "$SCRAPES" "$busy"; then
    tb_ok "$SCRAPES scrapes under traffic answered"
    echo "# scrape time under traffic (node-a, $SCRAPES curl scrapes during a TCP stream pod-b -> pod-a and ping -f -s 1000 pod-a -> pod-b): $(stats "$busy")"
  else
    tb_not_ok "$SCRAPES scrapes under traffic answered" "curl failed"
  fi
  scrape a "$mf1" || true
  tb_check "node-a: traffic flowed during the scrapes (decapsulated grew by >= 1000)" \
    prom delta "$mf0" "$mf1" 1000 vxroute_decapsulated_total || true
  # Forwarding with and without scrapes: 10 scrapes/s (ten times a 1 s
  # scrape interval) must not cost forwarding; back to back is reported.
  local ratio
  if ip netns exec "$TB_NS_A" taskset -c "$SCRAPER_CPU" "$PY" "$SCRAPE_LOAD" \
      "http://127.0.0.1:$METRICS_PORT/metrics" 5 1.0 0.1 >"$load" 2>&1; then
    grep '^#' "$load"
    ratio=$(sed -n 's/^ratio=//p' "$load")
    tb_check "node-a: forwarding while scraped 10 times a second >= $MIN_RATIO of without (ratio $ratio)" \
      "$PY" -c "import sys; sys.exit(0 if $ratio >= $MIN_RATIO else 1)" || true
  else
    tb_not_ok "scrapes at 10/s under traffic" "$(tail -n 3 "$load" | tr '\n' ' ')"
  fi
  if ip netns exec "$TB_NS_A" taskset -c "$SCRAPER_CPU" "$PY" "$SCRAPE_LOAD" \
      "http://127.0.0.1:$METRICS_PORT/metrics" 3 1.0 0 >"$load" 2>&1; then
    grep '^#' "$load"
  else
    tb_not_ok "back-to-back scrapes under traffic" "$(tail -n 3 "$load" | tr '\n' ' ')"
  fi
  kill -INT "$flood" 2>/dev/null || true
  wait "$flood" 2>/dev/null || true
  echo "# flood ping: $(grep -E 'transmitted' "$flood_log" | head -1)"
  local stream_rc=0
  wait "$stream" || stream_rc=$?
  if ((stream_rc == 0)); then
    tb_ok "TCP stream pod-b -> pod-a during the scrapes: $(cat "$TB_TMP/stream.result")"
  else
    tb_not_ok "TCP stream pod-b -> pod-a during the scrapes" "status $stream_rc: $(cat "$TB_TMP/stream".* 2>/dev/null | head -c 300)"
  fi
  tb_check "node-a: /healthz 200 under traffic and scrapes" expect_status a GET /healthz 200 ok || true

  # A second daemon on node A's metrics address: clear start-up error.
  local dup=$TB_TMP/dup.json dup_log=$TB_TMP/dup.log rc=0
  cat >"$dup" <<EOF
{"node_name":"dup","node_ip":"198.18.9.1/24","uplink":"net_null0","vtep_mac":"02:76:78:00:09:01",
 "pod_cidr":"10.244.9.0/24","host_iface":"","workers":1,"idle_backoff_us":50,"mbufs":2048,"max_routes":1024,
 "admin_socket":"$TB_TMP/dup.sock","state_dir":"$TB_TMP/dup-state","socket_dir":"$TB_TMP/dup-sockets",
 "eal_args":["-l","0-1","--file-prefix=$DUP_PREFIX","--in-memory"]}
EOF
  ip netns exec "$TB_NS_A" timeout 60 "$TB_VXROUTED" -c "$dup" >"$dup_log" 2>&1 &
  DUP_PID=$!
  wait "$DUP_PID" || rc=$?
  DUP_PID=""
  if ((rc != 0)) && grep -q "cannot listen on 127.0.0.1:$METRICS_PORT: Address already in use" "$dup_log"; then
    tb_ok "metrics port in use: start-up fails (status $rc) naming the address"
    grep -m1 "cannot listen" "$dup_log" | sed 's/^/#   /'
  else
    tb_not_ok "metrics port in use: start-up fails naming the address" "status $rc; $(tail -n 3 "$dup_log" | tr '\n' ' ')"
  fi

  # /readyz 503 while the initial Node list cannot be had: node B restarted
  # with a kubeconfig whose API server does not answer (nothing listens on
  # port 1 of its namespace's loopback).
  cat >"$TB_TMP/kubeconfig-unreachable" <<EOF
apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://127.0.0.1:1
  name: unreachable
users:
- name: u
  user:
    token: t
contexts:
- context:
    cluster: unreachable
    user: u
  name: unreachable
current-context: unreachable
EOF
  local m2b=$TB_TMP/m2-b.prom
  if tb_config_set "$TB_TMP/node-b.json" "kubernetes={\"kubeconfig\":\"$TB_TMP/kubeconfig-unreachable\"}" &&
    tb_restart_router b "$TB_TMP"; then
    tb_check "node-b with an unreachable API server: /readyz 503 naming the Kubernetes sync" \
      expect_status b GET /readyz 503 "kubernetes: initial Node list not synced" || true
    tb_check "node-b with an unreachable API server: /healthz still 200" expect_status b GET /healthz 200 || true
    if scrape b "$m2b"; then
      tb_check "node-b: /metrics parses with Kubernetes configured" prom check "$m2b" "$DROP_DEF" || true
      tb_check "node-b: /metrics says Kubernetes configured, not synced, never synced, not ready" \
        expect_gauges "$m2b" vxroute_k8s_configured=1 vxroute_k8s_synced=0 \
          vxroute_k8s_last_sync_timestamp_seconds=0 vxroute_ready=0 vxroute_healthy=1 || true
    else
      tb_not_ok "node-b: /metrics with Kubernetes configured" "scrape failed"
    fi
  else
    tb_not_ok "node-b restarted with an unreachable API server" "see errors above; log in $TB_TMP/node-b.log"
  fi

  if tb_stop_routers; then
    tb_ok "routers exit 0 on SIGTERM"
  else
    tb_not_ok "routers exit 0 on SIGTERM" "see errors above"
  fi
  if ((TB_FAILED)); then
    echo "# router logs:"
    for n in a b; do [[ -f "$TB_TMP/node-$n.log" ]] && tail -n 15 "$TB_TMP/node-$n.log" | sed "s/^/# node-$n: /"; done
  fi
  tb_summary
}

main "$@"
