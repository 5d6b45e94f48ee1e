"""Shared by bench/harness/e2e.py (memif cases) and vhost.py (vhost-user
cases): the processes the harness drives (testpmd, vxrouted), per-window
DUT figures, and what the rest of the machine did meanwhile. Standard
library only."""
import json
import os
import re
import signal
import statistics
import subprocess
import time


def terminate(p, timeout=15):
    """SIGTERM a process we started; SIGKILL it if it is still there after `timeout` s."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


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
                terminate(self.p, timeout=5)
        self.logf.close()


class vxrouted:
    def __init__(self, build, tmp, cfg_path, pidfile, name="vxrouted"):
        sock = json.load(open(cfg_path)).get("admin_socket", f"{tmp}/vxrouted.sock")
        self.ctl = [f"{build}/src/app/vxroutectl", "-s", sock]
        self.logpath = f"{tmp}/{name}.log"
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
        terminate(self.p)
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


def vx_window(c0, c1):
    """vxrouted's figures between two `show counters` snapshots: busy cycles per
    received packet, idle share, burst size, drops and the largest drop reason."""
    rx = c1["rx_packets"] - c0["rx_packets"]
    busy = c1["busy_cycles"] - c0["busy_cycles"]
    total = c1["total_cycles"] - c0["total_cycles"]
    busy_polls = (c1["polls"] - c0["polls"]) - (c1["idle_polls"] - c0["idle_polls"])
    w = dict(cpp=busy / max(1, rx), idle=1 - busy / max(1, total), burst=rx / max(1, busy_polls),
             dut_drops=(c1["dropped"] - c0["dropped"]) + (c1["tx_dropped"] - c0["tx_dropped"]), dut_rx=rx)
    reasons = {k: v - c0.get("drops", {}).get(k, 0) for k, v in c1.get("drops", {}).items()}
    reasons["tx_dropped (egress ring full)"] = c1["tx_dropped"] - c0["tx_dropped"]
    top = max(reasons.items(), key=lambda kv: kv[1]) if reasons else ("", 0)
    return w, (top if top[1] else ("none", 0))


def dut_window(args, dut, t_clear):
    """The ceiling testpmd's busy cycles/packet and idle share since t_clear
    (`--record-core-cycles`), then clears its stats; returns (figures, new t_clear)."""
    w = {}
    t = dut.run("show fwd stats all", r"CPU cycles/packet=.*MHz Clock", "fwd stats")
    t_show = time.time()
    m = re.findall(r"CPU cycles/packet=([\d.]+) \(total cycles=(\d+) / total \S+ packets=(\d+)\) "
                   r"at (\d+) MHz Clock", t)
    w["cpp"] = float(m[-1][0]) if m else float("nan")
    if m:  # busy share of the window: busy cycles / (window x TSC)
        w["idle"] = max(0.0, 1 - int(m[-1][1]) / ((t_show - t_clear) * int(m[-1][3]) * 1e6))
        args.tsc_mhz = int(m[-1][3])
    dut.run("clear fwd stats all", r"^testpmd> ")
    return w, time.time()


def measure_windows(args, sample, vx=None, dut=None):
    """Warm up, then args.runs windows of args.window seconds; per window the
    delivered Mpps, offered Mpps, loss, the DUT's cycles/packet and idle share
    (vxrouted counters, or the ceiling testpmd's), and other processes' CPU.
    sample() -> {"sink", "offered": packet counts, "t": seconds of the counts,
    optionally "rate"/"offered_rate": the counting tool's own pps}. Returns
    the medians and the windows."""
    if dut is not None:
        dut.run("clear fwd stats all", r"^testpmd> ")
    time.sleep(args.warmup)
    s0 = sample()
    c0 = vx.counters() if vx else None
    p0, pt0 = cpu_ticks(), time.time()
    if dut is not None:
        dut.run("clear fwd stats all", r"^testpmd> ")
    t_clear = time.time()
    last_top = ("none", 0)
    wins = []
    for _ in range(args.runs):
        time.sleep(args.window)
        s1 = sample()
        dt = max(1e-9, s1["t"] - s0["t"])
        sink, offered = s1["sink"] - s0["sink"], s1["offered"] - s0["offered"]
        w = {"mpps": s1.get("rate", sink / dt) / 1e6, "mpps_counts": sink / dt / 1e6,
             "offered_mpps": s1.get("offered_rate", offered / dt) / 1e6, "loss": 1 - sink / max(1, offered)}
        if vx is not None:
            c1 = vx.counters()
            vw, last_top = vx_window(c0, c1)
            w.update(vw)
            c0 = c1
        if dut is not None:
            dw, t_clear = dut_window(args, dut, t_clear)
            w.update(dw)
        p1, pt1 = cpu_ticks(), time.time()
        w["others"] = sum(share for share, _, _ in foreign_cpu(p0, p1, pt1 - pt0, ours(args.pidfile), floor=0.0))
        p0, pt0 = p1, pt1
        s0 = s1
        wins.append(w)
    med = {k: statistics.median(x[k] for x in wins) for k in wins[0]}
    med["top_drop"] = f"{last_top[0]} ({last_top[1]} in the last window)"
    return med, wins


def ours(pidfile):
    """This run's processes: the orchestrator, its parent (run.sh) and every PID it recorded."""
    return {os.getpid(), os.getppid()} | {int(x) for x in open(pidfile).read().split()}


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
