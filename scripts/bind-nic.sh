#!/usr/bin/env bash
# Hand a PCI NIC to DPDK (vfio-pci by default) with DPDK's dpdk-devbind.py,
# or give it back to its kernel driver.
# usage: scripts/bind-nic.sh PCI_ADDR|IFACE [--driver vfio-pci|uio_pci_generic] [--dry-run] [--force]
#        scripts/bind-nic.sh PCI_ADDR --unbind [--dry-run]
#   Refuses: an address with no PCI device, an interface that is not a PCI
#   NIC, an interface that is up with addresses or routes (the node's
#   management NIC: binding it cuts the node off) unless --force, vfio-pci
#   without an IOMMU (says how to use vfio's no-IOMMU mode), a driver that
#   cannot be loaded. --unbind rebinds the kernel driver recorded when the
#   NIC was bound (in /var/lib/vxroute/nic-ADDR.driver).
set -euo pipefail

NODE_TAG="bind-nic"
# shellcheck source-path=SCRIPTDIR source=lib/node.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/node.sh"

usage() { echo "usage: $0 PCI_ADDR|IFACE [--driver vfio-pci|uio_pci_generic] [--dry-run] [--force] [--unbind]"; }

target="" driver=vfio-pci force=0 unbind=0
while (($#)); do
  case "$1" in
    --dry-run) NODE_DRY_RUN=1 ;;
    --force) force=1 ;;
    --unbind) unbind=1 ;;
    --driver) [[ $# -ge 2 ]] || node_usage_die "--driver needs a value"; driver=$2; shift ;;
    --driver=*) driver=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    -*) node_usage_die "unknown option '$1'" ;;
    *) [[ -z "$target" ]] || node_usage_die "one device only (got '$target' and '$1')"; target=$1 ;;
  esac
  shift
done
[[ -n "$target" ]] || node_usage_die "name a PCI address (0000:3b:00.0) or an interface"
case "$driver" in
  vfio-pci|uio_pci_generic|igb_uio) ;;
  *) node_usage_die "driver must be vfio-pci, uio_pci_generic or igb_uio, got '$driver'" ;;
esac

pci_re='^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$'
state_dir=$(node_path /var/lib/vxroute)

# iface_in_use IFACE: print why IFACE carries the node's traffic (up with
# addresses or routes), nothing if it does not.
iface_in_use() {
  local ifc=$1 addrs routes
  ip -o link show dev "$ifc" 2>/dev/null | grep -q '[<,]UP[,>]' || return 0
  addrs=$(ip -o addr show dev "$ifc" scope global 2>/dev/null | awk '{print $4}' | xargs)
  routes=$( { ip route show dev "$ifc"; ip -6 route show dev "$ifc" | grep -v '^fe80::\|^multicast\|^ff00::'; } 2>/dev/null |
    grep -v '^$' | paste -sd ';' -)
  [[ -z "$addrs$routes" ]] && return 0
  local why="$ifc is up"
  [[ -n "$addrs" ]] && why+=" with addresses $addrs"
  [[ -n "$routes" ]] && why+=" and routes: $routes"
  ip route show default 2>/dev/null | grep -q " dev $ifc\b" && why+=" (it carries the default route)"
  echo "$why"
}

pci="" ifaces=()
if [[ "$target" =~ $pci_re ]]; then
  pci=$target
  [[ "$pci" == ????:* ]] || pci=0000:$pci
  pci=${pci,,}
  [[ -e "$(node_path "/sys/bus/pci/devices/$pci")" ]] ||
    node_die "no PCI device $pci on this machine (see 'lspci -D' or '$(node_devbind || echo dpdk-devbind.py) --status')"
  # Its interfaces may hang below a child device (virtio-pci: .../virtio2/net/eth0).
  for n in /sys/class/net/*; do
    [[ "$(readlink -f "$n")/" == */"$pci"/* ]] && ifaces+=("${n##*/}")
  done
else
  [[ -e "/sys/class/net/$target" ]] || node_die "no interface $target here, and not a PCI address (DDDD:BB:DD.F)"
  ifaces=("$target")
