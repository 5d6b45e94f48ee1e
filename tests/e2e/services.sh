#!/usr/bin/env bash
# End to end (DESIGN.md 6.3) for Services (issue 17): two vxrouted nodes with
# "services": {"enabled": true} that watch Services and EndpointSlices in the
# fixture API server (tests/k8s/fixture/apiserver.py, as k8s_nodes.sh), real
# servers in kernel pods, real clients.
#
#   node A: web-a1 10.244.1.2, web-a2 10.244.1.3 (backends), client-a 10.244.1.10
#   node B: web-b1 10.244.2.2 (backend), web-b2 10.244.2.3 (added, then removed),
#           client-b 10.244.2.10
#   Service default/web, ClusterIP 10.96.0.10: http 80 -> 8080/TCP
#     (python3 -m http.server, a page naming the backend), dns 53 -> 5353/UDP
#     (a UDP server answering with the backend's name), echo 8081 -> 8081/TCP (a line
#     echo); its endpoints split over two EndpointSlices.
#   Service default/empty, ClusterIP 10.96.0.20, no endpoints.
#
# Cases: curl from each node's client reaches all three backends on both
# nodes with complete pages; UDP answers from every backend; a backend
# reaching its own Service (hairpin), itself included; the empty Service
# refuses TCP and UDP at once (ICMP port unreachable) and counts it
# (svc_rejected, vxroute_service_rejects_total); a long-lived TCP connection keeps its backend while
# another backend is added to and removed from an EndpointSlice, and new
# connections follow each change; an endpoint removed from its slice gets no
# new connections within 5 s; node A's own host network reaches the
# ClusterIP; node A runs two workers, and both translate. From a client on
# the underlay (outside the cluster): Service web-np's NodePort with
# externalTrafficPolicy Cluster (both nodes' backends, source translated)
# and Local (node A's backend only, the client's address kept), and its
# external IP; a Pod's hostPort. Service web-aff with sessionAffinity
# ClientIP: each client keeps one backend per port. Path MTU discovery
# through a Service: node A's host network sends full-size DF packets (TCP
# and UDP) to cluster IPs whose backend (web-b2, MTU raised to the
# uplink's) is on node B, and learns the tunnel MTU from node A's ICMP
# fragmentation needed, quoted with the cluster IP.
# usage: tests/e2e/services.sh   (root; prints "ok - NAME" / "not ok - NAME")
#        env: TB_KEEP=1 keeps the scratch directory (logs, configs)
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"
# shellcheck source-path=SCRIPTDIR source=lib/k8s.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/k8s.sh"

SVC_PODS=$TB_ROOT/tests/e2e/lib/svc_pods.py
WEB_IP=10.96.0.10
EMPTY_IP=10.96.0.20
TAG=svc
# Namespaces beyond the testbed's three pods (tb_names gives the rest).
NS_B2=vxr-pod-b2-$TAG
NS_CA=vxr-pod-ca-$TAG
NS_CB=vxr-pod-cb-$TAG
NS_EXT=vxr-ext-$TAG   # a client outside the cluster, on the underlay
EXT_IP=198.18.0.100
NP_PORT=30080         # Service web-np's nodePort
NP_EXTERNAL_IP=198.18.0.50
HOST_PORT=8888        # web-a1's Pod: hostPort 8888 -> containerPort 8080
AFF_IP=10.96.0.40      # Service web-aff: sessionAffinity ClientIP
PMTU_TCP_IP=10.96.0.50  # Services big-tcp / big-udp: web-b2 only, whose MTU is
PMTU_UDP_IP=10.96.0.51  # raised above the tunnel's (path MTU discovery)
CLIENT_A_IP=10.244.1.10
CLIENT_B_IP=10.244.2.10
WEB_B2_IP=10.244.2.3

declare -A POD_NS POD_IP POD_NODE
# define_pods: the backends' namespaces (after tb_up set the testbed names).
define_pods() {
  POD_NS=([web-a1]=$TB_NS_POD_A [web-a2]=$TB_NS_POD_A2 [web-b1]=$TB_NS_POD_B [web-b2]=$NS_B2)
  POD_IP=([web-a1]=$TB_POD_A_IP [web-a2]=$TB_POD_A2_IP [web-b1]=$TB_POD_B_IP [web-b2]=$WEB_B2_IP)
  POD_NODE=([web-a1]=node-a [web-a2]=node-a [web-b1]=node-b [web-b2]=node-b)
}

# --- objects, in the shapes a 1.29 API server returns -------------------------
WEB_SERVICE='{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default","uid":"5d0c3a52-7e1b-4b51-9f0e-2f6f1a000010","labels":{"app":"web"}},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","selector":{"app":"web"},"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080},{"name":"dns","protocol":"UDP","port":53,"targetPort":5353},{"name":"echo","protocol":"TCP","port":8081,"targetPort":8081}],"sessionAffinity":"None","internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}}'
# A Service whose selector matches no pod: the EndpointSlice controller
# keeps one slice for it with no ports and no endpoints (both null).
EMPTY_SERVICE='{"apiVersion":"v1","kind":"Service","metadata":{"name":"empty","namespace":"default","uid":"5d0c3a52-7e1b-4b51-9f0e-2f6f1a000020","labels":{"app":"empty"}},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.20","clusterIPs":["10.96.0.20"],"ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","selector":{"app":"nothing-runs-this"},"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080},{"name":"dns","protocol":"UDP","port":53,"targetPort":5353}],"sessionAffinity":"None","internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}}'
EMPTY_SLICE='{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"empty-q8r2w","generateName":"empty-","namespace":"default","labels":{"kubernetes.io/service-name":"empty","endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io"},"ownerReferences":[{"apiVersion":"v1","kind":"Service","name":"empty","uid":"5d0c3a52-7e1b-4b51-9f0e-2f6f1a000020","controller":true,"blockOwnerDeletion":true}]},"addressType":"IPv4","endpoints":null,"ports":null}'

