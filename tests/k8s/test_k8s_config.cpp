// Kubeconfig / in-cluster configuration and the YAML subset behind them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "control/k8s/client_config.hpp"
#include "control/k8s/yaml_lite.hpp"

namespace k8s = vxr::control::k8s;

namespace {

// As kubectl writes it (sequences at the key's column, quoted and plain scalars).
const char* k_kubeconfig = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EgUEVN   # "CA PEM"
    server: https://10.0.0.1:6443/
  name: prod
- cluster:
    certificate-authority: pki/ca.crt
    server: "https://kind-control-plane:6443"
  name: kind
contexts:
- context:
    cluster: prod
    user: admin
  name: prod-admin
- context: {cluster: kind, user: robot}
  name: kind-robot
- context:
    cluster: kind
    user: certs
  name: kind-certs
- context:
    cluster: kind
    user: certfiles
  name: kind-certfiles
- context:
    cluster: prod
    user: gke
  name: gke
- context:
    cluster: prod
    user: oidc
  name: oidc
current-context: prod-admin
kind: Config
preferences: {}
users:
- name: admin
  user:
    token: 'abc.def''g'
- name: robot
  user:
    tokenFile: tokens/robot
- name: certs
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: certfiles
  user:
    client-certificate: /etc/pki/client.crt
    client-key: client.key
- name: gke
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      args: ["--flag", 'x']
      provideClusterInfo: true
- name: oidc
  user:
    auth-provider:
      name: oidc
)";

}  // namespace

TEST(yaml_lite, block_and_flow) {
    auto r = k8s::parse_yaml(R"(# comment
---
a: 1
b:
  c: "x\ty\u00e9"
  d: 'it''s'
  e: plain text # trailing
  url: http://h:80/p#frag
seq:
- one
-   two
- k: v
  k2: v2
-
  - nested
flow: {x: [1, 2, "three"], y: {}}
empty:
nul: ~
lit: |
  line1
   line2
fold: >-
  a
  b
last: "multi
  line"
)");
    ASSERT_TRUE(r.ok()) << r.err();
    const auto& n = *r;
    EXPECT_EQ(n.str("a"), "1");
    EXPECT_EQ(n.get("b")->str("c"), "x\ty\xc3\xa9");
    EXPECT_EQ(n.get("b")->str("d"), "it's");
    EXPECT_EQ(n.get("b")->str("e"), "plain text");
    EXPECT_EQ(n.get("b")->str("url"), "http://h:80/p#frag");
    const auto* seq = n.get("seq");
    ASSERT_TRUE(seq && seq->is_seq());
    ASSERT_EQ(seq->seq.size(), 4u);
    EXPECT_EQ(seq->seq[1].scalar, "two");
    EXPECT_EQ(seq->seq[2].str("k2"), "v2");
    EXPECT_EQ(seq->seq[3].seq.at(0).scalar, "nested");
    const auto* flow = n.get("flow");
    ASSERT_TRUE(flow && flow->is_map());
    EXPECT_EQ(flow->get("x")->seq.at(2).scalar, "three");
    EXPECT_TRUE(flow->get("y")->is_map());
    EXPECT_TRUE(n.get("empty")->is_null());
    EXPECT_TRUE(n.get("nul")->is_null());
    EXPECT_EQ(n.str("lit"), "line1\n line2\n");
    EXPECT_EQ(n.str("fold"), "a b");
    EXPECT_EQ(n.str("last"), "multi line");
}

TEST(yaml_lite, json_document) {
    auto r = k8s::parse_yaml(R"({"clusters": [{"name": "a", "cluster": {"server": "https://x"}}],
                                 "current-context": "c"})");
    ASSERT_TRUE(r.ok()) << r.err();
    EXPECT_EQ(r->str("current-context"), "c");
    EXPECT_EQ(r->get("clusters")->seq.at(0).get("cluster")->str("server"), "https://x");
}

TEST(yaml_lite, rejects_what_it_does_not_understand) {
    EXPECT_FALSE(k8s::parse_yaml("a: &anchor 1\nb: *anchor\n").ok());
    EXPECT_FALSE(k8s::parse_yaml("a: 1\n---\nb: 2\n").ok());
    EXPECT_FALSE(k8s::parse_yaml("a:\n\tb: 1\n").ok());
    EXPECT_FALSE(k8s::parse_yaml("a: 1\na: 2\n").ok());
    EXPECT_FALSE(k8s::parse_yaml("a: 1\n   b: 2\n").ok());
    EXPECT_FALSE(k8s::parse_yaml("a: \"unterminated\n").ok());
    EXPECT_FALSE(k8s::parse_yaml("a: [1, 2\n").ok());
}

TEST(kubeconfig, token_and_ca_data) {
    auto c = k8s::parse_kubeconfig(k_kubeconfig, "/home/u/.kube");
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->server, "https://10.0.0.1:6443");
    EXPECT_EQ(c->ca_data, "CA PEM");
    EXPECT_TRUE(c->ca_file.empty());
    EXPECT_EQ(c->token, "abc.def'g");
}

