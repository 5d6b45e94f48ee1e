#!/usr/bin/env python3
"""Golden packet tests through the real vxrouted worker loop (DESIGN.md 6.2).

Each case writes input pcaps built with scapy, starts the real `vxrouted`
with DPDK's pcap PMD as the uplink and as every pod port, waits until the
workers have received every input frame, stops the daemon with SIGTERM and
compares the output pcaps with the packets the case expects: byte for byte
where the output is deterministic; for VXLAN frames the UDP source port (a
flow hash) is checked for its range and per-flow consistency and the rest of
the frame byte for byte. Every case also asserts the drop counters by reason,
selected event counters and that no mbuf leaked.

Prints `ok - NAME` / `not ok - NAME: reason` per case; exits 1 if any failed.
"""

import os
import sys

# The python3 first on PATH (pyenv, a venv) may lack scapy; Debian's has it.
try:
    import scapy  # noqa: F401
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("not ok - setup: python3 module scapy is missing (apt-get install python3-scapy)")
    sys.exit(1)

import argparse
import json
import logging
import shutil
import signal
import struct
import subprocess
import tempfile
import time

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import ARP, Ether  # noqa: E402
import scapy.layers.vxlan  # noqa: E402,F401  -- binds UDP 8472 to VXLAN for explain()
from scapy.packet import NoPayload, Raw  # noqa: E402

# ---------------------------------------------------------------- identity --

NODE_A = "198.18.0.1"
NODE_B = "198.18.0.2"
VTEP_A = "02:76:78:00:00:01"      # ours; also the pod gateway MAC
VTEP_B = "02:76:78:00:00:02"
PEER_UL_MAC = "02:42:c6:12:00:02"  # node-b's underlay MAC (static neighbour)
GW_IP = "10.244.1.1"
GW_MAC = VTEP_A
POD_A_IP, POD_A_MAC = "10.244.1.2", "02:00:00:00:01:02"
POD_A2_IP, POD_A2_MAC = "10.244.1.3", "02:00:00:00:01:03"
REMOTE = "10.244.2.2"
VNI = 1
VXLAN_PORT = 8472
MTU = 1500
POD_MTU = 1450
ICMP_BURST = 100  # worker.cpp k_icmp_burst

# A packet the router itself originates (echo reply, ICMP error) leaves with
# the default TTL, as the Linux gateway a flannel node has does: the router
# does not "forward" its own packet, so it must not decrement its TTL.
ORIGINATED_TTL = 64

PORTS = ["uplink", "pod-a", "pod-a2"]  # pcap devices, in attach order

# -------------------------------------------------------------- byte tools --


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def fix_ip_csum(ipb):
    ipb = bytearray(ipb)
    ihl = (ipb[0] & 0xF) * 4
    ipb[10:12] = b"\0\0"
    ipb[10:12] = struct.pack("!H", csum16(bytes(ipb[:ihl])))
    return bytes(ipb)


def set_ip(ipb, ttl=None, fix=True):
    ipb = bytearray(ipb)
    if ttl is not None:
        ipb[8] = ttl
    return fix_ip_csum(ipb) if fix else bytes(ipb)


def fwd(ipb):
    """The IPv4 packet as a router forwards it: TTL - 1, checksum fixed."""
    return set_ip(ipb, ttl=ipb[8] - 1)


def ipb(pkt):
    return bytes(pkt)


def mac_b(m):
    return bytes(int(x, 16) for x in m.split(":"))


def eth(dst, src, etype=0x0800):
    return mac_b(dst) + mac_b(src) + struct.pack("!H", etype)


def pod_frame(ip, src_mac=POD_A_MAC, pad=0):
    return eth(GW_MAC, src_mac) + ipb(ip) + b"\0" * pad


def to_pod(ipbytes, mac=POD_A_MAC):
    return eth(mac, GW_MAC) + ipbytes


def vxlan_hdr(vni=VNI, flags=0x08, res1=0, res2=0):
    return struct.pack("!B3sI", flags, res1.to_bytes(3, "big"), (vni << 8) | res2)


def vx_frame(inner_ip, *, inner_dst=VTEP_A, inner_src=VTEP_B, inner_type=0x0800, vni=VNI, flags=0x08, res1=0,
             res2=0, udp_csum=0, sport=54321, dport=VXLAN_PORT, outer_dst=None, outer_src=PEER_UL_MAC,
             ip_src=NODE_B, ip_dst=NODE_A, ip_kw=None, inner_pad=0, pad=0, udp_len=None):
    """A VXLAN frame from node-b to us. udp_csum: 0, 'auto' or a value."""
    inner = eth(inner_dst, inner_src, inner_type) + (ipb(inner_ip) if not isinstance(inner_ip, bytes) else inner_ip)
    inner += b"\0" * inner_pad
    payload = vxlan_hdr(vni, flags, res1, res2) + inner
    u = UDP(sport=sport, dport=dport, chksum=None if udp_csum == "auto" else udp_csum, len=udp_len)
    o = IP(**dict(dict(src=ip_src, dst=ip_dst, flags="DF", ttl=64, id=0), **(ip_kw or {}))) / u / Raw(payload)
    return eth(outer_dst or CTX.up_mac, outer_src) + bytes(o) + b"\0" * pad


def encap_frame(inner_ipbytes, sport):
    """What we must send to node-b for an inner IPv4 packet (already forwarded)."""
    inner = eth(VTEP_B, VTEP_A) + inner_ipbytes
    o = IP(src=NODE_A, dst=NODE_B, flags="DF", ttl=64, id=0, tos=0) / UDP(sport=sport, dport=VXLAN_PORT, chksum=0) \
        / Raw(vxlan_hdr() + inner)
    return eth(PEER_UL_MAC, CTX.up_mac) + bytes(o)


def icmp_error(orig_ipbytes, typ, code, mtu=0, ttl=ORIGINATED_TTL):
    """RFC 792 error from the gateway about orig (quote: header + 8 bytes)."""
    ihl = (orig_ipbytes[0] & 0xF) * 4
    tlen = struct.unpack("!H", orig_ipbytes[2:4])[0]
    quote = orig_ipbytes[:min(tlen, ihl + 8)]
    body = struct.pack("!BBHHH", typ, code, 0, 0, mtu) + quote
    body = body[:2] + struct.pack("!H", csum16(body)) + body[4:]
    src = orig_ipbytes[12:16]
    ip = IP(src=GW_IP, dst=".".join(str(b) for b in src), ttl=ttl, id=0, tos=0, flags=0, proto=1) / Raw(body)
    return bytes(ip)


def echo_reply(req_ipbytes, ttl=ORIGINATED_TTL):
    """What the gateway answers to an echo request: addresses swapped, type 0."""
    p = IP(req_ipbytes)
    rep = IP(src=p.dst, dst=p.src, ttl=ttl, id=p.id, tos=p.tos, flags=p.flags, frag=p.frag, proto=1,
             options=p.options) / ICMP(type=0, code=0, id=p[ICMP].id, seq=p[ICMP].seq) / Raw(bytes(p[ICMP].payload))
    return bytes(rep)