# slice_json NAME BACKEND...: an EndpointSlice of Service web with those
# backends (ready, on their nodes, with their Pods as targetRef).
slice_json() {
  local name=$1 eps=() b
  shift
  for b in "$@"; do eps+=("${POD_IP[$b]}/${POD_NODE[$b]}/$b"); done
  k8s_slice_json web "$name" '[{"name":"http","protocol":"TCP","port":8080},{"name":"dns","protocol":"UDP","port":5353},{"name":"echo","protocol":"TCP","port":8081}]' "${eps[@]}"
}
SLICE1=web-x7k2p   # web-a1 (node-a), web-b1 (node-b)
SLICE2=web-m4q9z   # web-a2 (node-a); web-b2 for a while

# --- pods and their servers --------------------------------------------------
# The page each backend serves: its name on the first line, then ~24 KB
# that also names it, so a page that is cut short or mixed is caught.
write_page() {
  local name=$1 dir=$TB_TMP/www-$1
  mkdir -p "$dir"
  python3 -c 'import sys; n = sys.argv[1]; sys.stdout.write("backend %s\n" % n + "".join("%s line %04d %s\n" % (n, i, "x" * 40) for i in range(400)))' \
    "$name" >"$dir/index.html"
}

# start_backend NAME: http.server on 8080, line echo on 8081, a UDP server on
# 5353, in the backend's namespace; returns once all three answer there.
start_backend() {
  local name=$1 ns=${POD_NS[$1]} pid
  write_page "$name"
  ip netns exec "$ns" python3 -m http.server 8080 --bind 0.0.0.0 --directory "$TB_TMP/www-$name" \
    >"$TB_TMP/http-$name.log" 2>&1 &
  TB_BG_PIDS+=("$!")
  ip netns exec "$ns" python3 "$SVC_PODS" echo-server "$name" 8081 >"$TB_TMP/echo-$name.out" 2>"$TB_TMP/echo-$name.err" &
  pid=$!
  TB_BG_PIDS+=("$pid")
  # One process answers every datagram at once and logs each answer sent
  # (udp_lost reads it). socat's fork-per-datagram server, used before, lost
  # answers on a loaded machine: its child had the query, and no answer
  # reached the router within 3 s; a fork and a shell per datagram is slow.
  ip netns exec "$ns" python3 "$SVC_PODS" udp-server "$name" 5353 >"$TB_TMP/udp-$name.log" 2>&1 &
  TB_BG_PIDS+=("$!")
  wait_line "$TB_TMP/udp-$name.log" '^READY' 10 "$!" || return 1
  wait_line "$TB_TMP/echo-$name.out" '^READY' 10 "$pid" || return 1
  eventually 10 ip netns exec "$ns" curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:8080/" || {
    tb_err "http.server of $name does not answer in $ns: $(tail -n 5 "$TB_TMP/http-$name.log")"
    return 1
  }
  eventually 10 udp_answers "$ns" 127.0.0.1 5353 "$name" || {
    tb_err "the UDP server of $name does not answer on UDP 5353 in $ns: $(tail -n 5 "$TB_TMP/udp-$name.log")"
    return 1
  }
}

# udp_answers NS IP PORT NAME: one query from NS gets NAME back.
udp_answers() {
  local out
  out=$(ip netns exec "$1" python3 "$SVC_PODS" udp-query "$2" "$3" 1)
  [[ "$out" == "0 $4" ]] || { echo "UDP $2:$3 from $1: '$out', want '0 $4'"; return 1; }
}

# within SECONDS CMD...: retry CMD until it succeeds or SECONDS have passed
# (by the clock: a slow failing CMD does not stretch it); the last try's
# output is shown.
within() {
  local deadline=$((SECONDS + $1)) out rc
  shift
  while :; do
    rc=0
    out=$("$@" 2>&1) || rc=$?
    ((rc == 0 || SECONDS >= deadline)) && break
    sleep 0.5
  done
  [[ -n "$out" ]] && printf '%s\n' "$out"
  return "$rc"
}

# --- checks --------------------------------------------------------------------
# http_spread NS COUNT all|only BACKEND...: COUNT curls from NS to
# http://HTTP_TARGET/ (default WEB_IP), each a new connection from a new source port. Every one
# must return 200 with the complete page of one of BACKENDS; with "all",
# every one of BACKENDS must answer at least once.
http_spread() {
  local ns=$1 n=$2 mode=$3 i rc code name bad=0 body=$TB_TMP/body.$BASHPID
  shift 3
  local -A seen=()
  for ((i = 0; i < n; i++)); do
    rc=0
    code=$(ip netns exec "$ns" curl -sS --connect-timeout 2 --max-time 4 -o "$body" -w '%{http_code}' \
      "http://${HTTP_TARGET:-$WEB_IP}/" 2>"$body.err") || rc=$?
    if ((rc != 0)); then
      echo "request $i: curl exit $rc: $(tr '\n' ' ' <"$body.err")"
      bad=$((bad + 1))
      # Not a flaky request but a broken path: do not wait out the rest.
      ((bad >= 3 && bad > i / 2)) && { echo "giving up after $bad failed requests of $((i + 1))"; n=$((i + 1)); break; }
      continue
    fi
    name=$(head -n 1 "$body" | sed -n 's/^backend //p')
    if [[ "$code" != 200 || -z "$name" || ! -f "$TB_TMP/www-$name/index.html" ]]; then
      echo "request $i: HTTP $code, first line '$(head -c 60 "$body" | head -n 1)'"
      bad=$((bad + 1))
      continue
    fi
    if ! cmp -s "$body" "$TB_TMP/www-$name/index.html"; then
      echo "request $i: $name's page incomplete or wrong: $(stat -c %s "$body") bytes, want $(stat -c %s "$TB_TMP/www-$name/index.html")"
      bad=$((bad + 1))
      continue
    fi
    seen[$name]=$((${seen[$name]:-0} + 1))
  done
  rm -f "$body" "$body.err"
  spread_verdict "$n requests from $ns to ${HTTP_TARGET:-$WEB_IP:80}" "$bad failed" "$mode" "$*" "$(declare -p seen)"
}

