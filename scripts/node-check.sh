#!/usr/bin/env bash
# What this node has and lacks to run vxrouted, one line per item:
#   ok       present
#   MISSING  required and absent: vxrouted will not run (exit status 1)
#   warn     absent but only needed for some setups (a PCI NIC, isolation, tuning)
# Each line that is not ok says what to do. Changes nothing.
# usage: scripts/node-check.sh [--pci] [--json]
#   --pci   the uplink will be a PCI NIC: IOMMU and vfio-pci become required
#   --json  one JSON array of {item, status, detail, fix} instead of text
set -euo pipefail

NODE_TAG="node-check"
# shellcheck source-path=SCRIPTDIR source=lib/node.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/node.sh"

usage() { echo "usage: $0 [--pci] [--json]"; }

pci=0 json=0
for arg in "$@"; do
  case "$arg" in
    --pci) pci=1 ;;
    --json) json=1 ;;
    -h|--help) usage; exit 0 ;;
    *) node_usage_die "unknown argument '$arg'" ;;
  esac
done

results=()   # status|item|detail|fix
missing=0
# report STATUS ITEM DETAIL [FIX]
report() {
  results+=("$1|$2|$3|${4:-}")
  [[ "$1" == MISSING ]] && missing=$((missing + 1))
  return 0
}
# need_or_warn REQUIRED(0|1): MISSING if required, warn otherwise.
need_or_warn() { if (($1)); then echo MISSING; else echo warn; fi; }

# --- hugepages ---------------------------------------------------------------
any_free=0
for kb in $(node_hugepage_sizes); do
  sz=$(node_size_name "$kb")
  dir=$(node_hp_dir "$kb")
  total=$(node_read "$dir/nr_hugepages") free=$(node_read "$dir/free_hugepages")
  per_node=""
  for n in $(node_numa_nodes); do
    nd=$(node_hp_dir "$kb" "$n")
    [[ -d "$(node_path "$nd")" ]] && per_node+=" node$n=$(node_read "$nd/free_hugepages")/$(node_read "$nd/nr_hugepages")"
  done
  detail="$free free of $total${per_node:+ (free/total per NUMA node:$per_node)}"
  if ((free > 0)); then
    any_free=1
    report ok "hugepages $sz" "$detail"
    mnt=$(node_hugetlbfs_mount "$kb")
    if [[ -n "$mnt" ]]; then
      report ok "hugetlbfs $sz" "mounted on $mnt"
    else
      report MISSING "hugetlbfs $sz" "$sz pages reserved but no hugetlbfs mount serves them" \
        "scripts/hugepages.sh --size $sz (mounts it)"
    fi
  else
    report warn "hugepages $sz" "$detail" "scripts/hugepages.sh --size $sz N [--persistent]"
  fi
done
if ((!any_free)); then
  report MISSING "hugepages" "no free hugepages of any size (supported: $(node_hugepage_sizes | while read -r k; do node_size_name "$k"; done | xargs))" \
    "scripts/hugepages.sh [N] [--persistent]"
fi

# --- CPUs --------------------------------------------------------------------
online=$(node_read /sys/devices/system/cpu/online)
ncpu=$(getconf _NPROCESSORS_ONLN)
if ((ncpu >= 2)); then
  report ok "CPUs" "$ncpu online ($online): the control thread and $((ncpu - 1)) possible worker(s)"
else
  report MISSING "CPUs" "$ncpu online: vxrouted needs one for its control thread and one per worker" "a node with 2 or more CPUs"
fi
isolated=$(node_read /sys/devices/system/cpu/isolated)
if [[ -n "$isolated" ]]; then
  report ok "isolated CPUs" "$isolated (give them to vxrouted's workers: eal_args -l)"
else
  report warn "isolated CPUs" "none: the workers' cores are shared with the kernel and other processes" \
    "isolcpus=/nohz_full= on the kernel command line (or a CPU manager static policy) for the worker cores"
fi
if [[ -e "$(node_path /sys/devices/system/cpu/nohz_full)" ]]; then
  nohz=$(node_read /sys/devices/system/cpu/nohz_full)
  if [[ -n "$nohz" && "$nohz" != "(null)" ]]; then
    report ok "nohz_full" "$nohz"
  else
    report warn "nohz_full" "no CPU runs tickless" "nohz_full=<worker cores> on the kernel command line"
  fi
else
  report warn "nohz_full" "this kernel has no NO_HZ_FULL support" "a kernel built with CONFIG_NO_HZ_FULL for tick-free worker cores"
fi

# --- devices and kernel modules ---------------------------------------------------
if [[ -c "$(node_path /dev/net/tun)" ]]; then
  report ok "/dev/net/tun" "present (kernel pods and the vxr-host port are taps)"