# ----------------------------------------------------------------- pcap I/O --


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000, i, len(fr), len(fr)))
            f.write(fr)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError("%s: truncated pcap (%d bytes)" % (path, len(data)))
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        e = ">"
    else:
        raise ValueError("%s: not a pcap file" % path)
    linktype = struct.unpack(e + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError("%s: link type %d, want Ethernet" % (path, linktype))
    out, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        if incl != orig:
            raise ValueError("%s: frame %d captured %d of %d bytes" % (path, len(out), incl, orig))
        out.append(data[off:off + incl])
        off += incl
    return out


# ------------------------------------------------------------ expectations --


class Vx:
    """An expected VXLAN frame to node-b carrying `inner` (an IPv4 packet as it
    must appear inside, any of `alts`); `flow` groups frames that must share a
    UDP source port."""

    def __init__(self, inner, flow=None, alts=()):
        self.inners = [inner] + list(alts)
        self.flow = flow

    def match(self, act):
        if len(act) < 36:
            return False, "frame of %d bytes is not a VXLAN frame" % len(act), None
        sport = struct.unpack("!H", act[34:36])[0]
        errs = []
        if not 49152 <= sport <= 65535:
            errs.append("UDP source port %d outside 49152..65535" % sport)
        want = [encap_frame(i, sport) for i in self.inners]
        if act in want:
            return not errs, "; ".join(errs), sport
        return False, "; ".join(errs + [explain(want[0], act)]), sport


def explain(want, got):
    """Name the fields that differ, scapy-dissected, layer by layer."""
    msgs = []
    if len(want) != len(got):
        msgs.append("length %d, want %d" % (len(got), len(want)))
    try:
        a, b = Ether(want), Ether(got)
        depth = 0
        while not isinstance(a, NoPayload) and not isinstance(b, NoPayload) and len(msgs) < 6:
            depth += 1
            if type(a) is not type(b):
                msgs.append("layer %d is %s, want %s" % (depth, b.name, a.name))
                break
            if isinstance(a, (Raw,)):
                if a.load != b.load:
                    i = next((k for k in range(min(len(a.load), len(b.load))) if a.load[k] != b.load[k]),
                             min(len(a.load), len(b.load)))
                    msgs.append("%s#%d payload differs at byte %d" % (a.name, depth, i))
                break
            for f in a.fields_desc:
                va, vb = a.getfieldval(f.name), b.getfieldval(f.name)
                if va != vb:
                    msgs.append("%s#%d.%s = %r, want %r" % (a.name, depth, f.name, vb, va))
            a, b = a.payload, b.payload
    except Exception as ex:  # dissection of hostile bytes may fail
        msgs.append("(dissect: %s)" % ex)
    if not msgs:
        i = next((k for k in range(min(len(want), len(got))) if want[k] != got[k]), None)
        msgs.append("bytes differ at offset %s" % i)
    return ", ".join(msgs)


def match_one(exp, act):
    """(ok, why, sport)"""
    if isinstance(exp, Vx):
        return exp.match(act)
    if act == exp:
        return True, "", None
    return False, explain(exp, act), None


class Case:
    def __init__(self, name, inputs, expect, drops=None, events=None, control=None, ordered=True, extra=None,
                 free_ports=(), show=()):
        self.name = name
        self.show = show      # `vxroutectl show WHAT` views to fetch before SIGTERM, for `extra`
        self.shown = {}       # WHAT -> the JSON reply
        self.free_ports = free_ports  # ports whose output only `extra` checks
        self.inputs = {p: inputs.get(p, []) for p in PORTS}
        self.expect = {p: expect.get(p, []) for p in PORTS}
        self.drops = drops or {}
        self.events = events or {}
        self.control = control or {}
        self.ordered = ordered
        self.extra = extra  # f(case, outputs, sports, counters) -> [errors]


def check_outputs(case, outputs):
    errs = []
    sports = []  # (flow, sport)
    for port in PORTS:
        if port in case.free_ports:
            continue
        exp, act = case.expect[port], outputs[port]
        if len(act) != len(exp):
            errs.append("%s: %d frames out, want %d" % (port, len(act), len(exp)))
        if case.ordered:
            for i, (e, a) in enumerate(zip(exp, act)):
                ok, why, sport = match_one(e, a)
                if not ok:
                    errs.append("%s frame %d: %s" % (port, i, why))
                if isinstance(e, Vx) and sport is not None:
                    sports.append((e.flow, sport))
        else:
            left = list(act)
            for i, e in enumerate(exp):
                hit = None
                for j, a in enumerate(left):
                    ok, _, sport = match_one(e, a)
                    if ok:
                        hit = j
                        if isinstance(e, Vx):
                            sports.append((e.flow, sport))
                        break
                if hit is None:
                    why = match_one(e, left[0])[1] if left else "nothing left"
                    errs.append("%s: expected frame %d not found (closest: %s)" % (port, i, why))
                else:
                    left.pop(hit)
    by_flow = {}
    for flow, sport in sports:
        if flow is not None:
            by_flow.setdefault(flow, set()).add(sport)
    for flow, s in by_flow.items():
        if len(s) != 1:
            errs.append("flow %s used UDP source ports %s, want one" % (flow, sorted(s)))
    return errs, by_flow


# --------------------------------------------------------------- the daemon --


class Ctx:
    up_mac = "02:70:63:61:70:00"  # net_pcap's MAC for the first pcap device; confirmed by the baseline run
    mbufs_baseline = None
    vxrouted = None
    vxroutectl = None
    keep = False
    verbose = False
    seq = 0


CTX = Ctx()


class Fail(Exception):
    pass


def ctl(sock, *words):
    r = subprocess.run([CTX.vxroutectl, "-s", sock, "--json"] + list(words), capture_output=True, text=True,
                       timeout=5)
    if r.returncode != 0:
        raise Fail("vxroutectl %s: exit %d: %s" % (" ".join(words), r.returncode, r.stderr.strip()))
    return json.loads(r.stdout)


def steady(c):
    """Counters that must stop moving once the input is processed."""
    t = dict(c["total"])
    for k in ("busy_cycles", "total_cycles", "polls", "idle_polls"):
        t.pop(k, None)
    return json.dumps([t, c["control"]], sort_keys=True)


def run_daemon(case):
    """Runs vxrouted over the case's input; returns (outputs, counters, ports)."""
    CTX.seq += 1
    tmp = tempfile.mkdtemp(prefix="vxr-golden-")
    proc = None
    try:
        devs = {}
        for i, port in enumerate(PORTS):
            rx, tx = os.path.join(tmp, port + "-in.pcap"), os.path.join(tmp, port + "-out.pcap")
            write_pcap(rx, case.inputs[port])
            devs[port] = "net_pcap%d,rx_pcap=%s,tx_pcap=%s" % (i, rx, tx)
        sock = os.path.join(tmp, "admin.sock")
        cfg = {
            "node_name": "node-a",
            "node_ip": NODE_A + "/24",
            "uplink": devs["uplink"],
            "vtep_mac": VTEP_A,
            "pod_cidr": "10.244.1.0/24",
            "vni": VNI,
            "udp_port": VXLAN_PORT,
            "mtu": MTU,
            "host_iface": "",
            "workers": 1,
            "idle_backoff_us": 20,
            "mbufs": 8191,
            "max_routes": 1024,
            "admin_socket": sock,
            "metrics_listen": "",  # root namespace, cases run in parallel with other tests: no fixed port
            "state_dir": os.path.join(tmp, "state"),
            "eal_args": ["-l", "0-1", "--no-pci", "--in-memory",
                         "--file-prefix=vxrgolden%d_%d" % (os.getpid(), CTX.seq), "--log-level=lib.eal:error"],
            "peers": [{"name": "node-b", "node_ip": NODE_B, "vtep_mac": VTEP_B, "pod_cidr": "10.244.2.0/24"}],
            "neighbors": [{"ip": NODE_B, "mac": PEER_UL_MAC}],
            "pods": [
                {"name": "pod-a", "ip": POD_A_IP, "devargs": devs["pod-a"], "mac": POD_A_MAC},
                {"name": "pod-a2", "ip": POD_A2_IP, "devargs": devs["pod-a2"], "mac": POD_A2_MAC},
            ],
        }
        cfg_path = os.path.join(tmp, "vxrouted.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=1)
        err_path = os.path.join(tmp, "vxrouted.stderr")
        with open(err_path, "w") as err:
            proc = subprocess.Popen([CTX.vxrouted, "-c", cfg_path], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)

        def stderr_text():
            with open(err_path, errors="replace") as f:
                return f.read()

        deadline = time.monotonic() + 20
        while "ready" not in stderr_text():
            if proc.poll() is not None:
                raise Fail("vxrouted exited %d before ready: %s" % (proc.returncode, stderr_text().strip()[-800:]))
            if time.monotonic() > deadline:
                raise Fail("vxrouted not ready after 20 s: %s" % stderr_text().strip()[-800:])
            time.sleep(0.01)

        n_in = sum(len(v) for v in case.inputs.values())
        deadline = time.monotonic() + 10
        while True:
            c = ctl(sock, "show", "counters")
            if c["total"]["rx_packets"] >= n_in:
                break
            if proc.poll() is not None:
                raise Fail("vxrouted died (exit %d): %s" % (proc.returncode, stderr_text().strip()[-800:]))
            if time.monotonic() > deadline:
                raise Fail("rx_packets %d of %d after 10 s; counters: %s"
                           % (c["total"]["rx_packets"], n_in, json.dumps(c["total"])))
            time.sleep(0.02)
        # Let TX buffers drain and punted packets come back (control loop: 10 ms).
        deadline = time.monotonic() + 3
        prev = None
        while time.monotonic() < deadline:
            c = ctl(sock, "show", "counters")
            s = steady(c)
            if s == prev and (CTX.mbufs_baseline is None or c["control"]["mbufs_in_use"] == CTX.mbufs_baseline):
                break
            prev = s
            time.sleep(0.05)
        ports = ctl(sock, "show", "ports")
        case.shown = {what: ctl(sock, "show", what) for what in case.show}
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise Fail("vxrouted did not exit within 10 s of SIGTERM")
        if rc != 0:
            raise Fail("vxrouted exited %d after SIGTERM: %s" % (rc, stderr_text().strip()[-800:]))
        outputs = {}
        for port in PORTS:
            path = os.path.join(tmp, port + "-out.pcap")
            if not os.path.exists(path):
                raise Fail("no output pcap for %s" % port)
            outputs[port] = read_pcap(path)
        return outputs, c, ports
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()  # only the daemon this run started
            proc.wait()
        if CTX.keep:
            print("# %s: kept %s" % (case.name, tmp))
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run_case(case):
    outputs, c, ports = run_daemon(case)
    errs = []
    up = [p for p in ports["ports"] if p["kind"] == "uplink"]
    if not up or up[0]["mac"] != CTX.up_mac:
        errs.append("uplink MAC %s, the inputs were built for %s" % (up[0]["mac"] if up else None, CTX.up_mac))
    o_errs, by_flow = check_outputs(case, outputs)
    errs += o_errs
    tot = c["total"]
    for reason, got in sorted(tot["drops"].items()):
        want = case.drops.get(reason, 0)
        if want is not None and got != want:
            errs.append("drops.%s = %d, want %d" % (reason, got, want))
    for reason in case.drops:
        if reason not in tot["drops"]:
            errs.append("no drop reason named %s" % reason)
    for k, want in sorted(case.events.items()):
        if tot.get(k) != want:
            errs.append("%s = %s, want %d" % (k, tot.get(k), want))
    for k, want in sorted(case.control.items()):
        if c["control"].get(k) != want:
            errs.append("control.%s = %s, want %d" % (k, c["control"].get(k), want))
    if tot["tx_dropped"] != 0:
        errs.append("tx_dropped = %d" % tot["tx_dropped"])
    if CTX.mbufs_baseline is not None and c["control"]["mbufs_in_use"] != CTX.mbufs_baseline:
        errs.append("mbufs_in_use = %d after the case, baseline %d (leak?)"
                    % (c["control"]["mbufs_in_use"], CTX.mbufs_baseline))
    if case.extra:
        errs += case.extra(case, outputs, by_flow, c)
    return errs, c, ports, outputs


# -------------------------------------------------------------------- cases --


def udp(src, dst, sport, dport, payload=b"x" * 16, ttl=64, **kw):
    return IP(src=src, dst=dst, ttl=ttl, **kw) / UDP(sport=sport, dport=dport) / Raw(payload)


def case_baseline():
    return Case("baseline", {}, {})


def case_encap():
    pkts, exp = [], []

    def add(ip, flow, pad=0):
        pkts.append(pod_frame(ip, pad=pad))
        exp.append(Vx(fwd(ipb(ip)), flow))

    for seq in (1, 2):  # ICMP: one flow per address pair
        add(IP(src=POD_A_IP, dst=REMOTE, id=100 + seq) / ICMP(type=8, id=7, seq=seq) / Raw(b"ping" * 8), "icmp")
    for rnd in range(2):  # 6 UDP flows, 2 packets each, interleaved
        for i in range(6):
            add(udp(POD_A_IP, REMOTE, 40000 + i, 53, payload=bytes([rnd, i]) * 20, id=200 + 10 * rnd + i),
                "udp%d" % i)
    for i in range(4):  # 4 TCP flows: SYN then ACK
        add(IP(src=POD_A_IP, dst="10.244.2.%d" % (10 + i), id=300 + i, flags="DF")
            / TCP(sport=33000 + i, dport=80, flags="S", seq=1000), "tcp%d" % i)
    for i in range(4):
        add(IP(src=POD_A_IP, dst="10.244.2.%d" % (10 + i), id=310 + i, flags="DF")
            / TCP(sport=33000 + i, dport=80, flags="A", seq=1001, ack=5) / Raw(b"GET / HTTP/1.0\r\n\r\n"), "tcp%d" % i)
    # Ethernet padding after a short packet is not tunnelled.
    add(udp(POD_A_IP, REMOTE, 40100, 9, payload=b"", id=400), "udp-short", pad=18)
    # IPv4 options: ports are found after the options.
    add(IP(src=POD_A_IP, dst=REMOTE, id=401, options=[b"\x01\x01\x01\x01"]) / UDP(sport=40200, dport=7)
        / Raw(b"opts"), "udp-opts")

    def extra(case, outputs, by_flow, c):
        flows = [f for f in by_flow if f]
        distinct = {next(iter(by_flow[f])) for f in flows if len(by_flow[f]) == 1}
        # a 14-bit hash: with 14 flows a collision or two is possible, more is not a hash
        if len(distinct) < len(flows) - 2:
            return ["only %d distinct UDP source ports for %d flows" % (len(distinct), len(flows))]
        return []

    n = len(pkts)
    return Case("encap", {"pod-a": pkts}, {"uplink": exp}, events={"encapsulated": n, "decapsulated": 0},
                extra=extra)


def case_decap():
    base = lambda i, **kw: IP(src=REMOTE, dst=POD_A_IP, id=500 + i, ttl=64, **kw)  # noqa: E731
    inner = [
        base(0) / ICMP(type=8, id=9, seq=1) / Raw(b"abcdefgh" * 4),                     # plain
        base(1) / UDP(sport=1111, dport=2222) / Raw(b"reserved bits"),                  # reserved flag bits set
        base(2, flags="DF") / TCP(sport=80, dport=33000, flags="SA") / Raw(b"csum"),    # valid UDP checksum
        base(3) / UDP(sport=1, dport=2) / Raw(b"zero"),                                 # zero UDP checksum
        base(4) / ICMP(type=8, id=9, seq=2),                                            # outer Ethernet padding
        base(5) / UDP(sport=3, dport=4),                                                # inner Ethernet padding
        base(6) / UDP(sport=5, dport=6) / Raw(b"both"),                                 # reserved bits + checksum
        base(7) / UDP(sport=7, dport=8) / Raw(b"outer options"),                        # outer IPv4 options
    ]
    frames = [
        vx_frame(inner[0]),
        vx_frame(inner[1], flags=0xFF, res1=0xABCDEF, res2=0x5A),
        vx_frame(inner[2], udp_csum="auto"),
        vx_frame(inner[3], udp_csum=0),
        vx_frame(inner[4], pad=24),
        vx_frame(inner[5], inner_pad=18),   # inner frame padded to 60 bytes by the sender
        vx_frame(inner[6], flags=0x0C, res2=0x01, udp_csum="auto", pad=6),
        vx_frame(inner[7], udp_csum="auto", ip_kw={"options": [b"\x01\x01\x01\x01"]}),
    ]
    exp = [to_pod(fwd(ipb(p))) for p in inner]
    return Case("decap", {"uplink": frames}, {"pod-a": exp},
                events={"decapsulated": len(frames), "routed_local": len(frames), "encapsulated": 0})


def case_same_node():
    a = [IP(src=POD_A_IP, dst=POD_A2_IP, id=600) / ICMP(type=8, id=1, seq=1) / Raw(b"hello a2"),
         udp(POD_A_IP, POD_A2_IP, 5000, 6000, id=601),
         IP(src=POD_A_IP, dst=POD_A2_IP, id=602, flags="DF") / TCP(sport=1234, dport=80, flags="S")]
    b = [IP(src=POD_A2_IP, dst=POD_A_IP, id=610, ttl=2) / ICMP(type=0, id=1, seq=1) / Raw(b"hello a")]
    return Case("same_node",
                {"pod-a": [pod_frame(p) for p in a], "pod-a2": [pod_frame(p, src_mac=POD_A2_MAC) for p in b]},
                {"pod-a2": [to_pod(fwd(ipb(p)), POD_A2_MAC) for p in a], "pod-a": [to_pod(fwd(ipb(p))) for p in b]},
                events={"routed_local": 4, "encapsulated": 0})


def arp_req(tip, sip=POD_A_IP, smac=POD_A_MAC, op=1, dst="ff:ff:ff:ff:ff:ff", pad=0):
    return bytes(Ether(dst=dst, src=smac) / ARP(op=op, hwsrc=smac, psrc=sip, hwdst="00:00:00:00:00:00",
                                                pdst=tip)) + b"\0" * pad


def arp_rep(asked, to_ip=POD_A_IP, to_mac=POD_A_MAC, from_mac=GW_MAC):
    return bytes(Ether(dst=to_mac, src=from_mac) / ARP(op=2, hwsrc=from_mac, psrc=asked, hwdst=to_mac, pdst=to_ip))


def case_arp():
    pod = [
        arp_req(GW_IP),                       # who-has the gateway
        arp_req(GW_IP, pad=18),               # padded to 60 bytes: reply is 42
        arp_req(POD_A2_IP),                   # another pod (proxy ARP)
        arp_req(REMOTE),                      # a remote pod (proxy ARP)
        arp_req(POD_A_IP),                    # gratuitous ARP request: ignored
        arp_req(POD_A_IP, op=2, dst="ff:ff:ff:ff:ff:ff"),  # gratuitous ARP reply: ignored
        arp_req(GW_IP, op=2, dst=GW_MAC),     # an unsolicited reply: ignored
        bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=POD_A_MAC, type=0x0806) / Raw(b"\x00\x01\x08\x00\x06")),  # truncated
    ]
    pod_exp = [arp_rep(GW_IP), arp_rep(GW_IP), arp_rep(POD_A2_IP), arp_rep(REMOTE)]
    up = [arp_req(NODE_A, sip=NODE_B, smac=PEER_UL_MAC)]  # node-b asks for our node IP (control thread answers)
    up_exp = [arp_rep(NODE_A, to_ip=NODE_B, to_mac=PEER_UL_MAC, from_mac=CTX.up_mac)]
    return Case("arp", {"pod-a": pod, "uplink": up}, {"pod-a": pod_exp, "uplink": up_exp},
                drops={"arp_ignored": 4}, events={"arp_replied": 4, "punted": 1},
                control={"arp_replies_sent": 1})


