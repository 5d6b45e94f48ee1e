#!/usr/bin/env bash
# End-to-end throughput of vxrouted (one worker) against testpmd, one command:
#   bench/harness/run.sh [--ports memif|vhost|all] [--no-build] [--runs N] [--window S] [--warmup S]
# Builds a release vxrouted (-O3) in $VXR_BUILD_DIR (default /tmp/build-perf).
# --ports memif (default): memif pod and uplink ports; pod->remote (encap),
# remote->pod (decap) and pod->pod for 64-byte frames and an IMIX.
# --ports vhost: a vhost-user pod (the reference pod tests/pod/vxr_pod.cpp as
# generator and sink) and the memif uplink; encap and decap, 64-byte frames
# (see bench/harness/vhost.py). --ports all: both.
# Each case is followed by the same case with testpmd io-forward between the
# same port types in vxrouted's place (the ceiling); prints markdown tables and
# writes them to BENCHMARKS.md (its section per port type) with the machine and this command.
#
#   CPU 0: generator + sink testpmd (main and forwarding lcore), vxrouted's main lcore
#          (vhost: the reference pod as generator + sink instead of testpmd)
#   CPU 1: vxrouted's worker lcore, or the ceiling testpmd's forwarding lcore
#   gen net_pcap(infinite_rx) --io--> memif ==> vxrouted IN port .. OUT port ==> memif --io--> sink
#
# Everything it starts is stopped by PID and its files are removed, also on
# Ctrl-C or error. Needs root, ~300 free 2 MiB hugepages, dpdk-testpmd,
# python3 with scapy (for the pcaps). About 5 minutes (memif) and 2 (vhost) plus the build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir="${VXR_BUILD_DIR:-/tmp/build-perf}"
do_build=1
runs=5 window=3 warmup=2 ports=memif
cmdline="bench/harness/run.sh${*:+ $*}"
while (($#)); do
  case "$1" in
    --no-build) do_build=0 ;;
    --ports) ports="$2"; shift
      [[ $ports == memif || $ports == vhost || $ports == all ]] || { echo "[run] error: --ports memif|vhost|all" >&2; exit 64; } ;;
    --runs) runs="$2"; shift ;;
    --window) window="$2"; shift ;;
    --warmup) warmup="$2"; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "[run] error: unknown argument '$1' (see --help)" >&2; exit 64 ;;
  esac
  shift
done

die() { echo "[run] error: $*" >&2; exit 1; }
((EUID == 0)) || die "needs root (hugepages, DPDK)"
command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd not found (apt-get install dpdk)"
command -v stdbuf >/dev/null || die "stdbuf not found (coreutils)"
scapy_py=""
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import scapy.all' 2>/dev/null; then scapy_py=$(command -v "$py"); break; fi
done
[[ -n $scapy_py ]] || die "no python3 with scapy (apt-get install python3-scapy)"
free_pages=$(awk '$1 == "HugePages_Free:" { print $2 }' /proc/meminfo)
((free_pages >= 300)) || die "only $free_pages free 2 MiB hugepages; need ~300 (scripts/hugepages.sh)"

if ((do_build)); then
  # -Dwerror=false: GCC 12 at -O3 raises a false -Wrestrict inside
  # std::string (src/control/k8s/reflector.cpp), which -Werror turns fatal.
  VXR_BUILD_DIR="$build_dir" "$root/scripts/build.sh" -Dbuildtype=release -Dwerror=false >"/tmp/vxr-bench-build.$$.log" 2>&1 ||
    { tail -30 "/tmp/vxr-bench-build.$$.log" >&2; rm -f "/tmp/vxr-bench-build.$$.log"; die "release build failed"; }
  rm -f "/tmp/vxr-bench-build.$$.log"
  echo "[run] release build ok: $build_dir"
fi
[[ -x $build_dir/src/app/vxrouted ]] || die "$build_dir/src/app/vxrouted missing (drop --no-build)"
if [[ $ports != memif ]]; then
  [[ -x $build_dir/tests/pod/vxr-pod ]] || die "$build_dir/tests/pod/vxr-pod missing (the reference pod; drop --no-build)"
fi

tmp=$(mktemp -d /tmp/vxr-e2e.XXXXXX)
pidfile="$tmp/pids"
: >"$pidfile"
tag=$(basename "$tmp" | tr -d .)

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Only what this run started: the PIDs the orchestrator recorded (each the
  # leader of its own session), then the orchestrator itself.
  if [[ -n ${e2e_pid:-} ]] && kill -0 "$e2e_pid" 2>/dev/null; then kill -TERM "$e2e_pid" 2>/dev/null || true; fi
  if [[ -s $pidfile ]]; then
    while read -r pid; do
      kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
    done <"$pidfile"
    sleep 1
    while read -r pid; do
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    done <"$pidfile"
  fi
  # DPDK runtime dirs of our file prefixes (hugepage files are unlinked already: --huge-unlink).
  # (tag is this run's unique mktemp name; the pods keep their hugepage files: no --huge-unlink with vhost-user)
  rm -rf "/var/run/dpdk/${tag}"*
  rm -f /dev/hugepages/"${tag}"*map_* 2>/dev/null || true
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$root/bench/harness/e2e.py" --build "$build_dir" --tmp "$tmp" --pidfile "$pidfile" \
  --scapy-python "$scapy_py" --runs "$runs" --window "$window" --warmup "$warmup" \
  --out "$root/BENCHMARKS.md" --command "$cmdline" --ports "$ports" &
e2e_pid=$!
wait "$e2e_pid"
