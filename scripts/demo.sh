#!/usr/bin/env bash
# The README's first command: from a fresh machine to two vxroute nodes
# forwarding pod traffic over VXLAN, each step printed and checked; then the
# same nodes driven by an API server (a test fixture) with a Service on them.
#   node A (ns vxr-node-a): pod-a 10.244.1.2, pod-a2 10.244.1.3   VTEP 198.18.0.1
#   node B (ns vxr-node-b): pod-b 10.244.2.2                      VTEP 198.18.0.2
# usage: scripts/demo.sh [--stay] [--no-setup]
#   --stay: keep it running until Ctrl-C; --no-setup: skip deps/build/hugepages
# Everything it creates is removed on exit, also when interrupted.
set -euo pipefail

stay=0
setup=1
for arg in "$@"; do
  case "$arg" in
    --stay) stay=1 ;;
    --no-setup) setup=0 ;;
    -h|--help) echo "usage: $0 [--stay] [--no-setup]"; exit 0 ;;
    *) echo "usage: $0 [--stay] [--no-setup]" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source-path=SCRIPTDIR source=lib/testbed.sh
source "$root/scripts/lib/testbed.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib/k8s.sh
source "$root/tests/e2e/lib/k8s.sh"  # the fixture API server, for the Services steps

step_no=0
current=""
say() { echo "[demo] $*"; }
step() { step_no=$((step_no + 1)); current=$*; say "step $step_no: $*"; }
die() {
  say "FAILED at step $step_no ($current)${1:+: $1}"
  local n
  for n in a b; do
    if [[ -n "$TB_TMP" && -f "$TB_TMP/node-$n.log" ]]; then
      say "last lines of node-$n's vxrouted log:"
      tail -n 15 "$TB_TMP/node-$n.log" | sed 's/^/    /'
    fi
  done
  exit 1
}
indent() { sed 's/^/    /'; }
DEMO_SVC_IP=10.96.0.10
# curl_svc: one page from the Service, fetched in pod-a2 (node A).
curl_svc() { ip netns exec "$TB_NS_POD_A2" curl -fsS --max-time 3 "http://$DEMO_SVC_IP/"; }

if ((EUID != 0)); then
  say "error: run as root (packages, hugepages, network namespaces)"
  exit 1
fi
trap 'say "cleaning up"; tb_dpod_down; tb_down' EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

if ((setup)); then
  step "install dependencies (scripts/deps.sh)"
  ./scripts/deps.sh 2>&1 | indent || die "scripts/deps.sh failed"
  step "build (scripts/build.sh)"
  ./scripts/build.sh >"/tmp/vxr-demo-build.log" 2>&1 || {
    tail -n 20 /tmp/vxr-demo-build.log | indent
    die "scripts/build.sh failed (full output in /tmp/vxr-demo-build.log)"
  }
  tail -n 2 /tmp/vxr-demo-build.log | indent
  rm -f /tmp/vxr-demo-build.log
  step "reserve hugepages (scripts/hugepages.sh)"
  ./scripts/hugepages.sh 2>&1 | indent || die "scripts/hugepages.sh failed"
fi

step "create namespaces: nodes vxr-node-a, vxr-node-b joined by veth vxr-ua <-> vxr-ub; pods vxr-pod-a, vxr-pod-a2, vxr-pod-b"
tb_up "" || die
step "write vxrouted configs"
tb_write_configs "$TB_TMP" || die
say "  $TB_TMP/node-a.json:"; indent <"$TB_TMP/node-a.json"
step "start vxrouted on both nodes (logs in $TB_TMP/node-{a,b}.log)"
tb_start_routers "$TB_TMP" || die "vxrouted did not come up"
say "  node-a PID ${TB_ROUTER_PIDS[0]}, node-b PID ${TB_ROUTER_PIDS[1]}"

