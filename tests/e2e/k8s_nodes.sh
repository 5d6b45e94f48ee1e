#!/usr/bin/env bash
# End to end (DESIGN.md 6.3) with peers from the Kubernetes API server
# instead of static ones: two vxrouted nodes with a "kubernetes" config
# section and no "peers", talking to the fake API server of the k8s tests
# (tests/k8s/fixture/apiserver.py). Node objects appear -> pods reach each
# other; node-b's Node is deleted -> node-a withdraws the route; each node
# PATCHes its own Node with flannel's annotations. The watch cache: every
# resource in kubernetes.watch created, updated and deleted in the fixture
# shows up in `vxroutectl show services|endpoints|cluster-pods|namespaces|
# policies` as it changes.
# usage: tests/e2e/k8s_nodes.sh     (root; prints "ok - NAME" / "not ok - NAME")
set -euo pipefail
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { echo "usage: $0"; exit 0; }

# shellcheck source-path=SCRIPTDIR source=../../scripts/lib/testbed.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/testbed.sh"

# shellcheck source-path=SCRIPTDIR source=lib/k8s.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/k8s.sh"

WATCH='["services", "endpointslices", "pods", "namespaces", "networkpolicies"]'

ping_fails() { ! tb_ping "$1" "$2" 2 >/dev/null 2>&1; }

# cache_check VIEW PYTHON_EXPR: the expression holds on node-a's
# `vxroutectl --json show VIEW` (v: the list of cached objects).
cache_check() {
  local out
  out=$(tb_ctl a --json show "$1") || return 1
  python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; sys.exit(0 if eval(sys.argv[3]) else "show " + sys.argv[2] + ": " + sys.argv[1][:800])' \
    "$out" "$1" "$2"
}

