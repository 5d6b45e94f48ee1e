#!/usr/bin/env bash
# Smoke run of the vxroute image without hugepages or a testbed: vxrouted
# with --no-huge and an af_packet uplink on the container's loopback, with
# the DaemonSet's capabilities only, on 2 CPUs and no -l (lcores derived from
# them). Checks it gets ready, that EAL loaded the PMD plugins the image
# promises, and that it exits 0 on SIGTERM. Prints TAP lines.
# usage: tests/image/smoke.sh [IMAGE]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VXR_IMAGE=${1:-$VXR_IMAGE}
failed=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=1; }

vxr_require_image || { not_ok "image $VXR_IMAGE present"; exit 1; }
dir=$(mktemp -d /tmp/vxr-img-smoke.XXXXXX)
name=vxr-img-smoke-$$
pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && { vxr_podman kill "$name" >/dev/null 2>&1 || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/smoke.json" <<JSON
{"node_name":"smoke","node_ip":"198.18.0.1/24","uplink":"net_af_packet0,iface=lo",
 "vtep_mac":"02:76:78:00:00:01","pod_cidr":"10.244.1.0/24","host_iface":"","idle_backoff_us":100,
 "max_routes":65536,"mbufs":4096,"admin_socket":"/run/vxroute/smoke.sock","state_dir":"/tmp/state",
 "socket_dir":"/tmp/sockets",
 "eal_args":["--no-huge","-m","512","--no-shconf","--log-level=lib.eal:debug"]}
JSON
read -r -a caps <<<"$(vxr_image_caps)"
t0=$(date +%s.%N)
vxr_podman run --rm --name "$name" --network none --cpuset-cpus 0-1 "${VXR_PODMAN_ULIMITS[@]}" "${caps[@]}" \
  --security-opt no-new-privileges -v "$dir:/cfg:ro" "$VXR_IMAGE" -c /cfg/smoke.json >"$dir/log" 2>&1 &
pid=$!
ready=0
for _ in $(seq 1 300); do
  grep -q 'ready:' "$dir/log" && { ready=1; break; }
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
t1=$(date +%s.%N)
if ((ready)); then
  ok "vxrouted ready in the image with caps ${caps[*]} ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s from podman run)"
else
  not_ok "vxrouted ready in the image"
  sed 's/^/#   /' "$dir/log" | grep -v 'EAL: open shared lib' | tail -n 25
fi
if grep -q 'lcores from the CPU affinity: main lcore on CPU 0, 1 worker on CPU 1' "$dir/log"; then
  ok "lcores derived from the 2 CPUs given (--cpuset-cpus 0-1): main 0, worker 1"
else
  not_ok "lcores derived from the CPUs given"; grep -i lcore "$dir/log" | sed 's/^/#   /'
fi
for pmd in mempool_ring bus_vdev bus_pci net_af_packet net_tap net_vhost net_virtio net_memif net_ixgbe net_i40e net_ice; do
  if grep -q "EAL: open shared lib .*librte_${pmd}\.so" "$dir/log"; then
    ok "EAL loaded the $pmd plugin"
  else
    not_ok "EAL loaded the $pmd plugin"
  fi
done
if ((ready)); then
  vxr_podman kill --signal TERM "$name" >/dev/null 2>&1 || true
  rc=0
  wait "$pid" || rc=$?
  pid=""
  if ((rc == 0)); then ok "vxrouted exits 0 on SIGTERM"; else not_ok "vxrouted exits 0 on SIGTERM (status $rc)"; tail -n 10 "$dir/log" | sed 's/^/#   /'; fi
fi
# The init container's job, as the DaemonSet runs it (no capabilities,
# read-only root): install the plugin and conflist into host directories.
mkdir -p "$dir/bin" "$dir/net.d"
if vxr_podman run --rm --network none "${VXR_PODMAN_ULIMITS[@]}" --cap-drop=ALL --read-only \
    --security-opt no-new-privileges -v "$dir/bin:/host/opt/cni/bin" -v "$dir/net.d:/host/etc/cni/net.d" \
    --entrypoint /usr/bin/vxroute-install-cni "$VXR_IMAGE" >"$dir/install.log" 2>&1 &&
  [[ -x "$dir/bin/vxroute-cni" && -f "$dir/net.d/10-vxroute.conflist" ]] &&
  [[ -z "$(find "$dir/bin" "$dir/net.d" -name '.*.tmp.*')" ]]; then
  ok "install-cni puts vxroute-cni and 10-vxroute.conflist on the host, no temporary file left"
else
  not_ok "install-cni puts vxroute-cni and 10-vxroute.conflist on the host"; sed 's/^/#   /' "$dir/install.log"
fi
# It runs on the node, outside the image: statically linked, it must work there.
if out=$(CNI_COMMAND=VERSION "$dir/bin/vxroute-cni" </dev/null 2>&1) && [[ "$out" == *'"supportedVersions"'* ]] &&
  ! ldd "$dir/bin/vxroute-cni" >/dev/null 2>&1; then
  ok "the installed vxroute-cni is static and answers CNI VERSION on the host"
else
  not_ok "the installed vxroute-cni is static and answers CNI VERSION on the host"; echo "#   $out"
fi
exit "$failed"
