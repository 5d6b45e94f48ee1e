#!/usr/bin/env bash
# The Linux kernel doing vxrouted's Service job, measured on this machine:
# ClusterIP DNAT in the shapes kube-proxy writes, forwarded by a network
# namespace, driven by dpdk-testpmd replaying 64-byte UDP frames.
#
#   gen netns: testpmd  net_pcap(rx_pcap, infinite_rx) --io--> net_af_packet(kb-gen)
#      kb-gen ==veth==> kb-in   node netns: ip_forward, nf_conntrack, the Service rules,
#                               RPS steers all of its receive work onto --fwd-cpu
#                       kb-out ==veth==> kb-sink   sink netns: blackhole route (counts RX)
#
# Modes (--modes, comma-separated; default iptables,iptables-legacy,nftables,ipvs,plain):
#   iptables         kube-proxy's iptables mode loaded by one iptables-restore
#                    (iptables-nft, Debian's default iptables)
#   iptables-legacy  the same rules through iptables-legacy-restore (x_tables)
#   nftables         kube-proxy's nftables mode, its shape (bench/kernel_gen.py says how it differs)
#   ipvs             one IPVS virtual service per ClusterIP:port, --sched scheduler, the
#                    ClusterIPs local as on kube-ipvs0 (needs IP_VS in the kernel)
#   plain            no Services, conntrack off: the ClusterIPs are routed to the sink
#                    (the generator + veth + forwarding ceiling)
# Cases (--cases; default est-small,est-large,new):
#   est-small  --flows-small flows (10,000; one per Service), warmed until conntrack holds them
#   est-large  --flows-large flows (200,000), warmed likewise
#   new        --flows-new distinct 5-tuples, UDP conntrack timeout 0 s so that every packet
#              is a new flow (the entry expires as it is confirmed; the next lookup of that
#              tuple, or the next in its bucket, reaps it); new flows/s = packets through the
#              nat PREROUTING hook, which only a connection's first packet takes
# Each case: --windows windows of --window-s seconds; prints the median of the offered rate
# (kb-gen TX + drops), the rate the sink received, the new flows/s and the softirq and busy
# share of --fwd-cpu (/proc/stat ticks; its softirq share with the generator stopped is
# measured first and subtracted for the cost per packet), and a markdown table at the end.
#
# usage: bench/kernel_services.sh [--modes LIST] [--cases LIST] [--services N] [--backends N]
#          [--flows-small N] [--flows-large N] [--flows-new N] [--windows N] [--window-s S]
#          [--warm-max S] [--fwd-cpu N] [--gen-cpu N] [--sched rr|mh] [--smoke]
#   --smoke: 10 Services x 2 backends, iptables and nftables, 10 flows, one 1 s window;
#            prints "ok - ..." / "not ok - ..." (tests/e2e/kernel_services.sh runs it)
# Root. Needs ip, dpdk-testpmd, python3, ethtool, iptables, nftables, conntrack (ipvsadm for ipvs):
# installs the missing Debian packages with apt-get, or fails naming them. Everything it
# creates (namespaces vxr-kbench-PID-*, testpmd, its files) is removed on exit, also on error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN_PY=$here/kernel_gen.py
cmdline="bench/kernel_services.sh${*:+ $*}"

modes=iptables,iptables-legacy,nftables,ipvs,plain
cases=est-small,est-large,new
services=10000 backends=10
flows_small=10000 flows_large=200000 flows_new=262144
windows=5 window_s=2 warm_max=60
fwd_cpu=0 gen_cpu=1 sched=mh smoke=0

usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; }
die() { echo "[kbench] error: $*" >&2; exit 1; }
log() { echo "[kbench] $*" >&2; }

while (($#)); do
  case "$1" in
    --modes) modes=$2; shift ;;
    --cases) cases=$2; shift ;;
    --services) services=$2; shift ;;
    --backends) backends=$2; shift ;;
    --flows-small) flows_small=$2; shift ;;
    --flows-large) flows_large=$2; shift ;;
    --flows-new) flows_new=$2; shift ;;
    --windows) windows=$2; shift ;;
    --window-s) window_s=$2; shift ;;
    --warm-max) warm_max=$2; shift ;;
    --fwd-cpu) fwd_cpu=$2; shift ;;
    --gen-cpu) gen_cpu=$2; shift ;;
    --sched) sched=$2; shift ;;
    --smoke) smoke=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "[kbench] error: unknown argument '$1' (see --help)" >&2; exit 64 ;;
  esac
  shift
