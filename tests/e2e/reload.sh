#!/usr/bin/env bash
# End to end: SIGHUP reloads node A's config file. Peers and pods added to or
# removed from it are applied while traffic flows (a ping between the other
# pods loses nothing); a config that does not parse, or that changes a key only
# a restart can change, is rejected with a clear log line and the running
# configuration keeps forwarding.
# usage: tests/e2e/reload.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"

readonly PEER3_IP=198.18.0.3 PEER3_VTEP=02:76:78:00:00:03 PEER3_CIDR=10.244.3.0/24

setup() {
  tb_require_root && tb_require_tools ip ethtool python3 ping &&
    tb_require_binaries && tb_require_hugepages 128 &&
    tb_up e2ehup && tb_write_configs "$TB_TMP" && tb_start_routers "$TB_TMP"
}

# hup_and_wait: SIGHUP node A's vxrouted and wait (10 s) for its next
# "reload:" log line, which is printed on stdout.
hup_and_wait() {
  local log=$TB_TMP/node-a.log pid before t=0
  pid=$(tb_router_pid a) || { echo "no node-a router" >&2; return 1; }
  before=$(grep -c 'reload:' "$log" || true)
  kill -HUP "$pid"
  while ((t < 100)); do
    if (($(grep -c 'reload:' "$log" || true) > before)); then
      grep 'reload:' "$log" | tail -n 1
      return 0
    fi
    sleep 0.1
    t=$((t + 1))
  done
  echo "no reload: line in $log within 10 s" >&2
  return 1
}

# edit_a PYTHON: change node A's config with a python expression over `cfg`.
edit_a() {
  python3 - "$TB_TMP/node-a.json" "$1" <<'PY'
import json, sys
path, code = sys.argv[1], sys.argv[2]
cfg = json.load(open(path))
exec(code)
with open(path, "w") as f:
    json.dump(cfg, f, indent=1)
PY
}

expect_in() {  # expect_in NAME HAYSTACK NEEDLE
  if grep -qF -- "$3" <<<"$2"; then tb_ok "$1"; else tb_not_ok "$1" "expected '$3' in: $2"; fi
}
expect_not_in() {
  if grep -qF -- "$3" <<<"$2"; then tb_not_ok "$1" "did not expect '$3' in: $2"; else tb_ok "$1"; fi
}

main() {
  tb_trap
  if ! setup; then
    tb_not_ok "testbed and routers up" "see errors above"
    exit 1
  fi
  tb_ok "testbed and routers up"
  tb_check "ping pod-a -> pod-b before any reload" tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 3

  local ping_log=$TB_TMP/ping.log line out
  ip netns exec "$TB_NS_POD_A" ping -n -q -i 0.02 -c 300 -W 2 "$TB_POD_B_IP" >"$ping_log" 2>&1 &
  local ping_pid=$!
  TB_BG_PIDS+=("$ping_pid")

  # 1. A peer added and a pod removed.
  edit_a "cfg['peers'].append({'name': 'node-c', 'node_ip': '$PEER3_IP', 'vtep_mac': '$PEER3_VTEP', 'pod_cidr': '$PEER3_CIDR'})
cfg['pods'] = [p for p in cfg['pods'] if p['name'] != 'pod-a2']"
  line=$(hup_and_wait) || line="(none)"
  expect_in "reload applies a new peer and a removed pod" "$line" "1 peers added, 0 removed; 0 pods added, 1 removed"
  out=$(tb_ctl a show routes 2>&1) || true
  expect_in "the new peer's route is listed" "$out" "$PEER3_CIDR"
  out=$(tb_ctl a show pods 2>&1) || true
  expect_not_in "the removed pod is gone from show pods" "$out" '"pod-a2"'
  if ip -n "$TB_NS_POD_A2" link show eth0 >/dev/null 2>&1; then
    tb_not_ok "the removed pod's interface is gone" "eth0 still in $TB_NS_POD_A2"
  else
    tb_ok "the removed pod's interface is gone"
  fi

  # 2. The pod back, the peer removed.
  edit_a "cfg['peers'] = [p for p in cfg['peers'] if p['node_ip'] != '$PEER3_IP']
cfg['pods'].append({'name': 'pod-a2', 'ip': '$TB_POD_A2_IP', 'netns': '$TB_NS_POD_A2'})"
  line=$(hup_and_wait) || line="(none)"
  expect_in "reload applies a removed peer and an added pod" "$line" "0 peers added, 1 removed; 1 pods added, 0 removed"
  out=$(tb_ctl a show routes 2>&1) || true
  expect_not_in "the removed peer's route is gone" "$out" "$PEER3_CIDR"
  tb_check "the re-added pod answers: pod-a -> pod-a2" tb_ping "$TB_NS_POD_A" "$TB_POD_A2_IP" 3

  # 3. A file that does not parse: rejected, nothing changes.
  cp "$TB_TMP/node-a.json" "$TB_TMP/node-a.good.json"
  echo '{"node_name": "node-a",' >"$TB_TMP/node-a.json"
  line=$(hup_and_wait) || line="(none)"
  expect_in "a broken file is rejected with the reason" "$line" "keeping the running configuration"
  # 4. A change that needs a restart: rejected whole, naming the key.
  cp "$TB_TMP/node-a.good.json" "$TB_TMP/node-a.json"
  edit_a "cfg['vni'] = 2
cfg['peers'].append({'name': 'node-c', 'node_ip': '$PEER3_IP', 'vtep_mac': '$PEER3_VTEP', 'pod_cidr': '$PEER3_CIDR'})"
  line=$(hup_and_wait) || line="(none)"
  expect_in "a change of vni is rejected as needing a restart" "$line" "changes need a restart: vni"
  out=$(tb_ctl a show routes 2>&1) || true
  expect_not_in "nothing of a rejected config is applied" "$out" "$PEER3_CIDR"
  if kill -0 "$(tb_router_pid a)" 2>/dev/null; then tb_ok "vxrouted still runs after rejected reloads"; else tb_not_ok "vxrouted still runs after rejected reloads" "it exited"; fi

  local rc=0
  wait "$ping_pid" || rc=$?
  sed 's/^/#   /' "$ping_log"
  local loss
  loss=$(grep -o '[0-9.]*% packet loss' "$ping_log" | cut -d% -f1)
  if ((rc == 0)) && [[ "$loss" == 0 ]]; then
    tb_ok "ping pod-a -> pod-b across all reloads: 0% loss"
  else
    tb_not_ok "ping pod-a -> pod-b across all reloads: 0% loss" "ping exit $rc, loss ${loss:-?}%"
  fi
  tb_check "ping pod-a -> pod-b after the reloads" tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 3

  # Not through tb_check: its subshell cannot wait for our children.
  if tb_stop_routers; then tb_ok "routers exit 0 on SIGTERM"; else tb_not_ok "routers exit 0 on SIGTERM" "see errors above"; fi
  tb_summary
}

main "$@"
