#!/usr/bin/env python3
"""Inputs for bench/kernel_services.sh: the pcaps its generator replays and
the Service rules in the shapes kube-proxy writes.

  kernel_gen.py pcap OUT FLOWS SERVICES SRC_MAC DST_MAC
      FLOWS 60-byte UDP frames (64 on a wire with the FCS), each its own
      5-tuple, to the ClusterIPs in turn (flow k -> Service k mod SERVICES).
  kernel_gen.py iptables SERVICES BACKENDS      (iptables-restore input, stdout)
  kernel_gen.py nftables SERVICES BACKENDS      (nft -f input, stdout)
  kernel_gen.py ipvs SERVICES BACKENDS SCHED    (ipvsadm-restore input, stdout)

Addresses (kept apart so that only a DNAT can bring a packet to the sink):
ClusterIPs 10.96.0.0/16 (Service i: 10.96.0.1 + i, UDP port 53), backends
10.240.0.0/14 (Service i, backend j: 10.240.0.1 + i * BACKENDS + j, port 53),
clients (the generator's sources) 10.248.0.0/14; the cluster CIDR is
10.240.0.0/12, so the clients count as pods and nothing is masqueraded.
"""
import hashlib
import ipaddress
import struct
import sys

SVC_BASE = int(ipaddress.IPv4Address("10.96.0.1"))
EP_BASE = int(ipaddress.IPv4Address("10.240.0.1"))
CLIENT_BASE = int(ipaddress.IPv4Address("10.248.0.0"))
CLIENTS = 1 << 18  # the /14
CLUSTER_CIDR = "10.240.0.0/12"
PORT = 53
MASQ_MARK = "0x4000"
MARK = f"meta mark set meta mark or {MASQ_MARK}"


def ip(n):
    return str(ipaddress.IPv4Address(n))


def svc_ip(i):
    return ip(SVC_BASE + i)


def ep_ip(i, j, backends):
    return ip(EP_BASE + i * backends + j)


def tag(*parts):
    # kube-proxy names chains by a hash of what they stand for; so do we.
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[b & 31] for b in h[:16])


