#!/usr/bin/env bash
# Reserve hugepages for DPDK and make sure hugetlbfs is mounted.
# usage: scripts/hugepages.sh [--dry-run] [--size 2M|1G] [--node N] [--total N] [--persistent] [N]
#   N             pages that must be free (default $VXR_HUGEPAGES or 1024); the
#                 pool grows by what is missing, never shrinks under a running process
#   --total N     set the pool to exactly N pages instead (refused below the pages in use)
#   --size        page size (default 2M); refused if the kernel does not support it
#   --node N      reserve on NUMA node N only (refused if there is no such node)
#   --persistent  also make it survive a reboot: /etc/sysctl.d for 2M pages on the
#                 default pool; a systemd unit for 1G or per-node pools (and the
#                 kernel command line to use for 1G, printed)
#   --dry-run     print every write and command instead of doing it
# With no arguments: 1024 free 2 MiB pages, hugetlbfs on /dev/hugepages
# (what scripts/test.sh and scripts/demo.sh rely on).
set -euo pipefail

NODE_TAG=hugepages
# shellcheck source-path=SCRIPTDIR source=lib/node.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/node.sh"

usage() { echo "usage: $0 [--dry-run] [--size 2M|1G] [--node N] [--total N] [--persistent] [N]   (N pages free; default \$VXR_HUGEPAGES or 1024)"; }

