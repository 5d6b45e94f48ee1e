#include "control/k8s/client_config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_set>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/log.hpp"

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

bool absent(const YAML::Node& n) { return !n.IsDefined() || n.IsNull(); }

// A mapping we read fields from. yaml-cpp keeps the first of two equal keys
// where kubectl keeps the last, and 0.7 reads a "<<" merge key as a plain key
// (the merged fields would be missing): either would quietly pick another
// server or identity than kubectl does, so both are errors.
result<void> check_map(const YAML::Node& n, const std::string& what) {
    if (!n.IsMap()) return make_error(what + " must be a mapping");
    std::unordered_set<std::string> keys;
    for (const auto& kv : n) {
        if (!kv.first.IsScalar()) continue;  // no field of ours has such a key
        const std::string& k = kv.first.Scalar();
        if (k == "<<") return make_error(what + ": YAML merge keys (<<) are not supported");
        if (!keys.insert(k).second) return make_error(what + ": key '" + k + "' appears twice");
    }
    return {};
}

// A scalar field's text, "" when absent or null.
result<std::string> str_field(const YAML::Node& map, const std::string& key, const std::string& what) {
    const YAML::Node v = map[key];
    if (absent(v)) return std::string{};
    if (!v.IsScalar()) return make_error(what + ": " + key + " must be a string");
    return v.Scalar();
}

// A "-data" field is base64 in the kubeconfig (whitespace and line breaks
// ignored, as multi-line and block scalars leave them); we keep the decoded PEM.
result<std::string> data_field(const YAML::Node& map, const std::string& key, const std::string& what) {
    auto raw = str_field(map, key, what);
    if (!raw) return make_error(raw.err());
    if (raw->empty()) return std::string{};
    auto d = base64_decode(*raw);
    if (!d) return make_error(what + ": " + key + ": " + d.err());
    return *d;
}

// The `inner` node of the entry of `list` (clusters, contexts, users) named
// `name`; nullopt when there is none. Names must be unique, as kubectl
// requires.
result<std::optional<YAML::Node>> find_named(const YAML::Node& root, const std::string& list,
                                             const std::string& name, const std::string& inner,
                                             const std::string& where) {
    const YAML::Node seq = root[list];
    if (absent(seq)) return std::optional<YAML::Node>{};
    if (!seq.IsSequence()) return make_error(where + ": " + list + " must be a list");
    std::optional<YAML::Node> found;
    std::unordered_set<std::string> names;
    for (size_t i = 0; i < seq.size(); ++i) {
        std::string item_what = where + ": " + list + "[" + std::to_string(i) + "]";
        const YAML::Node item = seq[i];
        if (auto m = check_map(item, item_what); !m) return make_error(m.err());
        auto n = str_field(item, "name", item_what);
        if (!n) return make_error(n.err());
        if (!names.insert(*n).second)
            return make_error(where + ": " + list + ": name '" + *n + "' appears twice");
        if (*n == name) found = item[inner];
    }
    return found;
}

std::string yaml_error(const YAML::Exception& e) {
    if (e.mark.is_null()) return "YAML error: " + e.msg;
    // yaml-cpp counts from 0; editors count from 1.
    return "YAML error at line " + std::to_string(e.mark.line + 1) + ", column " +
           std::to_string(e.mark.column + 1) + ": " + e.msg;
}

