#!/usr/bin/env bash
# Reserve 2 MiB hugepages for DPDK and make sure hugetlbfs is mounted.
# usage: scripts/hugepages.sh [--dry-run] [N]    (N: pages, default $VXR_HUGEPAGES or 1024)
set -euo pipefail

usage() { echo "usage: $0 [--dry-run] [N]   (N 2 MiB pages; default \$VXR_HUGEPAGES or 1024)" >&2; }

dry_run=0
want="${VXR_HUGEPAGES:-1024}"
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    ''|*[!0-9]*) echo "[hugepages] error: not a page count: '$arg'" >&2; usage; exit 2 ;;
    *) want="$arg" ;;
  esac
done
if [[ ! "$want" =~ ^[0-9]+$ ]] || ((want == 0)); then
  echo "[hugepages] error: page count must be a positive integer, got '$want'" >&2
  exit 2
fi

sysfs=/sys/kernel/mm/hugepages/hugepages-2048kB
mnt=/dev/hugepages

run() {
  if ((dry_run)); then echo "[hugepages] would run: $*"; else "$@"; fi
}

meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

if [[ ! -d "$sysfs" ]]; then
  echo "[hugepages] error: kernel has no 2 MiB hugepage support ($sysfs missing)" >&2
  exit 1
fi

total=$(cat "$sysfs/nr_hugepages")
free=$(cat "$sysfs/free_hugepages")
in_use=$((total - free))
echo "[hugepages] 2 MiB pages: total=$total free=$free, want $want free"

# Pages held by running DPDK processes count as in use; grow the pool so that
# $want are free, never shrink it under a running process.
target=$((in_use + want))
if ((total < target)); then
  # Do not let the kernel take most of the machine's memory trying: refuse
  # up front when the extra pages would leave less than 256 MiB available.
  avail_kb=$(meminfo MemAvailable)
  need_kb=$(((target - total) * 2048))
  if ((need_kb + 262144 > avail_kb)); then
    echo "[hugepages] error: no hugepages could be reserved: $((target - total)) more 2 MiB pages" \
         "need $((need_kb / 1024)) MiB, only $((avail_kb / 1024)) MiB available; ask for fewer (VXR_HUGEPAGES=N)" >&2
    exit 1
  fi
  if ((dry_run)); then
    echo "[hugepages] would run: echo $target > $sysfs/nr_hugepages"
  else
    if ! echo "$target" > "$sysfs/nr_hugepages" 2>/dev/null; then
      echo "[hugepages] error: cannot write $sysfs/nr_hugepages (need root, and a writable /sys)" >&2
      exit 1
    fi
  fi
fi

if ! mountpoint -q "$mnt" 2>/dev/null || ! grep -qs " $mnt hugetlbfs " /proc/mounts; then
  [[ -d "$mnt" ]] || run mkdir -p "$mnt"
  run mount -t hugetlbfs -o pagesize=2M nodev "$mnt"
fi

if ((dry_run)); then
  echo "[hugepages] dry run: nothing changed"
  exit 0
fi

free=$(cat "$sysfs/free_hugepages")
total=$(cat "$sysfs/nr_hugepages")
if ((free < want)); then
  if ((total < target)); then
    echo "[hugepages] error: asked the kernel for $target 2 MiB pages, got $total (free $free):" \
         "not enough contiguous memory; free memory or ask for fewer (VXR_HUGEPAGES=N)" >&2
  else
    echo "[hugepages] error: only $free of $total 2 MiB pages free, want $want" \
         "(other DPDK processes or stale files in $mnt?)" >&2
  fi
  exit 1
fi
if ! grep -qs " $mnt hugetlbfs " /proc/mounts; then
  echo "[hugepages] error: hugetlbfs is not mounted on $mnt" >&2
  exit 1
fi
echo "[hugepages] ok: $free of $total 2 MiB pages free (HugePages_Free=$(meminfo HugePages_Free)), hugetlbfs on $mnt"
