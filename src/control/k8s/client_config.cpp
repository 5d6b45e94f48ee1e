#include "control/k8s/client_config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log.hpp"
#include "control/k8s/yaml_lite.hpp"

namespace vxr::control::k8s {

result<std::string> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return make_error("cannot open " + path + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) return make_error("cannot read " + path);
    return ss.str();
}

result<std::string> base64_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size() * 3 / 4);
    uint32_t acc = 0;
    int bits = 0;
    bool padding = false;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '+') v = 62;
        else if (c == '/') v = 63;
        else if (c == '=') { padding = true; continue; }
        else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        else return make_error("invalid base64 character");
        if (padding) return make_error("invalid base64: data after padding");
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    if (bits >= 6) return make_error("invalid base64 length");
    return out;
}

namespace {

std::string trim_ws(std::string s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    size_t e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}

std::string resolve(const std::string& path, const std::string& base_dir) {
    if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
    return base_dir + "/" + path;
}

const yaml_node* find_named(const yaml_node& root, std::string_view list, const std::string& name,
                            std::string_view inner) {
    const yaml_node* seq = root.get(list);
    if (!seq || !seq->is_seq()) return nullptr;
    for (const auto& item : seq->seq)
        if (item.str("name") == name) return item.get(inner);
    return nullptr;
}

// A "-data" field is base64 in the kubeconfig; we keep the decoded PEM.
result<std::string> data_field(const yaml_node& n, std::string_view key, const std::string& what) {
    std::string raw = n.str(key);
    if (raw.empty()) return std::string{};
    auto d = base64_decode(raw);
    if (!d) return make_error(what + ": " + std::string(key) + ": " + d.err());
    return *d;
}

}  // namespace

result<client_config> in_cluster_config(const in_cluster_paths& paths) {
    std::string host = paths.host;
    std::string port = paths.port;
    if (host.empty()) if (const char* h = std::getenv("KUBERNETES_SERVICE_HOST")) host = h;
    if (port.empty()) if (const char* p = std::getenv("KUBERNETES_SERVICE_PORT")) port = p;
    if (host.empty() || port.empty())
        return make_error("in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
                          "(not running in a pod? use a kubeconfig)");
    client_config c;
    c.source = "in-cluster";
    // An IPv6 service host needs brackets in a URL.
    c.server = "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
    auto tok = read_file(paths.token_file);
    if (!tok) return make_error("in-cluster config: service account token: " + tok.err());
    auto ca = read_file(paths.ca_file);
    if (!ca) return make_error("in-cluster config: service account CA: " + ca.err());
    c.token_file = paths.token_file;
    c.ca_file = paths.ca_file;
    return c;
}

result<client_config> parse_kubeconfig(std::string_view text, const std::string& base_dir,
                                       const std::string& context) {
    auto doc = parse_yaml(text);
    if (!doc) return make_error("kubeconfig: " + doc.err());
    const yaml_node& root = *doc;
    if (!root.is_map()) return make_error("kubeconfig: not a mapping");
    std::string ctx_name = context.empty() ? root.str("current-context") : context;
    if (ctx_name.empty()) return make_error("kubeconfig: no current-context set");
    const yaml_node* ctx = find_named(root, "contexts", ctx_name, "context");
    if (!ctx || !ctx->is_map()) return make_error("kubeconfig: context '" + ctx_name + "' not found");
    std::string cluster_name = ctx->str("cluster");
    std::string user_name = ctx->str("user");
    const yaml_node* cluster = find_named(root, "clusters", cluster_name, "cluster");
    if (!cluster || !cluster->is_map())
        return make_error("kubeconfig: cluster '" + cluster_name + "' (context '" + ctx_name + "') not found");

    client_config c;
    c.source = base_dir.empty() ? "kubeconfig" : base_dir;
    std::string what = "kubeconfig cluster '" + cluster_name + "'";
    c.server = cluster->str("server");
    while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
    if (!c.server.starts_with("https://"))
        return make_error(what + ": server must be an https:// URL, got '" + c.server + "'");
    if (cluster->str("insecure-skip-tls-verify") == "true")
        return make_error(what + ": insecure-skip-tls-verify is not supported (TLS verification is always on)");
    c.ca_file = resolve(cluster->str("certificate-authority"), base_dir);
    auto ca = data_field(*cluster, "certificate-authority-data", what);
    if (!ca) return make_error(ca.err());
    c.ca_data = *ca;

    const yaml_node* user = user_name.empty() ? nullptr : find_named(root, "users", user_name, "user");
    if (!user_name.empty() && !user) return make_error("kubeconfig: user '" + user_name + "' not found");
    if (user && user->is_map()) {
        std::string uwhat = "kubeconfig user '" + user_name + "'";
        if (user->get("exec"))
            return make_error(uwhat + ": exec credential plugins are not supported; "
                              "use a token, tokenFile or client certificate");
        if (user->get("auth-provider"))
            return make_error(uwhat + ": auth-provider is not supported; "
                              "use a token, tokenFile or client certificate");
        if (!user->str("username").empty() || !user->str("password").empty())
            return make_error(uwhat + ": basic auth is not supported");
        c.token = user->str("token");
        c.token_file = resolve(user->str("tokenFile"), base_dir);
        c.client_cert_file = resolve(user->str("client-certificate"), base_dir);
        c.client_key_file = resolve(user->str("client-key"), base_dir);
        auto cert = data_field(*user, "client-certificate-data", uwhat);
        if (!cert) return make_error(cert.err());
        auto key = data_field(*user, "client-key-data", uwhat);
        if (!key) return make_error(key.err());
        c.client_cert_data = *cert;
        c.client_key_data = *key;
        bool has_cert = !c.client_cert_file.empty() || !c.client_cert_data.empty();
        bool has_key = !c.client_key_file.empty() || !c.client_key_data.empty();
        if (has_cert != has_key)
            return make_error(uwhat + ": client certificate and client key must be given together");
    }
    return c;
}

result<client_config> load_kubeconfig(const std::string& path, const std::string& context) {
    auto text = read_file(path);
    if (!text) return make_error("kubeconfig: " + text.err());
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
    auto c = parse_kubeconfig(*text, dir, context);
    if (c) c->source = path;
    return c;
}

token_source::token_source(std::string token, std::string file, clock::duration reload)
    : token_(std::move(token)), file_(std::move(file)), reload_(reload) {}

const std::string& token_source::get() {
    if (file_.empty()) return token_;
    auto now = clock::now();
    if (now < next_read_) return token_;
    next_read_ = now + reload_;
    auto t = read_file(file_);
    if (!t) {
        // Keep the last good token: the file is swapped by the kubelet and a
        // transient read failure should not log us out.
        if (error_ != t.err()) VXR_LOG_WARN("k8s: token file: %s", t.err().c_str());
        error_ = t.err();
        return token_;
    }
    error_.clear();
    std::string fresh = trim_ws(*t);
    if (!fresh.empty() && fresh != token_) {
        if (!token_.empty()) VXR_LOG_INFO("k8s: bearer token in %s changed, using the new one", file_.c_str());
        token_ = std::move(fresh);
    }
    return token_;
}

}  // namespace vxr::control::k8s
