#!/usr/bin/env python3
"""Services conformance: seeded random Services and EndpointSlices, compiled
by vxroute (the compile_json driver, through the real decoders and
service_compiler) and by the independent model (model.py); the frontends
must agree. Reports TAP, one test point per batch of cases; a mismatch
prints the case (as one JSON line, to replay with --replay) and the
differing frontends.

usage: run_model.py --compile-json PATH [--cases N] [--seed S] [--batch B]
       run_model.py --compile-json PATH --replay CASE.json
"""

import argparse
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model  # noqa: E402

NODE = "node-a"
NODES = ["node-a", "node-b", "node-c"]
PROTOCOLS = ["TCP", "TCP", "UDP", "SCTP"]
SERVICE_PORTS = [53, 80, 443, 8080, 9000]


def maybe(rng, p):
    return rng.random() < p


def tri(rng):
    return rng.choice([None, True, False])


def gen_service(rng, ns, name, ip_pool, shared, nodeports, port_range):
    svc_type = rng.choices(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"], [45, 25, 25, 5])[0]
    labels = {}
    if maybe(rng, 0.05):
        labels[model.PROXY_NAME_LABEL] = "other-proxy"
    spec = {"type": svc_type}
    fams = rng.choice([["IPv4"], ["IPv4"], ["IPv6"], ["IPv4", "IPv6"], ["IPv6", "IPv4"]])
    if svc_type == "ExternalName":
        spec["externalName"] = "db.example.com"
    elif maybe(rng, 0.08):
        spec["clusterIP"] = "None"
        spec["clusterIPs"] = ["None"]
    else:
        ips = [ip_pool[f].pop() for f in fams]
        spec["clusterIP"] = ips[0]
        if maybe(rng, 0.9):  # older writers send clusterIP alone
            spec["clusterIPs"] = ips
        elif len(ips) > 1:
            spec["clusterIPs"] = ips
    spec["ipFamilies"] = fams
    nports = rng.choice([1, 1, 2, 3])
    ports, used = [], set()
    for i in range(nports):
        proto = rng.choice(PROTOCOLS)
        number = rng.choice(SERVICE_PORTS)
        if (proto, number) in used:
            continue
        used.add((proto, number))
        p = {"port": number}
        if proto != "TCP" or maybe(rng, 0.5):
            p["protocol"] = proto
        if nports > 1 or maybe(rng, 0.5):
            p["name"] = f"p{i}"
        if maybe(rng, 0.3):
            p["targetPort"] = f"t{i}"
        elif maybe(rng, 0.7):
            p["targetPort"] = number + 8000
        if svc_type in ("NodePort", "LoadBalancer") and not maybe(rng, 0.1):
            lo, hi = port_range
            if maybe(rng, 0.05):
                np = rng.choice([22, 8080, 32768, 40000])
            elif nodeports and maybe(rng, 0.05):
                np = rng.choice(sorted(nodeports))  # two Services, one node port
            else:
                np = rng.randint(lo, hi)
            nodeports.add(np)
            p["nodePort"] = np
        ports.append(p)
    spec["ports"] = ports
    if maybe(rng, 0.3):
        spec["externalIPs"] = rng.sample(shared["external"], rng.randint(1, 2))
    status = {}
    if svc_type == "LoadBalancer" or maybe(rng, 0.05):
        ingress = []
        for a in rng.sample(shared["lb"], rng.randint(0, 2)):
            e = {"ip": a}
            mode = rng.choice([None, None, "VIP", "Proxy"])
            if mode:
                e["ipMode"] = mode
            ingress.append(e)
        if maybe(rng, 0.1):
            ingress.append({"hostname": "lb.example.com"})
        status = {"loadBalancer": {"ingress": ingress}}
        if maybe(rng, 0.3):
            spec["loadBalancerSourceRanges"] = rng.sample(["192.0.2.0/24", "10.0.0.0/8", "2001:db8:f::/48"],
                                                          rng.randint(1, 2))
    if maybe(rng, 0.3):
        spec["sessionAffinity"] = "ClientIP"
        if maybe(rng, 0.5):
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": rng.choice([1, 600, 86400])}}
    elif maybe(rng, 0.2):
        spec["sessionAffinity"] = "None"
    if svc_type in ("NodePort", "LoadBalancer") and maybe(rng, 0.4):
        spec["externalTrafficPolicy"] = "Local"
        if svc_type == "LoadBalancer":
            spec["healthCheckNodePort"] = rng.randint(32000, 32700)
    elif maybe(rng, 0.2):
        spec["externalTrafficPolicy"] = "Cluster"
    if maybe(rng, 0.3):
        spec["internalTrafficPolicy"] = rng.choice(["Local", "Cluster"])
    meta = {"namespace": ns, "name": name}
    if labels:
        meta["labels"] = labels
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}
    if status:
        obj["status"] = status
    return obj