else
  report MISSING "/dev/net/tun" "absent: no kernel pods, no host port" "modprobe tun (CONFIG_TUN)"
fi
groups=$(node_iommu_groups)
if ((groups > 0)); then
  report ok "IOMMU" "$groups IOMMU groups"
elif node_noiommu_enabled; then
  report warn "IOMMU" "none, but vfio's unsafe no-IOMMU mode is on (no DMA isolation)"
else
  report "$(need_or_warn "$pci")" "IOMMU" "none (/sys/kernel/iommu_groups is empty): vfio-pci cannot take a PCI NIC" \
    "intel_iommu=on iommu=pt (or amd_iommu=on) on the kernel command line; not needed with af_packet/af_xdp uplinks"
fi
if node_modules_loadable; then loadable="the kernel can load it"; else loadable="this kernel cannot load modules (no /proc/modules)"; fi
if node_module_present vfio-pci; then
  report ok "vfio-pci" "available"
else
  report "$(need_or_warn "$pci")" "vfio-pci" "not loaded nor built in; $loadable" \
    "modprobe vfio-pci (for a PCI NIC; scripts/bind-nic.sh loads it)"
fi
if [[ -d "$(node_path /dev/vfio)" ]]; then
  report ok "/dev/vfio" "present"
else
  report "$(need_or_warn "$pci")" "/dev/vfio" "absent (appears with vfio)" "modprobe vfio-pci"
fi
if [[ -c "$(node_path /dev/vhost-net)" ]]; then
  report ok "/dev/vhost-net" "present (not needed: vxrouted uses taps for the kernel)"
else
  report ok "/dev/vhost-net" "absent; not needed (vxrouted uses taps for kernel pods and the host port)"
fi

# --- limits and software ------------------------------------------------------------
memlock=$(ulimit -l)
if [[ "$memlock" == unlimited ]] || ((EUID == 0)); then
  report ok "memlock" "ulimit -l $memlock$([[ $EUID == 0 && "$memlock" != unlimited ]] && echo " (root: CAP_IPC_LOCK ignores it)")"
else
  report MISSING "memlock" "ulimit -l $memlock kB for a non-root user: DPDK cannot lock its memory" \
    "run vxrouted as root, or LimitMEMLOCK=infinity / ulimit -l unlimited"
fi
for pkg in dpdk dpdk-dev; do
  if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" == ii* ]]; then
    report ok "package $pkg" "installed$([[ $pkg == dpdk ]] && echo " (dpdk-devbind.py)" || echo " (dpdk-dumpcap)")"
  else
    report "$([[ $pkg == dpdk ]] && echo MISSING || echo warn)" "package $pkg" "not installed" "scripts/deps.sh"
  fi
done
if pmds=$(node_pmd_dir); then
  for pmd in af_packet tap vhost ring; do
    if compgen -G "$pmds/librte_net_$pmd.so*" >/dev/null; then
      report ok "PMD net_$pmd" "$pmds"
    else
      report MISSING "PMD net_$pmd" "not in $pmds" "apt-get install librte-net-${pmd//_/-}23 (scripts/deps.sh)"
    fi
  done
else
  report MISSING "DPDK PMDs" "no DPDK driver directory (/usr/lib/*/dpdk/pmds-*)" "scripts/deps.sh"
fi

# --- sysctls --------------------------------------------------------------------
for entry in "${NODE_SYSCTLS[@]}"; do
  IFS='|' read -r key mode want reason <<<"$entry"
  cur=$(node_sysctl_get "$key")
  if [[ -z "$cur" ]]; then
    report ok "sysctl $key" "not in this kernel"
  elif node_sysctl_ok "$mode" "$want" "$cur"; then
    report ok "sysctl $key" "$cur"
  else
    report warn "sysctl $key" "$cur, want $(node_sysctl_want "$mode" "$want"): $reason" "scripts/node-tune.sh [--persistent]"
  fi
done

if ((json)); then
  printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
out = []
for line in sys.stdin.read().splitlines():
    status, item, detail, fix = line.split("|", 3)
    out.append({"item": item, "status": status.lower(), "detail": detail, "fix": fix})
print(json.dumps(out, indent=1))'
else
  for r in "${results[@]}"; do
    IFS='|' read -r status item detail fix <<<"$r"
    printf '%-8s %s: %s%s\n' "$status" "$item" "$detail" "${fix:+ -> $fix}"
  done
  if ((missing)); then
    echo "$missing required item(s) missing: vxrouted will not run here as is"
  else
    echo "nothing required is missing"
  fi
fi
((missing == 0))