done
if ((smoke)); then
  modes=iptables,nftables cases=est-small services=10 backends=2 flows_small=10
  windows=1 window_s=1 warm_max=5
fi
((EUID == 0)) || die "needs root (network namespaces, netfilter)"
((fwd_cpu != gen_cpu)) || die "--fwd-cpu and --gen-cpu must differ"
[[ -d /sys/devices/system/cpu/cpu$fwd_cpu && -d /sys/devices/system/cpu/cpu$gen_cpu ]] ||
  die "no CPU $fwd_cpu or $gen_cpu here"

# --- tools -------------------------------------------------------------------
# command -> Debian package
declare -A pkg_of=([ip]=iproute2 [dpdk-testpmd]=dpdk [python3]=python3 [taskset]=util-linux
  [ethtool]=ethtool [sysctl]=procps
  [iptables-restore]=iptables [iptables-legacy-restore]=iptables [nft]=nftables
  [conntrack]=conntrack [ipvsadm]=ipvsadm)
need=(ip dpdk-testpmd python3 taskset ethtool sysctl conntrack)
[[ ,$modes, == *,iptables,* ]] && need+=(iptables-restore)
[[ ,$modes, == *,iptables-legacy,* ]] && need+=(iptables-legacy-restore)
[[ ,$modes, == *,nftables,* ]] && need+=(nft)
# IPVS is only worth its tool when the kernel has it (no modules here: it is built in or absent).
ipvs_ok=0
if [[ ,$modes, == *,ipvs,* ]]; then
  if [[ -e /proc/net/ip_vs ]] || modprobe -q ip_vs 2>/dev/null; then ipvs_ok=1; need+=(ipvsadm); fi
fi
missing=()
for c in "${need[@]}"; do command -v "$c" >/dev/null || missing+=("${pkg_of[$c]}"); done
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "missing packages: ${missing[*]}; installing with apt-get"
  command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; } ||
    die "could not install: ${missing[*]}"
  for c in "${need[@]}"; do command -v "$c" >/dev/null || die "still missing after apt-get: $c (${pkg_of[$c]})"; done
fi

# --- state and cleanup ---------------------------------------------------------
tag=vxr-kbench-$$
NS_GEN=$tag-gen NS_NODE=$tag-node NS_SINK=$tag-sink
tmp=$(mktemp -d "/tmp/$tag.XXXXXX")
gen_pid=""
created_ns=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$gen_pid" ]] && kill -0 "$gen_pid" 2>/dev/null; then
    kill -INT "$gen_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$gen_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$gen_pid" 2>/dev/null || true
    wait "$gen_pid" 2>/dev/null || true
  fi
  topology_down
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# --- topology --------------------------------------------------------------------
MAC_GEN=02:6b:62:00:00:01 MAC_IN=02:6b:62:00:00:02 MAC_OUT=02:6b:62:00:00:03 MAC_SINK=02:6b:62:00:00:04

# topology_down: remove the namespaces (and with them the veths, rules and conntrack).
topology_down() {
  local ns
  for ns in "${created_ns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  created_ns=()
}