# spread_verdict WHAT BAD_TEXT MODE "BACKEND..." "$(declare -p seen)": print
# the answers per backend; fail on a failed request, an answer from outside
# BACKENDS, or (MODE all) a backend of BACKENDS that never answered.
spread_verdict() {
  local what=$1 bad=$2 mode=$3 want=" $4 " name summary="" ok=1
  eval "${5/declare -A seen/local -A seen}"
  for name in $(printf '%s\n' "${!seen[@]}" | sort); do summary+=" $name=${seen[$name]}"; done
  [[ "$bad" == 0\ * ]] && bad="" || bad="; $bad"
  echo "$what:${summary:- no answers}$bad"
  [[ -z "$bad" ]] || ok=0
  for name in "${!seen[@]}"; do
    [[ "$want" == *" $name "* ]] || { echo "backend $name answered but is not (or no longer) an endpoint"; ok=0; }
  done
  if [[ "$mode" == all ]]; then
    for name in $4; do
      [[ -n "${seen[$name]:-}" ]] || { echo "backend $name never answered"; ok=0; }
    done
  fi
  ((ok))
}

# udp_spread NS COUNT all|only BACKEND...: COUNT UDP queries from NS to
# WEB_IP:53, each from a new source port, answered as http_spread's pages.
udp_spread() {
  local ns=$1 n=$2 mode=$3 out i name bad=0
  shift 3
  local -A seen=()
  out=$(ip netns exec "$ns" python3 "$SVC_PODS" udp-query "$WEB_IP" 53 "$n") || { echo "udp-query failed: $out"; return 1; }
  while read -r i name; do
    if [[ -n "$name" && -f "$TB_TMP/www-$name/index.html" ]]; then
      seen[$name]=$((${seen[$name]:-0} + 1))
    else
      echo "query $i: $name"
      bad=$((bad + 1))
      udp_lost "$name"
    fi
  done <<<"$out"
  spread_verdict "$n UDP queries from $ns to $WEB_IP:53" "$bad not answered by a backend" "$mode" "$*" "$(declare -p seen)"
}

# udp_lost ERROR_TEXT: where a query without an answer went: the backends'
# answers to its source port, and the nodes' conntrack entries of it.
udp_lost() {
  local src port b n
  src=$(sed -n 's/.*(query from \([0-9.]*:[0-9]*\)).*/\1/p' <<<"$1")
  [[ -n "$src" ]] || return 0
  port=${src##*:}
  for b in web-a1 web-a2 web-b1 web-b2; do
    grep -h -- ":$port\b" "$TB_TMP/udp-$b.log" 2>/dev/null | sed "s/^/  $b: /" || true
  done
  for n in a b; do
    ctl_show "$n" show conntrack ":$port/" | grep -- "$port" | sed "s/^/  node-$n conntrack: /" || true
  done
}

# counter NODE NAME: one event counter of the node's workers (summed).
counter() {
  tb_ctl "$1" --json show counters | python3 -c '
import json, sys
j = json.load(sys.stdin)
j = j.get("result", j)
print(j["total"][sys.argv[1]])' "$2"
}

# service_rejects NODE SERVICE: the node's vxroute_service_rejects_total
# summed over SERVICE's frontends (its /metrics, 127.0.0.1:9464 in the node's
# namespace).
service_rejects() {
  local ns
  case "$1" in a) ns=$TB_NS_A ;; b) ns=$TB_NS_B ;; esac
  ip netns exec "$ns" curl -fsS --max-time 5 http://127.0.0.1:9464/metrics | python3 -c '
import re, sys
total, seen = 0, False
for line in sys.stdin:
    m = re.match(r"vxroute_service_rejects_total\{(.*)\} (\S+)$", line.strip())
    if m and ("service=\"%s\"" % sys.argv[1]) in m.group(1):
        total += float(m.group(2))
        seen = True
if not seen:
    sys.exit("no vxroute_service_rejects_total of " + sys.argv[1])
print(int(total))' "$2"
}

# refused_fast PROTO: the empty Service refuses at once. TCP: curl exits 7
# (could not connect) within 2 s and the connect is ECONNREFUSED; UDP: the
# connected socket gets ECONNREFUSED. Node A counts each in svc_rejected
# (show counters) and in the Service's vxroute_service_rejects_total.
refused_fast() {
  local proto=$1 before after mbefore mafter rc=0 t0 ms err
  before=$(counter a svc_rejected) || { echo "cannot read node-a's svc_rejected"; return 1; }
  mbefore=$(service_rejects a default/empty) || { echo "cannot read node-a's metrics: $mbefore"; return 1; }
  if [[ "$proto" == tcp ]]; then
    t0=$(date +%s%N)
    err=$(ip netns exec "$NS_CA" curl -sS --max-time 5 -o /dev/null "http://$EMPTY_IP/" 2>&1) || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "curl http://$EMPTY_IP/: exit $rc after $ms ms: $err"
    if ((rc != 7 || ms >= 2000)); then
      echo "want exit 7 (could not connect) within 2000 ms"
      return 1
    fi
  fi
  ip netns exec "$NS_CA" python3 "$SVC_PODS" refused "$proto" "$EMPTY_IP" "$([[ $proto == tcp ]] && echo 80 || echo 53)" || return 1
  after=$(counter a svc_rejected) || return 1
  mafter=$(service_rejects a default/empty) || { echo "$mafter"; return 1; }
  echo "node-a: svc_rejected $before -> $after, vxroute_service_rejects_total{service=\"default/empty\"} $mbefore -> $mafter"
  ((after > before && mafter > mbefore))
}