# The watch cache follows create, update and delete of each resource.
cache_checks() {
  local n
  for n in services endpointslices pods namespaces networkpolicies; do
    tb_check "watch cache: $n listed and watched" \
      eventually 15 k8s_check a 'any(c["resource"] == "'"$n"'" and c["synced"] and c["watch_connected"] for c in v["caches"])' || true
  done
  tb_check "show services: empty before any Service" cache_check services 'v == []' || true

  fx_object namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop","labels":{"team":"a","kubernetes.io/metadata.name":"shop"}}}'
  fx_object services '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"shop","labels":{"app":"web"}},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ipFamilies":["IPv4"],"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":"http"}],"sessionAffinity":"None","internalTrafficPolicy":"Cluster"}}'
  fx_object endpointslices '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-abc12","namespace":"shop","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","ports":[{"name":"http","protocol":"TCP","port":8080}],"endpoints":[{"addresses":["10.244.1.5"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"node-a"}]}'
  fx_object pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-0","namespace":"shop","uid":"0b7c5f0e-1111-4c1e-9c55-000000000001","labels":{"app":"web"}},"spec":{"nodeName":"node-a","containers":[{"name":"web","image":"nginx","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}]}]},"status":{"phase":"Running","podIP":"10.244.1.5","podIPs":[{"ip":"10.244.1.5"}]}}'
  fx_object networkpolicies '{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"payment-isolation","namespace":"shop"},"spec":{"podSelector":{"matchLabels":{"app":"payment-service"}},"policyTypes":["Ingress","Egress"],"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"order-service"}}}],"ports":[{"protocol":"TCP","port":8080}]}],"egress":[{"to":[{"podSelector":{"matchLabels":{"app":"db-service"}}}],"ports":[{"protocol":"TCP","port":5432}]}]}}'
  tb_check "created: show namespaces has shop with its labels" \
    eventually 10 cache_check namespaces 'any(o["name"] == "shop" and o["labels"].get("team") == "a" for o in v)' || true
  tb_check "created: show services has shop/web, ClusterIP 10.96.0.10, port 80 -> http" \
    eventually 10 cache_check services 'any(o["namespace"] == "shop" and o["name"] == "web" and "10.96.0.10" in o["cluster_ips"] and o["ports"][0]["port"] == 80 for o in v)' || true
  tb_check "created: show endpoints has web-abc12 for Service web, 10.244.1.5 ready" \
    eventually 10 cache_check endpoints 'any(o["service_name"] == "web" and o["endpoints"][0]["addresses"] == ["10.244.1.5"] for o in v)' || true
  tb_check "created: show cluster-pods has shop/web-0 on node-a with IP 10.244.1.5" \
    eventually 10 cache_check cluster-pods 'any(o["name"] == "web-0" and o["node_name"] == "node-a" and "10.244.1.5" in o["pod_ips"] for o in v)' || true
  tb_check "created: show policies has payment-isolation with both policy types" \
    eventually 10 cache_check policies 'any(o["name"] == "payment-isolation" and len(o["policy_types"]) == 2 for o in v)' || true

  fx_object services '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"shop","labels":{"app":"web"}},"spec":{"type":"NodePort","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ipFamilies":["IPv4"],"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":"http","nodePort":30080}],"sessionAffinity":"None","externalTrafficPolicy":"Cluster"}}'
  fx_object pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-0","namespace":"shop","uid":"0b7c5f0e-1111-4c1e-9c55-000000000001","labels":{"app":"web","tier":"front"}},"spec":{"nodeName":"node-a","containers":[{"name":"web","image":"nginx","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}]}]},"status":{"phase":"Running","podIP":"10.244.1.5","podIPs":[{"ip":"10.244.1.5"}]}}'
  tb_check "updated: show services has web as NodePort 30080" \
    eventually 10 cache_check services 'any(o["name"] == "web" and o["ports"][0]["node_port"] == 30080 for o in v)' || true
  tb_check "updated: show cluster-pods has web-0 with its new label" \
    eventually 10 cache_check cluster-pods 'any(o["name"] == "web-0" and o["labels"].get("tier") == "front" for o in v)' || true

  fx upsert '{"resource":"services","object":{"apiVersion":"v1","kind":"Service","metadata":{"name":"broken","namespace":"shop"},"spec":{"type":"Teleport","ports":[{"port":99999}]}}}' >/dev/null
  tb_check "a Service that does not decode is counted, skipped and named in the log" \
    eventually 10 k8s_check a 'any(c["resource"] == "services" and c["decode_errors"] >= 1 for c in v["caches"])' || true
  tb_check "the log names the undecodable Service shop/broken" grep -q "shop/broken" "$TB_TMP/node-a.log" || true

  fx delete '{"resource":"services","namespace":"shop","name":"web"}' >/dev/null
  fx delete '{"resource":"endpointslices","namespace":"shop","name":"web-abc12"}' >/dev/null
  fx delete '{"resource":"pods","namespace":"shop","name":"web-0"}' >/dev/null
  fx delete '{"resource":"networkpolicies","namespace":"shop","name":"payment-isolation"}' >/dev/null
  fx delete '{"resource":"namespaces","name":"shop"}' >/dev/null
  tb_check "deleted: show services has no web" eventually 10 cache_check services 'not any(o["name"] == "web" for o in v)' || true
  tb_check "deleted: show endpoints, cluster-pods, policies, namespaces are empty" eventually 10 caches_empty || true
}

caches_empty() {
  local w
  for w in endpoints cluster-pods policies namespaces; do cache_check "$w" 'v == []' || return 1; done
}

# patched NAME VTEP IP: the fixture received a PATCH of NAME's status whose
# annotations carry our backend-data (VNI 1, VtepMAC), public-ip, backend-type.
patched() {
  fx patches | python3 -c '
import json, sys
name, mac, ip = sys.argv[1:4]
p = "flannel.alpha.coreos.com/"
for x in json.load(sys.stdin):
    if x["name"] != name:
        continue
    ann = json.loads(x["body"]).get("metadata", {}).get("annotations", {})
    bd = json.loads(ann.get(p + "backend-data", "{}"))
    if bd.get("VNI") == 1 and bd.get("VtepMAC", "").lower() == mac and ann.get(p + "public-ip") == ip \
       and ann.get(p + "backend-type") == "vxlan":
        sys.exit(0)
sys.exit("no matching PATCH for " + name)' "$1" "$2" "$3"
}

setup() {
  tb_require_root && tb_require_tools ip ethtool python3 ping curl openssl &&
    tb_require_binaries && tb_require_hugepages 128 &&
    tb_up k8sn && start_fixture && k8s_write_configs "$TB_TMP" "$WATCH" && tb_start_routers "$TB_TMP"
}