def gen_endpoint_pool(rng):
    """Per case, each address has one set of attributes, so that an endpoint
    listed in two slices is the same endpoint in both (as during a slice
    controller update)."""
    pool = {4: [], 6: []}
    for fam, fmt in ((4, "10.244.{}.{}"), (6, "fd00:244:{}::{}")):
        for i in range(10):
            ep = {"addresses": [fmt.format(i % 3, i + 1)]}
            if maybe(rng, 0.1):  # only the first address counts
                ep["addresses"].append(fmt.format(9, i + 1))
            cond = {}
            for c in ("ready", "serving", "terminating"):
                v = tri(rng)
                if v is not None:
                    cond[c] = v
            if cond or maybe(rng, 0.5):
                ep["conditions"] = cond
            node = rng.choice(NODES + [None])
            if node:
                ep["nodeName"] = node
            pool[fam].append(ep)
    return pool


def gen_slices(rng, svc, names, pool):
    meta = svc["metadata"]
    spec = svc["spec"]
    out = []
    fams = spec.get("ipFamilies", ["IPv4"])
    for i in range(rng.choice([0, 1, 1, 2, 2, 3])):
        addr_type = rng.choice(fams) if not maybe(rng, 0.1) else rng.choice(["IPv4", "IPv6", "FQDN"])
        ns = meta["namespace"] if not maybe(rng, 0.05) else "elsewhere"
        labels = {}
        if not maybe(rng, 0.05):
            labels[model.SERVICE_NAME_LABEL] = meta["name"] if not maybe(rng, 0.05) else rng.choice(names)
        ports = []
        for p in spec.get("ports", []):
            if maybe(rng, 0.1):
                continue
            sp = {"name": p.get("name", "")}
            if maybe(rng, 0.3) and sp["name"] == "":
                del sp["name"]
            proto = p.get("protocol", "TCP")
            if maybe(rng, 0.03):
                proto = rng.choice(["TCP", "UDP"])
            if proto != "TCP" or maybe(rng, 0.5):
                sp["protocol"] = proto
            if not maybe(rng, 0.05):  # else no number: not usable
                t = p.get("targetPort", p["port"])
                sp["port"] = t if isinstance(t, int) else rng.choice([8000, 8001, 8002])
            ports.append(sp)
        if maybe(rng, 0.1):
            ports.append({"name": "extra", "port": 7777})
        eps = []
        if addr_type == "FQDN":
            eps = [{"addresses": ["db.example.com"]}]
        else:
            fam = 4 if addr_type == "IPv4" else 6
            eps = [dict(e) for e in rng.sample(pool[fam], rng.choice([0, 1, 2, 3, 4, 5]))]
        meta_s = {"namespace": ns, "name": f"{meta['name']}-{i}"}
        if labels:
            meta_s["labels"] = labels
        out.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta_s,
                    "addressType": addr_type, "ports": ports, "endpoints": eps})
    return out


