#!/usr/bin/env bash
# Everything CI runs: dependencies, build, hugepages, meson tests (unit and
# golden), then every tests/e2e/*.sh. Ends with one line "N passed, N failed"
# and exits non-zero if anything failed.
# usage: scripts/test.sh     env: VXR_BUILD_DIR (build), VXR_HUGEPAGES (1024),
#        VXR_SANITIZE=0 (skip the ASan/UBSan build whose meson tests and two-node
#        e2e test run by default)
set -euo pipefail
case "${1:-}" in
  "") ;;
  -h|--help) echo "usage: $0   (env: VXR_BUILD_DIR, VXR_HUGEPAGES, VXR_SANITIZE=0)"; exit 0 ;;
  *) echo "usage: $0   (no arguments; env: VXR_BUILD_DIR, VXR_HUGEPAGES, VXR_SANITIZE=0)" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_dir=${VXR_BUILD_DIR:-build}
export VXR_BUILD_DIR=$build_dir

passed=0
failed=0
failures=()
timings=()  # "N s  step", printed at the end: CI's budget is 30 minutes

say() { echo "[test] $*"; }
fail() { failed=$((failed + 1)); failures+=("$1"); }

# A setup step that fails counts as one failed test (the tests after it
# would fail for that reason too, and say so).
setup_step() {
  local name=$1; shift
  say "== $name: $*"
  local t0=$SECONDS
  if "$@"; then
    say "$name: ok ($((SECONDS - t0)) s)"
    timings+=("$((SECONDS - t0)) s  $name")
    return 0
  fi
  say "$name: FAILED ($((SECONDS - t0)) s)"
  fail "setup: $name"
  return 1
}

# meson_tests DIR LABEL: run meson's tests in DIR; count from testlog.json.
meson_tests() {
  local dir=$1 label=$2
  say "== $label: meson test -C $dir --print-errorlogs"
  if [[ ! -f "$dir/build.ninja" ]]; then
    say "$label: FAILED: $dir is not a configured build directory (build failed?)"
    fail "$label: not run"
    return
  fi
  local log="$dir/meson-logs/testlog.json" rc=0 t0=$SECONDS
  rm -f "$log"
  meson test -C "$dir" --print-errorlogs || rc=$?
  if [[ ! -f "$log" ]]; then
    if ((rc == 0)); then
      say "$label: no tests defined"
    else
      say "$label: FAILED: meson test exited $rc without writing $log"
      fail "$label: meson test"
    fi
    return
  fi
  local counts p f
  # Every test case counts: meson's JUnit log lists each GoogleTest case and
  # each TAP subtest (golden cases) separately; testlog.json gives the status
  # of each meson test, so a test that crashed before reporting cases still
  # counts as failed.
  counts=$(python3 - "$log" "${log%.json}.junit.xml" <<'PY'
import json, sys
import xml.etree.ElementTree as ET
p = f = 0
try:
    root = ET.parse(sys.argv[2]).getroot()
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            bad = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
            if bad:
                f += 1
                why = " (a skipped test counts as failed: DESIGN.md 6)" if "skipped" in bad else ""
                print(f"FAILED {suite.get('name')} {case.get('name')}: {bad[0]}{why}", file=sys.stderr)
            else:
                p += 1
except (OSError, ET.ParseError) as e:
    print(f"cannot read {sys.argv[2]}: {e}", file=sys.stderr)
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    t = json.loads(line)
    r = t.get("result", "?")
    if r not in ("OK", "EXPECTEDFAIL"):
        # Counted above if it reported a failing case; count a test that
        # failed without one (crash, timeout) once more so it is never lost.
        print(f"FAILED {t.get('name', '?')}: {r}", file=sys.stderr)
        f += 1
print(p, f)
PY
  ) || { say "$label: FAILED: cannot parse $log"; fail "$label: testlog"; return; }
  read -r p f <<<"$counts"
  passed=$((passed + p))
  failed=$((failed + f))
  ((f)) && failures+=("$label: $f meson test(s)")
  if ((rc != 0 && f == 0)); then
    say "$label: meson test exited $rc but no test failed in $log"
    fail "$label: meson test exit $rc"
  fi
  say "$label: $p passed, $f failed ($((SECONDS - t0)) s)"
  timings+=("$((SECONDS - t0)) s  $label")
}

# e2e_script FILE: run it; count its "ok - " / "not ok - " lines.
e2e_script() {
  local script=$1 name
  name=$(basename "$script" .sh)
  say "== e2e $name: $script"
  local log
  log=$(mktemp "/tmp/vxr-e2e-$name.XXXXXX")
  local rc=0 t0=$SECONDS
  timeout --signal=TERM --kill-after=30 600 bash "$script" >"$log" 2>&1 &
  local pid=$!
  # Show its output as it goes.
  tail -n +1 -f --pid="$pid" "$log" | sed -u 's/^/    /' &
  local tail_pid=$!
  wait "$pid" || rc=$?
  wait "$tail_pid" 2>/dev/null || true
  local p f
  p=$(grep -c '^ok - ' "$log" || true)
  f=$(grep -c '^not ok - ' "$log" || true)
  passed=$((passed + p))
  failed=$((failed + f))
  ((f)) && failures+=("e2e $name: $f test(s)")
  if ((rc == 124)); then
    say "e2e $name: FAILED: timed out after 600 s"
    fail "e2e $name: timeout"
  elif ((rc != 0 && f == 0)); then
    say "e2e $name: FAILED: exited $rc without reporting a failed test"
    fail "e2e $name: exit $rc"
  elif ((rc == 0 && p + f == 0)); then
    say "e2e $name: FAILED: exited 0 but reported no test (ok - / not ok - lines)"
    fail "e2e $name: no results"
  fi
  say "e2e $name: $p passed, $f failed (exit $rc, $((SECONDS - t0)) s)"
  timings+=("$((SECONDS - t0)) s  e2e $name${VXR_BUILD_DIR:+ ($VXR_BUILD_DIR)}")
  rm -f "$log"
}

setup_step deps ./scripts/deps.sh || true
setup_step build ./scripts/build.sh || true
setup_step hugepages ./scripts/hugepages.sh || true

meson_tests "$build_dir" "meson tests"

asan_ok=0
if [[ "${VXR_SANITIZE:-1}" == 1 ]]; then
  # Tests only: the benchmarks are not run on it (-Dbenchmarks=false); -O0
  # (buildtype debug): the sanitizers need no optimiser; with -O2 this build
  # took about 1000 s of a 30-minute CI run here, with -O0 240 s, and its
  # meson tests and two-node run take as long as before (68 s, 15 s).
  if setup_step "asan build" env VXR_BUILD_DIR=build-asan ./scripts/build.sh \
      -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false --buildtype=debug; then
    asan_ok=1
    meson_tests build-asan "asan meson tests"
  fi
fi

shopt -s nullglob
e2e=(tests/e2e/*.sh)
if ((${#e2e[@]} == 0)); then
  say "e2e: FAILED: no tests/e2e/*.sh found"
  fail "e2e: none found"
fi
for s in "${e2e[@]}"; do
  e2e_script "$s"
done
# The two-node test once more on the sanitizer build: races between the
# control thread and the workers show up there (a use-after-free did).
if ((asan_ok)); then
  VXR_BUILD_DIR=build-asan e2e_script tests/e2e/two_node.sh
fi

say "time per step (total $SECONDS s):"
printf '[test]   %s\n' "${timings[@]}"
if ((${#failures[@]})); then
  say "failures:"
  printf '[test]   %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
