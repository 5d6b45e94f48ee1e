#!/usr/bin/env bash
# Build vxroute's container image end to end, with no registry: a Debian
# bookworm base from debootstrap (podman import), then docker/Dockerfile with
# podman (buildah inside). Each step prints one progress line and fails with
# one clear error. The base rootfs tarball and image are cached, so a rebuild
# only redoes the Dockerfile.
# usage: scripts/image.sh [--image NAME] [--rebuild-base] [--no-verify] [--build-arg K=V]...
#   --image NAME     image to build (default $VXR_IMAGE or localhost/vxroute:dev)
#   --rebuild-base   debootstrap again even if the base image/tarball exist
#   --no-verify      skip the smoke run (vxrouted starting in the image)
# env: VXR_BASE_IMAGE (localhost/vxroute-debian:bookworm), VXR_IMAGE_CACHE
#      (/var/cache/vxroute-image), VXR_DEBIAN_MIRROR (this host's apt mirror)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=${VXR_IMAGE:-localhost/vxroute:dev}
base=${VXR_BASE_IMAGE:-localhost/vxroute-debian:bookworm}
cache=${VXR_IMAGE_CACHE:-/var/cache/vxroute-image}
rebuild_base=0
verify=1
build_args=()
while (($#)); do
  case "$1" in
    --image) image=${2:?--image needs a name}; shift ;;
    --rebuild-base) rebuild_base=1 ;;
    --no-verify) verify=0 ;;
    --build-arg) build_args+=(--build-arg "${2:?--build-arg needs K=V}"); shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--image NAME] [--rebuild-base] [--no-verify] [--build-arg K=V]..." >&2; exit 2 ;;
  esac
  shift
done

step_no=0
step() { step_no=$((step_no + 1)); echo "[image] step $step_no: $*"; }
die() { echo "[image] error (step $step_no): $*" >&2; exit 1; }
# This sandbox (nested containers) needs runc with cgroupfs and modest
# ulimits; on an ordinary host they are harmless.
podman_() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }
ulimits=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

((EUID == 0)) || die "run as root (debootstrap, podman storage)"

step "host tools: podman buildah debootstrap runc"
need=()
for p in podman buildah debootstrap runc; do
  [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" == ii* ]] || need+=("$p")
done
if ((${#need[@]})); then
  echo "[image]   installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
    die "apt-get install ${need[*]} failed"
fi

# The mirror this host's apt uses (deb822 URIs: or a one-line deb entry).
mirror=${VXR_DEBIAN_MIRROR:-}
if [[ -z "$mirror" ]]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    awk '/^URIs:/ && $2 ~ /debian\/?$/ { print $2; exit } /^deb / && $3 == "bookworm" { print $2; exit }' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
fi

step "base image $base (debootstrap bookworm minbase from $mirror)"
mkdir -p "$cache"
tarball=$cache/bookworm-minbase.tar
if ((rebuild_base)); then
  rm -f "$tarball"
  podman_ rmi -f "$base" >/dev/null 2>&1 || true
fi
if podman_ image exists "$base"; then
  echo "[image]   $base exists (cached; --rebuild-base to redo)"
else
  if [[ ! -s "$tarball" ]]; then
    rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    echo "[image]   debootstrap into $rootfs (log $cache/debootstrap.log)"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
      die "debootstrap failed; last lines of $cache/debootstrap.log:
$(tail -n 15 "$cache/debootstrap.log")"
    security=${mirror%/debian}/debian-security
    cat >"$rootfs/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SRC
    # No recommends, no apt caches left in layers.
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$rootfs/etc/apt/apt.conf.d/90vxroute"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" . || die "tar of the rootfs failed"
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT
  else
    echo "[image]   using cached rootfs $tarball"
  fi
  podman_ import --change 'CMD ["/bin/bash"]' "$tarball" "$base" >"$cache/import.log" 2>&1 ||
    die "podman import $tarball failed: $(tail -n 5 "$cache/import.log")"
fi

step "podman build -f docker/Dockerfile -> $image (log $cache/build.log)"
t0=$SECONDS
if ! podman_ build --network host "${ulimits[@]}" --build-arg "BASE_IMAGE=$base" "${build_args[@]}" \
    -f "$root/docker/Dockerfile" -t "$image" "$root" >"$cache/build.log" 2>&1; then
  die "podman build failed; last lines of $cache/build.log:
$(tail -n 25 "$cache/build.log")"
fi
echo "[image]   built in $((SECONDS - t0)) s; runtime packages from the binaries' libraries:"
podman_ run --rm "${ulimits[@]}" --entrypoint cat "$image" /usr/share/vxroute/runtime-packages | tr '\n' ' ' | fold -s -w 100 | sed 's/^/[image]     /'
echo
size=$(podman_ image inspect --format '{{.Size}}' "$image")
echo "[image]   size $((size / 1000000)) MB ($size bytes)"

if ((verify)); then
  step "verify: vxrouted starts in the image and EAL loads the PMDs"
  "$root/tests/image/smoke.sh" "$image" || die "smoke run failed (see above)"
fi
echo "[image] ok: $image"