# topology: fresh namespaces for every mode, so that no mode runs with another's tables
# (an empty iptables-legacy table still hooks every packet, as does an empty nft base chain).
topology() {
  local ns
  for ns in "$NS_GEN" "$NS_NODE" "$NS_SINK"; do
    ip netns add "$ns"; created_ns+=("$ns")
    in_ns "$ns" ip link set lo up
  done
  ip link add kb-gen netns "$NS_GEN" address $MAC_GEN type veth peer name kb-in netns "$NS_NODE" address $MAC_IN
  ip link add kb-out netns "$NS_NODE" address $MAC_OUT type veth peer name kb-sink netns "$NS_SINK" address $MAC_SINK
  local pair
  for pair in "$NS_GEN kb-gen" "$NS_NODE kb-in" "$NS_NODE kb-out" "$NS_SINK kb-sink"; do
    read -r ns dev <<<"$pair"
    in_ns "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
    # DESIGN.md 6.3: no offloads on a veth that DPDK's af_packet uses.
    in_ns "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    in_ns "$ns" ip link set "$dev" up
  done
  in_ns "$NS_GEN" ip addr add 10.99.1.1/24 dev kb-gen
  in_ns "$NS_NODE" ip addr add 10.99.1.2/24 dev kb-in
  in_ns "$NS_NODE" ip addr add 10.99.2.1/24 dev kb-out
  in_ns "$NS_SINK" ip addr add 10.99.2.2/24 dev kb-sink
  # Node: forward, no reverse-path filter, static neighbours (nothing waits on ARP).
  in_ns "$NS_NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.kb-in.rp_filter=0 net.ipv4.conf.kb-out.rp_filter=0 \
    net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.kb-in.send_redirects=0
  in_ns "$NS_NODE" ip neigh replace 10.99.1.1 lladdr $MAC_GEN dev kb-in nud permanent
  in_ns "$NS_NODE" ip neigh replace 10.99.2.2 lladdr $MAC_SINK dev kb-out nud permanent
  in_ns "$NS_NODE" ip route add 10.248.0.0/14 via 10.99.1.1 dev kb-in     # clients
  in_ns "$NS_NODE" ip route add 10.240.0.0/14 via 10.99.2.2 dev kb-out    # backends
  # The ClusterIPs 10.96.0.0/16 have no route in the node: only a DNAT brings them to the sink.
  # Sink: drop everything it gets at the route lookup; its veth counts RX.
  in_ns "$NS_SINK" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.kb-sink.rp_filter=0
  in_ns "$NS_SINK" ip route add blackhole 10.240.0.0/14
  in_ns "$NS_SINK" ip route add blackhole 10.96.0.0/16
  # All receive work of the node (and the sink, which runs in the same softirq) on fwd_cpu:
  # the generator's af_packet TX hands each frame to kb-in's backlog, RPS picks the CPU.
  local mask
  mask=$(printf '%x' $((1 << fwd_cpu)))
  in_ns "$NS_NODE" sh -c "echo $mask > /sys/class/net/kb-in/queues/rx-0/rps_cpus"
  in_ns "$NS_SINK" sh -c "echo $mask > /sys/class/net/kb-sink/queues/rx-0/rps_cpus"
}

# --- Service rules -------------------------------------------------------------------
# rules_load MODE: prints the seconds the load took.
rules_load() {
  local mode=$1 f=$tmp/rules t0
  t0=$(date +%s.%N)
  case "$mode" in
    iptables|iptables-legacy)
      python3 "$GEN_PY" iptables "$services" "$backends" >"$f"
      local restore=iptables-nft-restore
      [[ $mode == iptables-legacy ]] && restore=iptables-legacy-restore
      in_ns "$NS_NODE" "$restore" <"$f" || die "$restore failed"
      ;;
    nftables)
      python3 "$GEN_PY" nftables "$services" "$backends" >"$f"
      in_ns "$NS_NODE" nft -f "$f" || die "nft -f failed"
      ;;
    ipvs)
      python3 "$GEN_PY" ipvs "$services" "$backends" "$sched" >"$f"
      # kube-proxy puts every ClusterIP on the kube-ipvs0 dummy device; a local route for
      # the range makes them local the same way (the dummy driver may be absent).
      in_ns "$NS_NODE" ip route add local 10.96.0.0/16 dev lo table local
      in_ns "$NS_NODE" sysctl -qw net.ipv4.vs.conntrack=1 2>/dev/null || true
      in_ns "$NS_NODE" ipvsadm-restore <"$f" || die "ipvsadm-restore failed"
      ;;
    plain)
      in_ns "$NS_NODE" ip route add 10.96.0.0/16 via 10.99.2.2 dev kb-out
      ;;
  esac
  rm -f "$f"
  echo "$(date +%s.%N) $t0" | awk '{printf "%.1f", $1 - $2}'
}