def case_arp_probe():
    # RFC 5227 address probe: sender IP 0.0.0.0, target the pod's own IP. The
    # pod must not hear an answer, or it believes its address is taken.
    return Case("arp_probe", {"pod-a": [arp_req(POD_A_IP, sip="0.0.0.0")]}, {}, drops={"arp_ignored": 1},
                events={"arp_replied": 0})


def case_gateway_ping():
    reqs = [IP(src=POD_A_IP, dst=GW_IP, id=700, ttl=64) / ICMP(type=8, id=0x1234, seq=1) / Raw(b"0123456789abcdef"),
            IP(src=POD_A_IP, dst=GW_IP, id=701, ttl=1, flags="DF") / ICMP(type=8, id=0x1234, seq=2) / Raw(b"ttl1")]
    not_echo = [IP(src=POD_A_IP, dst=GW_IP, id=702) / UDP(sport=1, dport=53) / Raw(b"dns?"),  # not answered
                IP(src=POD_A_IP, dst=GW_IP, id=703) / ICMP(type=0, id=1, seq=1)]             # a reply: not answered
    tun = IP(src=REMOTE, dst=GW_IP, id=704, ttl=64) / ICMP(type=8, id=0x4321, seq=3) / Raw(b"over the tunnel")
    return Case("gateway_ping",
                {"pod-a": [pod_frame(p) for p in reqs + not_echo], "uplink": [vx_frame(tun)]},
                {"pod-a": [to_pod(echo_reply(ipb(p))) for p in reqs], "uplink": [Vx(echo_reply(ipb(tun)), "reply")]},
                drops={"no_route": 2}, events={"decapsulated": 1, "encapsulated": 1, "routed_local": 2})


