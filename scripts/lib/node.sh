# shellcheck shell=bash
# Helpers shared by the node scripts (hugepages.sh, bind-nic.sh,
# node-tune.sh, node-check.sh): messages, dry-run aware writes, and what the
# kernel says about hugepages, NUMA, IOMMU, modules and sysctls.
#
# A script sets NODE_TAG (its message prefix) and NODE_DRY_RUN, then sources
# this file. Every path under /proc, /sys and /etc goes through $NODE_ROOT
# (env VXR_NODE_ROOT, empty = the real machine): tests point it at a copy so
# that applying for real changes nothing the machine shares.

NODE_ROOT=${VXR_NODE_ROOT:-}
NODE_TAG=${NODE_TAG:-node}
NODE_DRY_RUN=${NODE_DRY_RUN:-0}

node_say() { echo "[$NODE_TAG] $*"; }
node_warn() { echo "[$NODE_TAG] warning: $*" >&2; }
# node_die MSG...: refuse (exit 1): the machine does not fit or a step failed.
node_die() { echo "[$NODE_TAG] error: $*" >&2; exit 1; }
# node_usage_die MSG...: bad arguments (exit 2); the script defines usage().
node_usage_die() {
  echo "[$NODE_TAG] error: $*" >&2
  declare -F usage >/dev/null && usage >&2
  exit 2
}

node_require_root() {
  ((NODE_DRY_RUN)) && return 0
  ((EUID == 0)) || node_die "need root to change the node (or use --dry-run to see what would change)"
}

# node_path PATH: PATH as this run sees it (under $NODE_ROOT).
node_path() { echo "$NODE_ROOT$1"; }

# node_read PATH: contents of a /proc or /sys file, empty if unreadable.
node_read() { cat "$NODE_ROOT$1" 2>/dev/null || true; }

# node_write VALUE PATH: write one value to a /proc or /sys file.
node_write() {
  local value=$1 path=$2
  if ((NODE_DRY_RUN)); then
    node_say "would write: echo $value > $path"
    return 0
  fi
  if ! echo "$value" 2>/dev/null >"$NODE_ROOT$path"; then
    node_die "cannot write $value to $path (need root and a writable $(cut -d/ -f2 <<<"$path"))"
  fi
}

# node_run CMD...: run a command that changes the node (printed in dry run).
node_run() {
  if ((NODE_DRY_RUN)); then
    node_say "would run: $*"
    return 0
  fi
  "$@"
}

# node_write_file PATH CONTENT: create a configuration file (e.g. under /etc).
node_write_file() {
  local path=$1 content=$2 real=$NODE_ROOT$1
  if ((NODE_DRY_RUN)); then
    node_say "would write $path:"
    local line
    while IFS= read -r line; do echo "    $line"; done <<<"$content"
    return 0
  fi
  if ! { mkdir -p "$(dirname "$real")" && printf '%s\n' "$content" >"$real.tmp.$$" && mv "$real.tmp.$$" "$real"; }; then
    node_die "cannot write $path"
  fi
  node_say "wrote $path"
}

# --- memory and hugepages -------------------------------------------------------
# node_meminfo KEY [NUMA_NODE]: a /proc/meminfo value in kB (or the node's).
node_meminfo() {
  if [[ -n "${2:-}" ]]; then
    awk -v k="$1:" '$3 == k { print $4 }' "$NODE_ROOT/sys/devices/system/node/node$2/meminfo" 2>/dev/null
  else
    awk -v k="$1:" '$1 == k { print $2 }' "$NODE_ROOT/proc/meminfo" 2>/dev/null
  fi
}

# node_size_kb SPEC: 2M, 2MB, 2048k, 2048kB, 1G, 1GB, 1048576kB -> kB.
node_size_kb() {
  local s=${1^^}
  s=${s%B}
  case "$s" in
    *[0-9]K) echo "${s%K}" ;;
    *[0-9]M) echo $((${s%M} * 1024)) ;;
    *[0-9]G) echo $((${s%G} * 1024 * 1024)) ;;
    *) return 1 ;;
  esac
}

# node_size_name KB: 2048 -> 2M, 1048576 -> 1G.
node_size_name() {
  local kb=$1
  if ((kb % 1048576 == 0)); then echo "$((kb / 1048576))G"
  elif ((kb % 1024 == 0)); then echo "$((kb / 1024))M"
  else echo "${kb}k"; fi
}

