#!/usr/bin/env python3
"""Inputs for bench/harness/run.sh: the vxrouted config (10,000 static peers,
each with its own /24 pod prefix and a static underlay neighbour, so nothing
waits on ARP) and the generator pcaps (scapy), one per path x frame mix.

usage: gen_inputs.py OUTDIR SOCKDIR
  OUTDIR/vxrouted.json       vxrouted config (memif client ports, sockets in SOCKDIR)
  OUTDIR/<path>_<mix>.pcap   path in encap|decap|local, mix in 64|imix
  OUTDIR/facts.env           shell variables the harness reads (MACs, counts)

Frame sizes are given without the 4-byte FCS (a "64-byte frame" is 60 bytes
in a pcap). IMIX is 7:4:1 of 64/570/1518-byte frames, except that the large
pod-side frame is capped by the pod MTU (uplink MTU 1500 - 50 = 1450 IP
bytes, i.e. a 1468-byte frame) so that its encapsulation is a 1518-byte frame.
"""
import json
import os
import random
import struct
import sys

from scapy.all import IP, UDP, Ether, Raw  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

N_PEERS = int(os.environ.get("VXR_BENCH_PEERS", "10000"))  # fewer for slow runs (valgrind)
N_PKTS = 10000          # one pcap replays these in a loop (testpmd net_pcap infinite_rx)
VTEP_MAC = "02:76:78:00:00:01"       # our VTEP MAC = the pods' gateway MAC
UPLINK_MAC = "02:aa:00:00:00:01"     # vxrouted's uplink port (memif mac=)
NODE_IP = "100.64.0.1"
POD1 = ("10.244.1.2", "02:00:00:00:01:02")
POD2 = ("10.244.1.3", "02:00:00:00:01:03")
UDP_PORT = 8472
VNI = 1
IMIX = [60] * 7 + [566] * 4 + [1464]  # pod-side frames, no FCS (wire 64/570/1468)


def peer_prefix(i):
    return f"10.{i >> 8}.{i & 255}.0"


def peer_node_ip(i):
    return f"100.65.{i // 200}.{10 + i % 200}"


def peer_vtep_mac(i):
    return f"02:76:79:00:{(i >> 8) & 255:02x}:{i & 255:02x}"


def neigh_mac(i):
    return f"02:bb:00:00:{(i >> 8) & 255:02x}:{i & 255:02x}"


def sizes(mix, n):
    if mix == "64":
        return [60] * n
    rng = random.Random(12)
    seq = []
    while len(seq) < n:
        block = IMIX[:]
        rng.shuffle(block)  # interleave the 7:4:1 pattern, same ratio in every 12 frames
        seq += block
    return seq[:n]


def pad(pkt, frame_len):
    missing = frame_len - len(pkt)
    return pkt / Raw(b"\x00" * missing) if missing > 0 else pkt


# scapy builds one template per kind and frame length; per packet only
# addresses and ports change, patched at fixed offsets (scapy per packet
# would take minutes for 60,000 frames on this machine).
def pod_template(src, frame_len):
    p = Ether(src=src[1], dst=VTEP_MAC) / IP(src=src[0], dst="0.0.0.0", ttl=64) / UDP(chksum=0)
    return bytes(pad(p, frame_len))


def vxlan_template(frame_len):
    inner = pad(Ether(dst=VTEP_MAC) / IP(dst=POD1[0], ttl=64) / UDP(chksum=0), frame_len)
    outer = Ether(dst=UPLINK_MAC) / IP(dst=NODE_IP, ttl=64, flags="DF") / \
        UDP(dport=UDP_PORT, chksum=0) / VXLAN(vni=VNI, flags=0x08) / inner
    return bytes(outer)


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def mac(s):
    return bytes.fromhex(s.replace(":", ""))


def fix_ip_csum(b, off):
    b[off + 10:off + 12] = b"\0\0"
    total = sum(struct.unpack("!10H", bytes(b[off:off + 20])))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    b[off + 10:off + 12] = struct.pack("!H", ~total & 0xFFFF)


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