# ctl_show NODE ARGS...: a vxroutectl command for the diagnostics, its
# lines cut at 300 characters; only the first line of an error (a command
# this build does not have answers with its usage).
ctl_show() {
  local node=$1 out rc=0
  shift
  out=$(tb_ctl "$node" "$@" 2>&1) || rc=$?
  if ((rc != 0)); then
    echo "vxroutectl $* (exit $rc): $(head -n 1 <<<"$out")"
  else
    cut -c 1-300 <<<"$out" | head -n 40
  fi
}

# both_workers_translated: each of node A's workers translated packets of
# new or established flows to backends, and translated replies back.
both_workers_translated() {
  tb_ctl a --json show counters | python3 -c '
import json, sys
j = json.load(sys.stdin)
ws = j.get("result", j)["workers"]
if len(ws) != 2:
    sys.exit("node A reports %d workers, expected 2" % len(ws))
print("; ".join("worker %s: svc_translated %d, svc_untranslated %d, ct_hits %d"
                % (w["worker"], w["svc_translated"], w["svc_untranslated"], w["ct_hits"]) for w in ws))
if any(w["svc_translated"] == 0 or w["svc_untranslated"] == 0 for w in ws):
    sys.exit("a worker translated nothing in one direction")'
}

# ext_client_up: NS_EXT, a host on the underlay outside the cluster: a
# macvlan on node B's end of the underlay veth, so that its frames cross the
# veth to node A (what node B's own DPDK port sends does not reach it: node
# A is the node it talks to). NP_EXTERNAL_IP is routed to node A, as a
# network routes a Service's external IP to some node.
ext_client_up() {
  tb_ns_create "$NS_EXT" &&
    ip -n "$TB_NS_B" link add link "$TB_UPLINK_B" name vxr-ext0 type macvlan mode bridge &&
    ip -n "$TB_NS_B" link set vxr-ext0 netns "$NS_EXT" &&
    ip -n "$NS_EXT" addr add "$EXT_IP/24" dev vxr-ext0 &&
    ip -n "$NS_EXT" link set vxr-ext0 up &&
    ip -n "$NS_EXT" route add "$NP_EXTERNAL_IP/32" via "$TB_NODE_IP_A"
}

# http_sources NAME FROM_LINE: the client addresses NAME's http.server
# logged from line FROM_LINE on, each once.
http_sources() {
  tail -n "+$2" "$TB_TMP/http-$1.log" | sed -n 's/^\([0-9.]*\) - - .*"GET .*/\1/p' | sort -u | tr '\n' ' '
}
http_lines() { wc -l <"$TB_TMP/http-$1.log"; }

# np_cluster TARGET: 30 curls from the external client to TARGET reach both
# web-a1 (node A) and web-b1 (node B); neither backend sees the client's
# address (externalTrafficPolicy Cluster: node A translates the source to
# its own, so that replies come back through it).
np_cluster() {
  local a1 b1 src
  a1=$(http_lines web-a1) b1=$(http_lines web-b1)
  HTTP_TARGET=$1 http_spread "$NS_EXT" 30 all web-a1 web-b1 || return 1
  src="$(http_sources web-a1 $((a1 + 1)))$(http_sources web-b1 $((b1 + 1)))"
  echo "the backends saw clients: $src"
  [[ " $src " != *" $EXT_IP "* ]] || { echo "a backend saw the external client's own address $EXT_IP"; return 1; }
}

# np_local: externalTrafficPolicy Local: only node A's web-a1 answers, and
# it sees the client's own address.
np_local() {
  local a1 src
  a1=$(http_lines web-a1)
  HTTP_TARGET=$TB_NODE_IP_A:$NP_PORT http_spread "$NS_EXT" 20 all web-a1 || return 1
  src=$(http_sources web-a1 $((a1 + 1)))
  echo "web-a1 saw clients: $src"
  [[ "$src" == "$EXT_IP " ]] || { echo "want exactly $EXT_IP"; return 1; }
}

# host_port_ok: 10 curls from the external client to node A's address and
# HOST_PORT reach web-a1, which sees the client's own address; so does a
# pod of node A (client-a), from its pod address.
host_port_ok() {
  local a1 src
  a1=$(http_lines web-a1)
  HTTP_TARGET=$TB_NODE_IP_A:$HOST_PORT http_spread "$NS_EXT" 10 all web-a1 || return 1
  HTTP_TARGET=$TB_NODE_IP_A:$HOST_PORT http_spread "$NS_CA" 5 all web-a1 || return 1
  src=$(http_sources web-a1 $((a1 + 1)))
  echo "web-a1 saw clients: $src"
  [[ "$src" == "$CLIENT_A_IP $EXT_IP " ]] || { echo "want $CLIENT_A_IP and $EXT_IP"; return 1; }
}

