"""An independent model of what a node must answer for Kubernetes Services.

Written from the Kubernetes documentation (concepts: Service, EndpointSlices,
Virtual IPs and Service Proxies, Service Internal Traffic Policy; the v1
Service and discovery.k8s.io/v1 EndpointSlice API references), not from the
C++ under test (DESIGN.md 6.6). It reads the objects as JSON, exactly as the
API server sends them, and applies the documented defaults itself.

Where the documentation leaves a choice to the proxy, the choice of vxroute
is stated where it is made (marked "vxroute:").

compile_case(case) -> list of frontend dicts, the same schema the driver
prints (see frontends.hpp write_json).
"""

import ipaddress

DEFAULT_AFFINITY_TIMEOUT = 10800  # sessionAffinityConfig.clientIP.timeoutSeconds default (3 h)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name"


def family(addr):
    return ipaddress.ip_address(addr).version


def canon(addr):
    return str(ipaddress.ip_address(addr))


def host_port(addr, port):
    a = ipaddress.ip_address(addr)
    return f"[{a}]:{port}" if a.version == 6 else f"{a}:{port}"


def tri(conditions, name):
    """EndpointConditions are tri-state; None is 'unknown'."""
    v = (conditions or {}).get(name)
    return v if isinstance(v, bool) else None


def endpoint_state(ep):
    c = ep.get("conditions") or {}
    # API reference: "ready ... A nil value should be interpreted as
    # 'unknown' ... consumers should interpret this unknown state as ready."
    ready = tri(c, "ready")
    ready = True if ready is None else ready
    # "serving ... If nil, consumers should defer to the ready condition."
    serving = tri(c, "serving")
    serving = ready if serving is None else serving
    # "terminating ... consumers should interpret this unknown state to mean
    # that the endpoint is not terminating."
    terminating = tri(c, "terminating")
    terminating = False if terminating is None else terminating
    return ready, serving, terminating


def parse_range(text):
    a, _, b = text.partition("-")
    return int(a), int(b or a)


class Svc:
    """The fields of a Service the model needs, with the API's defaults."""

    def __init__(self, obj):
        meta = obj.get("metadata", {})
        spec = obj.get("spec", {}) or {}
        status = obj.get("status", {}) or {}
        self.key = f"{meta.get('namespace', '')}/{meta['name']}"
        self.ns = meta.get("namespace", "")
        self.name = meta["name"]
        self.labels = meta.get("labels", {}) or {}
        self.type = spec.get("type", "ClusterIP")
        ips = spec.get("clusterIPs")
        if ips is None:
            ips = [spec["clusterIP"]] if spec.get("clusterIP") is not None else []
        self.headless = "None" in ips
        self.cluster_ips = [canon(i) for i in ips if i not in ("None", "")]
        self.ports = []
        for p in spec.get("ports", []) or []:
            self.ports.append({
                "name": p.get("name", ""),
                "protocol": p.get("protocol", "TCP"),
                "port": p["port"],
                "nodePort": p.get("nodePort", 0) or 0,
            })
        self.external_ips = [canon(i) for i in spec.get("externalIPs", []) or []]
        self.ingress = []
        for e in (status.get("loadBalancer", {}) or {}).get("ingress", []) or []:
            if e.get("ip"):
                self.ingress.append((canon(e["ip"]), e.get("ipMode", "VIP")))
        self.source_ranges = [str(ipaddress.ip_network(r.strip(), strict=False))
                              for r in spec.get("loadBalancerSourceRanges", []) or []]
        self.affinity = spec.get("sessionAffinity", "None")
        self.timeout = 0
        if self.affinity == "ClientIP":
            cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
            self.timeout = cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT
        self.etp = spec.get("externalTrafficPolicy", "Cluster")
        self.itp = spec.get("internalTrafficPolicy", "Cluster")
        self.hcnp = spec.get("healthCheckNodePort", 0) or 0


def slices_of(svc, slices):
    """EndpointSlices are tied to their Service by the kubernetes.io/service-name
    label, in the Service's namespace."""
    out = []
    for s in slices:
        meta = s.get("metadata", {})
        if meta.get("namespace", "") != svc.ns:
            continue
        if (meta.get("labels", {}) or {}).get(SERVICE_NAME_LABEL) != svc.name:
            continue
        out.append(s)
    # vxroute: slices are read in name order (decides which copy of a
    # duplicated endpoint is kept when they differ).
    return sorted(out, key=lambda s: s["metadata"]["name"])