TEST(kubeconfig, token_file_and_ca_file_resolve_relative_paths) {
    auto c = k8s::parse_kubeconfig(k_kubeconfig, "/home/u/.kube", "kind-robot");
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->server, "https://kind-control-plane:6443");
    EXPECT_EQ(c->ca_file, "/home/u/.kube/pki/ca.crt");
    EXPECT_EQ(c->token_file, "/home/u/.kube/tokens/robot");
    EXPECT_TRUE(c->token.empty());
}

TEST(kubeconfig, client_certificate) {
    auto c = k8s::parse_kubeconfig(k_kubeconfig, "/k", "kind-certs");
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->client_cert_data, "CERT");
    EXPECT_EQ(c->client_key_data, "KEY");
    auto f = k8s::parse_kubeconfig(k_kubeconfig, "/k", "kind-certfiles");
    ASSERT_TRUE(f.ok()) << f.err();
    EXPECT_EQ(f->client_cert_file, "/etc/pki/client.crt");
    EXPECT_EQ(f->client_key_file, "/k/client.key");
}

TEST(kubeconfig, exec_and_auth_provider_are_rejected) {
    auto e = k8s::parse_kubeconfig(k_kubeconfig, "/k", "gke");
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.err().find("exec credential plugins are not supported"), std::string::npos) << e.err();
    EXPECT_NE(e.err().find("'gke'"), std::string::npos) << e.err();
    auto a = k8s::parse_kubeconfig(k_kubeconfig, "/k", "oidc");
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.err().find("auth-provider is not supported"), std::string::npos) << a.err();
}

TEST(kubeconfig, errors_name_the_problem) {
    auto missing = k8s::parse_kubeconfig(k_kubeconfig, "/k", "nope");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.err().find("context 'nope' not found"), std::string::npos);
    auto insecure = k8s::parse_kubeconfig(R"(clusters:
- name: c
  cluster:
    server: https://x:6443
    insecure-skip-tls-verify: true
contexts:
- name: x
  context: {cluster: c}
current-context: x
)", "/k");
    ASSERT_FALSE(insecure.ok());
    EXPECT_NE(insecure.err().find("insecure-skip-tls-verify"), std::string::npos);
    auto http = k8s::parse_kubeconfig(
        "clusters:\n- name: c\n  cluster:\n    server: http://x:8080\ncontexts:\n- name: x\n  context:\n"
        "    cluster: c\ncurrent-context: x\n", "/k");
    ASSERT_FALSE(http.ok());
    EXPECT_NE(http.err().find("https://"), std::string::npos);
    auto bad_b64 = k8s::parse_kubeconfig(
        "clusters:\n- name: c\n  cluster:\n    server: https://x\n    certificate-authority-data: '@@'\n"
        "contexts:\n- name: x\n  context:\n    cluster: c\ncurrent-context: x\n", "/k");
    ASSERT_FALSE(bad_b64.ok());
    EXPECT_NE(bad_b64.err().find("certificate-authority-data"), std::string::npos);
}

TEST(kubeconfig, load_from_file) {
    auto dir = std::filesystem::temp_directory_path() / ("vxr-kc-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config") << k_kubeconfig;
    auto c = k8s::load_kubeconfig((dir / "config").string(), "kind-robot");
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->token_file, (dir / "tokens/robot").string());
    EXPECT_FALSE(k8s::load_kubeconfig((dir / "absent").string()).ok());
    std::filesystem::remove_all(dir);
}

TEST(in_cluster, reads_paths_and_env_overrides) {
    auto dir = std::filesystem::temp_directory_path() / ("vxr-ic-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "token") << "tok\n";
    std::ofstream(dir / "ca.crt") << "pem";
    k8s::in_cluster_paths p;
    p.token_file = (dir / "token").string();
    p.ca_file = (dir / "ca.crt").string();
    p.host = "10.96.0.1";
    p.port = "443";
    auto c = k8s::in_cluster_config(p);
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->server, "https://10.96.0.1:443");
    EXPECT_EQ(c->token_file, p.token_file);
    EXPECT_EQ(c->ca_file, p.ca_file);
    p.host = "fd00::1";
    EXPECT_EQ(k8s::in_cluster_config(p)->server, "https://[fd00::1]:443");
    p.token_file = (dir / "missing").string();
    auto bad = k8s::in_cluster_config(p);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.err().find("token"), std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST(token_source, rereads_after_interval_and_on_invalidate) {
    auto path = std::filesystem::temp_directory_path() / ("vxr-tok-" + std::to_string(getpid()));
    std::ofstream(path) << "one\n";
    k8s::token_source t("", path.string(), std::chrono::hours(1));
    EXPECT_EQ(t.get(), "one");
    std::ofstream(path) << "two";
    EXPECT_EQ(t.get(), "one");  // cached until the interval passes...
    t.invalidate();             // ...or a 401 says it is stale
    EXPECT_EQ(t.get(), "two");
    std::filesystem::remove(path);
    t.invalidate();
    EXPECT_EQ(t.get(), "two");  // a missing file keeps the last good token
    EXPECT_FALSE(t.last_error().empty());
}

TEST(base64, decode) {
    EXPECT_EQ(*k8s::base64_decode("aGVsbG8="), "hello");
    EXPECT_EQ(*k8s::base64_decode("aGVs\nbG8"), "hello");
    EXPECT_FALSE(k8s::base64_decode("a").ok());
    EXPECT_FALSE(k8s::base64_decode("ab$c").ok());
}