// `where` starts every message: "kubeconfig", or "kubeconfig PATH" when read
// from a file.
result<client_config> read_kubeconfig(const YAML::Node& root, const std::string& base_dir,
                                      const std::string& context, const std::string& where) {
    if (auto m = check_map(root, where); !m) return make_error(m.err());
    auto current = str_field(root, "current-context", where);
    if (!current) return make_error(current.err());
    std::string ctx_name = context.empty() ? *current : context;
    if (ctx_name.empty()) return make_error(where + ": no current-context set");
    auto ctx = find_named(root, "contexts", ctx_name, "context", where);
    if (!ctx) return make_error(ctx.err());
    if (!*ctx) return make_error(where + ": context '" + ctx_name + "' not found");
    std::string cwhat = where + " context '" + ctx_name + "'";
    if (auto m = check_map(**ctx, cwhat + ": context"); !m) return make_error(m.err());
    auto cluster_name = str_field(**ctx, "cluster", cwhat);
    if (!cluster_name) return make_error(cluster_name.err());
    auto user_name = str_field(**ctx, "user", cwhat);
    if (!user_name) return make_error(user_name.err());
    auto cluster = find_named(root, "clusters", *cluster_name, "cluster", where);
    if (!cluster) return make_error(cluster.err());
    if (!*cluster)
        return make_error(where + ": cluster '" + *cluster_name + "' (context '" + ctx_name + "') not found");

    client_config c;
    c.source = base_dir.empty() ? "kubeconfig" : base_dir;
    std::string what = where + " cluster '" + *cluster_name + "'";
    const YAML::Node& cl = **cluster;
    if (auto m = check_map(cl, what + ": cluster"); !m) return make_error(m.err());
    auto server = str_field(cl, "server", what);
    if (!server) return make_error(server.err());
    c.server = *server;
    while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
    if (!c.server.starts_with("https://"))
        return make_error(what + ": server must be an https:// URL, got '" + c.server + "'");
    if (const YAML::Node insecure = cl["insecure-skip-tls-verify"]; !absent(insecure)) {
        bool skip = false;
        if (!insecure.IsScalar() || !YAML::convert<bool>::decode(insecure, skip))
            return make_error(what + ": insecure-skip-tls-verify must be true or false");
        if (skip)
            return make_error(what + ": insecure-skip-tls-verify is not supported (TLS verification is always on)");
    }
    auto ca_file = str_field(cl, "certificate-authority", what);
    if (!ca_file) return make_error(ca_file.err());
    c.ca_file = resolve(*ca_file, base_dir);
    auto ca = data_field(cl, "certificate-authority-data", what);
    if (!ca) return make_error(ca.err());
    c.ca_data = *ca;

    if (user_name->empty()) return c;
    auto user = find_named(root, "users", *user_name, "user", where);
    if (!user) return make_error(user.err());
    if (!*user) return make_error(where + ": user '" + *user_name + "' not found");
    if (absent(**user)) return c;  // no credentials: the API server sees us as anonymous
    std::string uwhat = where + " user '" + *user_name + "'";
    const YAML::Node& u = **user;
    if (auto m = check_map(u, uwhat + ": user"); !m) return make_error(m.err());
    // A null value is no plugin, as kubectl reads it.
    if (!absent(u["exec"]))
        return make_error(uwhat + ": exec credential plugins are not supported; "
                          "use a token, tokenFile or client certificate");
    if (!absent(u["auth-provider"]))
        return make_error(uwhat + ": auth-provider is not supported; "
                          "use a token, tokenFile or client certificate");
    auto username = str_field(u, "username", uwhat);
    auto password = str_field(u, "password", uwhat);
    if (!username || !password || !username->empty() || !password->empty())
        return make_error(uwhat + ": basic auth is not supported");
    auto token = str_field(u, "token", uwhat);
    if (!token) return make_error(token.err());
    // A block scalar (token: |) ends in a line break; inside the token one
    // would split the Authorization header.
    c.token = trim_ws(*token);
    for (unsigned char ch : c.token)
        if (ch < 0x20 || ch == 0x7f) return make_error(uwhat + ": token must be one line of printable characters");
    for (auto [key, out] : {std::pair{"tokenFile", &c.token_file}, std::pair{"client-certificate", &c.client_cert_file},
                            std::pair{"client-key", &c.client_key_file}}) {
        auto v = str_field(u, key, uwhat);
        if (!v) return make_error(v.err());
        *out = resolve(*v, base_dir);
    }
    auto cert = data_field(u, "client-certificate-data", uwhat);
    if (!cert) return make_error(cert.err());
    auto key = data_field(u, "client-key-data", uwhat);
    if (!key) return make_error(key.err());
    c.client_cert_data = *cert;
    c.client_key_data = *key;
    bool has_cert = !c.client_cert_file.empty() || !c.client_cert_data.empty();
    bool has_key = !c.client_key_file.empty() || !c.client_key_data.empty();
    if (has_cert != has_key)
        return make_error(uwhat + ": client certificate and client key must be given together");
    return c;
}

// yaml-cpp reports errors by exception (syntax while loading, a failed
// conversion while reading); none leaves this function, callers get a result.
result<client_config> parse_kubeconfig_as(std::string_view text, const std::string& base_dir,
                                          const std::string& context, const std::string& where) {
    try {
        std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
        if (docs.empty() || docs[0].IsNull()) return make_error(where + ": empty, no YAML document");
        // kubectl reads one document; which of several we would read is a guess.
        if (docs.size() > 1)
            return make_error(where + ": " + std::to_string(docs.size()) + " YAML documents, expected one");
        return read_kubeconfig(docs[0], base_dir, context, where);
    } catch (const YAML::Exception& e) {
        return make_error(where + ": " + yaml_error(e));
    } catch (const std::exception& e) {
        return make_error(where + ": " + e.what());
    }
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
    return parse_kubeconfig_as(text, base_dir, context, "kubeconfig");
}

result<client_config> load_kubeconfig(const std::string& path, const std::string& context) {
    auto text = read_file(path);
    if (!text) return make_error("kubeconfig: " + text.err());
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash ? slash : 1);
    auto c = parse_kubeconfig_as(*text, dir, context, "kubeconfig " + path);
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
