# shellcheck shell=bash
# The fixture API server (tests/k8s/fixture/apiserver.py) for end-to-end
# tests whose vxrouted nodes take their state from Kubernetes: start it,
# reach it from both node namespaces, drive its control endpoint, and write
# node configs with a "kubernetes" section pointing at it.
# usage: source scripts/lib/testbed.sh; source tests/e2e/lib/k8s.sh; tb_up TAG;
#        start_fixture; k8s_write_configs DIR WATCH_JSON [EXTRA_JSON]; ...
# Helpers the fixture starts are appended to TB_BG_PIDS, so tb_down stops them.

K8S_FIXTURE=$TB_ROOT/tests/k8s/fixture/apiserver.py
API_PORT=""
CTL_PORT=""
FWD_PID=""

# How the nodes reach the API server. The fixture listens on 127.0.0.1 only
# (its certificate is for 127.0.0.1), in the root namespace; vxrouted runs
# inside a node namespace, where 127.0.0.1 is that namespace's own loopback
# (and the node's underlay belongs to DPDK). So one small forwarder process,
# started here in the root namespace, enters each node namespace with
# setns(2) just long enough to open a listening socket on 127.0.0.1:API_PORT
# there, returns to the root namespace, and splices every accepted
# connection to the fixture's 127.0.0.1:API_PORT. Sockets keep the namespace
# they were created in, so both nodes see "https://127.0.0.1:API_PORT" with a
# certificate that matches, one fixture holds the one cluster state, and no
# interface or route is added anywhere.
write_forwarder() {
  cat >"$1" <<'PY'
import ctypes, os, socket, sys, threading
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
def enter(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        sys.exit("setns: " + os.strerror(e))
port = int(sys.argv[1])
home = os.open("/proc/self/ns/net", os.O_RDONLY)
listeners = []
for ns in sys.argv[2:]:
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    enter(fd)
    os.close(fd)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    listeners.append(s)
enter(home)
def splice(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for x in (a, b):
        try:
            x.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(l):
    while True:
        c, _ = l.accept()
        try:
            u = socket.create_connection(("127.0.0.1", port))
        except OSError:
            c.close()
            continue
        for x in (c, u):
            x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=splice, args=(c, u), daemon=True).start()
        threading.Thread(target=splice, args=(u, c), daemon=True).start()
for l in listeners:
    threading.Thread(target=serve, args=(l,), daemon=True).start()
print("READY", flush=True)
threading.Event().wait()
PY
}

# wait_line FILE PATTERN TIMEOUT_S PID: wait for a line in a helper's output.
wait_line() {
  local file=$1 pattern=$2 timeout=$3 pid=$4 t=0
  while ((t < timeout * 10)); do
    grep -q "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { tb_err "PID $pid exited early: $(tail -c 400 "${file%.out}.err" 2>/dev/null)"; return 1; }
    sleep 0.1
    t=$((t + 1))
  done
  tb_err "no '$pattern' in $file after ${timeout}s"
  return 1
}

# fx COMMAND [JSON]: the fixture's plain-HTTP control endpoint (root namespace).
fx() {
  local body='{}'
  [[ $# -ge 2 ]] && body=$2
  curl -fsS --max-time 20 -X POST -H 'Content-Type: application/json' \
    --data "$body" "http://127.0.0.1:$CTL_PORT/$1"
}

# fx_object RESOURCE JSON: create or replace one object in the fixture.
fx_object() { fx upsert "{\"resource\":\"$1\",\"object\":$2}" >/dev/null; }

start_fixture() {
  local dir=$TB_TMP/fixture pid
  mkdir -p "$dir"
  # stdin: a FIFO opened read-write never reaches EOF, so the fixture (which
  # exits when its stdin closes) runs until tb_down sends it SIGTERM. It
  # makes its own throwaway CA and server certificate in --dir (openssl CLI),
  # exactly as the gtest fixture_server has it do.
  mkfifo "$TB_TMP/fixture.stdin"
  python3 "$K8S_FIXTURE" --dir "$dir" 0<>"$TB_TMP/fixture.stdin" >"$TB_TMP/fixture.out" 2>"$TB_TMP/fixture.err" &
  pid=$!
  TB_BG_PIDS+=("$pid")
  wait_line "$TB_TMP/fixture.out" '^READY ' 30 "$pid" || return 1
  read -r _ API_PORT CTL_PORT <"$TB_TMP/fixture.out"
  [[ "$API_PORT" =~ ^[0-9]+$ && "$CTL_PORT" =~ ^[0-9]+$ ]] || { tb_err "bad fixture READY line"; return 1; }

  write_forwarder "$TB_TMP/nsfwd.py"
  start_forwarder || return 1
  tb_log "fixture API server https://127.0.0.1:$API_PORT (control $CTL_PORT), reachable from $TB_NS_A and $TB_NS_B"
}

start_forwarder() {
  python3 "$TB_TMP/nsfwd.py" "$API_PORT" "$TB_NS_A" "$TB_NS_B" >"$TB_TMP/nsfwd.out" 2>"$TB_TMP/nsfwd.err" &
  FWD_PID=$!
  TB_BG_PIDS+=("$FWD_PID")
  wait_line "$TB_TMP/nsfwd.out" '^READY' 10 "$FWD_PID"
}

# API server outage as the nodes see it: the forwarder (ours, by PID) goes
# away, so connections to 127.0.0.1:API_PORT in the node namespaces are
# refused and the open watches are cut.
stop_forwarder() {
  kill -TERM "$FWD_PID" 2>/dev/null || true
  wait "$FWD_PID" 2>/dev/null || true
}

# k8s_write_configs DIR WATCH_JSON [EXTRA_JSON]: tb_write_configs' output
# without static peers, with a kubeconfig per node pointing at the fixture
# and kubernetes.watch = WATCH_JSON (a JSON list of resources). EXTRA_JSON
# (an object with "a" and/or "b", each a config fragment) is merged into
# that node's config: top-level keys replaced, "pods" entries appended.
k8s_write_configs() {
  local dir=$1 watch=$2 extra=${3:-'{}'} n
  tb_write_configs "$dir/static" || return 1
  for n in a b; do
    cat >"$dir/kubeconfig-$n" <<EOF
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: $TB_TMP/fixture/ca.crt
    server: https://127.0.0.1:$API_PORT
  name: fixture
users:
- name: vxrouted-node-$n
  user:
    token: token-1
contexts:
- context:
    cluster: fixture
    user: vxrouted-node-$n
  name: fixture
current-context: fixture
EOF
    python3 - "$dir/static/node-$n.json" "$dir/node-$n.json" "$dir/kubeconfig-$n" "$watch" "$extra" "$n" <<'PY' || return 1
import json, sys
src, dst, kubeconfig, watch, extra, node = sys.argv[1:7]
c = json.load(open(src))
c.pop("peers", None)
c["kubernetes"] = {"kubeconfig": kubeconfig, "annotation_prefix": "flannel.alpha.coreos.com", "publish": True,
                   "watch": json.loads(watch)}
for k, v in json.loads(extra).get(node, {}).items():
    if k == "pods":
        c.setdefault("pods", []).extend(v)
    else:
        c[k] = v
json.dump(c, open(dst, "w"))
PY
  done
}

# show_k8s a|b: the `show k8s` view, straight from the admin socket (one
# JSON request per line, as vxroutectl sends it).
show_k8s() {
  local sock
  case "$1" in a) sock=$TB_SOCK_A ;; b) sock=$TB_SOCK_B ;; esac
  python3 - "$sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"cmd":"show","what":"k8s"}\n')
buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
r = json.loads(buf)
if not r.get("ok", True) or "error" in r:
    sys.exit("show k8s failed: " + buf.decode()[:300])
print(json.dumps(r.get("result", r)))
PY
}

# k8s_check a|b PYTHON_EXPR: the expression holds on node's show k8s (as v).
k8s_check() {
  local out
  out=$(show_k8s "$1") || return 1
  python3 -c 'import json,sys; v=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else "show k8s: " + sys.argv[1][:600])' \
    "$out" "$2"
}

# eventually TIMEOUT_S CMD...: retry CMD every 0.5 s until it succeeds.
eventually() {
  local timeout=$1 t=0
  shift
  while ((t < timeout * 2)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
    t=$((t + 1))
  done
  "$@"
}

# k8s_add_nodes: the Node objects of both testbed nodes (flannel's
# annotations with their VTEP MACs, public IPs and pod CIDRs).
k8s_add_nodes() {
  fx upsert "{\"name\":\"node-a\",\"idx\":1,\"mac\":\"$TB_VTEP_A\",\"public_ip\":\"$TB_NODE_IP_A\",\"pod_cidr\":\"$TB_CIDR_A\",\"vni\":1}" >/dev/null &&
    fx upsert "{\"name\":\"node-b\",\"idx\":2,\"mac\":\"$TB_VTEP_B\",\"public_ip\":\"$TB_NODE_IP_B\",\"pod_cidr\":\"$TB_CIDR_B\",\"vni\":1}" >/dev/null
}

# k8s_service_json NAME CLUSTER_IP PORTS_JSON [SPEC_JSON]: a ClusterIP
# Service in "default" selecting app=NAME, as a 1.29 API server returns it
# (PORTS_JSON: the spec's ports list); SPEC_JSON's fields replace the spec's
# (e.g. {"type":"NodePort","externalTrafficPolicy":"Local"}).
k8s_service_json() {
  python3 - "$@" <<'PY'
import json, sys, uuid
name, ip, ports = sys.argv[1:4]
spec = {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack", "selector": {"app": name}, "ports": json.loads(ports),
        "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}
spec.update(json.loads(sys.argv[4]) if len(sys.argv) > 4 else {})
if spec["type"] != "ClusterIP":
    spec.setdefault("externalTrafficPolicy", "Cluster")
# The uid is stable per name, as the API server keeps it across updates.
print(json.dumps({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": name, "namespace": "default", "labels": {"app": name},
                               "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, "service/default/" + name))},
                  "spec": spec, "status": {"loadBalancer": {}}}, separators=(",", ":")))
PY
}

# k8s_slice_json SERVICE NAME PORTS_JSON ENDPOINT...: an EndpointSlice NAME
# of Service SERVICE (PORTS_JSON: the slice's ports list); each ENDPOINT is
# IP/NODE/POD, ready and serving, on NODE, with Pod POD as targetRef.
k8s_slice_json() {
  local svc=$1 name=$2 ports=$3 eps="" e ip node pod
  shift 3
  for e in "$@"; do
    IFS=/ read -r ip node pod <<<"$e"
    eps+="${eps:+,}{\"addresses\":[\"$ip\"],\"conditions\":{\"ready\":true,\"serving\":true,\"terminating\":false},\"nodeName\":\"$node\",\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"$pod\"}}"
  done
  printf '%s' "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"$name\",\"generateName\":\"$svc-\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"$svc\",\"endpointslice.kubernetes.io/managed-by\":\"endpointslice-controller.k8s.io\"}},\"addressType\":\"IPv4\",\"endpoints\":[$eps],\"ports\":$ports}"
}