def raw_ip(ip, patch=None, fix=False):
    b = bytearray(ipb(ip))
    for off, val in (patch or {}).items():
        b[off:off + len(val)] = val
    return fix_ip_csum(b) if fix else bytes(b)


def case_malformed_uplink():
    good_inner = IP(src=REMOTE, dst=POD_A_IP, id=800) / UDP(sport=1, dport=2) / Raw(b"inner")
    good = vx_frame(good_inner)
    hdr = good[:14]
    ip_off = 14

    def patch(frame, off, val, fix_ip=True):
        b = bytearray(frame)
        b[off:off + len(val)] = val
        if fix_ip:
            b[ip_off:ip_off + 20] = fix_ip_csum(bytes(b[ip_off:ip_off + 20]))
        return bytes(b)

    udp_off = 14 + 20
    cases = []  # (frame, reason)
    cases.append((hdr, "ipv4_truncated"))                                          # Ethernet header only
    cases.append((good[:10], "ipv4_truncated"))                                    # not even that
    cases.append((good[:14 + 12], "ipv4_truncated"))                               # IPv4 header cut
    cases.append((patch(good, ip_off, b"\x44"), "ipv4_bad_ihl"))                   # IHL 4
    cases.append((patch(good, ip_off, b"\x4f")[:14 + 40], "ipv4_bad_ihl"))         # IHL 15 past the frame
    cases.append((patch(good, ip_off, b"\x65"), "ipv4_bad_version"))               # version 6 in an IPv4 frame
    cases.append((patch(good, ip_off + 10, b"\xde\xad", fix_ip=False), "ipv4_bad_checksum"))
    cases.append((patch(good, ip_off + 2, struct.pack("!H", len(good) - 14 + 1)), "ipv4_bad_length"))  # > frame
    cases.append((patch(good, ip_off + 2, struct.pack("!H", 16)), "ipv4_bad_length"))                  # < IHL
    cases.append((vx_frame(good_inner, vni=2), "vxlan_wrong_vni"))
    cases.append((vx_frame(good_inner, vni=0x10001), "vxlan_wrong_vni"))
    cases.append((vx_frame(good_inner, flags=0x00), "vxlan_bad_flags"))
    cases.append((vx_frame(good_inner, flags=0xF7), "vxlan_bad_flags"))            # all but I
    cases.append((vx_frame(good_inner, inner_dst="02:76:78:00:00:99"), "vxlan_wrong_inner_mac"))
    cases.append((vx_frame(good_inner, inner_dst="ff:ff:ff:ff:ff:ff"), "vxlan_wrong_inner_mac"))
    cases.append((vx_frame(bytes(ARP(op=1, psrc=REMOTE, pdst=POD_A_IP)), inner_type=0x0806),
                  "vxlan_inner_not_ipv4"))
    cases.append((vx_frame(bytes(IPv6(src="fd00::2", dst="fd00::1") / UDP(sport=1, dport=2)), inner_type=0x86DD),
                  "vxlan_inner_not_ipv4"))
    cases.append((vx_frame(good_inner, ip_kw={"flags": "MF"}), "vxlan_outer_fragment"))       # first fragment
    cases.append((vx_frame(good_inner, ip_kw={"flags": 0, "frag": 100}), "vxlan_outer_fragment"))  # offset != 0
    real_len = len(good) - udp_off
    cases.append((patch(good, udp_off + 4, struct.pack("!H", real_len - 4)), "vxlan_bad_udp_length"))
    cases.append((patch(good, udp_off + 4, struct.pack("!H", real_len + 4)), "vxlan_bad_udp_length"))
    ck = vx_frame(good_inner, udp_csum="auto")
    bad_ck = (struct.unpack("!H", ck[udp_off + 6:udp_off + 8])[0] ^ 0x0101) or 1
    cases.append((patch(ck, udp_off + 6, struct.pack("!H", bad_ck)), "vxlan_bad_udp_checksum"))
    cases.append((eth(CTX.up_mac, PEER_UL_MAC) + bytes(IP(src=NODE_B, dst=NODE_A, flags="DF")
                  / UDP(sport=54321, dport=VXLAN_PORT, chksum=0) / Raw(vxlan_hdr())), "vxlan_truncated"))  # no inner Ethernet
    cases.append((eth(CTX.up_mac, PEER_UL_MAC) + bytes(IP(src=NODE_B, dst=NODE_A, flags="DF")
                  / UDP(sport=54321, dport=VXLAN_PORT, chksum=0)), "vxlan_truncated"))  # UDP header only
    cases.append((eth(CTX.up_mac, PEER_UL_MAC) + bytes(IP(src=NODE_B, dst=NODE_A, proto=17) / Raw(b"\x00\x01\x21\x18")),
                  "vxlan_truncated"))  # half a UDP header
    cases.append((vx_frame(raw_ip(good_inner, {10: b"\xbe\xef"})), "ipv4_bad_checksum"))  # inner
    cases.append((vx_frame(raw_ip(good_inner, {2: b"\x05\xdc"})), "ipv4_bad_length"))                  # inner
    cases.append((vx_frame(good_inner, outer_dst="02:99:99:99:99:99"), "not_for_us"))
    # Not VXLAN and no host port configured: counted, not emitted.
    cases.append((eth(CTX.up_mac, PEER_UL_MAC) + bytes(udp(NODE_B, NODE_A, 5353, 53)), "no_host_port"))
    cases.append((eth(CTX.up_mac, PEER_UL_MAC, 0x86DD) + bytes(IPv6(src="fd00::2", dst="fd00::1")), "no_host_port"))
    drops = {}
    for _, r in cases:
        drops[r] = drops.get(r, 0) + 1
    return Case("malformed_uplink", {"uplink": [f for f, _ in cases]}, {}, drops=drops,
                events={"decapsulated": 2, "routed_local": 0})  # the two with a bad inner header


