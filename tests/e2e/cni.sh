#!/usr/bin/env bash
# End to end: the vxroute-cni plugin invoked exactly as a container runtime
# does (env -i + CNI_* variables, network configuration on stdin, network
# namespaces as pod sandboxes) against real vxrouted on the two-node testbed.
# Checks: VERSION; ADD/CHECK/DEL of kernel and vhost-user pods and their
# result per cniVersion; ping between CNI pods on two nodes; idempotent DEL;
# DEL after a failed ADD; 50 pods added and deleted concurrently leaving
# pods, ports, interfaces, sockets and addresses as they were; IPAM across a
# vxrouted restart; portMappings (refused with Services off, then a
# hostPort answered from a pod, across a restart, gone after DEL); CIDR
# exhaustion; malformed configs/environments and a down vxrouted answered
# with the CNI error codes. Prints the median time per ADD and DEL over 100
# rounds as "#" lines.
# usage: tests/e2e/cni.sh     (root, hugepages; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"

TAG=cni
CNI_BIN=${TB_VXROUTE_CNI:-$TB_BUILD_DIR/src/app/vxroute-cni}
CONCURRENT=${VXR_CNI_CONCURRENT:-50}   # split over both nodes (RTE_MAX_ETHPORTS is 32 per node)
ROUNDS=${VXR_CNI_ROUNDS:-100}
SHARED=""                              # sharedDir of the configs
TESTPMD_PID=""
PM_HTTP_PID=""                         # the portMappings pod's HTTP server
RESTARTS=0

# --- helpers -------------------------------------------------------------------
cid() { printf '%s' "$TAG-$1" | sha256sum | cut -c1-64; }   # a runtime's 64-hex container ID
nspath() { echo "/var/run/netns/$1"; }

# conf FILE SOCKET VERSION [EXTRA_JSON_MEMBERS]: write a network configuration.
conf() {
  printf '{"cniVersion":"%s","name":"vxroute","type":"vxroute-cni","socket":"%s","sharedDir":"%s"%s}\n' \
    "$3" "$2" "$SHARED" "${4:+,$4}" >"$1"
}

# cni CONF CMD CONTAINER NETNS_PATH IFNAME [CNI_ARGS]: run the plugin as a
# runtime does; stdout is the plugin's, exit status the plugin's.
cni() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND="$2" CNI_CONTAINERID="$3" CNI_NETNS="$4" \
    CNI_IFNAME="$5" CNI_PATH=/opt/cni/bin CNI_ARGS="${6:-}" "$CNI_BIN" <"$1"
}

# pod_ns NAME: create a pod sandbox namespace (unique to this test's tag),
# named in $NS (not echoed: tb_down must learn about it in this shell).
NS=""
pod_ns() {
  NS="vxr-cni-$1-$TAG"
  tb_ns_create "$NS" || return 1
}

# expect_error NAME CODE CMD...: CMD exits non-zero and prints a CNI error
# with CODE (and a msg).
expect_error() {
  local name=$1 code=$2 out rc=0
  shift 2
  out=$("$@" 2>&1) || rc=$?
  if ((rc == 0)); then tb_not_ok "$name" "exit status 0, output: ${out:0:200}"; return; fi
  local got
  got=$(jq -er '"\(.code)|\(.msg)|\(.cniVersion)"' <<<"$out" 2>/dev/null) || {
    tb_not_ok "$name" "not a CNI error JSON: ${out:0:300}"
    return
  }
  if [[ "${got%%|*}" == "$code" && -n "$(cut -d'|' -f2 <<<"$got")" ]]; then
    tb_ok "$name (code $code: $(cut -d'|' -f2 <<<"$got" | cut -c1-90))"
  else
    tb_not_ok "$name" "want code $code, got: ${out:0:300}"
  fi
}

pods_json() { tb_ctl "$1" --json show pods; }
# fingerprint NODE: what must come back after add+del cycles: pods, ports
# (id, name, kind, devargs), our taps in the node namespace, state file.
fingerprint() {
  local node=$1 ns
  [[ $node == a ]] && ns=$TB_NS_A || ns=$TB_NS_B
  tb_ctl "$node" --json show pods | jq -c '[.. | objects | select(has("ip") and has("port")) | {name, ip, kind}] | sort_by(.name)'
  tb_ctl "$node" --json show ports | jq -c '[.. | objects | select(has("devargs")) | {id, name, kind, devargs}] | sort_by(.id)'
  ip -n "$ns" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' '
  echo
  sort "$TB_TMP/state/node-$node-pods.jsonl" 2>/dev/null || true
}