step "ping pod-a (10.244.1.2) -> pod-b (10.244.2.2), across nodes through VXLAN"
say "  \$ ip netns exec $TB_NS_POD_A ping -c 3 -W 2 $TB_POD_B_IP"
ip netns exec "$TB_NS_POD_A" ping -c 3 -W 2 "$TB_POD_B_IP" 2>&1 | indent
[[ ${PIPESTATUS[0]} -eq 0 ]] || die "no reply from pod-b"

step "ping pod-a (10.244.1.2) -> pod-a2 (10.244.1.3), same node"
say "  \$ ip netns exec $TB_NS_POD_A ping -c 3 -W 2 $TB_POD_A2_IP"
ip netns exec "$TB_NS_POD_A" ping -c 3 -W 2 "$TB_POD_A2_IP" 2>&1 | indent
[[ ${PIPESTATUS[0]} -eq 0 ]] || die "no reply from pod-a2"

step "TCP: 8 MiB from pod-b to pod-a across nodes, compare sha256"
tb_tcp_transfer "$TB_NS_POD_B" "$TB_NS_POD_A" "$TB_POD_A_IP" $((8 * 1024 * 1024)) 5201 2>&1 | indent
[[ ${PIPESTATUS[0]} -eq 0 ]] || die "TCP transfer failed or data differs"

step "DPDK pods over vhost-user: dpod-b (node B) echoes what dpod-a (node A) sends: 1000 UDP packets at 500/s"
sock_a=$TB_TMP/sockets-a/dpod-a.sock
sock_b=$TB_TMP/sockets-b/dpod-b.sock
mkdir -p "${sock_a%/*}" "${sock_b%/*}"
tb_dpod_start dpod-b b 10.244.2.10 02:00:00:0a:02:0a "$sock_b" --mode echo --core 0 --mem 128 || die "dpod-b did not start"
say "  \$ vxroutectl -s $TB_SOCK_B pod add name=dpod-b ip=10.244.2.10 mac=02:00:00:0a:02:0a vhost_socket=$sock_b"
tb_ctl b pod add name=dpod-b ip=10.244.2.10 mac=02:00:00:0a:02:0a vhost_socket="$sock_b" 2>&1 | indent
[[ ${PIPESTATUS[0]} -eq 0 ]] || die "vxroutectl pod add dpod-b failed"
tb_dpod_wait_link dpod-b 15 || die "dpod-b's vhost-user link did not come up"
tb_dpod_start dpod-a a 10.244.1.10 02:00:00:0a:01:0a "$sock_a" --mode send --core 0 --mem 128 -- \
  --dst 10.244.2.10 --count 1000 --rate 500 --flows 4 --delay-ms 200 || die "dpod-a did not start"
say "  \$ vxroutectl -s $TB_SOCK_A pod add name=dpod-a ip=10.244.1.10 mac=02:00:00:0a:01:0a vhost_socket=$sock_a"
tb_ctl a pod add name=dpod-a ip=10.244.1.10 mac=02:00:00:0a:01:0a vhost_socket="$sock_a" 2>&1 | indent
[[ ${PIPESTATUS[0]} -eq 0 ]] || die "vxroutectl pod add dpod-a failed"
tb_dpod_wait_exit dpod-a 30 || die "dpod-a did not finish sending"
sent=$(tb_dpod_stat dpod-a sent)
replies=$(tb_dpod_stat dpod-a rx_matched)
say "  dpod-a: sent $sent, echoed back $replies"
[[ -n "$sent" && "$sent" -gt 0 && "$replies" == "$sent" ]] || die "DPDK pods: $replies of $sent echoed"
tb_ctl a show pods 2>&1 | indent

step "counters (vxroutectl show counters)"
for n in a b; do
  say "  node-$n: \$ vxroutectl -s $([[ $n == a ]] && echo "$TB_SOCK_A" || echo "$TB_SOCK_B") show counters"
  tb_ctl "$n" show counters 2>&1 | indent
  [[ ${PIPESTATUS[0]} -eq 0 ]] || die "vxroutectl show counters failed on node-$n"
