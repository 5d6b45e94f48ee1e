#!/usr/bin/env bash
# End to end, cheaply: bench/kernel_services.sh --smoke, the benchmark of the
# kernel doing the Service job cut to 10 ClusterIP Services x 2 backends and
# one 1 s window, for iptables (kube-proxy's iptables mode) and nftables. It
# passes when packets sent to the ClusterIPs reached the sink namespace, which
# only a DNAT to a backend can route them to, and conntrack shows the
# translation. About 15 s; its own namespaces (vxr-kbench-PID-*).
# usage: tests/e2e/kernel_services.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../bench" && pwd)/kernel_services.sh
out=$(mktemp /tmp/vxr-kbench-smoke.XXXXXX)
trap 'rm -f "$out"' EXIT
rc=0
"$bench" --smoke | tee "$out" || rc=$?
if ((rc != 0)); then
  # A failure it reported counts once; one it did not report (setup) counts here.
  grep -q '^not ok - ' "$out" || echo "not ok - kernel_services smoke: bench/kernel_services.sh --smoke exited $rc"
  exit 1
fi