pod_ip() { jq -er '.ips[0].address' <<<"$1" | cut -d/ -f1; }

median_ms() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) {print "nan"; exit} m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1e6}'; }

restart_router() {  # restart_router a|b: SIGTERM, then start again; replaces its PID in TB_ROUTER_PIDS
  local node=$1 i pids=() names=() old=""
  for i in "${!TB_ROUTER_PIDS[@]}"; do
    if [[ ${TB_ROUTER_NAMES[$i]} == "$node" ]]; then old=${TB_ROUTER_PIDS[$i]}; else pids+=("${TB_ROUTER_PIDS[$i]}"); names+=("${TB_ROUTER_NAMES[$i]}"); fi
  done
  if [[ -n "$old" ]] && ! tb_stop_pid "$old" 30; then
    tb_err "vxrouted node-$node (PID $old) did not stop on SIGTERM"
    return 1
  fi
  TB_ROUTER_PIDS=("${pids[@]}")
  TB_ROUTER_NAMES=("${names[@]}")
  RESTARTS=$((RESTARTS + 1))
  tb_start_node "$node" "$TB_TMP/node-$node.json" "$TB_TMP/node-$node-restart$RESTARTS.log" 30
}

stop_testpmd() {
  if [[ -n "$TESTPMD_PID" ]]; then
    kill -TERM "$TESTPMD_PID" 2>/dev/null || true
    wait "$TESTPMD_PID" 2>/dev/null || true
    TESTPMD_PID=""
  fi
  exec 7>&-
  rm -rf "/var/run/dpdk/vxr-cni-tp-$TAG"
  rm -f /dev/hugepages/vxr-cni-tp-"$TAG"map_* 2>/dev/null || true
}

cleanup() {
  stop_testpmd
  [[ -n "$PM_HTTP_PID" ]] && { kill "$PM_HTTP_PID" 2>/dev/null || true; wait "$PM_HTTP_PID" 2>/dev/null || true; PM_HTTP_PID=""; }
  tb_down
}

setup() {
  tb_require_root && tb_require_tools ip ethtool python3 ping jq sha256sum &&
    tb_require_binaries && tb_require_hugepages 256 || return 1
  [[ -x "$CNI_BIN" ]] || { tb_err "missing binary $CNI_BIN (run scripts/build.sh)"; return 1; }
  tb_up "$TAG" && tb_write_configs "$TB_TMP" || return 1
  SHARED=$TB_TMP/shared
  local n
  for n in a b; do
    tb_config_set "$TB_TMP/node-$n.json" pods='[]' state_dir="\"$TB_TMP/state\"" socket_dir="\"$TB_TMP/sockets\"" || return 1
  done
  tb_start_routers "$TB_TMP"
}