def endpoints_for(svc_port, fam, slices, node):
    """Endpoints of one Service port in one IP family, keyed by 'addr:port'.

    The slice's port with the same name (and protocol) gives the number: a
    named targetPort is resolved per pod, and the EndpointSlice carries the
    resolved number. A slice port without a number cannot be used by a
    proxy that needs one. "No semantics are defined for additional addresses
    beyond the first". An endpoint listed in two slices is one endpoint.
    """
    want_type = "IPv4" if fam == 4 else "IPv6"
    found = {}
    for s in slices:
        if s.get("addressType") != want_type:
            continue
        number = None
        for sp in s.get("ports", []) or []:
            if sp.get("name", "") == svc_port["name"] and sp.get("protocol", "TCP") == svc_port["protocol"]:
                number = sp.get("port")
                break
        if not number:
            continue
        for ep in s.get("endpoints", []) or []:
            addrs = ep.get("addresses") or []
            if not addrs:
                continue
            ready, serving, terminating = endpoint_state(ep)
            node_name = ep.get("nodeName", "") or ""
            local = bool(node) and node_name == node
            key = host_port(addrs[0], number)
            # vxroute (as kube-proxy): of two copies, a local one is kept.
            if key in found and not (local and not found[key]["local"]):
                continue
            found[key] = {"key": key, "local": local, "ready": ready, "serving": serving,
                          "terminating": terminating}
    return found


def pick(eps):
    """Ready endpoints; if there are none, the ones that are serving and
    terminating. Docs (Virtual IPs and Service Proxies, 'Traffic to
    terminating endpoints') for policy Local; KEP-1669 extends the same
    fallback to policy Cluster (kube-proxy 1.26+)."""
    ready = [e for e in eps if e["ready"]]
    if ready:
        return ready
    return [e for e in eps if e["serving"] and e["terminating"]]


def compile_service(svc, slices, node, node_ips, port_range):
    if PROXY_NAME_LABEL in svc.labels:  # another proxy's (service-proxy-name)
        return []
    if svc.type == "ExternalName" or svc.headless:  # DNS only
        return []
    mine = slices_of(svc, slices)
    out = []
    seen = set()
    lo, hi = port_range
    for fam in (4, 6):
        cips = [a for a in svc.cluster_ips if family(a) == fam]
        # vxroute (as kube-proxy's per-family proxies): a family the Service
        # has no cluster IP in is not served at all, externalIPs included.
        if not cips:
            continue
        for p in svc.ports:
            if p["port"] == 0:
                continue
            eps = endpoints_for(p, fam, mine, node)
            all_eps = [eps[k] for k in sorted(eps)]
            usable = pick(all_eps)
            local = pick([e for e in all_eps if e["local"]])
            lb_local_hc = svc.type == "LoadBalancer" and svc.etp == "Local"
            base = {
                "service": svc.key,
                "port_name": p["name"],
                "protocol": p["protocol"],
                "backends": [e["key"] for e in usable],
                "local_backends": [e["key"] for e in local],
                "session_affinity": svc.affinity,
                "affinity_timeout_s": svc.timeout,
                "health_check_node_port": svc.hcnp if lb_local_hc else 0,
                "health_check_local_ready":
                    sum(1 for e in all_eps if e["local"] and e["ready"]) if lb_local_hc and svc.hcnp else 0,
                # KEP-1669 / kube-proxy: with no usable endpoint at all the
                # connection is rejected (ICMP unreachable), not left to time out.
                "reject": not usable,
            }

            def emit(addr, port, kind):
                key = (addr, p["protocol"], port)
                if key in seen:
                    return
                seen.add(key)
                f = dict(base)
                f.update({
                    "address": addr, "port": port, "kind": kind,
                    # internalTrafficPolicy concerns traffic to the cluster IP.
                    "internal_local": kind == "ClusterIP" and svc.itp == "Local",
                    # externalTrafficPolicy concerns node ports, externalIPs and
                    # load-balancer IPs.
                    "external_local": kind != "ClusterIP" and svc.etp == "Local",
                    # loadBalancerSourceRanges restrict the load balancer's IPs.
                    "source_ranges": [r for r in svc.source_ranges
                                      if ipaddress.ip_network(r).version == fam] if kind == "LoadBalancer" else [],
                })
                out.append(f)

            for a in cips:
                emit(a, p["port"], "ClusterIP")
            # vxroute: a node port outside the configured range is not opened.
            if svc.type in ("NodePort", "LoadBalancer") and p["nodePort"] and lo <= p["nodePort"] <= hi:
                for a in node_ips:
                    if family(a) == fam:
                        emit(a, p["nodePort"], "NodePort")
            for a in svc.external_ips:
                if family(a) == fam:
                    emit(a, p["port"], "ExternalIP")
            # ipMode Proxy: the load balancer does not deliver to the IP
            # itself, so the node must not take it over.
            for a, mode in svc.ingress:
                if family(a) == fam and mode == "VIP":
                    emit(a, p["port"], "LoadBalancer")
    return out


def compile_case(case):
    node = case["node"]["name"]
    node_ips = sorted({canon(a) for a in case["node"].get("ips", [])},
                      key=lambda a: (family(a), ipaddress.ip_address(a)))
    port_range = parse_range(case.get("node_port_range", "30000-32767"))
    services = sorted((Svc(o) for o in case.get("services", [])), key=lambda s: s.key)
    slices = case.get("endpointslices", [])
    # vxroute: an (address, protocol, port) claimed by two Services goes to
    # the lowest namespace/name.
    winners = {}
    for svc in services:
        for f in compile_service(svc, slices, node, node_ips, port_range):
            winners.setdefault((f["address"], f["protocol"], f["port"]), f)
    return [winners[k] for k in sorted(winners, key=str)]
