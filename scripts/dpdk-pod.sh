#!/usr/bin/env bash
# Run the reference DPDK pod (tests/pod/vxr_pod.cpp, binary vxr-pod) in a
# network namespace, attached to vxrouted over vhost-user.
#
# usage: scripts/dpdk-pod.sh start NAME --socket PATH --ip IP --mac MAC --gw IP [--gw-mac MAC|arp]
#                                 [--ns NS] [--mode send|echo|sink] [--core N] [--mem MB]
#                                 [--stats FILE] [--log FILE] [-- VXR_POD_OPTIONS...]
#        scripts/dpdk-pod.sh stop NAME [--kill]
#        scripts/dpdk-pod.sh status NAME
# env:   VXR_POD_BIN (default $VXR_BUILD_DIR/tests/pod/vxr-pod), VXR_POD_RUN_DIR
#        (PID, log and stats files; default /run/vxroute/pods)
#
# The pod side of a vhost-user pod port:
# - The pod's virtio-user port is the vhost-user SERVER: it creates the unix
#   socket at PATH (`--vdev net_virtio_user0,path=PATH,server=1,...`);
#   vxrouted's net_vhost port is the client (`client=1`) and reconnects, so
#   either side may start or restart first. vxrouted's "vhost_socket":"auto"
#   means PATH = <socket_dir>/<pod name>-eth0.sock (socket_dir default
#   /var/run/vxroute/sockets).
# - Memory: hugepages (scripts/hugepages.sh), --single-file-segments so the
#   memory is a few files that vhost-user can share (it passes at most 8
#   regions), a unique --file-prefix (vxr-pod-NAME) so that pods and
#   vxrouted instances do not share DPDK runtime state, --no-pci.
# - Addresses: the pod's MAC is the virtio-user port's (mac=MAC); it must be
#   the MAC vxrouted has for the pod (frames to the pod carry it). The IP is
#   inside the node's pod CIDR. The gateway is the CIDR's first address and
#   its MAC is the node's VTEP MAC; without --gw-mac (or with "arp") the pod
#   ARPs for the gateway (vxrouted answers ARP for any address but the pod's).
#   vxrouted drops IPv4 whose source is not the pod's IP.
# - queue_size=1024 (default 256): the ring rides out ~0.5 s without vxrouted
#   polling at 2000 pps (shared cores in tests); at line rate it is latency.
# - The namespace is cosmetic for a DPDK pod (the socket is a path on the
#   file system); it is where a real pod would run.
# - virtio-user in server mode blocks in EAL init (accept) until vxrouted
#   connects the first time; later disconnects and reconnects are handled
#   while running (the pod polls its link).
# `start` returns once the socket exists (the pod then waits for vxrouted);
# `stop` sends SIGTERM (or SIGKILL with --kill), waits, removes the socket,
# the PID file and the pod's DPDK runtime/hugepage files.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${VXR_BUILD_DIR:-build}
[[ "$build_dir" == /* ]] || build_dir=$root/$build_dir
pod_bin=${VXR_POD_BIN:-$build_dir/tests/pod/vxr-pod}
run_dir=${VXR_POD_RUN_DIR:-/run/vxroute/pods}

usage() { sed -n '5,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }
err() { echo "dpdk-pod: error: $*" >&2; }

# pid_alive PID: running and not a zombie.
pid_alive() {
  kill -0 "$1" 2>/dev/null && [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]
}

cleanup_files() {  # NAME SOCKET
  local name=$1 sock=$2 prefix=vxr-pod-$1
  [[ -n "$sock" && -S "$sock" ]] && rm -f "$sock"
  rm -rf "/var/run/dpdk/$prefix"
  rm -f /dev/hugepages/"${prefix}"map_* 2>/dev/null || true
  rm -f "$run_dir/$name.pid" "$run_dir/$name.sock-path"
}

cmd_start() {
  local name=${1:-}; shift || true
  [[ "$name" =~ ^[a-zA-Z0-9._-]{1,40}$ ]] || { err "start: NAME must be 1-40 characters [a-zA-Z0-9._-]"; usage; return 2; }
  local ns="" sock="" ip="" mac="" gw="" gw_mac="" mode=echo core=1 mem=256 stats="" log="" extra=()
  while (($#)); do
    case "$1" in
      --ns) ns=$2; shift 2 ;;
      --socket) sock=$2; shift 2 ;;
      --ip) ip=$2; shift 2 ;;
      --mac) mac=$2; shift 2 ;;
      --gw) gw=$2; shift 2 ;;
      --gw-mac) gw_mac=$2; shift 2 ;;
      --mode) mode=$2; shift 2 ;;
      --core) core=$2; shift 2 ;;
      --mem) mem=$2; shift 2 ;;
      --stats) stats=$2; shift 2 ;;
      --log) log=$2; shift 2 ;;
      --) shift; extra=("$@"); break ;;
      *) err "start: unknown option '$1'"; usage; return 2 ;;
    esac
  done
  [[ "$gw_mac" == arp ]] && gw_mac=""
  local missing=() v
  for v in sock ip mac gw; do [[ -n "${!v}" ]] || missing+=("--${v//_/-}"); done
  ((${#missing[@]} == 0)) || { err "start $name: missing ${missing[*]/--sock/--socket}"; return 2; }
  [[ -x "$pod_bin" ]] || { err "no pod binary $pod_bin (build with subdir('pod') in tests/meson.build, or set VXR_POD_BIN)"; return 1; }
  if [[ -n "$ns" && ! -e "/run/netns/$ns" ]]; then err "namespace $ns does not exist"; return 1; fi
  local free
  free=$(awk '$1 == "HugePages_Free:" { print $2 }' /proc/meminfo)
  if ((free * 2 < mem)); then err "only ${free:-0} free 2 MiB hugepages, pod $name wants $mem MB (scripts/hugepages.sh)"; return 1; fi
  mkdir -p "$run_dir" "$(dirname "$sock")"
  local pidf=$run_dir/$name.pid
  if [[ -f "$pidf" ]] && pid_alive "$(cat "$pidf")"; then
    err "pod $name already runs (PID $(cat "$pidf"))"
    return 1
  fi
  # A pod killed with SIGKILL leaves its socket behind; virtio-user cannot
  # bind over it. Only ever remove it when no pod of ours owns it.
  if [[ -e "$sock" ]]; then
    [[ -S "$sock" ]] || { err "$sock exists and is not a socket"; return 1; }
    rm -f "$sock"
  fi
  cleanup_files "$name" ""
  [[ -n "$stats" ]] || stats=$run_dir/$name.stats.json
  [[ -n "$log" ]] || log=$run_dir/$name.log
  rm -f "$stats"
  local cmd=("$pod_bin" -l "$core" -m "$mem" --no-pci --single-file-segments --file-prefix="vxr-pod-$name"
    --log-level=lib.eal:warning
    --vdev "net_virtio_user0,path=$sock,server=1,mac=$mac,queues=1,queue_size=1024"
    -- --ip "$ip" --gw "$gw" ${gw_mac:+--gw-mac "$gw_mac"} --mode "$mode" --stats "$stats" "${extra[@]}")
  if [[ -n "$ns" ]]; then cmd=(ip netns exec "$ns" "${cmd[@]}"); fi
  # setsid: the pod is not in the caller's process group (Ctrl-C of a test
  # goes to the test, which stops the pod itself).
  setsid "${cmd[@]}" </dev/null >"$log" 2>&1 &
  local pid=$!
  echo "$pid" >"$pidf"
  echo "$sock" >"$run_dir/$name.sock-path"
  # Running once the socket exists (EAL init and port start done).
  local t=0
  while ((t < 100)); do
    [[ -S "$sock" ]] && { echo "$pid"; return 0; }
    if ! pid_alive "$pid"; then
      err "pod $name exited during start; last lines of $log:"
      tail -n 15 "$log" | sed 's/^/    /' >&2
      cleanup_files "$name" "$sock"
      return 1
    fi
    sleep 0.1
    t=$((t + 1))
  done
  err "pod $name (PID $pid) did not create $sock within 10 s; log $log"
  return 1
}

cmd_stop() {
  local name=${1:?usage: stop NAME [--kill]} sig=TERM
  [[ "${2:-}" == --kill ]] && sig=KILL
  local pidf=$run_dir/$name.pid sock=""
  [[ -f "$run_dir/$name.sock-path" ]] && sock=$(cat "$run_dir/$name.sock-path")
  if [[ ! -f "$pidf" ]]; then err "pod $name: no PID file $pidf"; return 1; fi
  local pid t=0 rc=0
  pid=$(cat "$pidf")
  if pid_alive "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    while pid_alive "$pid" && ((t < 100)); do sleep 0.1; t=$((t + 1)); done
    if pid_alive "$pid"; then
      err "pod $name (PID $pid) still runs 10 s after SIG$sig; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      rc=1
    fi
  fi
  # Our own child (started by this shell): reap it.
  wait "$pid" 2>/dev/null || true
  cleanup_files "$name" "$sock"
  return "$rc"
}

cmd_status() {
  local name=${1:?usage: status NAME} pidf=$run_dir/${1}.pid
  if [[ -f "$pidf" ]] && pid_alive "$(cat "$pidf")"; then
    echo "pod $name: running, PID $(cat "$pidf")"
    if [[ -f "$run_dir/$name.stats.json" ]]; then
      cat "$run_dir/$name.stats.json"
    else
      echo "(no stats yet: waiting for vxrouted's first vhost-user connection)"
    fi
    return 0
  fi
  echo "pod $name: not running"
  return 1
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  -h|--help) usage; exit 0 ;;
  *) usage; exit 2 ;;
esac