# --- generator -------------------------------------------------------------------------
# gen_start PCAP FLOWS: testpmd in the generator namespace, both lcores on gen_cpu (the main
# lcore only sleeps between stats lines), io forwarding from the pcap port to af_packet.
gen_start() {
  local pcap=$1 flows=$2
  local mbufs=$((flows + 32768))
  # Every frame of the pcap sits in an mbuf (~2.4 KB each with the default data room,
  # which af_packet's RX queue needs); EAL memory without hugepages.
  local mem=$(( (mbufs * 4096 >> 20) + 512 ))
  # Started directly (not through a shell function) so that $! is testpmd itself:
  # ip netns exec and taskset exec into it.
  ip netns exec "$NS_GEN" taskset -c "$gen_cpu" dpdk-testpmd --lcores "(0,1)@$gen_cpu" --no-huge -m "$mem" \
    --no-shconf --file-prefix="$tag" --no-pci --log-level=user1,info \
    --vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" \
    --vdev "net_af_packet0,iface=kb-gen,qpairs=1,qdisc_bypass=1,blocksz=4096,framesz=2048,framecnt=4096" \
    -- --forward-mode=io --auto-start --stats-period=1 --nb-cores=1 --burst=64 \
    --total-num-mbufs="$mbufs" --rxd=1024 --txd=1024 </dev/null >"$tmp/testpmd.log" 2>&1 &
  gen_pid=$!
  for _ in $(seq 1 100); do
    grep -q "Port statistics" "$tmp/testpmd.log" 2>/dev/null && return 0
    kill -0 "$gen_pid" 2>/dev/null || { tail -20 "$tmp/testpmd.log" >&2; die "testpmd exited at start"; }
    sleep 0.2
  done
  tail -20 "$tmp/testpmd.log" >&2
  die "testpmd did not start forwarding in 20 s"
}

gen_stop() {
  [[ -n "$gen_pid" ]] || return 0
  kill -INT "$gen_pid" 2>/dev/null || true
  for _ in $(seq 1 25); do kill -0 "$gen_pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$gen_pid" 2>/dev/null || true
  wait "$gen_pid" 2>/dev/null || true
  gen_pid=""
}

# --- counters --------------------------------------------------------------------------
# snapshot: "time offered forwarded softirq busy total" (the last three: ticks of fwd_cpu)
snapshot() {
  local t off fwd cpu
  t=$(date +%s.%N)
  off=$(in_ns "$NS_GEN" cat /sys/class/net/kb-gen/statistics/tx_packets /sys/class/net/kb-gen/statistics/tx_dropped |
        awk '{s += $1} END {print s}')
  fwd=$(in_ns "$NS_SINK" cat /sys/class/net/kb-sink/statistics/rx_packets)
  cpu=$(awk -v c="cpu$fwd_cpu" '$1 == c {t = 0; for (i = 2; i <= 9; i++) t += $i; print $8, t - $5 - $6, t}' /proc/stat)
  echo "$t $off $fwd $cpu"
}

# nat_new MODE: packets through the nat table's PREROUTING hook so far, which only the first
# packet of a connection takes (conntrack NATs the rest): new flows.
nat_new() {
  case "$1" in
    iptables) in_ns "$NS_NODE" iptables-nft -t nat -L PREROUTING -v -x -n | awk '$3 == "KUBE-SERVICES" {print $1; exit}' ;;
    iptables-legacy) in_ns "$NS_NODE" iptables-legacy -t nat -L PREROUTING -v -x -n | awk '$3 == "KUBE-SERVICES" {print $1; exit}' ;;
    nftables) in_ns "$NS_NODE" nft list counter ip vxr-kbench new-flows | awk '$1 == "packets" {print $2; exit}' ;;
    *) echo 0 ;;
  esac
}

ct_count() { in_ns "$NS_NODE" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0; }

median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) {print "nan"; exit} if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

results=()   # "mode|case|offered Mpps|forwarded Mpps|new flows/s|si %|si % idle|busy %|ns/packet|Mpps/core|flows held"