def case_malformed_pod():
    ok = IP(src=POD_A_IP, dst=REMOTE, id=900) / UDP(sport=1, dport=2) / Raw(b"payload!")
    frames = [
        (pod_frame(raw_ip(ok, {10: b"\x12\x34"})), "ipv4_bad_checksum"),
        (pod_frame(IP(src="10.244.1.99", dst=REMOTE) / UDP(sport=1, dport=2)), "pod_spoofed_source"),
        (pod_frame(IP(src=POD_A2_IP, dst=REMOTE) / UDP(sport=1, dport=2)), "pod_spoofed_source"),  # a neighbour's IP
        (eth(GW_MAC, POD_A_MAC, 0x86DD) + bytes(IPv6(src="fd00::2", dst="fd00::1") / UDP()), "unsupported_ethertype"),
        (eth(GW_MAC, POD_A_MAC, 0x8100) + b"\x00\x05\x08\x00" + ipb(ok), "unsupported_ethertype"),  # VLAN tag
        (pod_frame(IP(src=POD_A_IP, dst="255.255.255.255") / UDP(sport=68, dport=67)), "ipv4_not_unicast"),
        (pod_frame(IP(src=POD_A_IP, dst="224.0.0.251") / UDP(sport=5353, dport=5353)), "ipv4_not_unicast"),
        (pod_frame(ok)[:14 + 19], "ipv4_truncated"),
        (pod_frame(raw_ip(ok, {2: b"\x01\x00"}, fix=True)), "ipv4_bad_length"),
        (pod_frame(raw_ip(ok, {0: b"\x43"}, fix=True)), "ipv4_bad_ihl"),
        (pod_frame(IP(src=POD_A_IP, dst="10.9.9.9") / UDP(sport=1, dport=2)), "no_route"),
    ]
    drops = {}
    for _, r in frames:
        drops[r] = drops.get(r, 0) + 1
    return Case("malformed_pod", {"pod-a": [f for f, _ in frames]}, {}, drops=drops,
                events={"encapsulated": 0, "routed_local": 0})


