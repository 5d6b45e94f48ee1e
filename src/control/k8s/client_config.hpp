// How to reach and authenticate to the API server: in-cluster (service
// account) or a kubeconfig file. TLS verification is always on; there is no
// switch to turn it off, and a kubeconfig asking for it is rejected.
// Control thread (or the k8s thread), not the fast path.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace vxr::control::k8s {

struct client_config {
    std::string server;  // "https://host:port", no trailing slash
    // Exactly how the CA / client identity were given; "_data" are PEM bytes
    // (already base64-decoded), handed to libcurl as in-memory blobs so no
    // key material is written to disk.
    std::string ca_file;
    std::string ca_data;
    std::string client_cert_file;
    std::string client_cert_data;
    std::string client_key_file;
    std::string client_key_data;
    std::string token;       // static bearer token
    std::string token_file;  // re-read periodically (service-account tokens rotate)
    std::string source;      // "in-cluster" or the kubeconfig path, for messages
};

// Paths and environment of a pod; overridable so tests can point at a fixture.
struct in_cluster_paths {
    std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
    std::string host;  // "" = $KUBERNETES_SERVICE_HOST
    std::string port;  // "" = $KUBERNETES_SERVICE_PORT
};

result<client_config> in_cluster_config(const in_cluster_paths& paths = {});

// Parse a kubeconfig: the current-context (or `context` when not empty)
// selects a cluster and a user. Relative file paths resolve against base_dir,
// as kubectl resolves them against the kubeconfig's directory.
result<client_config> parse_kubeconfig(std::string_view text, const std::string& base_dir,
                                       const std::string& context = {});
result<client_config> load_kubeconfig(const std::string& path, const std::string& context = {});

// Standard base64 (padding optional, whitespace ignored).
result<std::string> base64_decode(std::string_view in);

result<std::string> read_file(const std::string& path);

// The bearer token to send, re-reading token_file every `reload` and on demand
// (after a 401) so a rotated service-account token is picked up without a restart.
class token_source {
public:
    using clock = std::chrono::steady_clock;
    token_source(std::string token, std::string file, clock::duration reload);
    // "" when there is no token (client-certificate auth).
    const std::string& get();
    void invalidate() { next_read_ = clock::time_point{}; }
    const std::string& last_error() const { return error_; }

private:
    std::string token_;
    std::string file_;
    clock::duration reload_;
    clock::time_point next_read_{};
    std::string error_;
};

}  // namespace vxr::control::k8s
