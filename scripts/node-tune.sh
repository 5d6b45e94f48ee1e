#!/usr/bin/env bash
# Apply the kernel settings a vxrouted node wants (the list, with the reason
# for each, is NODE_SYSCTLS in scripts/lib/node.sh). Values already at least
# as good are left alone: nothing is ever lowered. Prints before -> after.
# usage: scripts/node-tune.sh [--dry-run] [--persistent] [--this-netns]
#   --persistent  also write /etc/sysctl.d/90-vxroute.conf (applied at boot)
#   --dry-run     print what would change, change nothing
#   --this-netns  allow running outside the host's network namespace
# net.* settings are per network namespace: run it where vxrouted runs (the
# node's own namespace for a hostNetwork DaemonSet).
set -euo pipefail

NODE_TAG=node-tune
# shellcheck source-path=SCRIPTDIR source=lib/node.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/node.sh"

usage() { echo "usage: $0 [--dry-run] [--persistent] [--this-netns]"; }

persistent=0
this_netns=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) NODE_DRY_RUN=1 ;;
    --persistent) persistent=1 ;;
    --this-netns) this_netns=1 ;;
    -h|--help) usage; exit 0 ;;
    *) node_usage_die "unknown argument '$arg'" ;;
  esac
done
node_require_root
# net.* would land in the wrong namespace (a container's, a test's).
# Known when the namespace has an 'ip netns' name, or PID 1's differs (when
# we may read it: some sandboxes hide it).
netns_name=$(ip netns identify "$$" 2>/dev/null || true)
init_netns=$(readlink /proc/1/ns/net 2>/dev/null || true)
if ((!this_netns)) && { [[ -n "$netns_name" ]] || [[ -n "$init_netns" && "$(readlink /proc/self/ns/net)" != "$init_netns" ]]; }; then
  node_die "this shell is not in the host's network namespace (${netns_name:-not that of PID 1}): the net.* settings" \
    "would not reach vxrouted's node; run it on the host, or pass --this-netns if vxrouted runs in this namespace"
fi

conf="# scripts/node-tune.sh: kernel settings for vxrouted (reasons in scripts/lib/node.sh)"
changed=0 kept=0 absent=0
for entry in "${NODE_SYSCTLS[@]}"; do
  IFS='|' read -r key mode want reason <<<"$entry"
  cur=$(node_sysctl_get "$key")
  if [[ -z "$cur" ]]; then
    node_say "n/a   $key: this kernel has no such setting"
    absent=$((absent + 1))
    continue
  fi
  if node_sysctl_ok "$mode" "$want" "$cur"; then
    node_say "keep  $key = $cur (wanted $(node_sysctl_want "$mode" "$want"))"
    kept=$((kept + 1))
    # Persist the value in force, so a reboot does not lose a better one.
    conf+=$'\n'"# $reason"$'\n'"$key = $cur"
    continue
  fi
  if ((NODE_DRY_RUN)); then
    node_say "would set $key: $cur -> $want    # $reason"
  else
    node_write "$want" "$(node_sysctl_path "$key")"
    node_say "set   $key: $cur -> $(node_sysctl_get "$key")    # $reason"
  fi
  changed=$((changed + 1))
  conf+=$'\n'"# $reason"$'\n'"$key = $want"
done

if ((persistent)); then
  node_write_file /etc/sysctl.d/90-vxroute.conf "$conf"
fi
if ((NODE_DRY_RUN)); then
  node_say "dry run: $changed would change, $kept already fine, $absent not in this kernel; nothing changed"
else
  node_say "ok: $changed changed, $kept already fine, $absent not in this kernel"
fi