def case_ttl():
    to_remote = udp(POD_A_IP, REMOTE, 4444, 33434, ttl=1, id=1000, payload=b"traceroute probe")
    to_pod2 = IP(src=POD_A_IP, dst=POD_A2_IP, ttl=1, id=1001) / ICMP(type=8, id=5, seq=5) / Raw(b"ping")
    zero = udp(POD_A_IP, REMOTE, 4445, 33435, ttl=0, id=1002)
    icmp_err_ttl1 = IP(src=POD_A_IP, dst=REMOTE, ttl=1, id=1003) / ICMP(type=3, code=3) / Raw(ipb(
        IP(src=REMOTE, dst=POD_A_IP) / UDP(sport=1, dport=2)))
    tun = IP(src=REMOTE, dst=POD_A_IP, ttl=1, id=1004) / TCP(sport=80, dport=40000, flags="SA", seq=7, ack=8)
    tun_err = IP(src=REMOTE, dst=POD_A_IP, ttl=1, id=1005) / ICMP(type=11, code=0) / Raw(b"\0" * 28)
    first_frag = IP(src=POD_A_IP, dst=REMOTE, ttl=1, id=1006, flags="MF") / UDP(sport=9, dport=9) / Raw(b"f" * 32)
    later_frag = IP(src=POD_A_IP, dst=REMOTE, ttl=1, id=1006, frag=5) / Raw(b"g" * 24)  # RFC 1812: no error
    errs = (to_remote, to_pod2, zero, first_frag)
    return Case("ttl",
                {"pod-a": [pod_frame(p) for p in (to_remote, to_pod2, zero, icmp_err_ttl1, first_frag, later_frag)],
                 "uplink": [vx_frame(tun), vx_frame(tun_err)]},
                {"pod-a": [to_pod(icmp_error(ipb(p), 11, 0)) for p in errs],
                 "uplink": [Vx(icmp_error(ipb(tun), 11, 0), "err")]},
                drops={"icmp_not_allowed": 3},
                events={"icmp_sent": 5, "routed_local": 4, "encapsulated": 1, "decapsulated": 2})


def case_ttl_short_icmp():
    # An ICMP packet too short to hold an ICMP type, TTL 1: whether it is "an
    # ICMP error" must not depend on bytes past the IPv4 packet (here Ethernet
    # padding the router has trimmed). Like Linux's icmp_send(), send nothing.
    short = IP(src=POD_A_IP, dst=REMOTE, ttl=1, id=1400, proto=1)
    frames = [pod_frame(short) + b"\x08" * 26, pod_frame(short) + b"\x03" * 26]
    return Case("ttl_short_icmp", {"pod-a": frames}, {}, drops={"icmp_not_allowed": 2}, events={"icmp_sent": 0})


def big(total, df=True, i=0):
    hdr = 20 + 8
    return IP(src=POD_A_IP, dst=REMOTE, id=1100 + i, flags="DF" if df else 0) / UDP(sport=7000 + i, dport=9) \
        / Raw(bytes([i & 0xFF]) * (total - hdr))


def exact_ttl(ipbytes_fn):
    """The frame with the TTL the router originates packets with."""
    return ipbytes_fn(ORIGINATED_TTL)


def case_mtu():
    too_big_df = [big(n, True, i) for i, n in enumerate((1451, 1452, 1480, 1500))]
    too_big_nodf = [big(n, False, 10 + i) for i, n in enumerate((1451, 1500))]
    fits = [big(1450, True, 20), big(1450, False, 21), big(1449, True, 22)]
    pkts = too_big_df + too_big_nodf + fits
    pod_exp = [exact_ttl(lambda t, p=p: to_pod(icmp_error(ipb(p), 3, 4, mtu=POD_MTU, ttl=t))) for p in too_big_df]

    def extra(case, outputs, by_flow, c):
        sizes = sorted(len(f) for f in outputs["uplink"])
        if sizes != sorted([14 + 1500, 14 + 1500, 14 + 1499]):
            return ["encapsulated frame sizes %s, want outer IPv4 of 1500, 1500, 1499" % sizes]
        return []

    return Case("mtu", {"pod-a": [pod_frame(p) for p in pkts]},
                {"pod-a": pod_exp, "uplink": [Vx(fwd(ipb(p)), "f%d" % i) for i, p in enumerate(fits)]},
                drops={"too_big": 2}, events={"icmp_sent": 4, "encapsulated": 3}, extra=extra)


