#!/usr/bin/env python3
"""End-to-end throughput of vxrouted on one worker core, driven by testpmd.
Started by bench/harness/run.sh (which builds, then cleans up by PID if this
process dies); see that file for the topology. Standard library only.

Every figure comes from this run: the generator (testpmd io-forward from a
net_pcap infinite_rx port) and the sink are one testpmd forwarding lcore on
CPU 0; the device under test is vxrouted's worker on CPU 1, or, for the
ceiling, a second testpmd in io-forward mode on CPU 1 between the same memif
port types. --ports vhost runs the vhost-user pod cases of vhost.py instead
(--ports all: both); each port type has its own section of BENCHMARKS.md.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from common import (cpu_ticks, foreign_cpu, links_up, log, machine, measure_windows, ours, parse_summary, testpmd,
                    vxrouted)

PATHS = [  # name, label, generator pcap stem, vxrouted ingress memif, vxrouted egress memif
    ("encap", "pod -> remote node (encap)", "encap", "pod1", "uplink"),
    ("decap", "remote node -> pod (decap)", "decap", "uplink", "pod1"),
    ("local", "pod -> pod, same node", "local", "pod1", "pod2"),
]
MIXES = [("64", "64 B"), ("imix", "IMIX 7:4:1")]
DUT_PORTS = ["pod1", "uplink", "pod2"]  # generator-side memif servers for vxrouted's ports
CEIL_PORTS = ["ceilA", "ceilB"]          # generator-side memif servers for the ceiling testpmd


def measure(args, gen, g, a, b, vx=None, dut=None):
    """Generator port g into a, sink port b (testpmd's own Rx-pps at b is the
    delivered rate); see common.measure_windows."""
    gen.run(f"set portlist {g},{a},{b}", r"^testpmd> ", "set portlist")
    gen.run("start", r"^testpmd> ", "start")

    def sample():
        e_b, e_g = gen.port_stats(b), gen.port_stats(g)
        return {"sink": e_b["rx"], "offered": e_g["rx"], "t": e_b["t"], "rate": e_b["rx_pps"],
                "offered_rate": e_g["rx_pps"]}
    try:
        return measure_windows(args, sample, vx=vx, dut=dut)
    finally:
        gen.run("stop", r"^testpmd> ", "stop")


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
    ap.add_argument("--ports", choices=["memif", "vhost", "all"], default="memif")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    log("generating the vxrouted config (10,000 peers, 10,000 static neighbours) and pcaps (scapy)")
    subprocess.run([args.scapy_python, f"{here}/gen_inputs.py", args.tmp, f"{args.tmp}/s"], check=True)
    os.makedirs(f"{args.tmp}/state", exist_ok=True)
    os.makedirs(f"{args.tmp}/s", exist_ok=True)  # unix sockets: memif, vhost-user
    sections = {}
    if args.ports in ("memif", "all"):
        sections["memif"] = phase(args, run_memif)
    if args.ports in ("vhost", "all"):
        import vhost  # noqa: E402 (only this phase needs it)
        sections["vhost"] = phase(args, vhost.run_vhost)
    write_sections(args.out, sections)
    log(f"wrote {args.out}")


def phase(args, run):
    """One port type's cases; returns its BENCHMARKS.md section (also printed)."""
    t_start = time.time()
    load_before = open("/proc/loadavg").read().split()[:3]
    cpu_before = cpu_ticks()
    results, report = run(args, t_start)
    elapsed = time.time() - t_start
    load_after = open("/proc/loadavg").read().split()[:3]
    others = foreign_cpu(cpu_before, cpu_ticks(), elapsed, ours(args.pidfile))
    text = report(args, results, run_facts(args, elapsed, load_before, load_after, others))
    print("\n" + text)
    return text


def run_facts(args, elapsed, load_before, load_after, others):
    """The lines every section carries: machine, load, others' CPU, command."""
    model, cpus, dpdk, kernel = machine()
    busy = ", ".join(f"{comm} (pid {pid}) {100 * share:.0f}%" for share, pid, comm in others[:8]) or "none above 5%"
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"""Machine: {model}, {cpus} CPUs (lscpu); kernel {kernel}; DPDK {dpdk} (Debian); date {date}.
Load average before/after the run: {' '.join(load_before)} / {' '.join(load_after)}. Run time {elapsed:.0f} s.
Other processes' CPU use during the run (share of one CPU; the machine is shared, and what these took from
CPU 0 and 1 lowers and scatters the figures): {busy}.

Command: `{args.command}`
"""


MARK = "<!-- bench/harness section {} {} -->"


def write_sections(path, sections):
    """Replace (or add) each port type's section of BENCHMARKS.md between its
    markers and keep the others: a vhost-only run leaves the memif figures.
    A file without markers is one old memif section."""
    head = "# vxroute end-to-end benchmarks\n\n"
    try:
        old = open(path).read()
    except OSError:
        old = ""
    body = old[len(head):] if old.startswith(head) else old
    kept = {}
    for name in ("memif", "vhost"):
        b, e = MARK.format(name, "begin"), MARK.format(name, "end")
        if b in body and e in body:
            kept[name] = body[body.index(b) + len(b):body.index(e)].strip("\n")
    if not kept and body.strip():
        kept["memif"] = body.strip("\n")
    kept.update({k: v.strip("\n") for k, v in sections.items()})
    with open(path, "w") as f:
        f.write(head)
        f.write("Written by `bench/harness/run.sh`, one section per port type (`--ports memif|vhost|all`); every number\n"
                "in a section comes from the one run that section describes.\n\n")
        for name in ("memif", "vhost"):
            if name in kept:
                f.write(f"{MARK.format(name, 'begin')}\n{kept[name]}\n{MARK.format(name, 'end')}\n\n")


def run_memif(args, t_start):
    """The memif cases: pod and uplink ports are memif, generator and sink one testpmd."""
    tmp = args.tmp
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

    return results, memif_report


def memif_report(args, results, facts):
    lines = ["## memif pod and uplink ports", ""]
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
    setup = facts + f"""
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
    return table + "\n\n" + setup


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print(f"[e2e] error: {e}", file=sys.stderr)
        sys.exit(1)