# np_from_node: 20 curls from node A's host network to its own address and
# web-np's node port reach both nodes' backends.
np_from_node() { HTTP_TARGET=$TB_NODE_IP_A:$NP_PORT http_spread "$TB_NS_A" 20 all web-a1 web-b1; }

# affinity_one NS: 20 curls and 20 UDP queries from NS to AFF_IP, each a new
# connection from a new source port: every answer, for each port, comes from
# one and the same backend (sessionAffinity ClientIP; without it they spread,
# as cases 1-3 show for Service web).
affinity_one() {
  local ns=$1 i names="" name out body=$TB_TMP/aff.$BASHPID
  for ((i = 0; i < 20; i++)); do
    ip netns exec "$ns" curl -sS --connect-timeout 2 --max-time 4 -o "$body" "http://$AFF_IP/" 2>&1 || { echo "request $i failed"; return 1; }
    name=$(head -n 1 "$body" | sed -n 's/^backend //p')
    [[ -n "$name" ]] || { echo "request $i: not a backend's page"; return 1; }
    names+="$name"$'\n'
  done
  rm -f "$body"
  echo "20 curls from $ns to $AFF_IP:80:" $(sort <<<"${names%$'\n'}" | uniq -c)
  (($(sort -u <<<"${names%$'\n'}" | wc -l) == 1)) || { echo "answered by more than one backend"; return 1; }
  out=$(ip netns exec "$ns" python3 "$SVC_PODS" udp-query "$AFF_IP" 53 20) || { echo "udp-query failed: $out"; return 1; }
  echo "20 UDP queries from $ns to $AFF_IP:53:" $(awk '{print $2}' <<<"$out" | sort | uniq -c)
  if grep -q ERROR <<<"$out"; then echo "$out" | grep ERROR; return 1; fi
  (($(awk '{print $2}' <<<"$out" | sort -u | wc -l) == 1)) || { echo "answered by more than one backend"; return 1; }
}

# link_mtu NS IFACE
link_mtu() { ip -n "$1" -o link show dev "$2" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }

# pmtu_tcp LINES SIZE MTU: node A's host network sends LINES lines of SIZE
# bytes to PMTU_TCP_IP:8081 (web-b2 on node B); every line comes back from
# web-b2 and the host's socket has path MTU MTU for the cluster IP.
pmtu_tcp() {
  local out
  out=$(ip netns exec "$TB_NS_A" timeout 30 python3 "$SVC_PODS" pmtu-tcp "$PMTU_TCP_IP" 8081 "$1" "$2") || { echo "$out"; return 1; }
  echo "$out"
  [[ "$out" == "BACKEND web-b2 MTU $3" ]] || { echo "want BACKEND web-b2 MTU $3"; return 1; }
}

# --- diagnostics ---------------------------------------------------------------
# What both nodes say about Services, printed under a failed case. The
# Services commands are printed when this build has them.
DIAG_PRINTED=0
svc_diag() {
  ((DIAG_PRINTED < 3)) || { echo "# (diagnostics printed for the first 3 failures only)"; return 0; }
  DIAG_PRINTED=$((DIAG_PRINTED + 1))
  local n
  for n in a b; do
    {
      echo "node-$n: counters (Services, conntrack and non-zero drops):"
      tb_ctl "$n" --json show counters 2>&1 | python3 -c '
import json, sys
try:
    j = json.load(sys.stdin)
except ValueError as e:
    sys.exit("  not JSON: %s" % e)
t = j.get("result", j).get("total", {})
print("  " + " ".join("%s=%s" % (k, v) for k, v in t.items() if k.startswith(("svc_", "ct_")) or k in ("encapsulated", "decapsulated", "icmp_sent", "dropped")))
print("  drops: " + (" ".join("%s=%s" % (k, v) for k, v in t.get("drops", {}).items() if v) or "none"))' 2>&1 || true
      echo "node-$n: vxroutectl show frontends"
      ctl_show "$n" show frontends
      echo "node-$n: vxroutectl show endpoints (the watch cache)"
      ctl_show "$n" show endpoints
      echo "node-$n: vxroutectl show conntrack"
      ctl_show "$n" show conntrack
    } | sed "s/^/# /"
  done
  {
    echo "node-a: vxroutectl service lookup tcp $WEB_IP 80 $CLIENT_A_IP 40000"
    ctl_show a service lookup tcp "$WEB_IP" 80 "$CLIENT_A_IP" 40000
    echo "node-b: vxroutectl service lookup udp $WEB_IP 53 $CLIENT_B_IP 40000"
    ctl_show b service lookup udp "$WEB_IP" 53 "$CLIENT_B_IP" 40000
  } | sed "s/^/# /"
}

# svc_check NAME CMD...: tb_check, with the nodes' view of Services on failure.
svc_check() {
  tb_check "$@" && return 0
  svc_diag
  return 1
}

# web_check NAME CMD...: svc_check for a case that needs Service web; once
# web was found not programmed at all, each such case fails at once.
WEB_DOWN=0
web_check() {
  if ((WEB_DOWN)); then
    tb_not_ok "$1" "not run: Service web never answered (see above)"
    return 1
  fi
  svc_check "$@"
}

# here_check NAME CMD...: as svc_check, but CMD runs in this shell, not in
# tb_check's subshell (for commands that start or wait for our children).
here_check() {
  local name=$1 rc=0
  shift
  "$@" >"$TB_TMP/here.out" 2>&1 || rc=$?
  sed '/^$/d; s/^/#   /' "$TB_TMP/here.out"
  if ((rc == 0)); then
    tb_ok "$name"
    return 0
  fi
  tb_not_ok "$name" "exit status $rc"
  svc_diag
  return 1
}