fi

# The most dangerous case first: the NIC this node is reached through.
if ((!unbind)); then
  for ifc in "${ifaces[@]}"; do
    why=$(iface_in_use "$ifc")
    [[ -z "$why" ]] && continue
    if ((force)); then
      node_warn "$why; binding it anyway (--force): the node loses that connectivity"
    else
      node_die "refusing: $why. It looks like the node's management NIC: binding it to $driver cuts the node" \
        "off. Take it down and move its addresses first, or pass --force"
    fi
  done
fi

if [[ -z "$pci" ]]; then
  # The PCI function the interface sits on: the last PCI address in its sysfs path.
  pci=$(readlink -f "/sys/class/net/$target" | tr / '\n' | grep -E '^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$' | tail -n1 || true)
  if [[ -z "$pci" ]]; then
    node_die "$target is not a PCI NIC (a virtual or non-PCI interface): give vxrouted it as" \
      "net_af_packet0,iface=$target or net_af_xdp0,iface=$target instead"
  fi
fi

devbind=$(node_devbind) || node_die "dpdk-devbind.py not found (Debian package dpdk: scripts/deps.sh)"
current=$(basename "$(readlink -f "$(node_path "/sys/bus/pci/devices/$pci/driver")" 2>/dev/null)" 2>/dev/null || true)
[[ "$current" == driver || "$current" == . ]] && current=""
node_say "$pci: driver ${current:-none}${ifaces[*]:+, interfaces ${ifaces[*]}}"

if ((unbind)); then
  orig=$(cat "$state_dir/nic-$pci.driver" 2>/dev/null || true)
  if [[ -z "$orig" ]]; then
    node_die "no record of $pci's kernel driver in $state_dir (not bound by this script): run" \
      "'$devbind --bind=DRIVER $pci' with its driver (lspci -k -s $pci shows it)"
  fi
  if [[ "$current" == "$orig" ]]; then node_say "$pci already uses $orig"; exit 0; fi
  node_run "$devbind" --bind="$orig" "$pci"
  node_run rm -f "$state_dir/nic-$pci.driver"
  if ((NODE_DRY_RUN)); then node_say "dry run: nothing changed"; else node_say "ok: $pci back on $orig"; fi
  exit 0
fi

if [[ "$current" == "$driver" ]]; then node_say "ok: $pci already uses $driver"; exit 0; fi

if [[ "$driver" == vfio-pci ]] && (($(node_iommu_groups) == 0)) && ! node_noiommu_enabled; then
  node_die "no IOMMU (/sys/kernel/iommu_groups is empty): vfio-pci cannot isolate the NIC's DMA. Enable it on" \
    "the kernel command line (intel_iommu=on iommu=pt, or amd_iommu=on) and reboot; or, without isolation," \
    "vfio's no-IOMMU mode: 'echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode' (or modprobe vfio" \
    "enable_unsafe_noiommu_mode=1), or --driver uio_pci_generic"
fi
module=${driver//-/_}
if ! node_module_present "$driver"; then
  node_modules_loadable || node_die "$driver is not in this kernel and the kernel cannot load modules (no /proc/modules)"
  node_run modprobe "$module" || node_die "cannot load $module (is the kernel's package of modules installed?)"
fi

node_require_root
node_run mkdir -p "$state_dir"
if [[ -n "$current" ]]; then
  if ((NODE_DRY_RUN)); then
    node_say "would record $current in $state_dir/nic-$pci.driver"
  else
    echo "$current" >"$state_dir/nic-$pci.driver"
  fi
fi
bind=("$devbind" --bind="$driver" "$pci")
((force)) && bind+=(--force)
node_run "${bind[@]}"
if ((NODE_DRY_RUN)); then node_say "dry run: nothing changed"; exit 0; fi
node_say "ok: $pci on $driver; name it in vxrouted's eal_args (\"-a\",\"$pci\") and as uplink \"$pci\"" \
  "(undo: $0 $pci --unbind)"
