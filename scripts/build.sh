#!/usr/bin/env bash
# Configure (or reconfigure) and compile vxroute with meson.
# usage: [VXR_BUILD_DIR=dir] scripts/build.sh [extra meson options...]
#   e.g. VXR_BUILD_DIR=build-asan scripts/build.sh -Db_sanitize=address,undefined
set -euo pipefail

case "${1:-}" in
  -h|--help) echo "usage: [VXR_BUILD_DIR=dir] $0 [extra meson setup options...]"; exit 0 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir="${VXR_BUILD_DIR:-build}"

for tool in meson ninja; do
  command -v "$tool" >/dev/null || { echo "[build] error: $tool not found; run scripts/deps.sh" >&2; exit 1; }
done

if [[ -f "$build_dir/build.ninja" ]]; then
  echo "[build] meson setup --reconfigure $build_dir $*"
  meson setup --reconfigure "$build_dir" "$@"
else
  echo "[build] meson setup $build_dir $*"
  meson setup "$build_dir" "$@"
fi
echo "[build] meson compile -C $build_dir"
meson compile -C "$build_dir"
echo "[build] ok: $build_dir"