# --- the long-lived connection ---------------------------------------------------
HOLD_PID=""
HOLD_BACKEND=""
hold_start() {
  rm -f "$TB_TMP/hold.stop"
  ip netns exec "$NS_CA" python3 "$SVC_PODS" hold "$WEB_IP" 8081 "$TB_TMP/hold.stop" \
    >"$TB_TMP/hold.out" 2>"$TB_TMP/hold.err" &
  HOLD_PID=$!
  TB_BG_PIDS+=("$HOLD_PID")
  wait_line "$TB_TMP/hold.out" '^CONNECTED ' 10 "$HOLD_PID" || return 1
  HOLD_BACKEND=$(sed -n 's/^CONNECTED //p' "$TB_TMP/hold.out")
  echo "client-a holds a connection to $WEB_IP:8081, echoed by $HOLD_BACKEND"
}

# hold_finish AFTER: once the client has had AFTER more echoes than it had
# when called (the backend set changed just before; up to 10 s), stop it; it
# must have exited cleanly, every echo in order from the backend it started on.
hold_finish() {
  local after=$1 rc=0 lines at min
  at=$(grep -c '^ECHO ' "$TB_TMP/hold.out" || true)
  min=$((at + after))
  for ((i = 0; i < 100; i++)); do
    (($(grep -c '^ECHO ' "$TB_TMP/hold.out" || true) >= min)) && break
    kill -0 "$HOLD_PID" 2>/dev/null || break
    sleep 0.1
  done
  touch "$TB_TMP/hold.stop"
  wait "$HOLD_PID" || rc=$?
  if ((rc != 0)); then
    echo "the connection broke (client exit $rc): $(tr '\n' ' ' <"$TB_TMP/hold.err")"
    return 1
  fi
  lines=$(sed -n 's/^DONE \([0-9]*\) .*/\1/p' "$TB_TMP/hold.out")
  echo "the connection carried ${lines:-0} lines ($at before the last backend change), every one echoed in order by $HOLD_BACKEND"
  ((${lines:-0} >= min)) || { echo "want at least $min lines ($after after the change)"; return 1; }
}

# --- setup -------------------------------------------------------------------------
WATCH='["services", "endpointslices"]'

# Each node takes 309 pages of 2 MiB with the default 1M-flow conntrack.
# Node A, where the clients' flows are translated, runs two workers (main
# lcore and worker 1 on CPU 0, worker 2 on CPU 1, as workers.sh): the first
# packet of a flow and its replies may meet different workers, which share
# one conntrack table.
setup() {
  tb_require_root && tb_require_tools ip ethtool python3 ping curl openssl cmp &&
    tb_require_binaries && tb_require_hugepages 620 && tb_up "$TAG" || return 1
  define_pods
  local ns
  for ns in "$NS_B2" "$NS_CA" "$NS_CB"; do tb_ns_create "$ns" || return 1; done
  ext_client_up || return 1
  start_fixture || return 1
  local extra
  extra=$(
    cat <<EOF
{"a": {"services": {"enabled": true}, "metrics_listen": "127.0.0.1:9464",
       "workers": 2, "uplink": "net_af_packet0,iface=$TB_UPLINK_A,qpairs=2",
       "eal_args": ["--lcores", "0@0,1@0,2@1", "--file-prefix=$TB_PREFIX_A"],
       "pods": [{"name": "client-a", "ip": "$CLIENT_A_IP", "netns": "$NS_CA"}]},
 "b": {"services": {"enabled": true},
       "pods": [{"name": "web-b2", "ip": "$WEB_B2_IP", "netns": "$NS_B2"},
                {"name": "client-b", "ip": "$CLIENT_B_IP", "netns": "$NS_CB"}]}}
EOF
  )
  k8s_write_configs "$TB_TMP" "$WATCH" "$extra" && tb_start_routers "$TB_TMP" || return 1
  k8s_add_nodes || return 1
  local b
  for b in web-a1 web-a2 web-b1 web-b2; do start_backend "$b" || return 1; done
}

# backends_direct NS: every backend answers NS on its pod IP (the overlay
# without Services: a failure here is not about Services).
backends_direct() {
  local b out
  for b in web-a1 web-a2 web-b1 web-b2; do
    out=$(ip netns exec "$1" curl -sS --max-time 3 "http://${POD_IP[$b]}:8080/" 2>&1 | head -n 1) || true
    [[ "$out" == "backend $b" ]] || { echo "$b at ${POD_IP[$b]}:8080 from $1: '$out'"; return 1; }
  done
  echo "all four backends answer on their pod IPs"
}