def write_pcap(out, flows, services, src_mac, dst_mac):
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00"
    payload = bytes(60 - 14 - 20 - 8)
    udp_len = 8 + len(payload)
    ip_len = 20 + udp_len
    # Fixed IPv4 header words (version/IHL, length, id, flags, TTL/proto).
    fixed = 0x4500 + ip_len + 0 + 0x4000 + (64 << 8 | 17)
    pkt_hdr = struct.pack("<IIII", 0, 0, 60, 60)
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunks = []
        for k in range(flows):
            src = CLIENT_BASE + (k % CLIENTS)
            sport = 1024 + k // CLIENTS
            dst = SVC_BASE + (k % services)
            s = fixed + (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
            s = (s & 0xFFFF) + (s >> 16)
            s = (s & 0xFFFF) + (s >> 16)
            csum = ~s & 0xFFFF
            iph = struct.pack("!BBHHHBBHII", 0x45, 0, ip_len, 0, 0x4000, 64, 17, csum, src, dst)
            udp = struct.pack("!HHHH", sport, PORT, udp_len, 0)
            chunks.append(pkt_hdr + eth + iph + udp + payload)
            if len(chunks) == 65536:
                f.write(b"".join(chunks))
                chunks = []
        f.write(b"".join(chunks))


def iptables(services, backends):
    """The nat and filter tables kube-proxy's iptables mode writes for
    ClusterIP Services with ready endpoints (no NodePorts, no LB)."""
    out = ["*filter", ":KUBE-FORWARD - [0:0]",
           "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
           "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
           f"-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
           "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
           "COMMIT", "*nat",
           ":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"]
    rules = []
    for i in range(services):
        name = f"bench/svc-{i}:dns"
        svc = "KUBE-SVC-" + tag(name, "udp")
        out.append(f":{svc} - [0:0]")
        vip = svc_ip(i)
        rules.append(f"-A KUBE-SERVICES -d {vip}/32 -p udp -m comment --comment \"{name} cluster IP\" -m udp --dport {PORT} -j {svc}")
        rules.append(f"-A {svc} ! -s {CLUSTER_CIDR} -d {vip}/32 -p udp -m comment --comment \"{name} cluster IP\" -m udp --dport {PORT} -j KUBE-MARK-MASQ")
        for j in range(backends):
            ep = ep_ip(i, j, backends)
            sep = "KUBE-SEP-" + tag(name, ep)
            out.append(f":{sep} - [0:0]")
            left = backends - j
            prob = "" if left == 1 else f" -m statistic --mode random --probability {1.0 / left:.11f}"
            rules.append(f"-A {svc} -m comment --comment \"{name} -> {ep}:{PORT}\"{prob} -j {sep}")
            rules.append(f"-A {sep} -s {ep}/32 -m comment --comment \"{name}\" -j KUBE-MARK-MASQ")
            rules.append(f"-A {sep} -p udp -m comment --comment \"{name}\" -m udp -j DNAT --to-destination {ep}:{PORT}")
    out += ["-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
            "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
            f"-A KUBE-MARK-MASQ -j MARK --set-xmark {MASQ_MARK}/{MASQ_MARK}",
            f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
            f"-A KUBE-POSTROUTING -j MARK --set-xmark {MASQ_MARK}/0x0",
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully"]
    out += rules
    # Last in KUBE-SERVICES, as kube-proxy writes it.
    out.append("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    out.append("COMMIT")
    print("\n".join(out))


def nftables(services, backends):
    """kube-proxy's nftables mode, its shape: one verdict map from
    (ClusterIP, protocol, port) to a per-Service chain, which marks clients
    from outside the cluster CIDR for masquerade and picks an endpoint by
    numgen random mod N. Two differences, both for the load time: kube-proxy
    gives each endpoint its own chain (a vmap from numgen to a goto) and
    jumps to one mark-for-masquerade chain; here the pick is one
    `dnat to numgen ... map` rule and the mark is set in place. With 110,000
    chains one `nft -f` took 4 minutes of kernel time here (10,000 chains:
    38 s). Only a new flow's first packet runs these chains either way.
    The named counter on the prerouting jump (not in kube-proxy's rules)
    counts the new flows for the benchmark; a named one, because listing a
    chain makes nft read the whole table (over a minute here)."""
    out = ["table ip vxr-kbench {",
           f"  chain masquerading {{ meta mark & {MASQ_MARK} == 0 return ; meta mark set meta mark xor {MASQ_MARK} ; masquerade fully-random ; }}",
           "  counter new-flows { }",
           "  chain nat-prerouting { type nat hook prerouting priority dstnat ; policy accept ; counter name new-flows jump services ; }",
           "  chain nat-output { type nat hook output priority -100 ; policy accept ; jump services ; }",
           "  chain nat-postrouting { type nat hook postrouting priority srcnat ; policy accept ; jump masquerading ; }",
           "  map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }",
           "  chain filter-forward { type filter hook forward priority -110 ; policy accept ; ct state new ip daddr . meta l4proto . th dport vmap @no-endpoint-services ; }",
           "  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }",
           "  chain services { ip daddr . meta l4proto . th dport vmap @service-ips ; }"]
    elems = []
    for i in range(services):
        name = f"bench/svc-{i}/udp/dns"
        svc = "service-" + tag(name)
        vip = svc_ip(i)
        eps = ", ".join(f"{j} : {ep_ip(i, j, backends)} . {PORT}" for j in range(backends))
        out.append(f"  chain {svc} {{ ip daddr {vip} udp dport {PORT} ip saddr != {CLUSTER_CIDR} {MARK} ; "
                   f"meta l4proto udp dnat ip to numgen random mod {backends} map {{ {eps} }} ; }}")
        elems.append(f"{vip} . udp . {PORT} : goto {svc}")
    out.append("}")
    for k in range(0, len(elems), 2000):
        out.append(f"add element ip vxr-kbench service-ips {{ {', '.join(elems[k:k + 2000])} }}")
    print("\n".join(out))


def ipvs(services, backends, sched):
    """ipvsadm-restore input: a virtual service per ClusterIP:port, its
    endpoints as masquerading (NAT) real servers, as kube-proxy's IPVS mode."""
    out = []
    for i in range(services):
        vip = svc_ip(i)
        out.append(f"-A -u {vip}:{PORT} -s {sched}")
        for j in range(backends):
            out.append(f"-a -u {vip}:{PORT} -r {ep_ip(i, j, backends)}:{PORT} -m -w 1")
    print("\n".join(out))


def main(argv):
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        if argv[1] == "pcap":
            write_pcap(argv[2], int(argv[3]), int(argv[4]), argv[5], argv[6])
        elif argv[1] == "iptables":
            iptables(int(argv[2]), int(argv[3]))
        elif argv[1] == "nftables":
            nftables(int(argv[2]), int(argv[3]))
        elif argv[1] == "ipvs":
            ipvs(int(argv[2]), int(argv[3]), argv[4])
        else:
            raise IndexError
    except (IndexError, ValueError):
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