def case_no_route():
    pod = [IP(src=POD_A_IP, dst="10.9.9.9", id=1200) / UDP(sport=1, dport=2),
           IP(src=POD_A_IP, dst="10.244.1.77", id=1201) / UDP(sport=1, dport=2),   # unassigned in our CIDR
           IP(src=POD_A_IP, dst="10.244.1.255", id=1202) / UDP(sport=1, dport=2),  # our subnet's broadcast
           IP(src=POD_A_IP, dst="10.9.9.9", ttl=1, id=1203) / UDP(sport=1, dport=2)]  # no route beats TTL
    tun = [IP(src=REMOTE, dst="10.244.2.7", id=1210) / UDP(sport=1, dport=2),        # back into the tunnel
           IP(src=REMOTE, dst="10.244.2.2", id=1211) / ICMP(type=8),                  # the sender itself
           IP(src=REMOTE, dst="10.9.9.9", id=1212) / UDP(sport=1, dport=2),
           IP(src=REMOTE, dst="10.244.1.77", id=1213) / UDP(sport=1, dport=2)]
    pod.append(IP(src=POD_A_IP, dst=NODE_A, id=1204) / UDP(sport=1, dport=2))      # the node: no host port here
    tun.append(IP(src=REMOTE, dst=NODE_A, id=1214) / UDP(sport=1, dport=2))
    return Case("no_route", {"pod-a": [pod_frame(p) for p in pod], "uplink": [vx_frame(p) for p in tun]}, {},
                drops={"no_route": 6, "hairpin": 2, "no_host_port": 2}, events={"decapsulated": 5, "icmp_sent": 0})


def case_icmp_rate_limit():
    n = 300
    probe = udp(POD_A_IP, REMOTE, 4446, 33434, ttl=1, id=1300, payload=b"flood")
    want = exact_ttl(lambda t: to_pod(icmp_error(ipb(probe), 11, 0, ttl=t)))

    def extra(case, outputs, by_flow, c):
        errs = []
        out = outputs["pod-a"]
        tot = c["total"]
        # Tokens refill at 1000/s: a worker preempted mid-input may earn a few.
        # Bound the time spent by the cycles of the polls that had input (the
        # input is read in consecutive polls), with any TSC >= 1 GHz.
        earned = tot["busy_cycles"] // 1000000
        if len(out) > ICMP_BURST + earned:
            errs.append("%d ICMP errors for %d packets in one burst, want at most %d (+%d refilled)"
                        % (len(out), n, ICMP_BURST, earned))
        if CTX.verbose:
            print("# icmp_rate_limit: %d ICMP errors out, busy_cycles %d" % (len(out), tot["busy_cycles"]))
        if len(out) < ICMP_BURST // 2:
            errs.append("only %d ICMP errors: the burst allowance is %d" % (len(out), ICMP_BURST))
        bad = [i for i, f in enumerate(out) if f != want]
        if bad:
            errs.append("ICMP error %d: %s" % (bad[0], explain(want, out[bad[0]])))
        if tot["icmp_sent"] != len(out):
            errs.append("icmp_sent = %d, %d frames out" % (tot["icmp_sent"], len(out)))
        if tot["drops"]["icmp_rate_limited"] != n - len(out):
            errs.append("drops.icmp_rate_limited = %d, want %d (%d - %d sent)"
                        % (tot["drops"]["icmp_rate_limited"], n - len(out), n, len(out)))
        return errs

    return Case("icmp_rate_limit", {"pod-a": [pod_frame(probe)] * n}, {}, extra=extra, free_ports=("pod-a",),
                drops={"icmp_rate_limited": None})


def case_vlan_inner():
    # RFC 7348 4.1: VXLAN frames carrying an inner VLAN tag SHOULD be
    # discarded on decapsulation (flannel never sends one). Also QinQ.
    ip = IP(src=REMOTE, dst=POD_A_IP, id=1500) / UDP(sport=1, dport=2) / Raw(b"tagged")
    tagged = [vx_frame(b"\x00\x05\x08\x00" + ipb(ip), inner_type=0x8100),
              vx_frame(b"\x00\x00\x08\x00" + ipb(ip), inner_type=0x8100),            # priority tag, VID 0
              vx_frame(b"\x00\x05\x81\x00\x00\x06\x08\x00" + ipb(ip), inner_type=0x88A8)]  # QinQ
    return Case("vlan_inner", {"uplink": tagged}, {}, drops={"vxlan_inner_not_ipv4": len(tagged)},
                events={"decapsulated": 0, "routed_local": 0})


def plain_frame(ip, pad=0, src_mac=PEER_UL_MAC):
    """An unencapsulated IPv4 frame from node-b's uplink to ours (flannel DirectRouting)."""
    return eth(CTX.up_mac, src_mac) + ipb(ip) + b"\0" * pad


def case_direct_routing():
    # flannel's DirectRouting: a peer on our L2 routes pod traffic to our node
    # IP's MAC without VXLAN. Pod addresses are delivered like decapsulated
    # traffic (TTL - 1, our gateway MAC as source); anything else that is not
    # VXLAN to us is the node's, and this config has no host port.
    to_pods = [
        IP(src=REMOTE, dst=POD_A_IP, id=1600, ttl=64) / ICMP(type=8, id=3, seq=1) / Raw(b"direct ping"),
        IP(src=REMOTE, dst=POD_A2_IP, id=1601, ttl=63, flags="DF") / TCP(sport=80, dport=40000, flags="SA"),
        IP(src=REMOTE, dst=POD_A_IP, id=1602, ttl=2) / UDP(sport=5, dport=6),      # padded to 60 bytes
        IP(src=REMOTE, dst=POD_A_IP, id=1603, options=[b"\x01\x01\x01\x01"]) / UDP(sport=7, dport=8) / Raw(b"o"),
    ]
    frames = [plain_frame(to_pods[0]), plain_frame(to_pods[1]), plain_frame(to_pods[2], pad=18), plain_frame(to_pods[3])]
    exp_a = [to_pod(fwd(ipb(p))) for p in (to_pods[0], to_pods[2], to_pods[3])]
    exp_a2 = [to_pod(fwd(ipb(to_pods[1])), POD_A2_MAC)]
    not_pods = [
        IP(src=REMOTE, dst="10.244.1.77", id=1610) / UDP(sport=1, dport=2),    # unassigned in our pod CIDR
        IP(src=REMOTE, dst="10.9.9.9", id=1611) / UDP(sport=1, dport=2),       # outside the cluster
        IP(src=REMOTE, dst="10.244.2.7", id=1612) / UDP(sport=1, dport=2),     # a remote pod: never re-tunnelled
        IP(src=REMOTE, dst=GW_IP, id=1613) / ICMP(type=8, id=4, seq=1),         # the pods' gateway
        IP(src=REMOTE, dst="10.244.1.0", id=1614) / ICMP(type=8, id=5, seq=1),  # the node's overlay address
        IP(src=NODE_B, dst=NODE_A, id=1615) / TCP(sport=22, dport=22),         # the node itself, not VXLAN
    ]
    frames += [plain_frame(p) for p in not_pods]
    # Checked before the pod lookup like any uplink IPv4.
    frames.append(plain_frame(raw_ip(to_pods[0], {10: b"\xbe\xef"})))
    # TTL 1 to a pod: time exceeded from the gateway, back to the sender's
    # pod through the tunnel (we do not know the peer routes directly).
    ttl1 = IP(src=REMOTE, dst=POD_A_IP, id=1620, ttl=1) / UDP(sport=4444, dport=33434) / Raw(b"traceroute")
    frames.append(plain_frame(ttl1))
    return Case("direct_routing", {"uplink": frames},
                {"pod-a": exp_a, "pod-a2": exp_a2, "uplink": [Vx(icmp_error(ipb(ttl1), 11, 0), "err")]},
                drops={"no_host_port": len(not_pods), "ipv4_bad_checksum": 1},
                events={"routed_local": len(to_pods), "decapsulated": 0, "encapsulated": 1, "icmp_sent": 1})


