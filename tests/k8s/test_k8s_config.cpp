// Kubeconfig / in-cluster configuration. The YAML itself is yaml-cpp's; the
// kubeconfig tests below use what generated kubeconfigs contain.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "control/k8s/client_config.hpp"

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
    EXPECT_NE(a.err().find("'oidc'"), std::string::npos) << a.err();
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

// What generated kubeconfigs (cloud CLIs, kubeadm, kind, k3s, kubectl config
// view, hand edits) contain beyond the shape kubectl itself writes.
namespace {

// The cluster/context lines every test below needs, for a user of its own.
std::string with_user(const std::string& user) {
    return "clusters:\n- name: c\n  cluster: {server: 'https://x:6443'}\n"
           "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
           "current-context: x\nusers:\n- name: u\n  user:\n" + user;
}

// What the wrapped certificate-authority-data values below decode to.
const char* k_pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUfake0123456789\n-----END CERTIFICATE-----\n";

}  // namespace

TEST(kubeconfig, flow_style_sections) {
    auto c = k8s::parse_kubeconfig(R"({apiVersion: v1, kind: Config,
clusters: [{name: c, cluster: {server: "https://x:6443", certificate-authority-data: Q0EgUEVN}}],
contexts: [{name: x, context: {cluster: c, user: u}}, {name: y, context: {cluster: c, user: v}}],
current-context: x,
users: [{name: u, user: {token: t1}}, {name: v, user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}}]}
)", "/k");
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->server, "https://x:6443");
    EXPECT_EQ(c->ca_data, "CA PEM");
    EXPECT_EQ(c->token, "t1");
    // Flow sequences inside block mappings, as some generators mix them.
    auto v = k8s::parse_kubeconfig("clusters: [{name: c, cluster: {server: https://x}}]\n"
                                   "contexts:\n- {name: y, context: {cluster: c, user: v}}\n"
                                   "users: [{name: v, user: {client-certificate-data: Q0VSVA==,\n"
                                   "                          client-key-data: S0VZ}}]\n",
                                   "/k", "y");
    ASSERT_TRUE(v.ok()) << v.err();
    EXPECT_EQ(v->client_cert_data, "CERT");
    EXPECT_EQ(v->client_key_data, "KEY");
}

TEST(kubeconfig, quoted_scalars_with_escapes) {
    auto c = k8s::parse_kubeconfig(R"(clusters:
- name: "c\x31"
  cluster:
    server: "https://h\x3a6443/"
    certificate-authority-data: "Q0Eg\tUEVN\n"
contexts:
- name: 'it''s'
  context: {cluster: "c1", user: 'u'}
current-context: "it's"
users:
- name: u
  user:
    token: "a\u002Eb\"q\"\\"
    client-certificate: "/etc/pki/\u00e9l\u00e8ve.crt"
    client-key: 'keys/it''s "here".key'
)", "/k");
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->server, "https://h:6443");
    EXPECT_EQ(c->ca_data, "CA PEM");  // the escaped tab and newline are base64 whitespace
    EXPECT_EQ(c->token, "a.b\"q\"\\");
    EXPECT_EQ(c->client_cert_file, "/etc/pki/\xc3\xa9l\xc3\xa8ve.crt");
    EXPECT_EQ(c->client_key_file, "/k/keys/it's \"here\".key");
}

TEST(kubeconfig, block_scalar_tokens) {
    for (const char* tok : {"    token: |\n      abc.def\n", "    token: >\n      abc.def\n",
                            "    token: |-\n      abc.def\n", "    token: >+\n      abc.def\n\n",
                            "    token: |2\n        abc.def\n"}) {
        auto c = k8s::parse_kubeconfig(with_user(tok), "/k");
        ASSERT_TRUE(c.ok()) << tok << c.err();
        // The line break a block scalar ends with is not part of the token.
        EXPECT_EQ(c->token, "abc.def") << tok;
    }
    // A folded scalar joins lines with a space; a literal one keeps the break,
    // which would split the Authorization header.
    auto folded = k8s::parse_kubeconfig(with_user("    token: >-\n      abc\n      def\n"), "/k");
    ASSERT_TRUE(folded.ok()) << folded.err();
    EXPECT_EQ(folded->token, "abc def");
    auto two_lines = k8s::parse_kubeconfig(with_user("    token: |\n      abc\n      def\n"), "/k");
    ASSERT_FALSE(two_lines.ok());
    EXPECT_NE(two_lines.err().find("token must be one line"), std::string::npos) << two_lines.err();
    EXPECT_NE(two_lines.err().find("user 'u'"), std::string::npos) << two_lines.err();
}

