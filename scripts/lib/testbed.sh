# shellcheck shell=bash
# vxroute netns testbed: two nodes joined by a veth "underlay", kernel pods
# in their own namespaces, helpers to run vxrouted on it, to program a node
# the way flannel programs the kernel, to capture and check VXLAN on the
# wire, and to report TAP-style results.
#
# usage: source scripts/lib/testbed.sh; tb_up [TAG]; tb_write_configs DIR;
#        tb_start_routers DIR; ...; tb_down     (see each function)
#
# Names. TAG (optional, [a-z0-9], up to 6 chars) is appended as "-TAG" to
# every name that is global on the machine, so the demo (no TAG) and tests
# (one TAG each) cannot clash:
#   namespaces   TB_NS_A=vxr-node-a[-TAG]  TB_NS_B=vxr-node-b[-TAG]
#                TB_NS_POD_A=vxr-pod-a[-TAG] TB_NS_POD_A2=vxr-pod-a2[-TAG]
#                TB_NS_POD_B=vxr-pod-b[-TAG]
#   admin socks  TB_SOCK_A=/run/vxroute/node-a[-TAG].sock  TB_SOCK_B=...node-b...
#   EAL prefix   TB_PREFIX_A=vxr-node-a[-TAG]   TB_PREFIX_B=vxr-node-b[-TAG]
# Interfaces live inside those namespaces, so their names are fixed:
#   TB_UPLINK_A=vxr-ua (in node A) <-> TB_UPLINK_B=vxr-ub (in node B).
# Binaries: TB_VXROUTED / TB_VXROUTECTL (default $VXR_BUILD_DIR or build,
# under src/app/).
#
# Every function returns non-zero and prints "testbed: error: ..." on stderr
# when something fails; nothing is skipped silently.

# Fixed addressing of the testbed (DESIGN.md, scripts/demo.sh).
TB_NODE_IP_A=198.18.0.1
TB_NODE_IP_B=198.18.0.2
TB_VTEP_A=02:76:78:00:00:01
TB_VTEP_B=02:76:78:00:00:02
TB_CIDR_A=10.244.1.0/24
TB_CIDR_B=10.244.2.0/24
TB_POD_A_IP=10.244.1.2
TB_POD_A2_IP=10.244.1.3
TB_POD_B_IP=10.244.2.2
TB_UPLINK_A=vxr-ua
TB_UPLINK_B=vxr-ub
TB_VNI=1
TB_UDP_PORT=8472