# node_hugepage_sizes: the page sizes (kB) this kernel supports, one per line.
node_hugepage_sizes() {
  local d
  for d in "$NODE_ROOT"/sys/kernel/mm/hugepages/hugepages-*kB; do
    [[ -d "$d" ]] || continue
    d=${d##*hugepages-}
    echo "${d%kB}"
  done | sort -n
}

# node_numa_nodes: NUMA node numbers, one per line (none on a kernel without NUMA).
node_numa_nodes() {
  local d
  for d in "$NODE_ROOT"/sys/devices/system/node/node[0-9]*; do
    [[ -d "$d" ]] && echo "${d##*node}"
  done | sort -n
}

# node_hp_dir KB [NUMA_NODE]: the sysfs directory of that pool (path without $NODE_ROOT).
node_hp_dir() {
  if [[ -n "${2:-}" ]]; then
    echo "/sys/devices/system/node/node$2/hugepages/hugepages-$1kB"
  else
    echo "/sys/kernel/mm/hugepages/hugepages-$1kB"
  fi
}

# node_hugetlbfs_mount KB: first hugetlbfs mount point serving that page
# size (a mount without pagesize= serves the default size), empty if none.
node_hugetlbfs_mount() {
  local kb=$1 default_kb
  default_kb=$(node_meminfo Hugepagesize)
  awk -v kb="$kb" -v dkb="$default_kb" '
    function tokb(s) { s = toupper(s); n = s + 0
      if (s ~ /G$/) return n * 1048576; if (s ~ /M$/) return n * 1024; if (s ~ /K$/) return n; return n / 1024 }
    $3 == "hugetlbfs" {
      size = dkb
      if (match($4, /pagesize=[0-9]+[KMGkmg]?/)) size = tokb(substr($4, RSTART + 9, RLENGTH - 9))
      if (size == kb) { print $2; exit }
    }' "$NODE_ROOT/proc/mounts" 2>/dev/null
}

# --- devices, modules, IOMMU ------------------------------------------------------
# node_iommu_groups: number of IOMMU groups (0: no IOMMU enabled).
node_iommu_groups() {
  local n=0 g
  for g in "$NODE_ROOT"/sys/kernel/iommu_groups/*; do [[ -e "$g" ]] && n=$((n + 1)); done
  echo "$n"
}

# node_noiommu_enabled: vfio's unsafe no-IOMMU mode is on.
node_noiommu_enabled() {
  [[ "$(node_read /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)" == Y ]]
}

# node_module_present NAME: loaded or built into the kernel.
node_module_present() {
  local m=${1//-/_}
  [[ -d "$NODE_ROOT/sys/module/$m" || -d "$NODE_ROOT/sys/bus/pci/drivers/$1" ]]
}

# node_modules_loadable: the kernel can load modules at all.
node_modules_loadable() { [[ -e "$NODE_ROOT/proc/modules" ]]; }

# node_devbind: path of DPDK's dpdk-devbind.py (Debian package dpdk).
node_devbind() {
  local p
  for p in "$(command -v dpdk-devbind.py 2>/dev/null)" /usr/bin/dpdk-devbind.py /usr/share/dpdk/usertools/dpdk-devbind.py \
      /usr/local/bin/dpdk-devbind.py; do
    [[ -n "$p" && -x "$p" ]] && { echo "$p"; return 0; }
  done
  return 1
}

# node_pmd_dir: directory of DPDK's driver plugins (EAL loads PMDs from it).
node_pmd_dir() {
  local d
  for d in /usr/lib/*/dpdk/pmds-* /usr/local/lib/*/dpdk/pmds-*; do
    [[ -d "$d" ]] && { echo "$d"; return 0; }
  done
  return 1
}

# --- sysctls -------------------------------------------------------------------
# What vxrouted's node wants, one per entry: KEY|MODE|VALUE|REASON, MODE
# "min" (at least VALUE: never lowered), "eq" (exactly) or "oneof:A,B"
# (any of those; VALUE is what gets set). node-tune.sh applies the list,
# node-check.sh compares against it. Deliberately absent:
# net.core.netdev_max_backlog (taps deliver inline and a NIC polled by DPDK
# bypasses the kernel; only veth/RPS use the backlog) and
# kernel.sched_rt_runtime_us (vxrouted's lcores are not real-time threads).
# shellcheck disable=SC2034  # used by the scripts that source this file
NODE_SYSCTLS=(
  "net.core.rmem_max|min|16777216|SO_RCVBUF ceiling: pods and node services behind vxr-host get vxrouted's traffic in bursts; the usual 208 KiB caps what they may ask for"
  "net.core.wmem_max|min|16777216|SO_SNDBUF ceiling, the same for senders"
  "net.core.wmem_default|min|1048576|net_af_packet sets no SO_SNDBUF: frames its TX ring hands the kernel are charged to this default; 208 KiB holds ~100 of a 512-frame ring, the rest waits for the next poll"
  "vm.max_map_count|min|262144|DPDK maps every 2 MiB page separately (plus its VA reservations): tens of GB of pages pass the 65530 default and mmap fails at start"
  "vm.stat_interval|min|10|the per-CPU vmstat worker runs every interval on every CPU, poll cores included: 10 s instead of 1 s removes most of that jitter"
  "kernel.numa_balancing|eq|0|NUMA balancing unmaps pages to sample accesses: page faults on poll-mode threads; DPDK already places vxrouted's memory on the right node"
  "net.ipv4.ip_forward|eq|1|pod traffic to the outside and to Service IPs leaves vxrouted through vxr-host and is forwarded (and DNATed by kube-proxy) by the node kernel"
  "net.ipv4.conf.default.rp_filter|oneof:0,2|2|vxr-host is created at start with the default: strict mode (1) drops packets from remote pods whose subnets the kernel routes via another interface"
)

# node_sysctl_path KEY: /proc/sys path of a sysctl (without $NODE_ROOT).
node_sysctl_path() { echo "/proc/sys/${1//.//}"; }
# node_sysctl_get KEY: current value (empty if this kernel has no such key).
node_sysctl_get() { node_read "$(node_sysctl_path "$1")" | tr -s '\t ' ' '; }
# node_sysctl_ok MODE WANT CURRENT: CURRENT satisfies the recommendation.
node_sysctl_ok() {
  local mode=$1 want=$2 cur=$3
  case "$mode" in
    min) [[ "$cur" =~ ^[0-9]+$ ]] && ((cur >= want)) ;;
    eq) [[ "$cur" == "$want" ]] ;;
    oneof:*) [[ ",${mode#oneof:}," == *",$cur,"* ]] ;;
    *) return 1 ;;
  esac
}
# node_sysctl_want MODE VALUE: the recommendation in words (">= 10", "= 0", "0 or 2").
node_sysctl_want() {
  case "$1" in
    min) echo ">= $2" ;;
    eq) echo "= $2" ;;
    oneof:*) local v=${1#oneof:}; echo "${v//,/ or }" ;;
  esac
}
