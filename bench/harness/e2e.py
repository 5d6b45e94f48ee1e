#!/usr/bin/env python3
"""End-to-end throughput of vxrouted on one worker core, driven by testpmd.
Started by bench/harness/run.sh (which builds, then cleans up by PID if this
process dies); see that file for the topology. Standard library only.

Every figure comes from this run: the generator (testpmd io-forward from a
net_pcap infinite_rx port) and the sink are one testpmd forwarding lcore on
CPU 0; the device under test is vxrouted's worker on CPU 1, or, for the
ceiling, a second testpmd in io-forward mode on CPU 1 between the same memif
port types.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

ARGS = None
PATHS = [  # name, label, generator pcap stem, vxrouted ingress memif, vxrouted egress memif
    ("encap", "pod -> remote node (encap)", "encap", "pod1", "uplink"),
    ("decap", "remote node -> pod (decap)", "decap", "uplink", "pod1"),
    ("local", "pod -> pod, same node", "local", "pod1", "pod2"),
]
MIXES = [("64", "64 B"), ("imix", "IMIX 7:4:1")]
DUT_PORTS = ["pod1", "uplink", "pod2"]  # generator-side memif servers for vxrouted's ports
CEIL_PORTS = ["ceilA", "ceilB"]          # generator-side memif servers for the ceiling testpmd


def log(msg):
    print(f"[e2e] {msg}", flush=True)


class testpmd:
    """An interactive dpdk-testpmd driven through its stdin; output (line
    buffered by stdbuf) goes to a log file that we scan."""

    def __init__(self, name, tmp, eal, app, pidfile):
        self.name = name
        self.logpath = f"{tmp}/{name}.log"
        self.logf = open(self.logpath, "w")
        cmd = ["stdbuf", "-oL", "dpdk-testpmd"] + eal + ["--"] + app + ["-i"]
        self.cmdline = " ".join(cmd)
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self.logf, stderr=subprocess.STDOUT,
                                  text=True, start_new_session=True)
        with open(pidfile, "a") as f:
            f.write(f"{self.p.pid}\n")
        self.wait_for(r"^testpmd> ", 1, 60, "start")

    def text(self):
        with open(self.logpath) as f:
            return f.read()

    def wait_for(self, pattern, count, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.p.returncode}) during {what}; see {self.logpath}:\n"
                                   + self.text()[-2000:])
            if len(re.findall(pattern, self.text(), re.M)) >= count:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: timeout waiting for {what}; log {self.logpath}:\n" + self.text()[-2000:])

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def run(self, line, marker, what=None):
        """Send a command, wait until `marker` appears once more than before."""
        before = len(re.findall(marker, self.text(), re.M))
        self.cmd(line)
        self.wait_for(marker, before + 1, 20, what or line)
        return self.text()

    def port_stats(self, port):
        t = self.run(f"show port stats {port}", rf"NIC statistics for port {port}\s.*\n(?:.*\n){{8}}")
        block = t[t.rindex(f"NIC statistics for port {port} "):]
        def num(key):
            return int(re.search(rf"{key}:\s*(\d+)", block).group(1))
        return {"rx": num("RX-packets"), "tx": num("TX-packets"), "rx_pps": num("Rx-pps"),
                "rx_missed": num("RX-missed"), "rx_nombuf": num("RX-nombuf"), "t": time.time()}

    def stop(self):
        if self.p.poll() is None:
            try:
                self.cmd("stop")
                self.cmd("quit")
                self.p.stdin.close()
                self.p.wait(timeout=15)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                self.p.send_signal(signal.SIGTERM)
                try:
                    self.p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.p.kill()
                    self.p.wait()
        self.logf.close()


class vxrouted:
    def __init__(self, build, tmp, cfg_path, pidfile):
        self.ctl = [f"{build}/src/app/vxroutectl", "-s", f"{tmp}/vxrouted.sock"]
        self.logpath = f"{tmp}/vxrouted.log"
        self.logf = open(self.logpath, "w")
        self.p = subprocess.Popen([f"{build}/src/app/vxrouted", "-c", cfg_path], stdout=self.logf,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        with open(pidfile, "a") as f:
            f.write(f"{self.p.pid}\n")
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"vxrouted exited ({self.p.returncode}):\n" + open(self.logpath).read()[-3000:])
            if "ready:" in open(self.logpath).read():
                return
            time.sleep(0.1)
        raise RuntimeError("vxrouted did not become ready in 60 s")

    def counters(self):
        out = subprocess.run(self.ctl + ["--json", "show", "counters"], capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            raise RuntimeError(f"vxroutectl: {out.stderr}")
        j = json.loads(out.stdout)
        # The summed block: accept {"total": {...}} or the sums at top level.
        tot = j.get("total", j.get("sum", j))
        return tot

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()


def parse_summary(text):
    """'show port summary all' -> {device name: port id}"""
    ids = {}
    for m in re.finditer(r"^(\d+)\s+[0-9A-Fa-f:]{17}\s+(\S+)\s", text, re.M):
        ids[m.group(2)] = int(m.group(1))
    return ids


def links_up(gen, names, ids, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        t = gen.run("show port summary all", r"^Number of available ports", "port summary")
        last = t[t.rindex("Number of available ports"):]
        ok = all(re.search(rf"^{ids[n]}\s+\S+\s+\S+\s+\S+\s+up", last, re.M) for n in names)
        if ok:
            return
        time.sleep(0.5)
    raise RuntimeError(f"memif links {names} not up on the generator; last summary:\n{last}")


def measure(args, gen, g, a, b, vx=None, dut=None):
    """Warm up, then args.runs windows of args.window seconds; per window:
    delivered Mpps (testpmd's own Rx-pps at the sink port), loss, DUT
    cycles/packet. Returns the medians and the raw windows."""
    gen.run(f"set portlist {g},{a},{b}", r"^testpmd> ", "set portlist")
    gen.run("start", r"^testpmd> ", "start")
    if dut is not None:
        dut.run("clear fwd stats all", r"^testpmd> ")
    time.sleep(args.warmup)
    s_b, s_g = gen.port_stats(b), gen.port_stats(g)
    c0 = vx.counters() if vx else None
    p0, pt0 = cpu_ticks(), time.time()
    if dut is not None:
        dut.run("clear fwd stats all", r"^testpmd> ")
    t_clear = time.time()
    last_top = ("none", 0)
    wins = []
    for _ in range(args.runs):
        time.sleep(args.window)
        e_b, e_g = gen.port_stats(b), gen.port_stats(g)
        w = {"mpps": e_b["rx_pps"] / 1e6,
             "mpps_counts": (e_b["rx"] - s_b["rx"]) / (e_b["t"] - s_b["t"]) / 1e6,
             "offered_mpps": e_g["rx_pps"] / 1e6,
             "loss": 1 - (e_b["rx"] - s_b["rx"]) / max(1, e_g["rx"] - s_g["rx"])}
        if vx is not None:
            c1 = vx.counters()
            rx = c1["rx_packets"] - c0["rx_packets"]
            busy = c1["busy_cycles"] - c0["busy_cycles"]
            total = c1["total_cycles"] - c0["total_cycles"]
            busy_polls = (c1["polls"] - c0["polls"]) - (c1["idle_polls"] - c0["idle_polls"])
            w.update(cpp=busy / max(1, rx), idle=1 - busy / max(1, total), burst=rx / max(1, busy_polls),
                     dut_drops=(c1["dropped"] - c0["dropped"]) + (c1["tx_dropped"] - c0["tx_dropped"]),
                     dut_rx=rx)
            reasons = {k: v - c0.get("drops", {}).get(k, 0) for k, v in c1.get("drops", {}).items()}
            reasons["tx_dropped (egress ring full)"] = c1["tx_dropped"] - c0["tx_dropped"]
            top = max(reasons.items(), key=lambda kv: kv[1]) if reasons else ("", 0)
            last_top = top if top[1] else ("none", 0)
            c0 = c1
        if dut is not None:
            t = dut.run("show fwd stats all", r"CPU cycles/packet=.*MHz Clock", "fwd stats")
            t_show = time.time()
            m = re.findall(r"CPU cycles/packet=([\d.]+) \(total cycles=(\d+) / total \S+ packets=(\d+)\) "
                           r"at (\d+) MHz Clock", t)
            w["cpp"] = float(m[-1][0]) if m else float("nan")
            if m:  # busy share of the window: busy cycles / (window x TSC)
                w["idle"] = max(0.0, 1 - int(m[-1][1]) / ((t_show - t_clear) * int(m[-1][3]) * 1e6))
                args.tsc_mhz = int(m[-1][3])
            dut.run("clear fwd stats all", r"^testpmd> ")
            t_clear = time.time()
        p1, pt1 = cpu_ticks(), time.time()
        w["others"] = sum(share for share, _, _ in foreign_cpu(p0, p1, pt1 - pt0, args.ours, floor=0.0))
        p0, pt0 = p1, pt1
        s_b, s_g = e_b, e_g
        wins.append(w)
    gen.run("stop", r"^testpmd> ", "stop")
    med = {k: statistics.median(x[k] for x in wins) for k in wins[0]}
    med["top_drop"] = f"{last_top[0]} ({last_top[1]} in the last window)"
    return med, wins


def measure_pair(args, gen, dut, vx, pid, path, stem, mix, a, b):
    v, _ = measure(args, gen, pid[(stem, mix)], pid[a], pid[b], vx=vx)
    log(f"vxrouted {path:5s} {mix:4s}: {v['mpps']:.3f} Mpps (offered {v['offered_mpps']:.3f}), "
        f"loss {100 * v['loss']:.1f}%, {v['cpp']:.0f} cycles/pkt, idle {100 * v['idle']:.0f}%, "
        f"others {100 * v['others']:.0f}%, burst {v['burst']:.1f}, vxrouted drops/window {v['dut_drops']:.0f}, "
        f"most: {v['top_drop']}")
    dut.run("start", r"^testpmd> ", "start")
    c, _ = measure(args, gen, pid[(stem, mix)], pid["ceilA"], pid["ceilB"], dut=dut)
    dut.run("stop", r"^testpmd> ", "stop")
    log(f"ceiling  {path:5s} {mix:4s}: {c['mpps']:.3f} Mpps (offered {c['offered_mpps']:.3f}), "
        f"loss {100 * c['loss']:.1f}%, {c['cpp']:.0f} cycles/pkt, idle {100 * c.get('idle', float('nan')):.0f}%, "
        f"others {100 * c['others']:.0f}%")
    return v, c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--scapy-python", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--window", type=float, default=3)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", required=True)
    args = ap.parse_args()
    global ARGS
    ARGS = args
    tmp = args.tmp
    here = os.path.dirname(os.path.abspath(__file__))
    t_start = time.time()
    load_before = open("/proc/loadavg").read().split()[:3]
    cpu_before = cpu_ticks()

    log("generating the vxrouted config (10,000 peers, 10,000 static neighbours) and pcaps (scapy)")
    subprocess.run([args.scapy_python, f"{here}/gen_inputs.py", tmp, f"{tmp}/s"], check=True)
    os.makedirs(f"{tmp}/state", exist_ok=True)
    tag = os.path.basename(tmp).replace(".", "")

    # Generator + sink: one forwarding lcore (1) and the main lcore (0), both on CPU 0.
    vdevs, names = [], {}
    pcaps = [(p[0], m[0]) for p in PATHS for m in MIXES]
    for i, (path, mix) in enumerate(pcaps):
        vdevs += ["--vdev", f"net_pcap{i},rx_pcap={tmp}/{path}_{mix}.pcap,infinite_rx=1"]
        names[(path, mix)] = f"net_pcap{i}"
    for j, port in enumerate(DUT_PORTS + CEIL_PORTS):
        vdevs += ["--vdev", f"net_memif{j},role=server,socket={tmp}/s/{port}.sock"]
        names[port] = f"net_memif{j}"
    gen_eal = ["--lcores", "0@0,1@0", "--main-lcore", "0", "--no-pci", f"--file-prefix={tag}g", "--huge-unlink",
               "--log-level=pmd.net.memif:warning"] + vdevs
    gen_app = ["--disable-link-check", "--port-topology=chained", "--forward-mode=io", "--nb-cores=1",
               "--total-num-mbufs=98304", "--burst=32", "--portlist=0,1"]
    log("starting the generator/sink testpmd (main + forwarding lcore on CPU 0)")
    gen = testpmd("gen", tmp, gen_eal, gen_app, args.pidfile)
    results = {}
    try:
        ids = parse_summary(gen.run("show port summary all", r"^Number of available ports", "port summary"))
        pid = {k: ids[v] for k, v in names.items()}

        cfg = json.load(open(f"{tmp}/vxrouted.json"))
        cfg["eal_args"] = ["-l", "0-1", f"--file-prefix={tag}v", "--huge-unlink", "--log-level=pmd.net.memif:warning"]
        cfg["workers"] = 1
        cfg["idle_backoff_us"] = 100  # sleep only after ~1000 empty polls: while the ceiling runs
        with open(f"{tmp}/vxrouted.json", "w") as f:
            json.dump(cfg, f)
        log("starting vxrouted (main lcore on CPU 0, one worker lcore on CPU 1)")
        t0 = time.time()
        vx = vxrouted(args.build, tmp, f"{tmp}/vxrouted.json", args.pidfile)
        args.startup_s = time.time() - t0
        log(f"vxrouted ready in {args.startup_s:.1f} s")
        links_up(gen, DUT_PORTS, pid)

        # The ceiling: testpmd io-forward between the same port types, forwarding
        # lcore on CPU 1 as well. It forwards only while its case runs ("start" /
        # "stop"; a stopped testpmd lcore blocks), and vxrouted's worker backs off
        # while it gets no traffic (idle_backoff_us), so the two take turns on
        # CPU 1 case by case and both see the same conditions on this shared box.
        dut_eal = ["--lcores", "0@0,1@1", "--main-lcore", "0", "--no-pci", f"--file-prefix={tag}c", "--huge-unlink",
                   "--log-level=pmd.net.memif:warning",
                   "--vdev", f"net_memif0,role=client,socket={tmp}/s/ceilA.sock",
                   "--vdev", f"net_memif1,role=client,socket={tmp}/s/ceilB.sock"]
        dut_app = ["--disable-link-check", "--forward-mode=io", "--nb-cores=1", "--total-num-mbufs=16384",
                   "--burst=32", "--record-core-cycles"]
        log("starting the ceiling testpmd (io forward, forwarding lcore on CPU 1; forwards only during its cases)")
        dut = testpmd("ceiling", tmp, dut_eal, dut_app, args.pidfile)
        try:
            links_up(gen, CEIL_PORTS, pid)
            args.ours = ours()
            retries = 2  # cases measured again when other processes took CPU time during them
            for path, label, stem, a, b in PATHS:
                for mix, mlabel in MIXES:
                    for attempt in range(2):
                        v, c = measure_pair(args, gen, dut, vx, pid, path, stem, mix, a, b)
                        noisy = max(v["others"], c["others"]) > 0.10
                        if not noisy or retries == 0 or time.time() - t_start > 400:
                            break
                        retries -= 1
                        log(f"others used {100 * max(v['others'], c['others']):.0f}% of a CPU during this case: "
                            "measuring it again")
                    results[(path, mix, "vxr")], results[(path, mix, "ceil")] = v, c
        finally:
            dut.stop()
            vx.stop()
    finally:
        gen.stop()

    elapsed = time.time() - t_start
    load_after = open("/proc/loadavg").read().split()[:3]
    others = foreign_cpu(cpu_before, cpu_ticks(), elapsed, ours())
    write_report(args, results, elapsed, load_before, load_after, others)


def ours():
    return {os.getpid(), os.getppid()} | {int(x) for x in open(ARGS.pidfile).read().split()}


def cpu_ticks():
    """pid -> (command, utime + stime in clock ticks), for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        f = st[st.rindex(")") + 2:].split()
        out[int(d)] = (comm, int(f[11]) + int(f[12]))
    return out


def foreign_cpu(before, after, elapsed, ours, floor=0.05):
    """Processes that are not this run's and used >= floor of a CPU in between."""
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    for pid, (comm, t1) in after.items():
        if pid in ours or pid not in before:
            continue
        share = (t1 - before[pid][1]) / hz / elapsed
        if share >= floor and share > 0:
            rows.append((share, pid, comm))
    return sorted(rows, reverse=True)


def machine():
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s*(.*)", lscpu).group(1).strip()
    cpus = re.search(r"^CPU\(s\):\s*(\d+)", lscpu, re.M).group(1)
    dpdk = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "dpdk"], capture_output=True, text=True).stdout
    mhz = re.search(r"cpu MHz\s*:\s*([\d.]+)", open("/proc/cpuinfo").read())
    tsc = f", {float(mhz.group(1)):.0f} MHz" if mhz else ""
    kernel = os.uname().release
    return model + tsc, cpus, dpdk or "22.11", kernel