TEST(kubeconfig, anchors_and_aliases) {
    const char* text = R"(clusters:
- name: prod
  cluster: &prod
    server: &srv https://prod:6443
    certificate-authority-data: Q0EgUEVN
- name: prod-again
  cluster: *prod
- name: same-server
  cluster: {server: *srv}
contexts:
- {name: a, context: &ctx {cluster: prod, user: alice}}
- {name: b, context: {cluster: prod-again, user: bob}}
- {name: c, context: {cluster: same-server, user: bob}}
- {name: d, context: *ctx}
current-context: b
users:
- name: alice
  user: &u
    token: shared-token
- name: bob
  user: *u
)";
    for (const char* ctx : {"a", "b", "d"}) {
        auto c = k8s::parse_kubeconfig(text, "/k", ctx);
        ASSERT_TRUE(c.ok()) << ctx << ": " << c.err();
        EXPECT_EQ(c->server, "https://prod:6443") << ctx;
        EXPECT_EQ(c->ca_data, "CA PEM") << ctx;
        EXPECT_EQ(c->token, "shared-token") << ctx;
    }
    auto c = k8s::parse_kubeconfig(text, "/k", "c");
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->server, "https://prod:6443");
    EXPECT_TRUE(c->ca_data.empty());
    // An alias to an anchor that is not defined is a YAML error, not an empty value.
    auto undefined = k8s::parse_kubeconfig(with_user("    token: *nope\n"), "/k");
    ASSERT_FALSE(undefined.ok());
    EXPECT_NE(undefined.err().find("kubeconfig: YAML error at line 11, column 12"), std::string::npos)
        << undefined.err();
}

TEST(kubeconfig, comments_everywhere) {
    auto c = k8s::parse_kubeconfig(R"(# generated by a cloud CLI
# second header line
apiVersion: v1   # after a value
clusters:   # after a key that opens a list
# between a key and its list
- name: c   # after a name
  # inside an entry
  cluster:  # after a key that opens a mapping
    server: https://x:6443/api#not-a-comment   # '#' without a space before it is data
    certificate-authority-data: Q0Eg
      UEVN  # after a continued scalar

contexts: [   # inside flow collections too
  {name: x, context: {cluster: c, user: u}},  # after an entry
  # on its own line
]
current-context: x # after the current context
users:
- name: u
  user:
    token: abc#def # after a token
# trailing comment
)", "/k");
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->server, "https://x:6443/api#not-a-comment");
    EXPECT_EQ(c->ca_data, "CA PEM");
    EXPECT_EQ(c->token, "abc#def");
}

TEST(kubeconfig, multi_line_certificate_authority_data) {
    const std::string head = "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n"
                             "clusters:\n- name: c\n  cluster:\n    server: https://x\n";
    const std::string wrapped[] = {
        // Plain scalar continued over several lines (lines fold into spaces).
        "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1J\n"
        "      SUJzekNDQVZtZ0F3SUJBZ0lVZmFrZTAxMjM0NTY3\n"
        "      ODkKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\n",
        // Folded block scalar.
        "    certificate-authority-data: >\n"
        "      LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1J\n"
        "      SUJzekNDQVZtZ0F3SUJBZ0lVZmFrZTAxMjM0NTY3\n"
        "      ODkKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\n",
        // Literal block scalar: the line breaks stay, and are base64 whitespace.
        "    certificate-authority-data: |\n"
        "      LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1J\n"
        "      SUJzekNDQVZtZ0F3SUJBZ0lVZmFrZTAxMjM0NTY3\n"
        "      ODkKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\n",
        // Double-quoted over several lines, with a CR LF file's carriage returns.
        "    certificate-authority-data: \"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1J\r\n"
        "      SUJzekNDQVZtZ0F3SUJBZ0lVZmFrZTAxMjM0NTY3\\r\\n\r\n"
        "      ODkKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\"\r\n",
    };
    for (const auto& data : wrapped) {
        auto c = k8s::parse_kubeconfig(head + data, "/k");
        ASSERT_TRUE(c.ok()) << data << c.err();
        EXPECT_EQ(c->ca_data, k_pem) << data;
    }
    auto broken = k8s::parse_kubeconfig(head + "    certificate-authority-data: >\n      LS0t\n      L$0t\n", "/k");
    ASSERT_FALSE(broken.ok());
    EXPECT_NE(broken.err().find("cluster 'c': certificate-authority-data"), std::string::npos) << broken.err();
}