TB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TB_BUILD_DIR=${VXR_BUILD_DIR:-build}
[[ "$TB_BUILD_DIR" == /* ]] || TB_BUILD_DIR=$TB_ROOT/$TB_BUILD_DIR
TB_VXROUTED=${TB_VXROUTED:-$TB_BUILD_DIR/src/app/vxrouted}
TB_VXROUTECTL=${TB_VXROUTECTL:-$TB_BUILD_DIR/src/app/vxroutectl}

# State (what this shell created; tb_down removes exactly that).
TB_TAG=""
TB_TMP=""                 # scratch dir from tb_up (mktemp), removed by tb_down
TB_NAMESPACES=()          # namespaces tb_up created
TB_ROUTER_PIDS=()         # vxrouted PIDs from tb_start_routers
TB_ROUTER_NAMES=()        # matching node names (a, b)
TB_CAPTURE_PIDS=()        # tshark PIDs from tb_capture_start
TB_BG_PIDS=()             # other helper processes (servers, pings)
TB_DOWN_DONE=0

tb_log() { echo "[testbed] $*" >&2; }
tb_err() { echo "testbed: error: $*" >&2; }

# --- TAP-style results -------------------------------------------------------
TB_PASSED=0
TB_FAILED=0
tb_ok() { TB_PASSED=$((TB_PASSED + 1)); echo "ok - $*"; }
# tb_not_ok NAME [REASON...]
tb_not_ok() {
  TB_FAILED=$((TB_FAILED + 1))
  local name=$1; shift
  echo "not ok - $name${*:+: $*}"
}
# tb_check NAME CMD...: run CMD, report ok/not ok; returns CMD's status.
tb_check() {
  local name=$1; shift
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [[ -n "$out" ]] && printf '%s\n' "$out" | sed '/^$/d; s/^/#   /'
  if ((rc == 0)); then
    tb_ok "$name"
  else
    tb_not_ok "$name" "exit status $rc"
  fi
  return "$rc"
}
tb_summary() { echo "# $TB_PASSED passed, $TB_FAILED failed"; ((TB_FAILED == 0)); }

# --- names -------------------------------------------------------------------
# tb_names [TAG]: set the name variables (no side effects).
tb_names() {
  local tag=${1:-}
  if [[ -n "$tag" && ! "$tag" =~ ^[a-z0-9]{1,6}$ ]]; then
    tb_err "TAG must be 1-6 characters [a-z0-9], got '$tag'"
    return 1
  fi
  TB_TAG=$tag
  local s=${tag:+-$tag}
  TB_NS_A=vxr-node-a$s
  TB_NS_B=vxr-node-b$s
  TB_NS_POD_A=vxr-pod-a$s
  TB_NS_POD_A2=vxr-pod-a2$s
  TB_NS_POD_B=vxr-pod-b$s
  TB_SOCK_A=/run/vxroute/node-a$s.sock
  TB_SOCK_B=/run/vxroute/node-b$s.sock
  TB_PREFIX_A=vxr-node-a$s
  TB_PREFIX_B=vxr-node-b$s
}
tb_names ""

tb_require_root() {
  if ((EUID != 0)); then tb_err "must run as root (network namespaces, hugepages)"; return 1; fi
}

tb_require_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  if ((${#missing[@]})); then
    tb_err "missing tools: ${missing[*]} (run scripts/deps.sh)"
    return 1
  fi
}

tb_require_binaries() {
  local b
  for b in "$TB_VXROUTED" "$TB_VXROUTECTL"; do
    if [[ ! -x "$b" ]]; then
      tb_err "missing binary $b (not built yet? run scripts/build.sh)"
      return 1
    fi
  done
}

tb_require_hugepages() {
  local want=${1:-256} free
  free=$(awk '$1 == "HugePages_Free:" { print $2 }' /proc/meminfo)
  if ((free < want)); then
    tb_err "only ${free:-0} free hugepages, need at least $want (run scripts/hugepages.sh)"
    return 1
  fi
}

tb_ns_exists() { [[ -e "/run/netns/$1" ]]; }

# Create namespace NS (stale one of the same name from an earlier run is
# removed first, unless processes still run in it).
tb_ns_create() {
  local ns=$1 pids
  if tb_ns_exists "$ns"; then
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    if [[ -n "${pids// /}" ]]; then
      tb_err "namespace $ns already exists and processes run in it (PIDs $pids); another testbed with the same TAG is up"
      return 1
    fi
    tb_log "removing stale namespace $ns from an earlier run"
    ip netns del "$ns"
  fi
  ip netns add "$ns"
  TB_NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
}

# Configure a node-side uplink veth end the way vxrouted's af_packet port
# needs it: no IP, no IPv6, offloads off, MTU 1500, up, and the node's own
# kernel kept out of it.
tb_prepare_uplink() {
  local ns=$1 dev=$2
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
  # af_packet only taps frames: the node's kernel still receives every frame
  # on the veth, and since vxr-host carries the node IP it would treat the
  # peer's VXLAN as its own (ICMP port unreachable back through vxr-host) and
  # answer ARP for the node IP. A NIC owned by DPDK is invisible to the
  # kernel; emulate that: strict reverse-path filter (the route to the
  # underlay is via vxr-host, so IPv4 arriving here is dropped) and no ARP
  # replies. (tc ingress drop would be neater but this kernel has no
  # gact/matchall.)
  ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$dev.rp_filter=1" "net.ipv4.conf.$dev.arp_ignore=8"
  ip -n "$ns" link set "$dev" mtu 1500
  # With offloads on, the kernel hands af_packet ~64 KB frames with
  # unfinished checksums that no real NIC would deliver (DESIGN.md 6.3).
  ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || {
    tb_err "ethtool -K $dev (in $ns) failed"
    return 1
  }
  ip -n "$ns" addr flush dev "$dev"
  ip -n "$ns" link set "$dev" up
}

# tb_up [TAG]: create node and pod namespaces and the underlay veth.
tb_up() {
  tb_require_root || return 1
  tb_require_tools ip ethtool sysctl || return 1
  tb_names "${1:-}" || return 1
  TB_DOWN_DONE=0
  TB_TMP=$(mktemp -d "/tmp/vxr-tb${TB_TAG:+-$TB_TAG}.XXXXXX")
  local ns
  for ns in "$TB_NS_A" "$TB_NS_B" "$TB_NS_POD_A" "$TB_NS_POD_A2" "$TB_NS_POD_B"; do
    tb_ns_create "$ns" || return 1
  done
  # Both ends are created directly inside their namespaces: nothing of ours
  # ever appears in the root namespace, so testbeds cannot clash.
  ip link add "$TB_UPLINK_A" netns "$TB_NS_A" type veth peer name "$TB_UPLINK_B" netns "$TB_NS_B" || {
    tb_err "cannot create veth $TB_UPLINK_A <-> $TB_UPLINK_B"
    return 1
  }
  tb_prepare_uplink "$TB_NS_A" "$TB_UPLINK_A" || return 1
  tb_prepare_uplink "$TB_NS_B" "$TB_UPLINK_B" || return 1
  tb_log "up: nodes $TB_NS_A $TB_NS_B, pods $TB_NS_POD_A $TB_NS_POD_A2 $TB_NS_POD_B, scratch $TB_TMP"
}

# tb_write_configs DIR: write DIR/node-a.json and DIR/node-b.json.
# Each node keeps its runtime state and vhost-user sockets under DIR, so that
# no test or demo inherits pods from another.
tb_write_configs() {
  local dir=${1:?usage: tb_write_configs DIR}
  mkdir -p "$dir"
  cat >"$dir/node-a.json" <<EOF
{"node_name":"node-a","node_ip":"$TB_NODE_IP_A/24","uplink":"net_af_packet0,iface=$TB_UPLINK_A",
 "vtep_mac":"$TB_VTEP_A","pod_cidr":"$TB_CIDR_A","vni":$TB_VNI,"udp_port":$TB_UDP_PORT,
 "host_iface":"vxr-host","workers":1,"idle_backoff_us":50,
 "admin_socket":"$TB_SOCK_A","eal_args":["-l","0-1","--file-prefix=$TB_PREFIX_A"],
 "state_dir":"$dir/state-a","socket_dir":"$dir/sockets-a",
 "peers":[{"name":"node-b","node_ip":"$TB_NODE_IP_B","vtep_mac":"$TB_VTEP_B","pod_cidr":"$TB_CIDR_B"}],
 "pods":[{"name":"pod-a","ip":"$TB_POD_A_IP","netns":"$TB_NS_POD_A"},{"name":"pod-a2","ip":"$TB_POD_A2_IP","netns":"$TB_NS_POD_A2"}]}
EOF
  cat >"$dir/node-b.json" <<EOF
{"node_name":"node-b","node_ip":"$TB_NODE_IP_B/24","uplink":"net_af_packet0,iface=$TB_UPLINK_B",
 "vtep_mac":"$TB_VTEP_B","pod_cidr":"$TB_CIDR_B","vni":$TB_VNI,"udp_port":$TB_UDP_PORT,
 "host_iface":"vxr-host","workers":1,"idle_backoff_us":50,
 "admin_socket":"$TB_SOCK_B","eal_args":["-l","0-1","--file-prefix=$TB_PREFIX_B"],
 "state_dir":"$dir/state-b","socket_dir":"$dir/sockets-b",
 "peers":[{"name":"node-a","node_ip":"$TB_NODE_IP_A","vtep_mac":"$TB_VTEP_A","pod_cidr":"$TB_CIDR_A"}],
 "pods":[{"name":"pod-b","ip":"$TB_POD_B_IP","netns":"$TB_NS_POD_B"}]}
EOF
  if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; [json.load(open(f)) for f in sys.argv[1:]]' "$dir/node-a.json" "$dir/node-b.json" || {
      tb_err "generated config in $dir is not valid JSON"
      return 1
    }
  fi
}

# tb_start_router NODE(a|b) CONFIG LOG: start one vxrouted in the node's namespace.
# TB_ROUTER_WRAP (optional): a command run as `$TB_ROUTER_WRAP NS CONFIG`
# instead, e.g. tests/image/podman_router.sh runs vxrouted in a container.
tb_start_router() {
  local node=$1 cfg=$2 log=$3 ns pid
  case "$node" in a) ns=$TB_NS_A ;; b) ns=$TB_NS_B ;; *) tb_err "node must be a or b"; return 1 ;; esac
  if [[ -n "${TB_ROUTER_WRAP:-}" ]]; then
    "$TB_ROUTER_WRAP" "$ns" "$cfg" >"$log" 2>&1 &
  else
    ip netns exec "$ns" "$TB_VXROUTED" -c "$cfg" >"$log" 2>&1 &
  fi
  pid=$!
  TB_ROUTER_PIDS+=("$pid")
  TB_ROUTER_NAMES+=("$node")
  echo "$pid" >"${log%.log}.pid"
}

# tb_wait_ready PID LOG TIMEOUT_S: wait for a "ready" line; fail if the process dies.
tb_wait_ready() {
  local pid=$1 log=$2 timeout=$3 t=0
  while ((t < timeout * 10)); do
    if grep -q 'ready' "$log" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      local rc=0
      wait "$pid" 2>/dev/null || rc=$?
      tb_err "vxrouted (PID $pid) exited with status $rc before printing 'ready'; last lines of $log:"
      tail -n 20 "$log" | sed 's/^/    /' >&2
      return 1
    fi
    sleep 0.1
    t=$((t + 1))
  done
  tb_err "vxrouted (PID $pid) not ready after ${timeout}s; last lines of $log:"
  tail -n 20 "$log" | sed 's/^/    /' >&2
  return 1
}

# tb_start_routers DIR: start vxrouted on both nodes with DIR/node-{a,b}.json,
# logs in DIR/node-{a,b}.log; wait up to 30 s for both to be ready.
tb_start_routers() {
  local dir=${1:?usage: tb_start_routers DIR} n
  tb_require_binaries || return 1
  for n in a b; do
    [[ -f "$dir/node-$n.json" ]] || { tb_err "missing $dir/node-$n.json (tb_write_configs first)"; return 1; }
  done
  tb_start_router a "$dir/node-a.json" "$dir/node-a.log"
  tb_start_router b "$dir/node-b.json" "$dir/node-b.log"
  local i rc=0
  for i in "${!TB_ROUTER_PIDS[@]}"; do
    n=${TB_ROUTER_NAMES[$i]}
    tb_wait_ready "${TB_ROUTER_PIDS[$i]}" "$dir/node-$n.log" 30 || rc=1
  done
  ((rc == 0)) && tb_log "routers ready: PIDs ${TB_ROUTER_PIDS[*]}"
  return "$rc"
}

# tb_stop_pid PID TIMEOUT_S: SIGTERM, wait, then SIGKILL that PID. Prints the
# exit status; returns 0 if the process exited by itself after SIGTERM.
TB_LAST_EXIT=""
TB_WAS_DEAD=0
# tb_thread_report PID WHY: one "#" line per thread of PID: state, wchan and
# the top of its kernel stack.
tb_thread_report() {
  local pid=$1 why=$2 task tid st wchan stack
  echo "# PID $pid $why; its threads (tid state wchan: kernel stack):"
  for task in /proc/"$pid"/task/*; do
    tid=${task##*/}
    st=$(timeout 2 awk '{print $3}' "$task/stat" 2>/dev/null || true)
    wchan=$(timeout 2 cat "$task/wchan" 2>/dev/null || true)
    stack=$(timeout 2 head -n 6 "$task/stack" 2>/dev/null | sed 's/^\[<0>\] //' | tr '\n' ' ' || true)
    echo "#   $tid ${st:-?} ${wchan:-?}: $stack"
  done
}