main() {
  tb_trap
  if ! setup; then
    tb_not_ok "testbed, fixture API server, routers with Services enabled, backends up" "see errors above"
    exit 1
  fi
  tb_ok "testbed, fixture API server, routers with Services enabled, backends up"

  tb_check "Node objects added: client-a reaches node-b's pods within 10 s" \
    eventually 10 tb_ping "$NS_CA" "$TB_POD_B_IP" 1 || true
  tb_check "pods reach every backend on its pod IP from client-a" backends_direct "$NS_CA" || true
  tb_check "pods reach every backend on its pod IP from client-b" backends_direct "$NS_CB" || true

  fx_object services "$WEB_SERVICE"
  fx_object endpointslices "$(slice_json "$SLICE1" web-a1 web-b1)"
  fx_object endpointslices "$(slice_json "$SLICE2" web-a2)"
  fx_object services "$EMPTY_SERVICE"
  fx_object endpointslices "$EMPTY_SLICE"

  local all=(web-a1 web-a2 web-b1)
  svc_check "Service web programmed: client-a gets a page from $WEB_IP:80 within 15 s" \
    within 15 http_spread "$NS_CA" 1 only "${all[@]}" || WEB_DOWN=1
  web_check "client-b gets a page from $WEB_IP:80 within 15 s" \
    within 15 http_spread "$NS_CB" 1 only "${all[@]}" || true

  # 1, 2: ClusterIP over TCP, from both nodes, to backends on both nodes.
  web_check "1: 60 curls from client-a (node-a) to $WEB_IP:80 all get complete pages, from all 3 backends on both nodes" \
    http_spread "$NS_CA" 60 all "${all[@]}" || true
  web_check "2: 60 curls from client-b (node-b) to $WEB_IP:80 all get complete pages, from all 3 backends on both nodes" \
    http_spread "$NS_CB" 60 all "${all[@]}" || true
  # 8: the node itself (host processes, hostNetwork pods): its kernel routes
  # the cluster IP range to vxrouted through the host port.
  web_check "8: 30 curls from node-a's host network to $WEB_IP:80 all get complete pages, from all 3 backends" \
    http_spread "$TB_NS_A" 30 all "${all[@]}" || true

  # 3: UDP, each query a new flow.
  web_check "3: 30 UDP queries from client-a to $WEB_IP:53 all answered, by all 3 backends" \
    udp_spread "$NS_CA" 30 all "${all[@]}" || true
  web_check "3: 30 UDP queries from client-b to $WEB_IP:53 all answered, by all 3 backends" \
    udp_spread "$NS_CB" 30 all "${all[@]}" || true

  # 7: hairpin. web-a1 reaching its own Service: every answer arrives, its
  # own included (to itself the source is translated, so the reply comes
  # back through vxrouted).
  web_check "7: hairpin: 30 curls from backend web-a1 to $WEB_IP:80 all answered, by web-a1 itself too" \
    http_spread "$TB_NS_POD_A" 30 all "${all[@]}" || true

  # 5: no endpoints -> reject at once, counted.
  svc_check "5: Service without endpoints: TCP to $EMPTY_IP:80 refused within 2 s (curl exit 7), counted (svc_rejected, the Service's rejects metric)" \
    refused_fast tcp || true
  svc_check "5: Service without endpoints: UDP to $EMPTY_IP:53 gets port unreachable, counted (svc_rejected, the Service's rejects metric)" \
    refused_fast udp || true

  # 4: a long-lived connection while another backend comes and goes.
  if ((WEB_DOWN)); then
    tb_not_ok "4: a long-lived TCP connection from client-a to $WEB_IP:8081 is up" "not run: Service web never answered (see above)"
  elif here_check "4: a long-lived TCP connection from client-a to $WEB_IP:8081 is up" hold_start; then
    fx_object endpointslices "$(slice_json "$SLICE2" web-a2 web-b2)"
    web_check "4: web-b2 added to $SLICE2: new connections reach it within 10 s (and the other 3)" \
      within 10 http_spread "$NS_CA" 24 all "${all[@]}" web-b2 || true
    fx_object endpointslices "$(slice_json "$SLICE2" web-a2)"
    web_check "4: web-b2 removed again: new connections no longer reach it within 10 s" \
      within 10 http_spread "$NS_CA" 15 only "${all[@]}" || true
    here_check "4: the long-lived connection kept working throughout, on its first backend" hold_finish 10 || true
  fi

  # 6: an endpoint removed from its slice gets no new connections.
  fx_object endpointslices "$(slice_json "$SLICE2")"
  local t0=$SECONDS
  web_check "6: web-a2 removed from $SLICE2: within 5 s new connections go to web-a1 and web-b1 only" \
    within 5 http_spread "$NS_CA" 12 only web-a1 web-b1 || true
  echo "# took about $((SECONDS - t0)) s"
  web_check "6: and 30 more curls from client-b: none reaches web-a2" \
    http_spread "$NS_CB" 30 all web-a1 web-b1 || true

  # 10-12: from outside the cluster: NodePort with externalTrafficPolicy
  # Cluster and Local, and an external IP. Service web-np: web-a1 on node A,
  # web-b1 on node B.
  local np_ports='[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":'$NP_PORT'}]'
  fx_object services "$(k8s_service_json web-np 10.96.0.30 "$np_ports" \
    '{"type":"NodePort","externalIPs":["'$NP_EXTERNAL_IP'"]}')"
  fx_object endpointslices "$(k8s_slice_json web-np web-np-5kq2d '[{"name":"http","protocol":"TCP","port":8080}]' \
    "${POD_IP[web-a1]}/node-a/web-a1" "${POD_IP[web-b1]}/node-b/web-b1")"
  svc_check "10: NodePort $TB_NODE_IP_A:$NP_PORT from a client on the underlay (externalTrafficPolicy Cluster): both nodes' backends answer, without the client's address" \
    within 15 np_cluster "$TB_NODE_IP_A:$NP_PORT" || true
  svc_check "11: external IP $NP_EXTERNAL_IP:80 from the client on the underlay: both nodes' backends answer" \
    within 15 np_cluster "$NP_EXTERNAL_IP" || true
  fx_object services "$(k8s_service_json web-np 10.96.0.30 "$np_ports" \
    '{"type":"NodePort","externalIPs":["'$NP_EXTERNAL_IP'"],"externalTrafficPolicy":"Local"}')"
  svc_check "12: externalTrafficPolicy Local: node A's own backend only, and it sees the client's address $EXT_IP" \
    within 15 np_local || true

  # 13: a Pod's hostPort (the Pod spec, as the portmap plugin maps it).
  fx_object pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-a1","namespace":"default","uid":"0b7c5f0e-2222-4c1e-9c55-000000000001","labels":{"app":"web"}},"spec":{"nodeName":"node-a","containers":[{"name":"web","image":"python","ports":[{"name":"http","containerPort":8080,"hostPort":'$HOST_PORT',"protocol":"TCP"}]}]},"status":{"phase":"Running","podIP":"'"${POD_IP[web-a1]}"'","podIPs":[{"ip":"'"${POD_IP[web-a1]}"'"}]}}'
  svc_check "13: hostPort $TB_NODE_IP_A:$HOST_PORT -> web-a1:8080, from outside and from a pod of node A, client addresses kept" \
    within 15 host_port_ok || true

  # 16: the node itself reaching its own node port: vxrouted's nftables
  # table (ip vxroute, nat output) DNATs it to the ClusterIP, into the host
  # port. web-np is externalTrafficPolicy Local by now; from the node, as
  # kube-proxy, every endpoint answers.
  svc_check "16: from node A's host network, curl to $TB_NODE_IP_A:$NP_PORT reaches backends (cluster-wide, as kube-proxy)" \
    within 15 np_from_node || true

  # 14: sessionAffinity ClientIP: a client keeps its backend, per port.
  local web_ports='[{"name":"http","protocol":"TCP","port":80,"targetPort":8080},{"name":"dns","protocol":"UDP","port":53,"targetPort":5353}]'
  local web_slice_ports='[{"name":"http","protocol":"TCP","port":8080},{"name":"dns","protocol":"UDP","port":5353}]'
  fx_object services "$(k8s_service_json web-aff "$AFF_IP" "$web_ports" \
    '{"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10800}}}')"
  fx_object endpointslices "$(k8s_slice_json web-aff web-aff-8c2vd "$web_slice_ports" \
    "${POD_IP[web-a1]}/node-a/web-a1" "${POD_IP[web-a2]}/node-a/web-a2" "${POD_IP[web-b1]}/node-b/web-b1")"
  svc_check "14: sessionAffinity ClientIP: 20 curls and 20 UDP queries from client-a (node-a, 2 workers) to $AFF_IP each get one backend" \
    within 15 affinity_one "$NS_CA" || true
  svc_check "14: sessionAffinity ClientIP: the same from client-b (node-b)" \
    within 15 affinity_one "$NS_CB" || true

  # 15: path MTU discovery through a Service. web-b2's MTU goes up to the
  # uplink's; node A's host network (MTU of the host port: the uplink's)
  # sends full-size DF packets to its cluster IPs; node A's vxrouted answers
  # with fragmentation needed for the tunnel MTU, the quoted header
  # translated back to the cluster IP, so the host's kernel finds the socket
  # and the route.
  ip -n "$NS_B2" link set dev eth0 mtu "$(link_mtu "$TB_NS_B" "$TB_UPLINK_B")"  # the uplink's
  fx_object services "$(k8s_service_json big-tcp "$PMTU_TCP_IP" '[{"name":"echo","protocol":"TCP","port":8081,"targetPort":8081}]')"
  fx_object endpointslices "$(k8s_slice_json big-tcp big-tcp-4kx9q '[{"name":"echo","protocol":"TCP","port":8081}]' "$WEB_B2_IP/node-b/web-b2")"
  fx_object services "$(k8s_service_json big-udp "$PMTU_UDP_IP" '[{"name":"dns","protocol":"UDP","port":53,"targetPort":5353}]')"
  fx_object endpointslices "$(k8s_slice_json big-udp big-udp-7rm2c '[{"name":"dns","protocol":"UDP","port":5353}]' "$WEB_B2_IP/node-b/web-b2")"
  svc_check "15: Service big-udp programmed: node A's host network gets web-b2's answer from $PMTU_UDP_IP:53 within 15 s" \
    within 15 udp_answers "$TB_NS_A" "$PMTU_UDP_IP" 53 web-b2 || true
  local uplink_mtu pod_mtu
  uplink_mtu=$(link_mtu "$TB_NS_B" "$TB_UPLINK_B") pod_mtu=$(link_mtu "$NS_CA" eth0)
  svc_check "15: Service big-tcp programmed: a line echoed from node A's host network via $PMTU_TCP_IP:8081 by web-b2 within 15 s" \
    within 15 pmtu_tcp 1 10 "$uplink_mtu" || true
  # Both ends offer an MSS for the uplink's MTU, which the tunnel cannot
  # carry: the transfer completes only if the host learns the path MTU.
  svc_check "15: PMTUD through a Service, TCP: 800 KB echoed from node A's host network via $PMTU_TCP_IP:8081 by web-b2, the host's path MTU for it now $pod_mtu" \
    pmtu_tcp 200 4000 "$pod_mtu" || true
  svc_check "15: PMTUD through a Service, UDP: a full-size DF datagram to $PMTU_UDP_IP:53 teaches node A's kernel the tunnel MTU for the cluster IP" \
    ip netns exec "$TB_NS_A" python3 "$SVC_PODS" pmtu-udp "$PMTU_UDP_IP" 53 "$pod_mtu" || true

  tb_check "9: node-a's two workers both translated flows and replies (one shared conntrack table)" \
    both_workers_translated || true

  if tb_stop_routers; then
    tb_ok "routers exit 0 on SIGTERM"
  else
    tb_not_ok "routers exit 0 on SIGTERM" "see errors above; logs in $TB_TMP"
  fi

  if ((TB_FAILED)); then
    echo "# router logs:"
    local n
    for n in a b; do [[ -f "$TB_TMP/node-$n.log" ]] && tail -n 25 "$TB_TMP/node-$n.log" | sed "s/^/# node-$n: /"; done
  fi
  tb_summary || exit 1
}

main "$@"