TEST(kubeconfig, current_context_or_the_context_argument_chooses) {
    const char* text = R"(clusters:
- {name: one, cluster: {server: https://one}}
- {name: two, cluster: {server: https://two}}
- {name: three, cluster: {server: https://three}}
contexts:
- {name: first, context: {cluster: one, user: u1}}
- {name: second, context: {cluster: two, user: u2}}
- {name: third, context: {cluster: three, user: u3}}
current-context: second
users:
- {name: u1, user: {token: t1}}
- {name: u2, user: {token: t2}}
- {name: u3, user: {token: t3}}
)";
    auto cur = k8s::parse_kubeconfig(text, "/k");
    ASSERT_TRUE(cur.ok()) << cur.err();
    EXPECT_EQ(cur->server, "https://two");
    EXPECT_EQ(cur->token, "t2");
    auto arg = k8s::parse_kubeconfig(text, "/k", "third");
    ASSERT_TRUE(arg.ok()) << arg.err();
    EXPECT_EQ(arg->server, "https://three");
    EXPECT_EQ(arg->token, "t3");
    std::string unset = text;
    unset.replace(unset.find("current-context: second"), 23, "current-context: \"\"");
    auto none = k8s::parse_kubeconfig(unset, "/k");
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.err().find("no current-context"), std::string::npos) << none.err();
}

TEST(kubeconfig, json_kubeconfig) {
    // As `kubectl config view --raw -o json` prints it.
    auto c = k8s::parse_kubeconfig(R"({
    "kind": "Config",
    "apiVersion": "v1",
    "preferences": {},
    "clusters": [
        {
            "name": "kind",
            "cluster": {
                "server": "https://127.0.0.1:38427",
                "certificate-authority-data": "Q0EgUEVN"
            }
        }
    ],
    "users": [
        {
            "name": "kind-user",
            "user": {
                "client-certificate-data": "Q0VSVA==",
                "client-key-data": "S0VZ",
                "tokenFile": "tok\/en"
            }
        }
    ],
    "contexts": [
        {
            "name": "kind-kind",
            "context": {
                "cluster": "kind",
                "user": "kind-user",
                "namespace": "default"
            }
        }
    ],
    "current-context": "kind-kind"
})", "/k");
    ASSERT_TRUE(c.ok()) << c.err();
    EXPECT_EQ(c->server, "https://127.0.0.1:38427");
    EXPECT_EQ(c->ca_data, "CA PEM");
    EXPECT_EQ(c->client_cert_data, "CERT");
    EXPECT_EQ(c->client_key_data, "KEY");
    EXPECT_EQ(c->token_file, "/k/tok/en");
}

TEST(kubeconfig, empty_non_mapping_and_syntax_errors) {
    for (const char* empty : {"", "# only a comment\n", "---\n", "~\n"}) {
        auto e = k8s::parse_kubeconfig(empty, "/k");
        ASSERT_FALSE(e.ok()) << empty;
        EXPECT_NE(e.err().find("kubeconfig: empty"), std::string::npos) << e.err();
    }
    for (const char* not_map : {"- a\n- b\n", "just a string\n", "[1, 2]\n"}) {
        auto e = k8s::parse_kubeconfig(not_map, "/k");
        ASSERT_FALSE(e.ok()) << not_map;
        EXPECT_NE(e.err().find("kubeconfig must be a mapping"), std::string::npos) << e.err();
    }
    // yaml-cpp's position of the error, counted from 1.
    auto tab = k8s::parse_kubeconfig("clusters:\n- name: c\n\tcluster: {}\n", "/k");
    ASSERT_FALSE(tab.ok());
    EXPECT_NE(tab.err().find("kubeconfig: YAML error at line 3, column"), std::string::npos) << tab.err();
    auto flow = k8s::parse_kubeconfig("current-context: x\nclusters: [{name: c,\n", "/k");
    ASSERT_FALSE(flow.ok());
    EXPECT_NE(flow.err().find("kubeconfig: YAML error at line 3, column 1: end of map flow not found"),
              std::string::npos) << flow.err();

    auto dir = std::filesystem::temp_directory_path() / ("vxr-kc-bad-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config") << "apiVersion: v1\nclusters:\n- name: c\n   cluster: {}\n";
    auto f = k8s::load_kubeconfig((dir / "config").string());
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.err().find("kubeconfig " + (dir / "config").string() + ": YAML error at line 4, column"),
              std::string::npos) << f.err();
    std::ofstream(dir / "empty");
    auto e = k8s::load_kubeconfig((dir / "empty").string());
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.err().find((dir / "empty").string() + ": empty"), std::string::npos) << e.err();
    std::filesystem::remove_all(dir);
}

TEST(kubeconfig, exec_and_auth_provider_in_any_style_are_rejected) {
    auto flow = k8s::parse_kubeconfig(
        with_user("      exec: {apiVersion: client.authentication.k8s.io/v1, command: aws, args: [eks, get-token]}\n"),
        "/k");
    ASSERT_FALSE(flow.ok());
    EXPECT_NE(flow.err().find("user 'u': exec credential plugins are not supported"), std::string::npos)
        << flow.err();
    auto aliased = k8s::parse_kubeconfig(
        "plugins: {oidc: &p {name: oidc, config: {idp-issuer-url: 'https://idp'}}}\n" +
            with_user("      auth-provider: *p\n"), "/k");
    ASSERT_FALSE(aliased.ok());
    EXPECT_NE(aliased.err().find("user 'u': auth-provider is not supported"), std::string::npos) << aliased.err();
    // A null plugin is no plugin, as kubectl reads it.
    auto null = k8s::parse_kubeconfig(with_user("      exec: null\n      token: t\n"), "/k");
    ASSERT_TRUE(null.ok()) << null.err();
    EXPECT_EQ(null->token, "t");
}

TEST(kubeconfig, ambiguities_are_errors) {
    // yaml-cpp would keep the first of two keys, kubectl keeps the last.
    auto dup_key = k8s::parse_kubeconfig(with_user("    token: a\n    token: b\n"), "/k");
    ASSERT_FALSE(dup_key.ok());
    EXPECT_NE(dup_key.err().find("user 'u': user: key 'token' appears twice"), std::string::npos) << dup_key.err();
    auto dup_name = k8s::parse_kubeconfig(with_user("    token: a\n- name: u\n  user: {token: b}\n"), "/k");
    ASSERT_FALSE(dup_name.ok());
    EXPECT_NE(dup_name.err().find("users: name 'u' appears twice"), std::string::npos) << dup_name.err();
    auto merge = k8s::parse_kubeconfig(
        "base: &b {token: t}\n" + with_user("    <<: *b\n"), "/k");
    ASSERT_FALSE(merge.ok());
    EXPECT_NE(merge.err().find("merge keys"), std::string::npos) << merge.err();
    auto two_docs = k8s::parse_kubeconfig(with_user("    token: a\n") + "---\n" + with_user("    token: b\n"), "/k");
    ASSERT_FALSE(two_docs.ok());
    EXPECT_NE(two_docs.err().find("2 YAML documents"), std::string::npos) << two_docs.err();
}

TEST(kubeconfig, wrong_types_name_the_field) {
    auto server = k8s::parse_kubeconfig(
        "clusters:\n- {name: c, cluster: {server: [https://x]}}\ncontexts:\n- {name: x, context: {cluster: c}}\n"
        "current-context: x\n", "/k");
    ASSERT_FALSE(server.ok());
    EXPECT_NE(server.err().find("cluster 'c': server must be a string"), std::string::npos) << server.err();
    auto contexts = k8s::parse_kubeconfig("contexts: {x: {cluster: c}}\ncurrent-context: x\n", "/k");
    ASSERT_FALSE(contexts.ok());
    EXPECT_NE(contexts.err().find("kubeconfig: contexts must be a list"), std::string::npos) << contexts.err();
    auto clusters = k8s::parse_kubeconfig(
        "clusters: {c: {server: https://x}}\ncontexts:\n- {name: x, context: {cluster: c}}\ncurrent-context: x\n",
        "/k");
    ASSERT_FALSE(clusters.ok());
    EXPECT_NE(clusters.err().find("kubeconfig: clusters must be a list"), std::string::npos) << clusters.err();
    auto token = k8s::parse_kubeconfig(with_user("    token: {a: b}\n"), "/k");
    ASSERT_FALSE(token.ok());
    EXPECT_NE(token.err().find("user 'u': token must be a string"), std::string::npos) << token.err();
    auto insecure = k8s::parse_kubeconfig(
        "clusters:\n- {name: c, cluster: {server: https://x, insecure-skip-tls-verify: false}}\n"
        "contexts:\n- {name: x, context: {cluster: c}}\ncurrent-context: x\n", "/k");
    ASSERT_TRUE(insecure.ok()) << insecure.err();
    auto maybe = k8s::parse_kubeconfig(
        "clusters:\n- {name: c, cluster: {server: https://x, insecure-skip-tls-verify: maybe}}\n"
        "contexts:\n- {name: x, context: {cluster: c}}\ncurrent-context: x\n", "/k");
    ASSERT_FALSE(maybe.ok());
    EXPECT_NE(maybe.err().find("insecure-skip-tls-verify must be true or false"), std::string::npos) << maybe.err();
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