tb_stop_pid() {
  local pid=$1 timeout=${2:-10} t=0 rc=0
  TB_LAST_EXIT=""
  TB_WAS_DEAD=0
  if ! kill -0 "$pid" 2>/dev/null || [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" == Z* ]]; then
    TB_WAS_DEAD=1
    wait "$pid" 2>/dev/null || rc=$?
    TB_LAST_EXIT=$rc
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local exiting=0
  while kill -0 "$pid" 2>/dev/null && ((t < timeout * 10)); do
    # A zombie leader has left user space: the process is exiting, possibly
    # while the kernel still tears down its other threads' files (devices);
    # reap it via wait below, however long that takes.
    if [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" == Z* ]]; then exiting=1; break; fi
    # Still running 5 s after SIGTERM: where each thread waits, from /proc
    # (state, wchan, kernel stack), tells a slow exit from a hang and a wait
    # in the kernel from one in user space. Diagnostic only: no ptrace, which
    # stops the process, and each read is bounded.
    if ((t == 50)); then
      tb_thread_report "$pid" "still runs 5 s after SIGTERM"
    fi
    sleep 0.1
    t=$((t + 1))
  done
  if ((!exiting)) && kill -0 "$pid" 2>/dev/null && [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z* ]]; then
    tb_err "PID $pid still running ${timeout}s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    TB_LAST_EXIT=killed
    return 1
  fi
  wait "$pid" 2>/dev/null || rc=$?
  TB_LAST_EXIT=$rc
  return 0
}

# tb_stop_routers [--quiet]: SIGTERM each router we started; returns non-zero
# if any needed SIGKILL, had died before, or exited with a non-zero status.
tb_stop_routers() {
  local i rc=0 quiet=0
  [[ "${1:-}" == --quiet ]] && quiet=1
  for i in "${!TB_ROUTER_PIDS[@]}"; do
    local pid=${TB_ROUTER_PIDS[$i]} what="vxrouted node-${TB_ROUTER_NAMES[$i]} (PID ${TB_ROUTER_PIDS[$i]})"
    # 30 s: Kubernetes' default termination grace period. A slow exit is
    # reported with vxrouted's own timing of its shutdown steps.
    local t0=$SECONDS
    if ! tb_stop_pid "$pid" 30; then
      rc=1
    elif ((TB_WAS_DEAD)); then
      ((quiet)) || tb_err "$what had already exited (status $TB_LAST_EXIT) before SIGTERM"
      rc=1
    elif [[ "$TB_LAST_EXIT" != 0 ]]; then
      ((quiet)) || tb_err "$what exited with status $TB_LAST_EXIT after SIGTERM"
      rc=1
    fi
    if ((SECONDS - t0 >= 5)); then
      echo "# $what took $((SECONDS - t0)) s to exit after SIGTERM"
      grep -h 'shutdown:' "$TB_TMP/node-${TB_ROUTER_NAMES[$i]}.log" 2>/dev/null | sed 's/^/#   /' || true
    fi
  done
  TB_ROUTER_PIDS=()
  TB_ROUTER_NAMES=()
  return "$rc"
}

tb_ctl() {  # tb_ctl a|b ARGS...: vxroutectl against that node's socket
  local node=$1; shift
  local sock
  case "$node" in a) sock=$TB_SOCK_A ;; b) sock=$TB_SOCK_B ;; *) tb_err "node must be a or b"; return 1 ;; esac
  timeout 10 "$TB_VXROUTECTL" -s "$sock" "$@"
}

# --- traffic helpers ---------------------------------------------------------
# tb_ping NS DST [COUNT]: ping from a namespace; prints ping's summary.
tb_ping() {
  local ns=$1 dst=$2 count=${3:-3}
  ip netns exec "$ns" ping -n -q -c "$count" -W 2 "$dst"
}

# tb_tcp_transfer SRC_NS DST_NS DST_IP BYTES [PORT]: send BYTES random bytes
# from SRC_NS to a server in DST_NS over TCP; check count and sha256 match.
tb_tcp_transfer() {
  local src_ns=$1 dst_ns=$2 dst_ip=$3 bytes=$4 port=${5:-5201}
  local dir=${TB_TMP:-/tmp}
  local data="$dir/tcp-data.$$" recv="$dir/tcp-recv.$$" ready="$dir/tcp-ready.$$"
  rm -f "$recv" "$ready"
  head -c "$bytes" /dev/urandom >"$data"
  ip netns exec "$dst_ns" timeout 60 python3 -c '
import socket, sys
addr, port, out, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port)); s.listen(1)
open(ready, "w").close()
c, _ = s.accept()
with open(out, "wb") as f:
    while True:
        b = c.recv(65536)
        if not b: break
        f.write(b)