def gen_case(rng, seed):
    port_range = (30000, 32767) if maybe(rng, 0.8) else (30000, 30100)
    node_ips = rng.sample(["192.168.1.10", "192.168.1.11", "fd00:1::10"], rng.randint(0, 3))
    ip_pool = {"IPv4": [f"10.96.0.{i}" for i in range(1, 60)], "IPv6": [f"fd00:96::{i:x}" for i in range(1, 60)]}
    for v in ip_pool.values():
        rng.shuffle(v)
    shared = {"external": ["203.0.113.1", "203.0.113.2", "203.0.113.3", "2001:db8::1", "2001:db8::2"],
              "lb": ["198.51.100.1", "198.51.100.2", "2001:db8:1::1"]}
    services, slices, nodeports = [], [], set()
    n = rng.randint(1, 5)
    names = [f"svc-{i}" for i in range(n)]
    pool = gen_endpoint_pool(rng)
    for name in names:
        ns = rng.choice(["default", "default", "prod"])
        s = gen_service(rng, ns, name, ip_pool, shared, nodeports, port_range)
        services.append(s)
        slices.extend(gen_slices(rng, s, names, pool))
    return {"seed": seed, "node": {"name": NODE, "ips": node_ips},
            "node_port_range": f"{port_range[0]}-{port_range[1]}", "services": services,
            "endpointslices": slices}


def normalise(frontends):
    return {(f["address"], f["protocol"], f["port"]): {k: v for k, v in f.items()} for f in frontends}


def compare(case, got):
    """None when they agree, else a description."""
    if "error" in got:
        return f"driver error: {got['error']}"
    if got.get("incremental") != "ok":
        return f"incremental compilation: {got.get('incremental')}"
    want = normalise(model.compile_case(case))
    have = normalise(got["frontends"])
    lines = []
    for k in sorted(set(want) | set(have), key=str):
        w, h = want.get(k), have.get(k)
        if w is None:
            lines.append(f"  {k}: vxroute has it, the model does not: {json.dumps(h)}")
        elif h is None:
            lines.append(f"  {k}: the model has it, vxroute does not: {json.dumps(w)}")
        else:
            for field in sorted(set(w) | set(h)):
                if w.get(field) != h.get(field):
                    lines.append(f"  {k} {field}: model {w.get(field)!r}, vxroute {h.get(field)!r}")
    return "\n".join(lines) if lines else None


def run_driver(path, cases):
    text = "".join(json.dumps(c, separators=(",", ":")) + "\n" for c in cases)
    p = subprocess.run([path], input=text, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"{path} exited {p.returncode}: {p.stderr[-2000:]}")
    out = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    if len(out) != len(cases):
        raise RuntimeError(f"{path} answered {len(out)} of {len(cases)} cases")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compile-json", required=True)
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--replay", help="a file holding one case as JSON")
    args = ap.parse_args()

    if args.replay:
        with open(args.replay) as f:
            batches = [[json.load(f)]]
    else:
        rng = random.Random(args.seed)
        cases = [gen_case(rng, args.seed + i) for i in range(args.cases)]
        batches = [cases[i:i + args.batch] for i in range(0, len(cases), args.batch)]
    print(f"1..{len(batches)}")
    failed = 0
    frontends = 0
    for n, batch in enumerate(batches, 1):
        try:
            results = run_driver(args.compile_json, batch)
        except Exception as e:  # the driver crashed: the whole batch fails
            print(f"not ok {n} - batch {n}: {e}")
            failed += 1
            continue
        bad = []
        for case, got in zip(batch, results):
            frontends += len(got.get("frontends", []))
            d = compare(case, got)
            if d:
                bad.append((case, d))
        if not bad:
            print(f"ok {n} - batch {n}: {len(batch)} cases agree with the model")
            continue
        failed += 1
        print(f"not ok {n} - batch {n}: {len(bad)} of {len(batch)} cases differ from the model")
        for case, d in bad[:3]:
            print("# case: " + json.dumps(case, separators=(",", ":")))
            for line in d.splitlines():
                print("# " + line)
    print(f"# {sum(len(b) for b in batches)} cases, {frontends} frontends, {failed} failing batches")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