def pod_frames(src, dst_of, mix, rng):
    tmpl = {ln: pod_template(src, ln) for ln in set(IMIX + [60])}
    out = []
    for k, ln in enumerate(sizes(mix, N_PKTS)):
        b = bytearray(tmpl[ln])
        b[30:34] = ip4(dst_of(k))
        b[34:38] = struct.pack("!HH", rng.randrange(1024, 65535), rng.randrange(1024, 65535))
        fix_ip_csum(b, 14)
        out.append(bytes(b))
    return out


def main():
    out, sockdir = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(7)
    order = list(range(N_PEERS))
    rng.shuffle(order)

    cfg = {
        "node_name": "bench", "node_ip": NODE_IP + "/10", "vtep_mac": VTEP_MAC,
        "pod_cidr": "10.244.1.0/24", "host_iface": "",
        "uplink": f"net_memif9,role=client,socket={sockdir}/uplink.sock,mac={UPLINK_MAC}",
        "admin_socket": f"{out}/vxrouted.sock", "state_dir": f"{out}/state", "socket_dir": f"{out}/state",
        "metrics_listen": "",  # runs in the root namespace; no fixed port to collide on
        "eal_args": [],  # filled in by run.sh (lcores, file prefix)
        "pods": [
            {"name": "pod1", "ip": POD1[0], "mac": POD1[1],
             "devargs": f"net_memif1,role=client,socket={sockdir}/pod1.sock"},
            {"name": "pod2", "ip": POD2[0], "mac": POD2[1],
             "devargs": f"net_memif2,role=client,socket={sockdir}/pod2.sock"},
        ],
        "peers": [{"name": f"n{i}", "node_ip": peer_node_ip(i), "vtep_mac": peer_vtep_mac(i),
                   "pod_cidr": peer_prefix(i) + "/24"} for i in range(N_PEERS)],
        "neighbors": [{"ip": peer_node_ip(i), "mac": neigh_mac(i)} for i in range(N_PEERS)],
    }
    with open(f"{out}/vxrouted.json", "w") as f:
        json.dump(cfg, f)

    for mix in ("64", "imix"):
        # pod1 -> remote pods: each of the 10,000 peer prefixes once, random host and ports.
        def remote(k):
            i = order[k % N_PEERS]
            return f"10.{i >> 8}.{i & 255}.{rng.randrange(2, 252)}"
        write_pcap(f"{out}/encap_{mix}.pcap", pod_frames(POD1, remote, mix, rng))

        # pod1 -> pod2 on this node, many flows (ports).
        write_pcap(f"{out}/local_{mix}.pcap", pod_frames(POD1, lambda k: POD2[0], mix, rng))

        # remote pods -> pod1: VXLAN from all 10,000 peers (outer src, inner src, ports vary).
        tmpl = {ln: vxlan_template(ln) for ln in set(IMIX + [60])}
        frames = []
        for k, ln in enumerate(sizes(mix, N_PKTS)):
            i = order[k % N_PEERS]
            b = bytearray(tmpl[ln])
            b[6:12] = mac(neigh_mac(i))
            b[26:30] = ip4(peer_node_ip(i))
            b[34:36] = struct.pack("!H", rng.randrange(49152, 65535))
            b[56:62] = mac(peer_vtep_mac(i))
            b[76:80] = ip4(f"10.{i >> 8}.{i & 255}.{rng.randrange(2, 252)}")
            b[84:88] = struct.pack("!HH", rng.randrange(1024, 65535), rng.randrange(1024, 65535))
            fix_ip_csum(b, 14)
            fix_ip_csum(b, 64)
            frames.append(bytes(b))
        write_pcap(f"{out}/decap_{mix}.pcap", frames)

    with open(f"{out}/facts.env", "w") as f:
        f.write(f"N_PEERS={N_PEERS}\nN_PKTS={N_PKTS}\nUPLINK_MAC={UPLINK_MAC}\n")


if __name__ == "__main__":
    main()
