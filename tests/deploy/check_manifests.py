#!/usr/bin/env python3
"""Parse every docker/*.yaml and check what a node-critical DPDK DaemonSet
must have (README "Deploy"): host network, system-node-critical, tolerations,
Guaranteed QoS with whole CPUs in every container, hugepages requests ==
limits backed by a HugePages volume, exactly the capabilities vxrouted needs,
least-privilege RBAC matching the API calls in src/control/k8s, probes on the
metrics port, and per-node configs that vxrouted itself accepts.

usage: check_manifests.py [--vxrouted PATH] [--root REPO]   (TAP output)
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    # meson may find a python3 (pyenv, venv) without Debian's python3-yaml.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("1..1")
    print("not ok - setup: python3 module yaml is missing (apt-get install python3-yaml; scripts/deps.sh)")
    sys.exit(1)

# Capabilities vxrouted needs (the DaemonSet comments say why, one by one).
K_CAPS = {"IPC_LOCK", "NET_ADMIN", "NET_RAW", "SYS_ADMIN"}
K_METRICS_PORT = 9464
# What src/control/k8s calls for Nodes; checked against the source below.
# The watch cache's resources add list/watch each (from the ConfigMap).
K_RBAC = {("", "nodes"): {"get", "list", "watch"}, ("", "nodes/status"): {"patch"}}
K_PATCH_FILE = "vxroute-pci-patch.yaml"  # the documented privileged option

results = []


def check(name, cond, why=""):
    results.append((bool(cond), name, "" if cond else why))
    return bool(cond)


def note(text):
    results.append((None, text, ""))


def quantity(v):
    """Kubernetes quantity -> number (CPU in cores, memory in bytes)."""
    s = str(v)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}
    for u, f in units.items():
        if s.endswith(u):
            return float(s[: -len(u)]) * f
    return float(s)


def containers(pod_spec):
    return [("init " + c["name"], c) for c in pod_spec.get("initContainers", [])] + \
           [(c["name"], c) for c in pod_spec.get("containers", [])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vxrouted", default="")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    docker = os.path.join(root, "docker")

    # --- every manifest parses ------------------------------------------------
    docs = {}
    files = sorted(glob.glob(os.path.join(docker, "*.yaml")))
    check("docker/*.yaml exist", files, f"no YAML files in {docker}")
    for f in files:
        base = os.path.basename(f)
        try:
            with open(f) as fh:
                ds = [d for d in yaml.safe_load_all(fh) if d is not None]
        except yaml.YAMLError as e:
            check(f"{base} parses as YAML", False, str(e).replace("\n", " "))
            continue
        check(f"{base} parses as YAML ({len(ds)} documents)", ds, "empty file")
        if base == K_PATCH_FILE:
            docs[base] = ds
            continue
        bad = [d for d in ds if not (isinstance(d, dict) and d.get("apiVersion") and d.get("kind")
                                     and d.get("metadata", {}).get("name"))]
        check(f"{base}: every document has apiVersion, kind, metadata.name", not bad, f"{len(bad)} without")
        docs[base] = ds
    objs = {}
    for base, ds in docs.items():
        if base == K_PATCH_FILE:
            continue
        for d in ds:
            objs[(d["kind"], d["metadata"]["name"])] = d

    ds_obj = objs.get(("DaemonSet", "vxroute"))
    if not check("DaemonSet vxroute present", ds_obj, f"kinds found: {sorted(objs)}"):
        return
    ns = ds_obj["metadata"].get("namespace")
    check("DaemonSet in kube-system (system-node-critical is only admitted there)", ns == "kube-system", f"namespace {ns}")
    spec = ds_obj["spec"]["template"]["spec"]

    # --- placement and priority -----------------------------------------------
    check("hostNetwork: true", spec.get("hostNetwork") is True, f"hostNetwork {spec.get('hostNetwork')}")
    check("dnsPolicy ClusterFirstWithHostNet", spec.get("dnsPolicy") == "ClusterFirstWithHostNet", spec.get("dnsPolicy"))
    check("priorityClassName: system-node-critical", spec.get("priorityClassName") == "system-node-critical",
          spec.get("priorityClassName"))
    tol = spec.get("tolerations", [])
    effects = {t.get("effect") for t in tol if t.get("operator") == "Exists" and not t.get("key")}
    check("tolerations: every NoSchedule and NoExecute taint (operator Exists)", {"NoSchedule", "NoExecute"} <= effects,
          f"tolerations {tol}")
    sel = ds_obj["spec"]["selector"]["matchLabels"]
    labels = ds_obj["spec"]["template"]["metadata"]["labels"]
    check("selector matches the pod template's labels", all(labels.get(k) == v for k, v in sel.items()), f"{sel} vs {labels}")

    # --- Guaranteed QoS, whole CPUs, everywhere ---------------------------------
    all_c = containers(spec)
    check("an init container and the vxrouted container", len(spec.get("initContainers", [])) >= 1 and
          any(c["name"] == "vxrouted" for c in spec.get("containers", [])), f"{[n for n, _ in all_c]}")
    for name, c in all_c:
        r = c.get("resources", {})
        req, lim = r.get("requests", {}), r.get("limits", {})
        check(f"{name}: requests == limits (Guaranteed QoS)", req and req == lim, f"requests {req}, limits {lim}")
        cpu = req.get("cpu")
        ok_cpu = cpu is not None and quantity(cpu) >= 1 and quantity(cpu) == int(quantity(cpu))
        check(f"{name}: whole CPUs (static CPU manager gives exclusive cores): cpu {cpu}", ok_cpu, f"cpu {cpu}")
        check(f"{name}: memory request == limit", "memory" in req and req.get("memory") == lim.get("memory"),
              f"memory {req.get('memory')} / {lim.get('memory')}")
        sc = c.get("securityContext", {})
        if c["name"] != "vxrouted":
            check(f"{name}: drops all capabilities, adds none", sc.get("capabilities", {}).get("drop") == ["ALL"]
                  and not sc.get("capabilities", {}).get("add"), f"{sc.get('capabilities')}")
            check(f"{name}: not privileged", not sc.get("privileged"), "privileged")

    vx = next((c for c in spec.get("containers", []) if c["name"] == "vxrouted"), None)
    if not check("container vxrouted present", vx, ""):
        return
    req, lim = vx["resources"]["requests"], vx["resources"]["limits"]
    hp = req.get("hugepages-2Mi") or req.get("hugepages-1Gi")
    check("vxrouted: hugepages requested, requests == limits",
          hp and all(req.get(k) == lim.get(k) for k in req if k.startswith("hugepages-")), f"{req} / {lim}")
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    hp_vols = [n for n, v in vols.items() if v.get("emptyDir", {}).get("medium", "").startswith("HugePages")]
    mounts = {m["name"]: m for m in vx.get("volumeMounts", [])}
    check("vxrouted: a medium HugePages emptyDir mounted at /dev/hugepages",
          any(mounts.get(n, {}).get("mountPath") == "/dev/hugepages" for n in hp_vols), f"hugepage volumes {hp_vols}")

    # --- capabilities -----------------------------------------------------------
    sc = vx.get("securityContext", {})
    caps = sc.get("capabilities", {})
    check("vxrouted: not privileged (privileged only via the documented " + K_PATCH_FILE + ")",
          sc.get("privileged") in (None, False), f"privileged {sc.get('privileged')}")
    check("vxrouted: drops ALL capabilities", caps.get("drop") == ["ALL"], f"drop {caps.get('drop')}")
    check(f"vxrouted: adds exactly {sorted(K_CAPS)}", set(caps.get("add", [])) == K_CAPS, f"add {caps.get('add')}")
    text = open(os.path.join(docker, "vxroute-daemonset.yaml")).read()
    for cap in sorted(K_CAPS):
        # The comment right above "- CAP" says why it is needed.
        m = re.search(r"((?:^[ \t]*#.*\n)+)[ \t]*- " + cap + r"\s*$", text, re.M)
        check(f"vxrouted: capability {cap} carries a comment saying why", m and cap in m.group(1),
              "no comment naming it right above the list entry")
    for c in ("SYS_RESOURCE", "SYS_NICE"):
        check(f"vxrouted: {c} left out on purpose (comment says so)", re.search(r"#.*" + c, text), "no comment")
    readme = open(os.path.join(root, "README.md")).read()
    patch = docs.get(K_PATCH_FILE)
    check(f"{K_PATCH_FILE}: the privileged option exists and is documented in README.md",
          patch and K_PATCH_FILE in readme, "missing file or README mention")
    if patch:
        pc = patch[0]["spec"]["template"]["spec"]["containers"][0]
        check(f"{K_PATCH_FILE}: privileged true for container vxrouted",
              pc["name"] == "vxrouted" and pc["securityContext"].get("privileged") is True, f"{pc}")
    for base, ds in docs.items():
        if base != K_PATCH_FILE:
            check(f"{base}: no privileged container", "privileged: true" not in open(os.path.join(docker, base)).read(),
                  "privileged: true found")

    # --- probes -----------------------------------------------------------------
    ports = {p["name"]: p["containerPort"] for p in vx.get("ports", [])}
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = vx.get(probe, {}).get("httpGet", {})
        port = ports.get(g.get("port"), g.get("port"))
        check(f"vxrouted: {probe} httpGet {path} on port {K_METRICS_PORT}",
              g.get("path") == path and port == K_METRICS_PORT, f"{vx.get(probe)}")

    # --- RBAC, checked against the API calls in the source -----------------------
    # The watch cache's resources, from the X-macro in resource.hpp: plural -> API group.
    res_hpp = open(os.path.join(root, "src", "control", "k8s", "resource.hpp")).read()
    cacheable = {}
    for plural, path in re.findall(r'"(\w+)",\s*"\w+",\s*\\?\s*"(/apis?/[^"]+)"', res_hpp):
        parts = path.strip("/").split("/")
        cacheable[plural] = "" if parts[0] == "api" else parts[1]
    check("resource.hpp lists the five cached resources",
          set(cacheable) == {"services", "endpointslices", "pods", "namespaces", "networkpolicies"}, f"{cacheable}")
    watched = set()
    for (kind, _), o in objs.items():
        if kind != "ConfigMap":
            continue
        for text in o.get("data", {}).values():
            try:
                cfg = json.loads(text)
            except ValueError:
                continue
            for w in cfg.get("kubernetes", {}).get("watch", []):
                watched.add((cacheable.get(w, "?"), w))
    sa = spec.get("serviceAccountName")
    check("ServiceAccount exists", ("ServiceAccount", sa) in objs, f"serviceAccountName {sa}")
    role = objs.get(("ClusterRole", "vxroute"))
    got = {}
    if check("ClusterRole vxroute exists", role, ""):
        for rule in role.get("rules", []):
            for g in rule.get("apiGroups", []):
                for res in rule.get("resources", []):
                    got.setdefault((g, res), set()).update(rule.get("verbs", []))
        want = {k: set(v) for k, v in K_RBAC.items()}
        for group, res in watched:
            want.setdefault((group, res), set()).update({"list", "watch"})
        check("ClusterRole: exactly nodes get/list/watch, nodes/status patch and list/watch of what the "
              f"ConfigMap watches ({', '.join(sorted(r for _, r in watched)) or 'nothing else'})",
              got == want, f"rules {({k: sorted(v) for k, v in got.items()})}, want {({k: sorted(v) for k, v in want.items()})}")
        check("ClusterRole: no wildcards, no secrets", "*" not in json.dumps(role["rules"]) and
              "secrets" not in json.dumps(role["rules"]), "wildcard or secrets")
    binding = objs.get(("ClusterRoleBinding", "vxroute"))
    check("ClusterRoleBinding binds the role to the DaemonSet's ServiceAccount",
          binding and binding["roleRef"]["name"] == "vxroute" and
          {"kind": "ServiceAccount", "name": sa, "namespace": ns} in binding["subjects"], f"{binding}")
    src = ""
    for f in glob.glob(os.path.join(root, "src", "**", "*.cpp"), recursive=True):
        src += open(f).read()
    calls = {
        ("", "nodes", "list/watch"): 'resource_spec{"nodes", "Node", "/api/v1/nodes"' in src,
        ("", "nodes", "get"): '"/api/v1/nodes/" + url_encode' in src,
        ("", "nodes/status", "patch"): '"/status"' in src and 'req.method = "PATCH"' in src,
    }
    check("source makes the node calls the role allows (list/watch, get, status patch)", all(calls.values()),
          f"{calls}")
    other = sorted(set(re.findall(r'"/apis?/[^"?]*', src)) - {'"/api/v1/nodes', '"/api/v1/nodes/'})
    check("source calls no other API path outside the watch cache's resource list", not other, f"{other}")
    check("every watched resource is one the watch cache knows (resource.hpp)",
          all(w in cacheable for _, w in watched), f"watched {sorted(watched)}, known {sorted(cacheable)}")

    # --- wiring: config per node, CNI install, shared paths ----------------------
    check('vxrouted args: -c /etc/vxroute/$(NODE_NAME).json', vx.get("args") == ["-c", "/etc/vxroute/$(NODE_NAME).json"],
          f"{vx.get('args')}")
    env = {e["name"]: e for e in vx.get("env", [])}
    check("NODE_NAME from the downward API spec.nodeName",
          env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
          f"{env.get('NODE_NAME')}")
    cm_name = vols.get(mounts.get("config", {}).get("name", ""), {}).get("configMap", {}).get("name")
    cm = objs.get(("ConfigMap", cm_name))
    check(f"config volume is ConfigMap {cm_name}, mounted at /etc/vxroute",
          cm and mounts.get("config", {}).get("mountPath") == "/etc/vxroute", f"{mounts.get('config')}")
    init = spec["initContainers"][0]
    im = {m["mountPath"]: vols.get(m["name"], {}).get("hostPath", {}).get("path") for m in init.get("volumeMounts", [])}
    check("init container installs the CNI plugin into the node's /opt/cni/bin and /etc/cni/net.d",
          init.get("command") == ["/usr/bin/vxroute-install-cni"] and
          im == {"/host/opt/cni/bin": "/opt/cni/bin", "/host/etc/cni/net.d": "/etc/cni/net.d"}, f"{init}")
    host_mounts = {m["mountPath"]: vols.get(m["name"], {}).get("hostPath", {}).get("path")
                   for m in vx.get("volumeMounts", [])}
    netns_m = next((m for m in vx["volumeMounts"] if m["mountPath"] == "/var/run/netns"), {})
    check("pod network namespaces visible: /var/run/netns from the host, HostToContainer propagation",
          host_mounts.get("/var/run/netns") == "/var/run/netns" and netns_m.get("mountPropagation") == "HostToContainer",
          f"{netns_m}")
    check("/dev/net/tun from the host (kernel pods' taps)", host_mounts.get("/dev/net/tun") == "/dev/net/tun", "")
    conflist = json.load(open(os.path.join(docker, "cni", "10-vxroute.conflist")))
    cni_sock = conflist["plugins"][0]["socket"]
    check(f"the CNI plugin's socket {cni_sock} is under a hostPath shared with the node",
          any(cni_sock.startswith(p + "/") and host_mounts[p] == p for p in host_mounts if host_mounts[p]),
          f"mounts {host_mounts}")
    check("the CNI conflist declares the portMappings capability (hostPorts reach vxroute-cni)",
          conflist["plugins"][0].get("capabilities") == {"portMappings": True}, f"{conflist['plugins'][0]}")
    images = {c.get("image") for _, c in all_c}
    check("every container runs the same image", len(images) == 1, f"{images}")

    # --- per-node configs -------------------------------------------------------
    if cm:
        configs = {k: v for k, v in cm.get("data", {}).items() if k.endswith(".json")}
        check("ConfigMap: at least one <node>.json", configs, f"keys {list(cm.get('data', {}))}")
        for key, text in sorted(configs.items()):
            try:
                c = json.loads(text)
            except ValueError as e:
                check(f"{key}: valid JSON", False, str(e))
                continue
            check(f"{key}: valid JSON", True)
            check(f"{key}: node_name matches the key", c.get("node_name") == key[:-5], f"node_name {c.get('node_name')}")
            eal = c.get("eal_args", [])
            check(f"{key}: no -l/-c/--lcores (lcores come from the CPUs the kubelet gives)",
                  not any(a.startswith(("-l", "-c", "--lcores")) for a in eal), f"eal_args {eal}")
            check(f"{key}: --file-prefix set (dpdk-dumpcap attaches by it)",
                  any(a.startswith("--file-prefix=") for a in eal), f"eal_args {eal}")
            check(f"{key}: admin_socket is the CNI plugin's socket", c.get("admin_socket") == cni_sock,
                  f"{c.get('admin_socket')} vs {cni_sock}")
            check(f"{key}: kubernetes in_cluster", c.get("kubernetes", {}).get("in_cluster") is True, f"{c.get('kubernetes')}")
            check(f"{key}: metrics_listen 0.0.0.0:{K_METRICS_PORT} (the probes' port)",
                  c.get("metrics_listen") == f"0.0.0.0:{K_METRICS_PORT}", f"{c.get('metrics_listen')}")
            check_with_vxrouted(args.vxrouted, key, c)

    # --- kubectl ------------------------------------------------------------------
    kubectl_validation(files)


def check_with_vxrouted(vxrouted, key, cfg):
    if not vxrouted:
        check(f"{key}: vxrouted --check-config", False, "no --vxrouted given (build first; meson passes it)")
        return
    with tempfile.TemporaryDirectory(prefix="vxr-manifests-") as d:
        def run(c):
            p = os.path.join(d, key)
            with open(p, "w") as f:
                json.dump(c, f)
            r = subprocess.run([vxrouted, "--check-config", "-c", p], capture_output=True, text=True, timeout=30)
            return r.returncode, (r.stdout + r.stderr).strip()
        rc, out = run(cfg)
        check(f"{key}: vxrouted --check-config accepts it", rc == 0, out.replace("\n", " ")[:300])
        if not cfg.get("services", {}).get("enabled"):
            return
        # What only the Services module judges is checked before start-up too.
        for path, value in ((("maglev", "table_size"), 16384), (("node_port_range",), "32767-30000")):
            bad = json.loads(json.dumps(cfg))
            obj = bad["services"]
            for k in path[:-1]:
                obj = obj.setdefault(k, {})
            obj[path[-1]] = value
            field = "services." + ".".join(path)
            rc, out = run(bad)
            check(f"{key}: vxrouted --check-config rejects {field} = {value}, naming the field",
                  rc != 0 and field in out, f"exit {rc}: " + out.replace("\n", " ")[:300])


def kubectl_validation(files):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        note("kubectl not installed: no client-side validation by kubectl (Debian: kubernetes-client)")
        return
    env = dict(os.environ, KUBECONFIG=os.devnull)
    r = subprocess.run([kubectl, "apply", "--dry-run=client", "--validate=strict", "-o", "name"] +
                       sum((["-f", f] for f in files if not f.endswith(K_PATCH_FILE)), []),
                       capture_output=True, text=True, timeout=120, env=env)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 and re.search(r"connection refused|failed to download openapi|unable to recognize|"
                                       r"couldn't get current server API group list", out):
        # kubectl fetches the schema (OpenAPI) and the resource mapping
        # (discovery) from an API server even for --dry-run=client; without a
        # server it validates nothing. Say so instead of passing.
        note("kubectl cannot validate without an API server (it downloads the OpenAPI schema and discovery "
             "from one even with --dry-run=client); run `kubectl apply --dry-run=server -f docker/` against a "
             "cluster. First line of its answer: " + out.splitlines()[0][:200])
        return
    check("kubectl apply --dry-run=client --validate=strict accepts every manifest", r.returncode == 0, out[:300])


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a malformed manifest must fail the test, not crash it silently
        check("manifests have the expected structure", False, f"{type(e).__name__}: {e}")
    n = sum(1 for ok, _, _ in results if ok is not None)
    print(f"1..{n}")
    i = 0
    for ok, name, why in results:
        if ok is None:
            print(f"# {name}")
            continue
        i += 1
        print(f"{'ok' if ok else 'not ok'} {i} - {name}{'' if ok else ': ' + why}")
    failed = sum(1 for ok, _, _ in results if ok is False)
    print(f"# {n - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