def write_report(args, results, elapsed, load_before, load_after, others):
    model, cpus, dpdk, kernel = machine()
    busy = ", ".join(f"{comm} (pid {pid}) {100 * share:.0f}%" for share, pid, comm in others[:8]) or "none above 5%"
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = []
    lines.append("| path | frames | vxrouted Mpps | loss | vxrouted cycles/pkt | vxrouted idle | ceiling Mpps "
                 "| ceiling cycles/pkt | ceiling idle | Mpps ratio | cycles ratio (ceiling / vxrouted) | others' CPU |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path, label, *_ in PATHS:
        for mix, mlabel in MIXES:
            v = results.get((path, mix, "vxr"))
            c = results.get((path, mix, "ceil"))
            if not v or not c:
                continue
            lines.append(f"| {label} | {mlabel} | {v['mpps']:.2f} | {max(0.0, 100 * v['loss']):.0f}% | {v['cpp']:.0f} | "
                         f"{100 * v['idle']:.0f}% | {c['mpps']:.2f} | {c['cpp']:.0f} | {100 * c['idle']:.0f}% | "
                         f"{v['mpps'] / c['mpps']:.2f} | {c['cpp'] / v['cpp']:.2f} | "
                         f"{100 * v['others']:.0f}% / {100 * c['others']:.0f}% |")
    table = "\n".join(lines)
    setup = f"""Machine: {model}, {cpus} CPUs (lscpu); kernel {kernel}; DPDK {dpdk} (Debian); date {date}.
Load average before/after the run: {' '.join(load_before)} / {' '.join(load_after)}. Run time {elapsed:.0f} s.
Other processes' CPU use during the run (share of one CPU; the machine is shared, and what these took from
CPU 0 and 1 lowers and scatters the figures): {busy}.

Command: `{args.command}`

Setup (2 CPUs, so generator and device under test get one CPU each):
- CPU 1: the device under test. vxrouted's one worker lcore; or, for the ceiling, testpmd `--forward-mode=io`
  between the same two port types (memif client, copy mode) in its place. Both stay up and take turns case by
  case (vxrouted, then the ceiling, for each row): the ceiling testpmd forwards only during its own case, and
  vxrouted runs with `idle_backoff_us: 100` so that its worker sleeps while it gets no traffic.
- CPU 0: everything else. vxrouted's main lcore (control loop, 10 ms poll), the generator/sink testpmd's main
  lcore and its one forwarding lcore (`--lcores 0@0,1@0`). The generator replays a scapy-built pcap
  (`net_pcap`, `infinite_rx=1`, 10,000 frames) and io-forwards it into a memif server port connected to
  vxrouted's ingress port; the same lcore counts what comes back on the egress memif port (`--port-topology=chained`,
  `set portlist GEN,IN,OUT`).
- vxrouted: release build (-O3), 10,000 static peers (one /24 pod prefix each) and 10,000 static underlay
  neighbours (no ARP), 2 pods; pods and uplink are `net_memif` clients (copy mode).
- Traffic: encap = pod1 to 10,000 remote /24s (each prefix once, random host and UDP ports); decap = VXLAN
  (VNI 1, port 8472) from all 10,000 peers to pod1; pod -> pod = pod1 to pod2 with random UDP ports.
  "64 B" = 64-byte pod-side frames (decap input and encap output are 114 bytes with the outer headers);
  IMIX = 7:4:1 of 64/570/1468-byte pod-side frames (1468 = the largest that fits pod MTU 1450; encapsulated 1518).
- Method: warm-up {args.warmup:g} s, then {args.runs} windows of {args.window:g} s back to back; medians.
  Mpps = packets/s received by the sink (testpmd's own Rx-pps over the window). testpmd cannot pace a pcap
  replay, so this is the maximum forwarding rate under overload with its loss, not an RFC 2544 zero-loss
  figure: loss = 1 - received / generated in the window (most of it is the generator's memif TX ring
  overflowing). vxrouted cycles/pkt = delta busy_cycles / delta rx_packets from `vxroutectl --json show
  counters` (busy = polls that received packets); vxrouted idle = share of TSC cycles in empty polls. Ceiling
  cycles/pkt and idle from testpmd `--record-core-cycles` (`show fwd stats all`, busy cycles only).
- others' CPU = CPU time that processes not started by this run used during the case's windows (median over
  windows, % of one CPU; vxrouted case / ceiling case), read from /proc. A pair of cases is measured again
  when it exceeds 10 % (at most twice per run); rows that still show it were disturbed.
- Reading it: idle time on the device-under-test CPU means the generator CPU (shared by the generator and
  sink lcore, two main lcores and, on this machine, other people's jobs) was the limit, not the device under
  test; the Mpps ratio then understates the difference. The cycles ratio (ceiling cycles/pkt over vxrouted
  cycles/pkt) compares the CPU cost per packet directly and is the better figure of vxrouted's own cost; the
  ceiling's ~{int(round(min(r['cpp'] for k, r in results.items() if k[2] == 'ceil')))} cycles/pkt are memif copy-mode RX + TX alone. testpmd's busy cycles cover its forwarding
  function only, vxrouted's the whole loop iteration that received packets (three RX queues, inject ring,
  drain timer, RCU report), so the cycles ratio leans slightly towards the ceiling.
- vxrouted took {args.startup_s:.1f} s from exec to "ready" with the 10,000 peers (not part of any figure above).
"""
    print()
    print(table)
    print()
    print(setup)
    with open(args.out, "w") as f:
        f.write("# vxroute end-to-end benchmarks\n\n")
        f.write("Written by `bench/harness/run.sh`; every number below comes from the one run described here.\n\n")
        f.write(table + "\n\n" + setup)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print(f"[e2e] error: {e}", file=sys.stderr)
        sys.exit(1)