' "$dst_ip" "$port" "$recv" "$ready" &
  local srv=$!
  TB_BG_PIDS+=("$srv")
  local t=0
  while [[ ! -e "$ready" ]] && ((t < 50)); do sleep 0.1; t=$((t + 1)); done
  if [[ ! -e "$ready" ]]; then
    tb_err "TCP server in $dst_ns did not start listening on $dst_ip:$port"
    kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true
    return 1
  fi
  local crc=0
  ip netns exec "$src_ns" timeout 60 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.settimeout(30)
with open(sys.argv[3], "rb") as f:
    s.sendall(f.read())
s.shutdown(socket.SHUT_WR)
s.recv(1)   # wait for the server to close: all bytes were read
' "$dst_ip" "$port" "$data" || crc=$?
  local src_rc=0
  wait "$srv" || src_rc=$?
  if ((crc != 0)); then
    tb_err "TCP client in $src_ns -> $dst_ip:$port failed (status $crc)"
    return 1
  fi
  if ((src_rc != 0)); then
    tb_err "TCP server in $dst_ns failed (status $src_rc)"
    return 1
  fi
  local got sent_sum got_sum
  got=$(stat -c %s "$recv" 2>/dev/null || echo 0)
  sent_sum=$(sha256sum <"$data" | cut -d' ' -f1)
  got_sum=$(sha256sum <"$recv" | cut -d' ' -f1)
  rm -f "$data" "$recv" "$ready"
  if ((got != bytes)) || [[ "$sent_sum" != "$got_sum" ]]; then
    tb_err "TCP transfer $src_ns -> $dst_ns: sent $bytes bytes sha256 $sent_sum, received $got bytes sha256 $got_sum"
    return 1
  fi
  echo "TCP $src_ns -> $dst_ip:$port: $bytes bytes, sha256 $sent_sum matches"
}

# --- capture -----------------------------------------------------------------
# tb_capture_start NS IFACE PCAP: start tshark writing PCAP; returns once it
# captures. PID is appended to TB_CAPTURE_PIDS and printed in TB_CAPTURE_PID.
TB_CAPTURE_PID=""
tb_capture_start() {
  local ns=$1 dev=$2 pcap=$3
  tb_require_tools tshark || return 1
  local log="$pcap.log"
  rm -f "$pcap"
  ip netns exec "$ns" tshark -q -n -i "$dev" -w "$pcap" >"$log" 2>&1 &
  TB_CAPTURE_PID=$!
  TB_CAPTURE_PIDS+=("$TB_CAPTURE_PID")
  local t=0
  while ((t < 100)); do
    if grep -q "^Capturing on" "$log"; then
      # tshark prints this just before dumpcap opens the device; give it a moment
      sleep 0.5
      return 0
    fi
    if ! kill -0 "$TB_CAPTURE_PID" 2>/dev/null; then break; fi
    sleep 0.1
    t=$((t + 1))
  done
  tb_err "tshark on $dev in $ns did not start capturing:"
  sed 's/^/    /' "$log" >&2
  return 1
}

# tb_capture_stop PID: stop tshark (SIGINT so it finishes the file).
tb_capture_stop() {
  local pid=$1 t=0
  kill -INT "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((t < 50)); do sleep 0.1; t=$((t + 1)); done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
  local i
  for i in "${!TB_CAPTURE_PIDS[@]}"; do
    if [[ "${TB_CAPTURE_PIDS[$i]}" == "$pid" ]]; then unset "TB_CAPTURE_PIDS[$i]"; fi
  done
  return 0
}

# tb_check_vxlan_capture PCAP SRC_NODE_IP DST_NODE_IP SRC_VTEP DST_VTEP [OPTIONS]
# Checks every VXLAN frame in PCAP whose outer IPs are SRC_NODE_IP ->
# DST_NODE_IP (at least --min-frames of them):
#   VNI, outer UDP dst port, outer UDP src port within [--sport-min, --sport-max],
#   inner src MAC == SRC_VTEP, inner dst MAC == DST_VTEP, outer DF bit (--df),
#   outer IPv4 header checksum valid, outer eth type IPv4, inner eth type IPv4.
# Options: --vni N (1) --port N (8472) --sport-min N (49152) --sport-max N (65535)
#          --df set|unset|any (set) --min-frames N (1)
# Prints a one-line summary, or one line per violated check (at most 5 frames each).
tb_check_vxlan_capture() {
  if (($# < 5)); then
    tb_err "usage: tb_check_vxlan_capture PCAP SRC_NODE_IP DST_NODE_IP SRC_VTEP DST_VTEP [--vni N] [--port N] [--sport-min N] [--sport-max N] [--df set|unset|any] [--min-frames N]"
    return 2
  fi
  local pcap=$1 sip=$2 dip=$3 svtep=$4 dvtep=$5
  shift 5
  local vni=1 port=8472 smin=49152 smax=65535 df=set minf=1
  while (($#)); do
    case "$1" in
      --vni) vni=$2 ;;
      --port) port=$2 ;;
      --sport-min) smin=$2 ;;
      --sport-max) smax=$2 ;;
      --df) df=$2 ;;
      --min-frames) minf=$2 ;;
      *) tb_err "tb_check_vxlan_capture: unknown option $1"; return 2 ;;
    esac
    shift 2
  done
  [[ -s "$pcap" ]] || { tb_err "capture file $pcap missing or empty"; return 1; }
  local fields
  # -o ip.check_checksum: make tshark verify outer/inner IPv4 header checksums.
  # Multi-occurrence fields (outer,inner) are joined with ','.
  fields=$(tshark -n -r "$pcap" -o ip.check_checksum:TRUE -d "udp.port==$port,vxlan" \
      -Y "vxlan && ip.src==$sip && ip.dst==$dip" -T fields -E separator='|' -E aggregator=',' \
      -e frame.number -e frame.protocols -e ip.src -e ip.dst -e ip.flags.df -e ip.checksum.status \
      -e udp.srcport -e udp.dstport -e vxlan.vni -e eth.src -e eth.dst -e eth.type 2>&1) || {
    tb_err "tshark could not read $pcap: $fields"
    return 1
  }
  printf '%s\n' "$fields" | awk -F'|' -v sip="$sip" -v dip="$dip" -v svtep="$svtep" -v dvtep="$dvtep" \
      -v vni="$vni" -v port="$port" -v smin="$smin" -v smax="$smax" -v df="$df" -v minf="$minf" '
    function bad(check, msg) {
      nbad[check]++
      if (nbad[check] <= 5) printf "  frame %s: %s\n", $1, msg
    }
    NF < 12 { next }
    # Frames that only quote VXLAN (ICMP errors) are not encapsulated traffic.
    $2 !~ /^eth:ethertype:ip:udp:vxlan:eth:ethertype:ip/ { quoted++; next }
    {
      $0 = $1 "|" $3 "|" $4 "|" $5 "|" $6 "|" $7 "|" $8 "|" $9 "|" $10 "|" $11 "|" $12
      n++
      split($2, ipsrc, ","); split($3, ipdst, ","); split($4, dfs, ",")
      split($5, csum, ","); split($6, sport, ","); split($7, dport, ",")
      split($9, esrc, ","); split($10, edst, ","); split($11, etype, ",")
      if (ipsrc[1] != sip || ipdst[1] != dip) bad("outer_ip", "outer IPs " ipsrc[1] " -> " ipdst[1] ", want " sip " -> " dip)
      if (dport[1] != port) bad("dport", "outer UDP dst port " dport[1] ", want " port)
      if (sport[1] + 0 < smin || sport[1] + 0 > smax) bad("sport", "outer UDP src port " sport[1] " not in " smin ".." smax)
      if ($8 != vni) bad("vni", "VNI " $8 ", want " vni)
      d = (dfs[1] == "1" || dfs[1] == "True") ? "set" : "unset"
      if (df != "any" && d != df) bad("df", "outer DF " d ", want " df)
      if (csum[1] != "1") bad("csum", "outer IPv4 header checksum status " csum[1] " (1 = good)")
      if (tolower(esrc[2]) != tolower(svtep)) bad("inner_src", "inner src MAC " esrc[2] ", want " svtep)
      if (tolower(edst[2]) != tolower(dvtep)) bad("inner_dst", "inner dst MAC " edst[2] ", want " dvtep)
      if (etype[1] != "0x0800" || etype[2] != "0x0800") bad("etype", "eth types " $11 ", want 0x0800 outer and inner")
      sports[sport[1]] = 1
    }
    END {
      fail = 0
      if (quoted) printf "  note: %d frames %s -> %s only quote VXLAN (e.g. ICMP errors about it); not checked\n", quoted, sip, dip
      for (c in nbad) { printf "  FAILED %s: %d of %d frames\n", c, nbad[c], n; fail = 1 }
      if (n < minf) { printf "  FAILED: %d VXLAN frames %s -> %s in capture, want at least %d\n", n, sip, dip, minf; fail = 1 }
      ns = 0; for (s in sports) ns++
      if (!fail) printf "  %d VXLAN frames %s -> %s: VNI %s, dport %s, sport in %d..%d (%d distinct), inner MACs %s -> %s, DF %s, outer csum ok\n", n, sip, dip, vni, port, smin, smax, ns, svtep, dvtep, df
      exit fail
    }'
}