main() {
  tb_trap
  if ! setup; then
    tb_not_ok "testbed, fixture API server and routers up" "see errors above"
    exit 1
  fi
  tb_ok "testbed, fixture API server and routers up"

  local n
  for n in a b; do
    tb_check "node-$n: synced with the API server, watch connected, no peers" \
      eventually 15 k8s_check "$n" 'v["synced"] and v["watch_connected"] and v["peers"] == []' || true
  done
  tb_check "no Node objects: pod-a cannot reach pod-b" ping_fails "$TB_NS_POD_A" "$TB_POD_B_IP" || true

  k8s_add_nodes
  # A node the router must skip (another backend), reported with its reason.
  fx upsert '{"name":"node-hostgw","idx":3,"backend_type":"host-gw"}' >/dev/null

  tb_check "Nodes added: ping pod-a -> pod-b within 10 s" eventually 10 tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 1 || true
  tb_check "Nodes added: ping pod-b -> pod-a" tb_ping "$TB_NS_POD_B" "$TB_POD_A_IP" 3 || true
  tb_check "node-a: show k8s lists peer node-b, skips node-hostgw with a reason" \
    k8s_check a 'any(p["name"] == "node-b" and p["node_ip"] == "'"$TB_NODE_IP_B"'" and p["state"] == "installed" for p in v["peers"]) and any(s["name"] == "node-hostgw" and s["reason"] for s in v["skipped"]) and v["last_sync_s_ago"] is not None and v["resource_version"]' || true
  tb_check "node-b: show k8s lists peer node-a" \
    k8s_check b 'any(p["name"] == "node-a" and p["state"] == "installed" for p in v["peers"])' || true

  tb_check "node-a PATCHed its Node with its flannel annotations" \
    eventually 30 patched node-a "$TB_VTEP_A" "$TB_NODE_IP_A" || true
  tb_check "node-b PATCHed its Node with its flannel annotations" \
    eventually 30 patched node-b "$TB_VTEP_B" "$TB_NODE_IP_B" || true
  for n in a b; do
    tb_check "node-$n: show k8s says self_published" eventually 30 k8s_check "$n" 'v["self_published"]' || true
  done

  cache_checks

  # API server unreachable: forwarding continues with the last known peers,
  # and show k8s reports the errors; once it is back the watch resumes.
  stop_forwarder
  tb_check "API server unreachable: node-a reports errors, watch disconnected" \
    eventually 15 k8s_check a 'not v["watch_connected"] and v["consecutive_errors"] >= 1 and v["last_error"]' || true
  tb_check "API server unreachable: ping pod-a -> pod-b still works" tb_ping "$TB_NS_POD_A" "$TB_POD_B_IP" 3 || true
  tb_check "API server unreachable: node-a keeps peer node-b" \
    k8s_check a 'any(p["name"] == "node-b" for p in v["peers"])' || true
  if start_forwarder; then
    tb_check "API server back: node-a's watch reconnects, errors cleared" \
      eventually 40 k8s_check a 'v["watch_connected"] and v["consecutive_errors"] == 0' || true
  else
    tb_not_ok "API server back: forwarder restarted"
  fi

  fx delete '{"name":"node-b"}' >/dev/null
  tb_check "node-b's Node deleted: node-a withdraws the peer" \
    eventually 10 k8s_check a 'not any(p["name"] == "node-b" for p in v["peers"]) and v["applied"]["removed"] >= 1' || true
  tb_check "node-b's Node deleted: pod-a cannot reach pod-b" ping_fails "$TB_NS_POD_A" "$TB_POD_B_IP" || true

  if tb_stop_routers; then
    tb_ok "routers exit 0 on SIGTERM (sync thread stopped)"
  else
    tb_not_ok "routers exit 0 on SIGTERM (sync thread stopped)" "see errors above; logs in $TB_TMP"
  fi

  if ((TB_FAILED)); then
    echo "# router logs:"
    for n in a b; do [[ -f "$TB_TMP/node-$n.log" ]] && tail -n 25 "$TB_TMP/node-$n.log" | sed "s/^/# node-$n: /"; done
  fi
  tb_summary
}

main "$@"
