# shellcheck shell=bash
# Shared by tests/image/*.sh: how to run the vxroute image with podman the
# way the DaemonSet runs it (the same capabilities, read from
# docker/vxroute-daemonset.yaml, nothing privileged).
VXR_IMG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VXR_IMAGE=${VXR_IMAGE:-localhost/vxroute:dev}

# This sandbox (nested containers) needs runc with cgroupfs and modest
# ulimits; on an ordinary host they are harmless.
vxr_podman() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }
# shellcheck disable=SC2034  # used by the scripts that source this
VXR_PODMAN_ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

# The vxrouted container's capabilities from the DaemonSet, as podman flags.
vxr_image_caps() {
  python3 - "$VXR_IMG_ROOT/docker/vxroute-daemonset.yaml" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "DaemonSet":
        for c in d["spec"]["template"]["spec"]["containers"]:
            if c["name"] == "vxrouted":
                caps = c["securityContext"]["capabilities"]
                print(" ".join(["--cap-drop=" + x for x in caps.get("drop", [])] +
                               ["--cap-add=" + x for x in caps.get("add", [])]))
PY
}

vxr_require_image() {
  command -v podman >/dev/null || { echo "error: podman not installed (scripts/image.sh installs it)" >&2; return 1; }
  vxr_podman image exists "$VXR_IMAGE" || {
    echo "error: image $VXR_IMAGE not built; run scripts/image.sh" >&2
    return 1
  }
}