# --- flannel (kernel dataplane) ------------------------------------------------
# tb_flannel_node NS NODE_IP[/LEN] SUBNET VTEP_MAC [peer=NODE_IP,SUBNET,VTEP_MAC]... [pod=NETNS,IP]...
# Program node namespace NS as flannel's vxlan backend programs the kernel:
# node IP on the uplink (the kernel is the dataplane), flannel.1 (VNI 1,
# port 8472, nolearning, MTU uplink-50, VTEP MAC, SUBNET.0/32), per peer a
# permanent neighbour + FDB entry + onlink route, a cni0 bridge with SUBNET.1/24
# and each pod (its namespace must exist) attached by a veth with IP and
# default route via SUBNET.1. The uplink is TB_UPLINK_A/B if NS is a testbed
# node, else $TB_FLANNEL_UPLINK. The VXLAN port is $TB_FLANNEL_PORT (8472,
# flannel's default; its "Port" option sets it).
tb_flannel_node() {
  if (($# < 4)); then
    tb_err "usage: tb_flannel_node NS NODE_IP[/LEN] SUBNET VTEP_MAC [peer=NODE_IP,SUBNET,VTEP_MAC]... [pod=NETNS,IP]..."
    return 2
  fi
  local ns=$1 node_ip=$2 subnet=$3 vtep=$4
  shift 4
  local uplink=${TB_FLANNEL_UPLINK:-}
  if [[ -z "$uplink" ]]; then
    if [[ "$ns" == "$TB_NS_A" ]]; then uplink=$TB_UPLINK_A
    elif [[ "$ns" == "$TB_NS_B" ]]; then uplink=$TB_UPLINK_B
    else tb_err "tb_flannel_node: $ns is not a testbed node; set TB_FLANNEL_UPLINK"; return 1
    fi
  fi
  [[ "$node_ip" == */* ]] || node_ip="$node_ip/24"
  local ip_only=${node_ip%/*}
  local net=${subnet%/*}          # 10.244.1.0
  local base=${net%.*}            # 10.244.1
  local mtu
  mtu=$(ip netns exec "$ns" cat "/sys/class/net/$uplink/mtu") || { tb_err "no uplink $uplink in $ns"; return 1; }
  local n=(ip -n "$ns")
  # The kernel is the dataplane here: undo tb_prepare_uplink's isolation.
  ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$uplink.rp_filter=0" "net.ipv4.conf.$uplink.arp_ignore=0"
  "${n[@]}" addr replace "$node_ip" dev "$uplink"
  "${n[@]}" link set "$uplink" up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  "${n[@]}" link add flannel.1 type vxlan id 1 local "$ip_only" dstport "${TB_FLANNEL_PORT:-8472}" nolearning
  "${n[@]}" link set flannel.1 address "$vtep" mtu $((mtu - 50))
  "${n[@]}" addr add "$net/32" dev flannel.1
  "${n[@]}" link set flannel.1 up
  "${n[@]}" link add cni0 type bridge
  "${n[@]}" link set cni0 mtu $((mtu - 50))
  "${n[@]}" addr add "$base.1/24" dev cni0
  "${n[@]}" link set cni0 up
  local arg spec i=0
  for arg in "$@"; do
    case "$arg" in
      peer=*)
        spec=${arg#peer=}
        local p_ip p_sub p_mac
        IFS=, read -r p_ip p_sub p_mac <<<"$spec"
        if [[ -z "$p_ip" || -z "$p_sub" || -z "$p_mac" ]]; then tb_err "bad peer spec '$arg'"; return 1; fi
        local p_net=${p_sub%/*}
        "${n[@]}" neigh replace "$p_net" lladdr "$p_mac" dev flannel.1 nud permanent
        ip netns exec "$ns" bridge fdb append "$p_mac" dev flannel.1 dst "$p_ip" self permanent
        "${n[@]}" route replace "$p_net/24" via "$p_net" dev flannel.1 onlink
        ;;
      pod=*)
        spec=${arg#pod=}
        local pod_ns pod_ip
        IFS=, read -r pod_ns pod_ip <<<"$spec"
        if [[ -z "$pod_ns" || -z "$pod_ip" ]]; then tb_err "bad pod spec '$arg'"; return 1; fi
        tb_ns_exists "$pod_ns" || { tb_err "pod namespace $pod_ns does not exist"; return 1; }
        local host_if="vxrv${i}-${ip_only##*.}"   # unique within NS, <= 15 chars
        i=$((i + 1))
        "${n[@]}" link add "$host_if" type veth peer name eth0 netns "$pod_ns"
        "${n[@]}" link set "$host_if" mtu $((mtu - 50)) master cni0 up
        # A veth queues each frame on the backlog of the CPU that sent it. A
        # pod's TCP sends from its process and from ACK processing on another
        # CPU, so the two backlogs reorder its segments before any router sees
        # them. A NIC queue does not; RPS to one CPU gives the same order.
        ip netns exec "$ns" sh -c "echo 1 >/sys/class/net/$host_if/queues/rx-0/rps_cpus" || {
          tb_err "cannot set rps_cpus on $host_if in $ns"
          return 1
        }
        ip -n "$pod_ns" link set eth0 mtu $((mtu - 50)) up
        ip -n "$pod_ns" addr add "$pod_ip/24" dev eth0
        ip -n "$pod_ns" route add default via "$base.1"
        ;;
      *) tb_err "tb_flannel_node: argument '$arg' is neither peer=... nor pod=..."; return 1 ;;
    esac
  done
}

# tb_flannel_peer_mac NS PEER_NODE_IP PEER_SUBNET NEW_MAC [OLD_MAC]: change
# the VTEP MAC a flannel node holds for a peer, as flannel does when the
# peer's backend-data annotation changes: replace the neighbour entry of
# PEER_SUBNET.0, remove the FDB entry of OLD_MAC, add NEW_MAC -> PEER_NODE_IP.
tb_flannel_peer_mac() {
  if (($# < 4)); then
    tb_err "usage: tb_flannel_peer_mac NS PEER_NODE_IP PEER_SUBNET NEW_MAC [OLD_MAC]"
    return 2
  fi
  local ns=$1 p_ip=$2 p_sub=$3 mac=$4 old=${5:-}
  local p_net=${p_sub%/*}
  ip -n "$ns" neigh replace "$p_net" lladdr "$mac" dev flannel.1 nud permanent || { tb_err "neigh replace $p_net in $ns"; return 1; }
  if [[ -n "$old" ]]; then
    ip netns exec "$ns" bridge fdb del "$old" dev flannel.1 dst "$p_ip" self 2>/dev/null || true
  fi
  ip netns exec "$ns" bridge fdb append "$mac" dev flannel.1 dst "$p_ip" self permanent || {
    tb_err "bridge fdb append $mac dst $p_ip in $ns"
    return 1
  }
}

# tb_flannel_direct_routing NS PEER_NODE_IP PEER_SUBNET on|off: flannel's
# DirectRouting for a peer on the same L2: the route to the peer's subnet
# goes via the peer's node IP on the uplink (on) or via flannel.1 (off).
tb_flannel_direct_routing() {
  local ns=$1 p_ip=$2 p_sub=$3 mode=$4 uplink=${TB_FLANNEL_UPLINK:-}
  if [[ -z "$uplink" ]]; then
    if [[ "$ns" == "$TB_NS_A" ]]; then uplink=$TB_UPLINK_A; else uplink=$TB_UPLINK_B; fi
  fi
  local p_net=${p_sub%/*}
  case "$mode" in
    on) ip -n "$ns" route replace "$p_net/24" via "$p_ip" dev "$uplink" ;;
    off) ip -n "$ns" route replace "$p_net/24" via "$p_net" dev flannel.1 onlink ;;
    *) tb_err "tb_flannel_direct_routing: mode must be on or off"; return 2 ;;
  esac
}

# --- single-node helpers -----------------------------------------------------
# tb_config_set FILE KEY=JSON...: set top-level keys of a vxrouted config
# (values are JSON: cluster_cidr='"10.244.0.0/16"', udp_port=4789).
tb_config_set() {
  local file=${1:?usage: tb_config_set FILE KEY=JSON...}
  shift
  python3 - "$file" "$@" <<'PY' || { tb_err "tb_config_set $file $*: failed"; return 1; }
import json, sys
path = sys.argv[1]
cfg = json.load(open(path))
for kv in sys.argv[2:]:
    k, _, v = kv.partition("=")
    cfg[k] = json.loads(v)
with open(path, "w") as f:
    json.dump(cfg, f, indent=1)
PY
}

# tb_start_node NODE(a|b) CONFIG LOG [TIMEOUT_S]: start vxrouted on one node
# only (the other may be a flannel node) and wait until it is ready.
tb_start_node() {
  local node=$1 cfg=$2 log=$3 timeout=${4:-30}
  tb_require_binaries || return 1
  [[ -f "$cfg" ]] || { tb_err "missing config $cfg"; return 1; }
  tb_start_router "$node" "$cfg" "$log"
  tb_wait_ready "${TB_ROUTER_PIDS[-1]}" "$log" "$timeout" || return 1
  tb_log "vxrouted node-$node ready: PID ${TB_ROUTER_PIDS[-1]}"
}

# tb_snmp NS PROTO FIELD: one counter of /proc/net/snmp or /proc/net/netstat
# in namespace NS (tb_snmp ns Tcp RetransSegs; tb_snmp ns TcpExt TCPDSACKRecvSegs).
tb_snmp() {
  ip netns exec "$1" awk -v p="$2:" -v f="$3" '
    $1 == p && !hdr { for (i = 2; i <= NF; i++) col[$i] = i; hdr = 1; next }
    $1 == p && hdr { if (f in col) { print $col[f]; found = 1 } exit }
    END { if (!found) exit 1 }' /proc/net/snmp /proc/net/netstat || {
    tb_err "no $2 $3 in /proc/net/snmp or /proc/net/netstat of $1"
    return 1
  }
}

# tb_vxlan_wire_fields PCAP PORT SRC_NODE_IP DST_NODE_IP [INNER_DPORT_MIN INNER_DPORT_MAX]:
# describe the VXLAN frames SRC -> DST in PCAP field by field, one
# "key=value" line each: frames, vni, dport, sport_min, sport_max, sports
# (distinct), flow_sports (distinct source ports over inner UDP flows whose
# destination port is in [MIN, MAX]: "<ports>/<flows>"), udp_csum (zero,
# valid, bad or a mix), df (set, unset, mixed), ttl, ip_id (zero or varies),
# tos, vxlan_flags, inner_src, inner_dst, outer_src, outer_dst, inner_type.
# Values seen in several forms are joined with '+'.
tb_vxlan_wire_fields() {
  local pcap=$1 port=$2 sip=$3 dip=$4 fmin=${5:-0} fmax=${6:-0} out
  [[ -s "$pcap" ]] || { tb_err "capture file $pcap missing or empty"; return 1; }
  out=$(tshark -n -r "$pcap" -o udp.check_checksum:TRUE -d "udp.port==$port,vxlan" \
      -Y "vxlan && ip.src==$sip && ip.dst==$dip" -T fields -E separator='|' -E aggregator=',' \
      -e frame.protocols -e ip.flags.df -e ip.ttl -e ip.id -e ip.dsfield -e udp.srcport -e udp.dstport \
      -e udp.checksum -e udp.checksum.status -e vxlan.flags -e vxlan.vni -e eth.src -e eth.dst -e eth.type 2>&1) || {
    tb_err "tshark could not read $pcap: $out"
    return 1
  }
  python3 -c '
import sys
fmin, fmax = int(sys.argv[1]), int(sys.argv[2])
vals = {}
flows = {}
n = 0
def add(k, v):
    vals.setdefault(k, [])
    if v not in vals[k]:
        vals[k].append(v)
for line in sys.stdin:
    f = line.rstrip("\n").split("|")
    if len(f) < 14 or not f[0].startswith("eth:ethertype:ip:udp:vxlan:eth:ethertype:ip"):
        continue   # ICMP errors quoting VXLAN
    proto, df, ttl, ipid, tos, sport, dport, ck, cks, vfl, vni, esrc, edst, etype = [x.split(",") for x in f]
    n += 1
    add("vni", vni[0]); add("dport", dport[0])
    add("df", "set" if df[0] in ("1", "True") else "unset")
    add("ttl", ttl[0]); add("tos", tos[0]); add("vxlan_flags", vfl[0])
    add("ip_id", "zero" if int(ipid[0], 16 if ipid[0].startswith("0x") else 10) == 0 else "nonzero")
    if int(ck[0], 16) == 0:
        add("udp_csum", "zero")
    else:
        add("udp_csum", {"1": "valid", "0": "bad"}.get(cks[0], "unverified(%s)" % cks[0]))
    add("outer_src", esrc[0]); add("outer_dst", edst[0])
    if len(esrc) > 1:
        add("inner_src", esrc[1]); add("inner_dst", edst[1])
    if len(etype) > 1:
        add("inner_type", etype[1])
    s = int(sport[0]); add("sport", s)
    if fmax and ":udp" in proto[0][proto[0].index("vxlan"):] and len(dport) > 1 and fmin <= int(dport[1]) <= fmax:
        flows.setdefault((sport[1], dport[1]), set()).add(s)
print("frames=%d" % n)
if n:
    sp = vals.pop("sport")
    print("sport_min=%d" % min(sp)); print("sport_max=%d" % max(sp)); print("sports=%d" % len(sp))
    for k in ("vni", "dport", "udp_csum", "df", "ttl", "ip_id", "tos", "vxlan_flags", "inner_src", "inner_dst",
              "outer_src", "outer_dst", "inner_type"):
        print("%s=%s" % (k, "+".join(str(v) for v in vals.get(k, ["-"]))))
    if fmax:
        per = [len(v) for v in flows.values()]
        distinct = len(set().union(*flows.values())) if flows else 0
        print("flow_sports=%d/%d" % (distinct, len(flows)))
        print("flow_consistent=%s" % ("yes" if all(x == 1 for x in per) else "no"))
' "$fmin" "$fmax" <<<"$out"
}

# --- teardown ------------------------------------------------------------------
# tb_down: stop what we started and remove what we created. Idempotent.
tb_down() {
  ((TB_DOWN_DONE)) && return 0
  local pid ns
  for pid in "${TB_CAPTURE_PIDS[@]}"; do [[ -n "$pid" ]] && tb_capture_stop "$pid"; done
  TB_CAPTURE_PIDS=()
  for pid in "${TB_BG_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  TB_BG_PIDS=()
  ((${#TB_ROUTER_PIDS[@]})) && { tb_stop_routers --quiet || true; }
  for ns in "${TB_NAMESPACES[@]}"; do
    tb_ns_exists "$ns" && { ip netns del "$ns" 2>/dev/null || tb_err "could not delete namespace $ns"; }
  done
  TB_NAMESPACES=()
  rm -f "$TB_SOCK_A" "$TB_SOCK_B"
  # DPDK leaves its runtime dir, and hugepage files when killed; ours only
  # (the prefix is unique to this testbed and its processes are gone).
  local prefix
  for prefix in "$TB_PREFIX_A" "$TB_PREFIX_B"; do
    rm -rf "/var/run/dpdk/$prefix"
    rm -f /dev/hugepages/"${prefix}"map_* 2>/dev/null || true
  done
  if [[ -n "$TB_TMP" && -d "$TB_TMP" && "${TB_KEEP:-0}" != 1 ]]; then rm -rf "$TB_TMP"; fi
  [[ "${TB_KEEP:-0}" == 1 && -n "$TB_TMP" ]] && tb_log "kept $TB_TMP (TB_KEEP=1)"
  TB_DOWN_DONE=1
}

# tb_trap: tb_down on EXIT; on INT/TERM clean up and exit 130/143; a
# command that aborts the script under set -e is reported as a failed test.
tb_trap() {
  set -E
  trap 'echo "not ok - aborted: \"$BASH_COMMAND\" failed (status $?, line $LINENO of ${BASH_SOURCE[0]##*/})"' ERR
  trap 'tb_down' EXIT
  trap 'tb_down; trap - EXIT; exit 130' INT
  trap 'tb_down; trap - EXIT; exit 143' TERM
}

# --- DPDK pods over vhost-user --------------------------------------------------
# The reference DPDK pod (tests/pod/vxr_pod.cpp, run by scripts/dpdk-pod.sh):
# a virtio-user port in server mode on a unix socket that vxrouted's
# net_vhost port (client) connects to. Pod NAME runs as instance
# NAME[-TAG] (its DPDK file prefix vxr-pod-NAME[-TAG] and namespace
# vxr-dpod-NAME[-TAG] are global on the machine); PID, log and stats files
# are under $TB_TMP/dpods. tb_down does not know these pods: call
# tb_dpod_down before it (e.g. in the test's trap).
TB_DPOD_BIN=${VXR_POD_BIN:-$TB_BUILD_DIR/tests/pod/vxr-pod}
TB_DPOD_SCRIPT=$TB_ROOT/scripts/dpdk-pod.sh
TB_DPODS=()               # instances tb_dpod_start started (tb_dpod_down stops them)

tb_dpod_instance() { echo "$1${TB_TAG:+-$TB_TAG}"; }
tb_dpod_dir() { echo "${TB_TMP:?tb_up first}/dpods"; }
tb_dpod_stats_file() { echo "$(tb_dpod_dir)/$(tb_dpod_instance "$1").stats.json"; }
tb_dpod_pid() { cat "$(tb_dpod_dir)/$(tb_dpod_instance "$1").pid" 2>/dev/null; }

tb_require_dpod() {
  if [[ ! -x "$TB_DPOD_BIN" ]]; then
    tb_err "missing DPDK pod binary $TB_DPOD_BIN (tests/meson.build needs subdir('pod'); or set VXR_POD_BIN)"
    return 1
  fi
}

# tb_dpod_start NAME NODE(a|b) IP MAC SOCKET [dpdk-pod.sh options: --mode M --core N --mem MB ...] [-- vxr-pod options]
# Start DPDK pod NAME of node NODE (gateway = the node's first pod CIDR
# address, gateway MAC = its VTEP MAC) in its own namespace. Returns once the
# pod created SOCKET; the link comes up when vxrouted connects (tb_dpod_wait_link).
tb_dpod_start() {
  if (($# < 5)); then tb_err "usage: tb_dpod_start NAME NODE IP MAC SOCKET [options] [-- pod options]"; return 2; fi
  local name=$1 node=$2 ip=$3 mac=$4 sock=$5 gw gw_mac
  shift 5
  case "$node" in
    a) gw=${TB_CIDR_A%.*/*}.1 gw_mac=$TB_VTEP_A ;;
    b) gw=${TB_CIDR_B%.*/*}.1 gw_mac=$TB_VTEP_B ;;
    *) tb_err "tb_dpod_start: node must be a or b"; return 2 ;;
  esac
  tb_require_dpod || return 1
  local inst ns
  inst=$(tb_dpod_instance "$name")
  ns=vxr-dpod-$inst
  tb_ns_exists "$ns" || tb_ns_create "$ns" || return 1
  mkdir -p "$(tb_dpod_dir)"
  VXR_POD_BIN=$TB_DPOD_BIN VXR_POD_RUN_DIR=$(tb_dpod_dir) "$TB_DPOD_SCRIPT" start "$inst" --ns "$ns" \
    --socket "$sock" --ip "$ip" --mac "$mac" --gw "$gw" --gw-mac "$gw_mac" "$@" >/dev/null || {
    tb_err "DPDK pod $name did not start (log $(tb_dpod_dir)/$inst.log)"
    return 1
  }
  local p
  for p in "${TB_DPODS[@]}"; do [[ "$p" == "$inst" ]] && return 0; done
  TB_DPODS+=("$inst")
}

# tb_dpod_stop NAME [--kill]: SIGTERM (or SIGKILL) the pod, wait, remove its socket.
tb_dpod_stop() {
  local name=${1:?usage: tb_dpod_stop NAME [--kill]}
  VXR_POD_RUN_DIR=$(tb_dpod_dir) "$TB_DPOD_SCRIPT" stop "$(tb_dpod_instance "$name")" ${2:+"$2"}
}

# tb_dpod_down: stop every pod tb_dpod_start started (idempotent).
tb_dpod_down() {
  local inst
  [[ -n "$TB_TMP" && -d "$TB_TMP/dpods" ]] || { TB_DPODS=(); return 0; }
  for inst in "${TB_DPODS[@]}"; do
    [[ -f "$TB_TMP/dpods/$inst.pid" ]] || continue
    VXR_POD_RUN_DIR=$TB_TMP/dpods "$TB_DPOD_SCRIPT" stop "$inst" >/dev/null 2>&1 || true
  done
  TB_DPODS=()
}

# tb_dpod_stat NAME KEY: one field of the pod's stats JSON (empty if none yet).
tb_dpod_stat() {
  python3 - "$(tb_dpod_stats_file "$1")" "$2" <<'PY' 2>/dev/null
import json, sys
try:
    v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
except (OSError, ValueError):
    v = ""
print(str(v).lower() if isinstance(v, bool) else v)
PY
}

# tb_dpod_wait_link NAME TIMEOUT_S: wait until the pod reports its link up
# (vxrouted's vhost-user client connected and the device is ready).
tb_dpod_wait_link() {
  local name=$1 timeout=${2:-10} t=0 pid
  while ((t < timeout * 10)); do
    [[ "$(tb_dpod_stat "$name" link)" == up ]] && return 0
    pid=$(tb_dpod_pid "$name")
    if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
      tb_err "DPDK pod $name is not running; last lines of its log:"
      tail -n 10 "$(tb_dpod_dir)/$(tb_dpod_instance "$name").log" 2>/dev/null | sed 's/^/    /' >&2
      return 1
    fi
    sleep 0.1
    t=$((t + 1))
  done
  tb_err "DPDK pod $name: link not up after ${timeout}s (is vxrouted attached to its socket?)"
  return 1
}

# tb_dpod_wait_exit NAME TIMEOUT_S: wait for a pod's run to end (send mode
# ends by itself); succeeds if it wrote its final stats.
tb_dpod_wait_exit() {
  local name=$1 timeout=${2:-30} t=0 pid
  pid=$(tb_dpod_pid "$name")
  while [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z* ]]; do
    if ((t >= timeout * 10)); then
      tb_err "DPDK pod $name (PID $pid) still runs after ${timeout}s"
      return 1
    fi
    sleep 0.1
    t=$((t + 1))
  done
  if [[ "$(tb_dpod_stat "$name" final)" != true ]]; then
    tb_err "DPDK pod $name ended without final stats; last lines of its log:"
    tail -n 10 "$(tb_dpod_dir)/$(tb_dpod_instance "$name").log" 2>/dev/null | sed 's/^/    /' >&2
    return 1
  fi
}

# tb_config_merge FILE JSON_OBJECT: merge into a vxrouted config: top-level
# keys are replaced, except "pods", whose entries are appended.
tb_config_merge() {
  python3 - "$1" "$2" <<'PY' || { tb_err "tb_config_merge $1: failed"; return 1; }
import json, sys
path, extra = sys.argv[1], json.loads(sys.argv[2])
cfg = json.load(open(path))
for k, v in extra.items():
    if k == "pods":
        cfg.setdefault("pods", []).extend(v)
    else:
        cfg[k] = v
with open(path, "w") as f:
    json.dump(cfg, f, indent=1)
PY
}

# tb_router_pid NODE(a|b): PID of the vxrouted this shell runs for NODE.
tb_router_pid() {
  local i
  for i in "${!TB_ROUTER_NAMES[@]}"; do
    [[ "${TB_ROUTER_NAMES[$i]}" == "$1" ]] && { echo "${TB_ROUTER_PIDS[$i]}"; return 0; }
  done
  return 1
}

# tb_restart_router NODE(a|b) DIR [TIMEOUT_S]: SIGTERM the node's vxrouted
# (must exit 0), start it again with DIR/node-NODE.json (the old log is kept
# as node-NODE.log.N) and wait until it is ready.
tb_restart_router() {
  local node=$1 dir=$2 timeout=${3:-30} i pid="" rc=0
  for i in "${!TB_ROUTER_NAMES[@]}"; do
    [[ "${TB_ROUTER_NAMES[$i]}" == "$node" ]] || continue
    pid=${TB_ROUTER_PIDS[$i]}
    unset "TB_ROUTER_PIDS[$i]" "TB_ROUTER_NAMES[$i]"
  done
  TB_ROUTER_PIDS=("${TB_ROUTER_PIDS[@]}")
  TB_ROUTER_NAMES=("${TB_ROUTER_NAMES[@]}")
  if [[ -n "$pid" ]]; then
    tb_stop_pid "$pid" 30 || rc=1
    if ((TB_WAS_DEAD)); then
      tb_err "vxrouted node-$node (PID $pid) had already exited (status $TB_LAST_EXIT) before SIGTERM"
      rc=1
    elif [[ "$TB_LAST_EXIT" != 0 ]]; then
      tb_err "vxrouted node-$node (PID $pid) exited with status $TB_LAST_EXIT after SIGTERM"
      rc=1
    fi
  fi
  local gen=1
  while [[ -e "$dir/node-$node.log.$gen" ]]; do gen=$((gen + 1)); done
  [[ -e "$dir/node-$node.log" ]] && mv "$dir/node-$node.log" "$dir/node-$node.log.$gen"
  tb_start_router "$node" "$dir/node-$node.json" "$dir/node-$node.log"
  tb_wait_ready "${TB_ROUTER_PIDS[-1]}" "$dir/node-$node.log" "$timeout" || return 1
  return "$rc"
}