size=2M
numa=""
total_want=""
persistent=0
want="${VXR_HUGEPAGES:-1024}"
while (($#)); do
  case "$1" in
    --dry-run) NODE_DRY_RUN=1 ;;
    --persistent) persistent=1 ;;
    --size) [[ $# -ge 2 ]] || node_usage_die "--size needs a value"; size=$2; shift ;;
    --size=*) size=${1#*=} ;;
    --node) [[ $# -ge 2 ]] || node_usage_die "--node needs a value"; numa=$2; shift ;;
    --node=*) numa=${1#*=} ;;
    --total) [[ $# -ge 2 ]] || node_usage_die "--total needs a value"; total_want=$2; shift ;;
    --total=*) total_want=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    ''|*[!0-9]*) node_usage_die "not a page count: '$1'" ;;
    *) want=$1 ;;
  esac
  shift
done
if [[ ! "$want" =~ ^[0-9]+$ ]] || ((want == 0)); then
  node_usage_die "page count must be a positive integer, got '$want'"
fi
[[ -z "$total_want" || "$total_want" =~ ^[0-9]+$ ]] || node_usage_die "--total must be a page count, got '$total_want'"
[[ -z "$numa" || "$numa" =~ ^[0-9]+$ ]] || node_usage_die "--node must be a NUMA node number, got '$numa'"

kb=$(node_size_kb "$size") || node_usage_die "not a page size: '$size' (2M or 1G)"
if ((kb >= 1048576)); then label="$((kb / 1048576)) GiB"; else label="$((kb / 1024)) MiB"; fi
supported=$(node_hugepage_sizes | while read -r s; do node_size_name "$s"; done | xargs)
if ! node_hugepage_sizes | grep -qx "$kb"; then
  node_die "kernel has no $(node_size_name "$kb") hugepage support ($(node_hp_dir "$kb") missing; supported: ${supported:-none})"
fi
if [[ -n "$numa" ]]; then
  nodes=$(node_numa_nodes | xargs)
  [[ -d "$(node_path "/sys/devices/system/node/node$numa")" ]] ||
    node_die "NUMA node $numa does not exist (nodes: ${nodes:-none: this kernel has no NUMA})"
fi
node_require_root

dir=$(node_hp_dir "$kb" "$numa")
where=${numa:+ on NUMA node $numa}
total=$(node_read "$dir/nr_hugepages")
free=$(node_read "$dir/free_hugepages")
[[ -n "$total" && -n "$free" ]] || node_die "cannot read $dir/nr_hugepages and free_hugepages"
in_use=$((total - free))
if [[ -n "$total_want" ]]; then
  node_say "$label pages$where: total=$total free=$free, want total $total_want"
  if ((total_want < in_use)); then
    node_die "refusing to shrink the $label pool$where to $total_want pages: $in_use are in use by running DPDK processes"
  fi
  target=$total_want
else
  node_say "$label pages$where: total=$total free=$free, want $want free"
  # Pages held by running DPDK processes count as in use; grow the pool so
  # that $want are free, never shrink it under a running process.
  target=$((in_use + want))
  ((target < total)) && target=$total
fi

if ((target > total)); then
  # Do not let the kernel take most of the machine's memory trying: refuse
  # up front when the extra pages would leave less than the margin free
  # (256 MiB, or 1/32 of the memory on big machines).
  mem_total=$(node_meminfo MemTotal)
  if [[ -n "$numa" ]]; then avail_kb=$(node_meminfo MemFree "$numa"); else avail_kb=$(node_meminfo MemAvailable); fi
  margin_kb=$((mem_total / 32 > 262144 ? mem_total / 32 : 262144))
  need_kb=$(((target - total) * kb))
  if ((need_kb + margin_kb > avail_kb)); then
    node_die "no hugepages could be reserved: $((target - total)) more $label pages$where" \
      "need $((need_kb / 1024)) MiB, only $((avail_kb / 1024)) MiB available (keeping $((margin_kb / 1024)) MiB for the system);" \
      "ask for fewer (VXR_HUGEPAGES=N)"
  fi
fi
((target != total)) && node_write "$target" "$dir/nr_hugepages"

# hugetlbfs: DPDK finds pages through a mount of their size.
mnt=$(node_hugetlbfs_mount "$kb")
if [[ -z "$mnt" ]]; then
  if ((kb == $(node_meminfo Hugepagesize))); then mnt=/dev/hugepages; else mnt=/dev/hugepages$(node_size_name "$kb"); fi
  [[ -d "$mnt" ]] || node_run mkdir -p "$mnt"
  node_run mount -t hugetlbfs -o "pagesize=$(node_size_name "$kb")" nodev "$mnt"
fi

if ((persistent)); then
  if [[ -z "$numa" ]] && ((kb == $(node_meminfo Hugepagesize))); then
    # The default pool has a sysctl; systemd mounts /dev/hugepages at boot.
    node_write_file /etc/sysctl.d/90-vxroute-hugepages.conf \
      "# scripts/hugepages.sh: $label pages for vxrouted (default pool)
vm.nr_hugepages = $target"
  else
    # No sysctl for 1 GiB or per-node pools: a oneshot unit early at boot.
    name=vxroute-hugepages-$(node_size_name "$kb")${numa:+-node$numa}
    node_write_file "/etc/systemd/system/$name.service" "[Unit]
Description=vxroute: reserve $target hugepages of $label$where
DefaultDependencies=no
After=sysinit.target local-fs.target
Before=basic.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo $target > $dir/nr_hugepages'

[Install]
WantedBy=sysinit.target"
    units=("$name.service")
    if [[ "$mnt" != /dev/hugepages ]]; then
      mount_unit=$(systemd-escape -p --suffix=mount "$mnt" 2>/dev/null || echo "${mnt#/}" | tr / - | sed 's/$/.mount/')
      node_write_file "/etc/systemd/system/$mount_unit" "[Unit]
Description=vxroute: hugetlbfs for $label pages
DefaultDependencies=no
Before=sysinit.target

[Mount]
What=nodev
Where=$mnt
Type=hugetlbfs
Options=pagesize=$(node_size_name "$kb")

[Install]
WantedBy=sysinit.target"
      units+=("$mount_unit")
    fi
    if [[ -d /run/systemd/system && -z "$NODE_ROOT" ]]; then
      node_run systemctl daemon-reload
      node_run systemctl enable "${units[@]}"
    else
      node_say "systemd is not running here: enable with 'systemctl enable ${units[*]}' on the node"
    fi
    if ((kb >= 1048576)); then
      node_say "1 GiB pages are only reliably available at boot, before memory fragments: add" \
        "'hugepagesz=1G hugepages=${numa:+$numa:}$target' to GRUB_CMDLINE_LINUX" \
        "in /etc/default/grub and run update-grub"
    fi
  fi
fi

if ((NODE_DRY_RUN)); then
  node_say "dry run: nothing changed"
  exit 0
fi

free=$(node_read "$dir/free_hugepages")
total=$(node_read "$dir/nr_hugepages")
if ((total < target)); then
  node_die "asked the kernel for $target $label pages$where, got $total (free $free):" \
    "not enough contiguous memory; free memory or ask for fewer (VXR_HUGEPAGES=N)"
fi
if [[ -z "$total_want" ]] && ((free < want)); then
  node_die "only $free of $total $label pages$where free, want $want" \
    "(other DPDK processes or stale files in $mnt?)"
fi
grep -qs " $mnt hugetlbfs " "$(node_path /proc/mounts)" || node_die "hugetlbfs is not mounted on $mnt"
node_say "ok: $free of $total $label pages$where free (HugePages_Free=$(node_meminfo HugePages_Free)), hugetlbfs on $mnt"