# run_case MODE CASE
run_case() {
  local mode=$1 case=$2 flows timeout=30
  case "$case" in
    est-small) flows=$flows_small ;;
    est-large) flows=$flows_large ;;
    new) flows=$flows_new; timeout=0 ;;
    *) die "unknown case '$case'" ;;
  esac
  local pcap=$tmp/$flows.pcap
  [[ -f $pcap ]] || python3 "$GEN_PY" pcap "$pcap" "$flows" "$services" $MAC_GEN $MAC_IN
  in_ns "$NS_NODE" conntrack -F >/dev/null 2>&1 || true
  in_ns "$NS_NODE" sysctl -qw "net.netfilter.nf_conntrack_udp_timeout=$timeout" \
    "net.netfilter.nf_conntrack_udp_timeout_stream=$((timeout > 120 ? timeout : 120))" 2>/dev/null || true
  # Background: the softirq share of fwd_cpu with the generator stopped (other work on a
  # shared machine has its own softirqs there); subtracted below.
  local a0 b0 si0
  a0=$(snapshot); sleep "$window_s"; b0=$(snapshot)
  si0=$(awk -v a="$a0" -v b="$b0" 'BEGIN {split(a, A); split(b, B); k = B[6] - A[6]; if (k < 1) k = 1; printf "%.1f", 100 * (B[4] - A[4]) / k}')
  gen_start "$pcap" "$flows"
  # Warm: established cases until conntrack holds (nearly) every flow.
  local held=0 t0=$SECONDS
  if [[ $case == est-* && $mode != plain ]]; then
    while ((SECONDS - t0 < warm_max)); do
      held=$(ct_count)
      ((held * 100 >= flows * 99)) && break
      sleep 0.5
    done
    held=$(ct_count)
    ((held * 100 >= flows * 99)) || log "$mode $case: conntrack holds $held of $flows flows after ${warm_max} s of warm-up"
  fi
  sleep 1
  # Reading the counter can take a second (iptables-legacy copies the whole table): each
  # read is timed at its midpoint.
  local n0 n1 tn0 tn1 tr
  tr=$(date +%s.%N); n0=$(nat_new "$mode"); tn0=$(awk -v a="$tr" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", (a + b) / 2}')
  local w a b off=() fwd=() si=() busy=() cost=()
  for ((w = 0; w < windows; w++)); do
    a=$(snapshot); sleep "$window_s"; b=$(snapshot)
    read -r -a A <<<"$a"; read -r -a B <<<"$b"
    local dt dtk
    dt=$(awk -v x="${A[0]}" -v y="${B[0]}" 'BEGIN {print y - x}')
    dtk=$((B[5] - A[5])); ((dtk > 0)) || dtk=1
    off+=("$(awk -v d=$((B[1] - A[1])) -v t="$dt" 'BEGIN {printf "%.3f", d / t / 1e6}')")
    fwd+=("$(awk -v d=$((B[2] - A[2])) -v t="$dt" 'BEGIN {printf "%.3f", d / t / 1e6}')")
    si+=("$(awk -v d=$((B[3] - A[3])) -v k=$dtk 'BEGIN {printf "%.1f", 100 * d / k}')")
    # The forwarding CPU's cost per forwarded packet: its softirq time above the background
    # over the packets that reached the sink (ticks of 1/HZ s: a few % of noise per window;
    # none with fewer than 10 ticks above the background, e.g. a window the generator starved in).
    cost+=("$(awk -v d=$((B[3] - A[3])) -v k=$dtk -v s0="$si0" -v t="$dt" -v n=$((B[2] - A[2])) \
      'BEGIN {x = d / k - s0 / 100; if (x * k < 10 || n < 1) {print "nan"; exit} printf "%.0f", x * t * 1e9 / n}')")
    busy+=("$(awk -v d=$((B[4] - A[4])) -v k=$dtk 'BEGIN {printf "%.0f", 100 * d / k}')")
  done
  tr=$(date +%s.%N); n1=$(nat_new "$mode"); tn1=$(awk -v a="$tr" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", (a + b) / 2}')
  local new_rate
  new_rate=$(awk -v a="${n0:-0}" -v b="${n1:-0}" -v x="$tn0" -v y="$tn1" 'BEGIN {printf "%.0f", (b - a) / (y - x)}')
  [[ $case == est-* ]] && held=$(ct_count)
  LAST_SINK_TOTAL=${B[2]}   # every packet the sink got since the namespaces were made
  LAST_CT_DUMP=""
  ((smoke)) && LAST_CT_DUMP=$(in_ns "$NS_NODE" conntrack -L -p udp 2>/dev/null | head -5 || true)
  gen_stop
  local r
  r="$mode|$case|$(printf '%s\n' "${off[@]}" | median)|$(printf '%s\n' "${fwd[@]}" | median)"
  local c_med
  c_med=$(printf '%s\n' "${cost[@]}" | grep -v nan | median)
  r+="|$new_rate|$(printf '%s\n' "${si[@]}" | median)|$si0"
  r+="|$(printf '%s\n' "${busy[@]}" | median)|$c_med|$(awk -v c="$c_med" 'BEGIN {if (c + 0 > 0) printf "%.2f", 1e3 / c; else print "nan"}')|$held"
  results+=("$r")
  log "$mode $case: offered ${off[*]} Mpps; forwarded ${fwd[*]} Mpps; new flows $new_rate/s;" \
      "cpu$fwd_cpu softirq ${si[*]} % (${si0} % before), busy ${busy[*]} %; ns/packet ${cost[*]}; conntrack entries $held"
}

# --- main ------------------------------------------------------------------------------
log "$(date -u '+%F %T') UTC, $(nproc) CPUs, kernel $(uname -r); uptime:$(uptime | sed 's/.*up[^,]*,//')"
IFS=, read -r -a mode_list <<<"$modes"
IFS=, read -r -a case_list <<<"$cases"
not_measured=()
smoke_fail=0
for mode in "${mode_list[@]}"; do
  case "$mode" in
    iptables|iptables-legacy|nftables|plain) ;;
    ipvs)
      if ((!ipvs_ok)); then
        not_measured+=("ipvs: this kernel has no IP_VS (/proc/net/ip_vs absent, no module to load)")
        log "ipvs: not measured: this kernel has no IP_VS"
        continue
      fi ;;
    *) die "unknown mode '$mode' (see --help)" ;;
  esac
  topology_down
  topology
  secs=$(rules_load "$mode")
  log "$mode: $services Services x $backends backends loaded in $secs s"
  for c in "${case_list[@]}"; do
    [[ $mode == plain && $c == new ]] && continue   # no conntrack: no flows to count
    run_case "$mode" "$c"
    if ((smoke)); then
      IFS='|' read -r -a R <<<"${results[-1]}"
      # Packets counted over the whole case (warm-up included), not the window's rate: a
      # window in which the shared machine starves the generator must not fail the test.
      if ((LAST_SINK_TOTAL > 0)) && grep -q 'dst=10\.96\.' <<<"$LAST_CT_DUMP" &&
         grep -Eq 'src=10\.24[0-3]\.[0-9.]+ dst=10\.24[89]' <<<"$LAST_CT_DUMP"; then
        echo "ok - kernel_services smoke $mode: $LAST_SINK_TOTAL packets reached the sink through DNAT (${R[3]} Mpps)"
      else
        echo "not ok - kernel_services smoke $mode: sink got $LAST_SINK_TOTAL packets; conntrack: ${LAST_CT_DUMP:-none}"
        smoke_fail=1
      fi
    fi
  done
done
topology_down

echo
echo "$cmdline"
echo "$(date -u '+%F %T') UTC; uptime:$(uptime | sed 's/.*up[^,]*,//'); forwarding on CPU $fwd_cpu, testpmd on CPU $gen_cpu"
echo
echo "| mode | case | offered Mpps | forwarded Mpps | new flows/s | CPU $fwd_cpu softirq % | same, generator off | CPU $fwd_cpu busy % | softirq ns/packet | Mpps per busy core | conntrack entries |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for r in "${results[@]}"; do echo "| ${r//|/ | } |"; done
for n in "${not_measured[@]}"; do echo "- not measured: $n"; done
((smoke_fail == 0))