def case_stale_mac():
    # A peer that holds a stale VTEP MAC for us: its VXLAN is dropped (the
    # kernel's flannel.1 would not take it either), counted, and `show peers`
    # names the sender, peer or not, with the MAC it used.
    inner = IP(src=REMOTE, dst=POD_A_IP, id=1700) / UDP(sport=1, dport=2) / Raw(b"stale")
    old_mac, other = "02:76:78:00:00:77", "198.18.0.9"
    frames = [vx_frame(inner, inner_dst=old_mac) for _ in range(3)]
    frames.append(vx_frame(inner, inner_dst=old_mac, ip_src=other))                 # not a peer
    frames.append(vx_frame(inner, inner_dst=old_mac, ip_kw={"options": [b"\x01\x01\x01\x01"]}))  # outer options
    good = IP(src=REMOTE, dst=POD_A_IP, id=1701) / UDP(sport=1, dport=2) / Raw(b"fresh")
    frames.append(vx_frame(good))                                                   # the right MAC still works

    def extra(case, outputs, by_flow, c):
        errs = []
        doc = case.shown.get("peers", {})
        senders = {s.get("node_ip"): s for s in doc.get("stale_mac_senders", [])}
        for ip, n in ((NODE_B, 4), (other, 1)):
            s = senders.get(ip)
            if s is None:
                errs.append("show peers: %s not in stale_mac_senders %s" % (ip, doc.get("stale_mac_senders")))
                continue
            if s.get("frames") != n:
                errs.append("stale_mac_senders[%s].frames = %s, want %d" % (ip, s.get("frames"), n))
            if str(s.get("their_mac_for_us", "")).lower() != old_mac:
                errs.append("stale_mac_senders[%s].their_mac_for_us = %s, want %s" % (ip, s.get("their_mac_for_us"), old_mac))
            if str(s.get("our_vtep_mac", "")).lower() != VTEP_A:
                errs.append("stale_mac_senders[%s].our_vtep_mac = %s, want %s" % (ip, s.get("our_vtep_mac"), VTEP_A))
        peer = [p for p in doc.get("peers", []) if p.get("node_ip") == NODE_B]
        if not peer or peer[0].get("stale_mac_drops") != 4:
            errs.append("peers[%s].stale_mac_drops = %s, want 4" % (NODE_B, peer[0].get("stale_mac_drops") if peer else None))
        return errs

    return Case("stale_mac", {"uplink": frames}, {"pod-a": [to_pod(fwd(ipb(good)))]},
                drops={"vxlan_wrong_inner_mac": 5}, events={"decapsulated": 1, "routed_local": 1},
                extra=extra, show=("peers",))


CASES = [case_baseline, case_encap, case_decap, case_same_node, case_arp, case_arp_probe, case_gateway_ping,
         case_malformed_uplink, case_malformed_pod, case_ttl, case_ttl_short_icmp, case_mtu, case_no_route, case_icmp_rate_limit,
         case_vlan_inner, case_direct_routing, case_stale_mac]


def check_hugepages():
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        free = int(info["HugePages_Free"].split()[0])
    except (OSError, KeyError, ValueError):
        free = 0
    if free < 32:  # a run maps ~40 MB; leave room for EAL
        return ("%d free hugepages: vxrouted needs some (as root: echo 1024 > /proc/sys/vm/nr_hugepages; "
                "hugetlbfs mounted on /dev/hugepages)" % free)
    if not os.path.ismount("/dev/hugepages"):
        return "hugetlbfs is not mounted on /dev/hugepages"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vxrouted", default=os.environ.get("VXROUTED", "/tmp/build-golden/src/app/vxrouted"))
    ap.add_argument("--vxroutectl", default=os.environ.get("VXROUTECTL", "/tmp/build-golden/src/app/vxroutectl"))
    ap.add_argument("--keep", action="store_true", help="keep each case's temp dir (pcaps, config, stderr)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("cases", nargs="*", help="run only these cases (baseline always runs)")
    args = ap.parse_args()
    CTX.vxrouted, CTX.vxroutectl, CTX.keep, CTX.verbose = args.vxrouted, args.vxroutectl, args.keep, args.verbose
    # TAP plan, so that meson (protocol 'tap') and scripts/test.sh count each case.
    planned = [f for f in CASES if not args.cases or f.__name__[5:] in args.cases or f is case_baseline]
    print("1..%d" % len(planned), flush=True)
    for b in (CTX.vxrouted, CTX.vxroutectl):
        if not os.access(b, os.X_OK):
            print("not ok - setup: %s is not an executable (build it, or pass --vxrouted/--vxroutectl)" % b)
            return 1
    why = check_hugepages()
    if why:
        print("not ok - setup: %s" % why)
        return 1
    if os.geteuid() != 0:
        print("not ok - setup: must run as root (hugepages, DPDK)")
        return 1
    known = {f.__name__[5:] for f in CASES}
    for name in args.cases:
        if name not in known:
            print("not ok - setup: no case named %s (have: %s)" % (name, ", ".join(sorted(known))))
            return 1
    failed = 0
    t0 = time.monotonic()
    for make in CASES:
        name = make.__name__[5:]
        if args.cases and name not in args.cases and name != "baseline":
            continue
        t = time.monotonic()
        try:
            case = make()
            errs, c, ports, outputs = run_case(case)
            if name == "baseline":
                up = [p for p in ports["ports"] if p["kind"] == "uplink"]
                if up and up[0]["mac"] != CTX.up_mac:
                    CTX.up_mac = up[0]["mac"]  # the inputs of every later case use it
                    errs = [e for e in errs if not e.startswith("uplink MAC")]
                CTX.mbufs_baseline = c["control"]["mbufs_in_use"]
        except Fail as ex:
            errs = [str(ex)]
        except Exception as ex:  # a bug in this script must not read as a pass
            import traceback
            traceback.print_exc()
            errs = ["%s: %s" % (type(ex).__name__, ex)]
        dt = time.monotonic() - t
        if errs:
            failed += 1
            print("not ok - %s: %s" % (name, "; ".join(errs)))
            if name == "baseline":
                print("# the baseline run failed: not running the other cases")
                return 1
        else:
            print("ok - %s%s" % (name, "  # %.1f s" % dt if args.verbose else ""))
        sys.stdout.flush()
    print("# %d failed, %.1f s" % (failed, time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
