#!/usr/bin/env bash
# TB_ROUTER_WRAP for scripts/lib/testbed.sh: run vxrouted from the image in
# the node's network namespace, the way the DaemonSet runs it: the
# DaemonSet's capabilities (not privileged), /dev/net/tun, host hugepages,
# the pods' namespaces under /run/netns, the admin socket directory shared
# with the host. exec: the testbed's PID is podman's, which passes SIGTERM
# on to vxrouted and exits with its status.
# usage: podman_router.sh NODE_NS CONFIG      (env VXR_IMAGE, VXR_IMG_CPUS)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ns=${1:?usage: $0 NODE_NS CONFIG}
cfg=${2:?usage: $0 NODE_NS CONFIG}
cfg_dir=$(dirname "$cfg")
read -r -a caps <<<"$(vxr_image_caps)"
((${#caps[@]})) || { echo "podman_router: no capabilities read from docker/vxroute-daemonset.yaml" >&2; exit 1; }
mkdir -p /run/vxroute
exec podman --runtime runc --cgroup-manager cgroupfs run --rm --name "vxr-img-$ns" \
  --network "ns:/run/netns/$ns" --cpuset-cpus "${VXR_IMG_CPUS:-0-1}" "${VXR_PODMAN_ULIMITS[@]}" \
  "${caps[@]}" --security-opt no-new-privileges --device /dev/net/tun \
  -v /dev/hugepages:/dev/hugepages -v /run/netns:/run/netns -v /run/vxroute:/run/vxroute \
  -v "$cfg_dir:$cfg_dir" "$VXR_IMAGE" -c "$cfg"