# --- main ------------------------------------------------------------------------
main() {
  tb_trap
  trap 'cleanup' EXIT
  trap 'cleanup; trap - EXIT; exit 130' INT
  trap 'cleanup; trap - EXIT; exit 143' TERM
  if ! setup; then
    tb_not_ok "testbed and routers up" "see errors above"
    exit 1
  fi
  tb_ok "testbed and routers up"

  local CA=$TB_TMP/a-1.0.0.conf CA4=$TB_TMP/a-0.4.0.conf CA3=$TB_TMP/a-0.3.1.conf CB3=$TB_TMP/b-0.3.1.conf CB=$TB_TMP/b-1.0.0.conf
  conf "$CA" "$TB_SOCK_A" 1.0.0
  conf "$CA4" "$TB_SOCK_A" 0.4.0
  conf "$CA3" "$TB_SOCK_A" 0.3.1
  conf "$CB" "$TB_SOCK_B" 1.0.0
  conf "$CB3" "$TB_SOCK_B" 0.3.1
  local out rc

  # VERSION
  out=$(echo '{"cniVersion":"0.4.0"}' | env -i CNI_COMMAND=VERSION "$CNI_BIN") &&
    jq -e '.cniVersion == "0.4.0" and (.supportedVersions | index("1.0.0") and index("0.3.1") and index("0.4.0"))' <<<"$out" >/dev/null &&
    tb_ok "VERSION lists 0.3.1, 0.4.0, 1.0.0" || tb_not_ok "VERSION lists 0.3.1, 0.4.0, 1.0.0" "$out"

  # --- kernel pods on both nodes, ping across --------------------------------------
  local nsk1 nsk2 k1 k2 ipk1 ipk2
  pod_ns k1 && nsk1=$NS && pod_ns k2 && nsk2=$NS
  k1=$(cid k1) k2=$(cid k2)
  if out=$(cni "$CA" ADD "$k1" "$(nspath "$nsk1")" eth0) &&
    jq -e --arg ns "$(nspath "$nsk1")" '.cniVersion == "1.0.0" and .ips[0].address == "10.244.1.2/24" and
        .ips[0].gateway == "10.244.1.1" and .ips[0].interface == 0 and (.ips[0] | has("version") | not) and
        .interfaces[0].name == "eth0" and .interfaces[0].sandbox == $ns and (.interfaces[0].mac | test("^[0-9a-f:]{17}$")) and
        .routes[0].dst == "0.0.0.0/0" and .routes[0].gw == "10.244.1.1"' <<<"$out" >/dev/null; then
    tb_ok "ADD kernel pod on node A (1.0.0 result: 10.244.1.2/24 gw .1, sandbox, default route)"
  else
    tb_not_ok "ADD kernel pod on node A (1.0.0 result)" "${out:0:400}"
  fi
  ipk1=$(pod_ip "$out" 2>/dev/null || echo none)
  local rmac
  rmac=$(jq -r '.interfaces[0].mac' <<<"$out" 2>/dev/null || true)
  if [[ -n "$rmac" && "$(ip -n "$nsk1" -o link show dev eth0 2>&1)" == *"link/ether $rmac "* ]]; then
    tb_ok "ADD result's MAC is the pod interface's ($rmac)"
  else
    tb_not_ok "ADD result's MAC is the pod interface's" "result $rmac, eth0: $(ip -n "$nsk1" -o link show dev eth0 2>&1 | head -c 200)"
  fi
  if ip -n "$nsk1" -o -4 addr show dev eth0 | grep -q "inet $ipk1/24" &&
    ip -n "$nsk1" route show default | grep -q "via 10.244.1.1 dev eth0"; then
    tb_ok "kernel pod's eth0 in its netns has the address and default route"
  else
    tb_not_ok "kernel pod's eth0 in its netns has the address and default route" "$(ip -n "$nsk1" -o addr 2>&1 | head -5)"
  fi
  if out=$(cni "$CB3" ADD "$k2" "$(nspath "$nsk2")" eth0) &&
    jq -e '.cniVersion == "0.3.1" and .ips[0].version == "4" and .ips[0].address == "10.244.2.2/24"' <<<"$out" >/dev/null; then
    tb_ok "ADD kernel pod on node B (0.3.1 result with ips[].version)"
  else
    tb_not_ok "ADD kernel pod on node B (0.3.1 result)" "${out:0:400}"
  fi
  ipk2=$(pod_ip "$out" 2>/dev/null || echo none)
  tb_check "ping CNI pod A -> CNI pod B (cross node)" tb_ping "$nsk1" "$ipk2" 3 || true
  tb_check "ping CNI pod B -> CNI pod A (cross node)" tb_ping "$nsk2" "$ipk1" 3 || true

  # --- CHECK --------------------------------------------------------------------------
  if out=$(cni "$CA" CHECK "$k1" "$(nspath "$nsk1")" eth0) && [[ -z "$out" ]]; then
    tb_ok "CHECK kernel pod: exit 0, no output"
  else
    tb_not_ok "CHECK kernel pod" "${out:0:300}"
  fi
  local prev=$TB_TMP/a-prev.conf
  conf "$prev" "$TB_SOCK_A" 1.0.0 '"prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.244.1.77/24"}]}'
  expect_error "CHECK with a prevResult IP the pod does not have -> 102" 102 cni "$prev" CHECK "$k1" "$(nspath "$nsk1")" eth0
  expect_error "CHECK of an unknown container -> 3" 3 cni "$CA" CHECK "$(cid nobody)" "$(nspath "$nsk1")" eth0
  expect_error "CHECK with cniVersion 0.3.1 -> 1" 1 cni "$CA3" CHECK "$k1" "$(nspath "$nsk1")" eth0
  ip -n "$nsk1" link set eth0 down
  expect_error "CHECK kernel pod whose eth0 is down -> 102" 102 cni "$CA" CHECK "$k1" "$(nspath "$nsk1")" eth0
  ip -n "$nsk1" link set eth0 up

  # --- vhost-user pod --------------------------------------------------------------------
  local nsv1 v1 sock v1dir
  pod_ns v1 && nsv1=$NS
  v1=$(cid v1)
  v1dir=$SHARED/${v1:0:12}
  sock=$v1dir/${v1:0:12}-net1.sock
  if out=$(cni "$CA4" ADD "$v1" "$(nspath "$nsv1")" net1 "K8S_POD_NAME=v1;VXROUTE_KIND=vhost") &&
    jq -e --arg s "$sock" '.cniVersion == "0.4.0" and .interfaces[0].socketPath == $s and .interfaces[0].name == "net1" and
        .ips[0].address == "10.244.1.3/24" and .ips[0].version == "4"' <<<"$out" >/dev/null; then
    tb_ok "ADD vhost pod (CNI_ARGS VXROUTE_KIND=vhost): socketPath $SHARED/<id:12>/<id:12>-net1.sock, next free IP"
  else
    tb_not_ok "ADD vhost pod (CNI_ARGS VXROUTE_KIND=vhost)" "${out:0:400}"
  fi
  local mac
  mac=$(jq -r '.interfaces[0].mac' <<<"$out" 2>/dev/null || true)
  if [[ "$(stat -c %a "$v1dir" 2>/dev/null)" == 777 ]] &&
    jq -e --arg m "$mac" --arg s "$sock" '.ip == "10.244.1.3" and .prefix_len == 24 and .gateway == "10.244.1.1" and
        .mac == $m and .socket_path == $s and .gateway_mac == "02:76:78:00:00:01" and .mtu == 1450' \
      "${sock%.sock}.json" >/dev/null 2>&1 &&
    [[ $mac =~ ^[0-9a-f]{2}: ]] && (( (16#${mac:0:2} & 3) == 2 )); then
    tb_ok "vhost pod: shared dir mode 777, pod JSON next to the socket, MAC $mac locally administered unicast"
  else
    tb_not_ok "vhost pod: shared dir and pod JSON" "dir mode $(stat -c %a "$v1dir" 2>&1), json: $(cat "${sock%.sock}.json" 2>&1 | head -c 300), mac $mac"
  fi
  if pods_json a | jq -e --arg s "$sock" '[.. | objects | select(.attach? == $s and .kind == "vhost-user")] | length == 1' >/dev/null; then
    tb_ok "vxrouted lists the vhost pod on its socket"
  else
    tb_not_ok "vxrouted lists the vhost pod on its socket" "$(pods_json a | head -c 400)"
  fi
  expect_error "CHECK vhost pod before its virtio-user server runs -> 102" 102 cni "$CA4" CHECK "$v1" "$(nspath "$nsv1")" net1 "VXROUTE_KIND=vhost"
  # The pod side: testpmd with a virtio-user server port on the socket.
  mkfifo "$TB_TMP/testpmd.in"
  dpdk-testpmd -l 0,1 --no-pci --file-prefix "vxr-cni-tp-$TAG" --single-file-segments -m 256 \
    --vdev "net_virtio_user0,path=$sock,server=1,mac=$mac,queues=1" -- --no-mlockall --forward-mode=rxonly \
    <"$TB_TMP/testpmd.in" >"$TB_TMP/testpmd.log" 2>&1 &
  TESTPMD_PID=$!
  exec 7>"$TB_TMP/testpmd.in"
  local t=0
  until out=$(cni "$CA4" CHECK "$v1" "$(nspath "$nsv1")" net1 "VXROUTE_KIND=vhost") || ((t >= 40)); do sleep 0.25; t=$((t + 1)); done
  if [[ $t -lt 40 && -z "$out" ]]; then
    tb_ok "CHECK vhost pod once its virtio-user server is up: exit 0"
  else
    tb_not_ok "CHECK vhost pod once its virtio-user server is up" "${out:0:300}; testpmd: $(tail -n 5 "$TB_TMP/testpmd.log" | tr '\n' ' ')"
  fi
  stop_testpmd
  rc=0
  out=$(cni "$CA4" DEL "$v1" "$(nspath "$nsv1")" net1 "VXROUTE_KIND=vhost") || rc=$?
  if ((rc == 0)) && [[ ! -e "$v1dir" ]] && ! pods_json a | grep -q "$sock"; then
    tb_ok "DEL vhost pod: pod, socket, JSON and shared dir gone"
  else
    tb_not_ok "DEL vhost pod" "exit $rc ${out:0:200}; left: $(ls -la --time-style=+%T.%N "$v1dir" 2>&1 | tail -n +4 | tr '\n' ' '); now $(date +%T.%N)"
  fi
  if out=$(cni "$CA4" DEL "$v1" "$(nspath "$nsv1")" net1 "VXROUTE_KIND=vhost") && [[ -z "$out" ]] &&
    out=$(cni "$CA4" DEL "$v1" "" net1) && [[ -z "$out" ]]; then
    tb_ok "DEL again (and without CNI_NETNS) is ok"
  else
    tb_not_ok "DEL again is ok" "${out:0:300}"
  fi

  # --- failed ADD, then DEL ----------------------------------------------------------------
  local before after f1
  before=$(fingerprint a)
  f1=$(cid failed1)
  expect_error "ADD into a missing netns fails with a CNI error" 100 cni "$CA" ADD "$f1" /var/run/netns/vxr-cni-missing-$TAG eth0
  local badconf=$TB_TMP/a-badshared.conf
  touch "$TB_TMP/not-a-dir"
  printf '{"cniVersion":"1.0.0","name":"vxroute","type":"vxroute-cni","socket":"%s","sharedDir":"%s"}\n' \
    "$TB_SOCK_A" "$TB_TMP/not-a-dir" >"$badconf"
  expect_error "ADD vhost pod whose shared dir cannot be made -> 5" 5 cni "$badconf" ADD "$(cid failed2)" "$(nspath "$nsv1")" eth0 VXROUTE_KIND=vhost
  local longconf=$TB_TMP/a-long.conf
  printf '{"cniVersion":"1.0.0","name":"vxroute","type":"vxroute-cni","socket":"%s","sharedDir":"%s"}\n' \
    "$TB_SOCK_A" "$TB_TMP/$(printf 'x%.0s' {1..90})" >"$longconf"
  expect_error "ADD vhost pod whose socket path would exceed sun_path -> 7" 7 cni "$longconf" ADD "$(cid failed3)" "$(nspath "$nsv1")" eth0 VXROUTE_KIND=vhost
  if cni "$CA" DEL "$f1" /var/run/netns/vxr-cni-missing-$TAG eth0 >/dev/null &&
    cni "$badconf" DEL "$(cid failed2)" "$(nspath "$nsv1")" eth0 VXROUTE_KIND=vhost >/dev/null; then
    after=$(fingerprint a)
    if [[ "$before" == "$after" ]]; then tb_ok "DEL after failed ADD: ok, nothing leaked"
    else tb_not_ok "DEL after failed ADD: nothing leaked" "$(diff <(echo "$before") <(echo "$after") | head -5)"; fi
  else
    tb_not_ok "DEL after failed ADD: ok"
  fi

  # --- malformed input -------------------------------------------------------------------
  local j=$TB_TMP/m.conf
  echo '{"cniVersion":"1.0.0","name":"x","type":"vxroute-cni"' >"$j"
  expect_error "config not JSON -> 6" 6 cni "$j" ADD "$(cid m)" "$(nspath "$nsk1")" eth1
  echo '{"cniVersion":"1.0.0","type":"vxroute-cni"}' >"$j"
  expect_error "config without name -> 7" 7 cni "$j" ADD "$(cid m)" "$(nspath "$nsk1")" eth1
  echo '{"cniVersion":"1.0.0","name":"x","type":"bridge"}' >"$j"
  expect_error "config of another type -> 7" 7 cni "$j" ADD "$(cid m)" "$(nspath "$nsk1")" eth1
  echo '{"cniVersion":"1.0.0","name":"x","type":"vxroute-cni","kind":"sriov"}' >"$j"
  expect_error "config with an unknown kind -> 7" 7 cni "$j" ADD "$(cid m)" "$(nspath "$nsk1")" eth1
  echo '{"cniVersion":"0.2.0","name":"x","type":"vxroute-cni"}' >"$j"
  expect_error "cniVersion 0.2.0 -> 1" 1 cni "$j" ADD "$(cid m)" "$(nspath "$nsk1")" eth1
  expect_error "no CNI_COMMAND -> 4" 4 env -i CNI_CONTAINERID=x "$CNI_BIN" <"$CA"
  expect_error "CNI_COMMAND=FROB -> 4" 4 cni "$CA" FROB "$(cid m)" "$(nspath "$nsk1")" eth1
  expect_error "empty CNI_CONTAINERID -> 4" 4 cni "$CA" ADD "" "$(nspath "$nsk1")" eth1
  expect_error "CNI_IFNAME too long -> 4" 4 cni "$CA" ADD "$(cid m)" "$(nspath "$nsk1")" eth0123456789abcdef
  expect_error "ADD without CNI_NETNS -> 4" 4 cni "$CA" ADD "$(cid m)" "" eth1
  expect_error "CNI_ARGS VXROUTE_KIND=bogus -> 4" 4 cni "$CA" ADD "$(cid m)" "$(nspath "$nsk1")" eth1 "VXROUTE_KIND=bogus"
  expect_error "CNI_ARGS not KEY=VALUE -> 4" 4 cni "$CA" ADD "$(cid m)" "$(nspath "$nsk1")" eth1 "garbage"

  # --- vxrouted down -------------------------------------------------------------------
  local down=$TB_TMP/down.conf stale=$TB_TMP/stale.sock t0 ms
  conf "$down" "$TB_TMP/no-such-daemon.sock" 1.0.0
  t0=$(date +%s%N)
  expect_error "vxrouted down (no socket) -> 11" 11 cni "$down" ADD "$(cid d)" "$(nspath "$nsk1")" eth1
  ms=$((($(date +%s%N) - t0) / 1000000))
  ((ms < 1000)) && tb_ok "vxrouted down answered in ${ms} ms (< 1 s)" || tb_not_ok "vxrouted down answered quickly" "${ms} ms"
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$stale"
  conf "$down" "$stale" 1.0.0
  expect_error "vxrouted crashed (stale socket, nobody listening) -> 11" 11 cni "$down" DEL "$(cid d)" "$(nspath "$nsk1")" eth1

  # --- concurrency ---------------------------------------------------------------------
  local fa fb i node cfg kind ns pids=() fails=0
  fa=$(fingerprint a) fb=$(fingerprint b)
  local cdir=$TB_TMP/conc
  mkdir -p "$cdir"
  for ((i = 0; i < CONCURRENT; i++)); do pod_ns "c$i" || return 1; done
  for ((i = 0; i < CONCURRENT; i++)); do
    if ((i % 2)); then cfg=$CB; else cfg=$CA; fi
    if ((i % 4 < 2)); then kind=kernel; else kind=vhost; fi
    cni "$cfg" ADD "$(cid "c$i")" "$(nspath "vxr-cni-c$i-$TAG")" eth0 "VXROUTE_KIND=$kind" >"$cdir/add-$i.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || { fails=$((fails + 1)); echo "#   ADD c$i: $(head -c 200 "$cdir/add-$i.out")"; }; done
  local dup
  dup=$(for ((i = 0; i < CONCURRENT; i++)); do jq -r '.ips[0].address' "$cdir/add-$i.out" 2>/dev/null; done | sort | uniq -d | head -3)
  local na nb
  na=$(pods_json a | jq '[.. | objects | select(has("ip") and has("port"))] | length')
  nb=$(pods_json b | jq '[.. | objects | select(has("ip") and has("port"))] | length')
  if ((fails == 0)) && [[ -z "$dup" ]]; then
    tb_ok "$CONCURRENT concurrent ADDs (both nodes, kernel and vhost): all ok, no address twice ($na pods on A, $nb on B)"
  else
    tb_not_ok "$CONCURRENT concurrent ADDs" "$fails failed, duplicate addresses: ${dup:-none}"
  fi
  pids=() fails=0
  for ((i = 0; i < CONCURRENT; i++)); do
    if ((i % 2)); then cfg=$CB; else cfg=$CA; fi
    if ((i % 4 < 2)); then kind=kernel; else kind=vhost; fi
    cni "$cfg" DEL "$(cid "c$i")" "$(nspath "vxr-cni-c$i-$TAG")" eth0 "VXROUTE_KIND=$kind" >"$cdir/del-$i.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || { fails=$((fails + 1)); echo "#   DEL c$i: $(head -c 200 "$cdir/del-$i.out")"; }; done
  local left=""
  for ((i = 0; i < CONCURRENT; i++)); do
    ip -n "vxr-cni-c$i-$TAG" link show eth0 >/dev/null 2>&1 && left+=" c$i:eth0"
  done
  [[ -n "$(ls -A "$SHARED" 2>/dev/null)" ]] && left+=" shared:$(ls "$SHARED" | head -3 | tr '\n' ' ')"
  if ((fails == 0)) && [[ -z "$left" && "$(fingerprint a)" == "$fa" && "$(fingerprint b)" == "$fb" ]]; then
    tb_ok "$CONCURRENT concurrent DELs: pods, ports, taps, sockets, state and addresses back to before"
  else
    tb_not_ok "$CONCURRENT concurrent DELs leave nothing behind" "$fails failed;$left; A: $(diff <(echo "$fa") <(fingerprint a) | head -4 | tr '\n' ' '); B: $(diff <(echo "$fb") <(fingerprint b) | head -4 | tr '\n' ' ')"
  fi

  # --- IPAM across a vxrouted restart ---------------------------------------------------------
  local nsr1 nsr2 r1 r2 ipr1 ipr2
  pod_ns r1 && nsr1=$NS && pod_ns r2 && nsr2=$NS
  r1=$(cid r1) r2=$(cid r2)
  out=$(cni "$CA" ADD "$r1" "$(nspath "$nsr1")" eth0) && ipr1=$(pod_ip "$out") || ipr1=none
  if restart_router a; then
    tb_ok "vxrouted node A restarted"
  else
    tb_not_ok "vxrouted node A restarted"
  fi
  out=$(cni "$CA" ADD "$r2" "$(nspath "$nsr2")" eth0) && ipr2=$(pod_ip "$out") || ipr2=none
  if [[ $ipr1 != none && $ipr2 != none && $ipr1 != "$ipr2" && $ipr2 != "$ipk1" ]]; then
    tb_ok "after a restart the next ADD gets a new address ($ipr1 kept, $ipr2 new, $ipk1 still taken)"
  else
    tb_not_ok "after a restart the next ADD gets a new address" "first $ipr1, second $ipr2, k1 $ipk1"
  fi
  tb_check "restored CNI pod still routed: ping $ipr1 -> $ipk2 (node B)" tb_ping "$nsr1" "$ipk2" 3 || true
  if out=$(cni "$CA" CHECK "$r1" "$(nspath "$nsr1")" eth0) && out=$(cni "$CA" CHECK "$k1" "$(nspath "$nsk1")" eth0); then
    tb_ok "CHECK restored pods after the restart"
  else
    tb_not_ok "CHECK restored pods after the restart" "${out:0:300}"
  fi

  # --- portMappings (hostPort) ------------------------------------------------------------------
  # Refused while node A's Services are off; then, with them on, a pod's
  # hostPort answered on node A's address from another pod of node A (the
  # client's address kept), across a restart, and gone after DEL.
  local pmconf=$TB_TMP/a-pm.conf badpm=$TB_TMP/a-badpm.conf nsp1 p1 hp=18080 pmlog=$TB_TMP/pm-http.log
  conf "$pmconf" "$TB_SOCK_A" 1.0.0 '"runtimeConfig":{"portMappings":[{"hostPort":'$hp',"containerPort":8080,"protocol":"TCP","hostIP":""}]}'
  conf "$badpm" "$TB_SOCK_A" 1.0.0 '"runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":8080}]}'
  pod_ns p1 && nsp1=$NS
  p1=$(cid p1)
  expect_error "ADD with a portMappings hostPort 0 -> 7" 7 cni "$badpm" ADD "$p1" "$(nspath "$nsp1")" eth0
  expect_error "ADD with portMappings while vxrouted's Services are off -> 100" 100 cni "$pmconf" ADD "$p1" "$(nspath "$nsp1")" eth0
  cni "$pmconf" DEL "$p1" "$(nspath "$nsp1")" eth0 >/dev/null || true
  # pm_get NS: HTTP status of node A's hostPort seen from NS, retried for 5 s.
  pm_get() {
    local t
    for ((t = 0; t < 20; t++)); do
      ip netns exec "$1" python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).status)' \
        "http://$TB_NODE_IP_A:$hp/" 2>/dev/null && return 0
      sleep 0.25
    done
    return 1
  }
  tb_config_set "$TB_TMP/node-a.json" services='{"enabled": true, "conntrack": {"max_entries": 4096}}'
  if restart_router a; then
    tb_ok "vxrouted node A restarted with Services on"
  else
    tb_not_ok "vxrouted node A restarted with Services on"
  fi
  if out=$(cni "$pmconf" ADD "$p1" "$(nspath "$nsp1")" eth0 "K8S_POD_NAMESPACE=default;K8S_POD_NAME=p1"); then
    tb_ok "ADD with portMappings ($hp/tcp -> 8080) with Services on"
  else
    tb_not_ok "ADD with portMappings with Services on" "${out:0:300}"
  fi
  ip netns exec "$nsp1" python3 -m http.server 8080 --bind 0.0.0.0 >"$pmlog" 2>&1 &
  PM_HTTP_PID=$!
  if [[ "$(pm_get "$nsr1")" == 200 ]] && grep -q "^$ipr1 " "$pmlog"; then
    tb_ok "hostPort $TB_NODE_IP_A:$hp answered by the pod, from a pod of node A whose address ($ipr1) it sees"
  else
    tb_not_ok "hostPort $TB_NODE_IP_A:$hp answered by the pod" "server log: $(tail -n 3 "$pmlog" | tr '\n' ' '); $(tb_ctl a show frontends 2>&1 | grep -i -m 3 "$hp")"
  fi
  if out=$(cni "$pmconf" CHECK "$p1" "$(nspath "$nsp1")" eth0) && [[ -z "$out" ]]; then
    tb_ok "CHECK with the same portMappings: ok"
  else
    tb_not_ok "CHECK with the same portMappings" "${out:0:300}"
  fi
  expect_error "CHECK without the portMappings the pod has -> 102" 102 cni "$CA" CHECK "$p1" "$(nspath "$nsp1")" eth0
  if restart_router a && out=$(cni "$pmconf" CHECK "$p1" "$(nspath "$nsp1")" eth0) && [[ "$(pm_get "$nsr1")" == 200 ]]; then
    tb_ok "portMappings survive a vxrouted restart (CHECK ok, hostPort answered)"
  else
    tb_not_ok "portMappings survive a vxrouted restart" "${out:0:300}; $(tail -n 2 "$pmlog" | tr '\n' ' ')"
  fi
  cni "$pmconf" DEL "$p1" "$(nspath "$nsp1")" eth0 >/dev/null || true
  if ! tb_ctl a show frontends 2>&1 | grep -q ":$hp/"; then
    tb_ok "DEL removes the hostPort frontend"
  else
    tb_not_ok "DEL removes the hostPort frontend" "$(tb_ctl a show frontends 2>&1 | grep -m 2 ":$hp/")"
  fi
  kill "$PM_HTTP_PID" 2>/dev/null || true
  wait "$PM_HTTP_PID" 2>/dev/null || true
  PM_HTTP_PID=""

  # --- timing: 100 ADD/DEL rounds --------------------------------------------------------------
  local nst addt=() delt=() t1 t2 t3 tfail=0
  pod_ns t && nst=$NS
  for ((i = 0; i < ROUNDS; i++)); do
    t1=$(date +%s%N)
    cni "$CA" ADD "$(cid "t$i")" "$(nspath "$nst")" eth0 >/dev/null || tfail=$((tfail + 1))
    t2=$(date +%s%N)
    cni "$CA" DEL "$(cid "t$i")" "$(nspath "$nst")" eth0 >/dev/null || tfail=$((tfail + 1))
    t3=$(date +%s%N)
    addt+=($((t2 - t1)))
    delt+=($((t3 - t2)))
  done
  echo "# median ADD (kernel pod) over $ROUNDS: $(printf '%s\n' "${addt[@]}" | median_ms) ms"
  echo "# median DEL (kernel pod) over $ROUNDS: $(printf '%s\n' "${delt[@]}" | median_ms) ms"
  ((tfail == 0)) && tb_ok "$ROUNDS sequential ADD/DEL rounds all ok" || tb_not_ok "$ROUNDS sequential ADD/DEL rounds" "$tfail failed"

  # --- exhaustion: node A with a /30 pod CIDR (one pod address) -----------------------------------
  for x in "$k1:$nsk1" "$r1:$nsr1" "$r2:$nsr2"; do cni "$CA" DEL "${x%%:*}" "$(nspath "${x#*:}")" eth0 >/dev/null || true; done
  tb_config_set "$TB_TMP/node-a.json" pod_cidr='"10.244.1.0/30"'
  if restart_router a; then
    local e1 e2
    e1=$(cid e1) e2=$(cid e2)
    out=$(cni "$CA" ADD "$e1" "$(nspath "$nsr1")" eth0) && [[ $(pod_ip "$out") == 10.244.1.2 ]] &&
      tb_ok "/30 pod CIDR: the one host address (.2) is handed out" || tb_not_ok "/30 pod CIDR: .2 handed out" "${out:0:300}"
    expect_error "pod CIDR exhausted -> 101" 101 cni "$CA" ADD "$e2" "$(nspath "$nsr2")" eth0
    cni "$CA" DEL "$e2" "$(nspath "$nsr2")" eth0 >/dev/null || true
    cni "$CA" DEL "$e1" "$(nspath "$nsr1")" eth0 >/dev/null || true
    out=$(cni "$CA" ADD "$e2" "$(nspath "$nsr2")" eth0) && [[ $(pod_ip "$out") == 10.244.1.2 ]] &&
      tb_ok "address released on DEL is handed out again" || tb_not_ok "address released on DEL is handed out again" "${out:0:300}"
    cni "$CA" DEL "$e2" "$(nspath "$nsr2")" eth0 >/dev/null || true
  else
    tb_not_ok "vxrouted node A restarted with a /30 pod CIDR"
  fi
  cni "$CB" DEL "$k2" "$(nspath "$nsk2")" eth0 >/dev/null || true

  if tb_stop_routers; then tb_ok "routers exit 0 on SIGTERM"; else tb_not_ok "routers exit 0 on SIGTERM" "logs in $TB_TMP"; fi
  if ((TB_FAILED)); then
    echo "# router logs:"
    for n in "$TB_TMP"/node-*.log; do tail -n 8 "$n" | sed "s|^|# ${n##*/}: |"; done
  fi
  tb_summary
}

main "$@"
