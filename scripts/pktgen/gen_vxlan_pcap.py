#!/usr/bin/env python3
"""VXLAN-encapsulated pod traffic toward vxrouted, for pktgen to replay
(decap_pcap.lua; pktgen-23.03.0 `-s 1:vxlan.pcap`). Pktgen's own VXLAN
option writes only an outer header plus filler, so the frames are built here
with scapy, each carrying a real inner Ethernet/IPv4/UDP pod packet.

Defaults match scripts/pktgen/vxrouted-pktgen.json: remote pods in the 1,024
peer prefixes 10.0.0.0/24 .. 10.3.255.0/24 send to the pod 10.244.1.2 through
their nodes 100.65.x.y; outer destination = vxrouted's node IP and uplink
MAC, UDP 8472, VNI 1, inner destination MAC = vxrouted's VTEP MAC.

usage: gen_vxlan_pcap.py [-o vxlan.pcap] [--uplink-mac MAC] [--count N]
                         [--size 64|imix|BYTES]
  --uplink-mac  vxrouted's uplink port MAC (`vxroutectl -s SOCK show ports`);
                a net_vhost port's MAC is 56:48:4f:53:54:<port id>
  --size        inner (pod) frame size with FCS: 64 (default), imix (7:4:1 of
                64/570/1468), or a number <= 1468 (pod MTU 1450)
"""
import argparse
import random

from scapy.all import IP, UDP, Ether, Raw, wrpcap
from scapy.layers.vxlan import VXLAN

IMIX = [64] * 7 + [570] * 4 + [1468]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="vxlan.pcap")
    ap.add_argument("--uplink-mac", default="56:48:4f:53:54:00")
    ap.add_argument("--src-mac", default="02:00:00:00:02:01", help="pktgen port 1's MAC")
    ap.add_argument("--node-ip", default="100.64.0.1")
    ap.add_argument("--vtep-mac", default="02:76:78:00:00:01")
    ap.add_argument("--pod-ip", default="10.244.1.2")
    ap.add_argument("--peers", type=int, default=1024)
    ap.add_argument("--vni", type=int, default=1)
    ap.add_argument("--port", type=int, default=8472)
    ap.add_argument("--count", type=int, default=2048, help="frames (flows) in the pcap")
    ap.add_argument("--size", default="64")
    a = ap.parse_args()

    rng = random.Random(1)
    if a.size == "imix":
        sizes = [IMIX[i % len(IMIX)] for i in range(a.count)]
        rng.shuffle(sizes)
    else:
        sizes = [int(a.size)] * a.count
    if max(sizes) > 1468 or min(sizes) < 64:
        raise SystemExit("inner frame sizes must be 64..1468 bytes (pod MTU 1450)")

    frames = []
    for k, size in enumerate(sizes):
        i = k % a.peers
        inner = Ether(src=f"02:76:79:00:{i >> 8:02x}:{i & 255:02x}", dst=a.vtep_mac) / \
            IP(src=f"10.{i >> 8}.{i & 255}.{rng.randrange(2, 252)}", dst=a.pod_ip, ttl=64) / \
            UDP(sport=rng.randrange(1024, 65535), dport=rng.randrange(1024, 65535), chksum=0)
        missing = size - 4 - len(inner)  # sizes include the FCS, pcap frames do not
        if missing > 0:
            inner = inner / Raw(b"\x00" * missing)
        outer = Ether(src=a.src_mac, dst=a.uplink_mac) / \
            IP(src=f"100.65.{i // 200}.{10 + i % 200}", dst=a.node_ip, ttl=64, flags="DF") / \
            UDP(sport=rng.randrange(49152, 65535), dport=a.port, chksum=0) / \
            VXLAN(vni=a.vni, flags=0x08) / inner
        frames.append(outer)
    wrpcap(a.out, frames)
    print(f"wrote {a.out}: {len(frames)} VXLAN frames from {min(a.peers, a.count)} peers, "
          f"inner sizes {sorted(set(sizes))}")


if __name__ == "__main__":
    main()
