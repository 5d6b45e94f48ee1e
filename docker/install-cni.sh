#!/bin/sh
# The DaemonSet's init container: install the vxroute-cni plugin and its
# conflist on the node. Each file is copied to a temporary name in the
# target directory and renamed over the old one, so the kubelet/containerd
# never sees a half-written plugin or config (rename(2) is atomic within a
# filesystem).
# env: CNI_BIN_DIR (default /host/opt/cni/bin), CNI_CONF_DIR (/host/etc/cni/net.d),
#      CNI_CONF_NAME (10-vxroute.conflist)
set -eu
bin_dir=${CNI_BIN_DIR:-/host/opt/cni/bin}
conf_dir=${CNI_CONF_DIR:-/host/etc/cni/net.d}
conf_name=${CNI_CONF_NAME:-10-vxroute.conflist}
src=/opt/vxroute/cni

install_atomic() {  # SRC DIR NAME MODE
  [ -d "$2" ] || { echo "install-cni: $2 does not exist (is the hostPath volume mounted?)" >&2; exit 1; }
  tmp=$(mktemp "$2/.$3.tmp.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  cp "$1" "$tmp"
  chmod "$4" "$tmp"
  mv -f "$tmp" "$2/$3"
  trap - EXIT
  echo "install-cni: installed $2/$3"
}

install_atomic "$src/vxroute-cni" "$bin_dir" vxroute-cni 0755
install_atomic "$src/10-vxroute.conflist" "$conf_dir" "$conf_name" 0644