done

step "Services: restart both nodes against an API server (the test fixture, as in tests/e2e/services.sh) with Services on"
# Nodes, a Service and its EndpointSlice come from the API server now; the
# static peers of the config above give way to the Node objects.
tb_stop_routers || die "vxrouted did not exit cleanly"
start_fixture || die "the fixture API server did not start"
k8s_write_configs "$TB_TMP" '["services", "endpointslices"]' \
  '{"a": {"services": {"enabled": true}}, "b": {"services": {"enabled": true}}}' || die
say "  node-a.json now: $(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(json.dumps({k: c[k] for k in ("kubernetes", "services")}))' "$TB_TMP/node-a.json")"
tb_start_routers "$TB_TMP" || die "vxrouted did not come up"
k8s_add_nodes || die "Node objects not accepted by the fixture"
eventually 15 tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 1 >/dev/null || die "pod-a does not reach pod-b once the Node objects are in"
say "  node-a PID ${TB_ROUTER_PIDS[0]}, node-b PID ${TB_ROUTER_PIDS[1]}; pod-a reaches pod-b again (peers from the Node objects)"

step "Service web: ClusterIP $DEMO_SVC_IP:80 -> 8080, backends pod-a (node A) and pod-b (node B), each serving a page with its name"
for b in pod-a pod-b; do
  ns=$TB_NS_POD_A
  [[ $b == pod-b ]] && ns=$TB_NS_POD_B
  mkdir -p "$TB_TMP/www-$b"
  echo "backend $b" >"$TB_TMP/www-$b/index.html"
  ip netns exec "$ns" python3 -m http.server 8080 --bind 0.0.0.0 --directory "$TB_TMP/www-$b" >"$TB_TMP/http-$b.log" 2>&1 &
  TB_BG_PIDS+=("$!")
done
fx_object services "$(k8s_service_json web "$DEMO_SVC_IP" '[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]')" &&
  fx_object endpointslices "$(k8s_slice_json web web-d3m0x '[{"name":"http","protocol":"TCP","port":8080}]' \
    "$TB_POD_A_IP/node-a/pod-a" "$TB_POD_B_IP/node-b/pod-b")" || die "the fixture did not take the Service"
eventually 15 curl_svc >/dev/null || die "no page from $DEMO_SVC_IP:80 within 15 s"
say "  \$ vxroutectl -s $TB_SOCK_A show frontends"
tb_ctl a show frontends 2>&1 | cut -c1-200 | indent

step "20 curls from pod-a2 to http://$DEMO_SVC_IP/: node A picks a backend (Maglev) and translates; both backends answer"
declare -A seen=()
for i in $(seq 20); do
  page=$(curl_svc) || die "curl $i of 20 to $DEMO_SVC_IP failed"
  seen[$page]=$((${seen[$page]:-0} + 1))
done
for page in "${!seen[@]}"; do say "  ${seen[$page]} x '$page'"; done
[[ -n "${seen[backend pod-a]:-}" && -n "${seen[backend pod-b]:-}" ]] || die "not both backends answered"
say "  \$ vxroutectl -s $TB_SOCK_A show conntrack   (first lines)"
tb_ctl a show conntrack 2>&1 | head -n 12 | cut -c1-200 | indent

say "all steps passed"
if ((stay)); then
  say "still running; try: ip netns exec $TB_NS_POD_A ping $TB_POD_B_IP"
  say "                    ip netns exec $TB_NS_POD_A2 curl http://$DEMO_SVC_IP/"
  say "                    $TB_VXROUTECTL -s $TB_SOCK_A show routes"
  say "Ctrl-C to stop and clean up"
  while :; do sleep 1; done
fi
step "stop vxrouted (SIGTERM)"
tb_stop_routers || die "vxrouted did not exit cleanly"
