// kube-proxy's service health server (health_check.hpp).
#include "control/services/health_check.hpp"

#include <microhttpd.h>
#include <unistd.h>

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cstdarg>
#include <cstdio>
#include <set>

#include "common/log.hpp"
#include "control/node/listen_address.hpp"

namespace vxr::control::services {

namespace {

// Load balancers probe every few seconds from a handful of sources; beyond
// this MHD refuses more rather than let one Service's probers use up fds.
constexpr unsigned k_max_connections = 64;
constexpr unsigned k_connection_timeout_s = 10;  // an idle or stalled prober is dropped
constexpr int k_backlog = 64;

}  // namespace

struct health_check_server::listener {
    std::string ns, name;
    uint16_t port = 0;
    std::atomic<uint32_t> local_endpoints{0};
    const std::atomic<bool>* proxy_healthy = nullptr;
    std::atomic<uint64_t>* requests = nullptr;
    MHD_Daemon* daemon = nullptr;

    ~listener() {
        if (daemon) MHD_stop_daemon(daemon);  // joins its thread, closes the socket and connections
    }

    // kube-proxy's body, field for field (it indents with tabs).
    std::string body(uint32_t count, bool healthy) const {
        rapidjson::StringBuffer sb;
        rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
        w.SetIndent('\t', 1);
        w.StartObject();
        w.Key("service");
        w.StartObject();
        w.Key("namespace");
        w.String(ns.c_str());
        w.Key("name");
        w.String(name.c_str());
        w.EndObject();
        w.Key("localEndpoints");
        w.Uint(count);
        w.Key("serviceProxyHealthy");
        w.Bool(healthy);
        w.EndObject();
        return sb.GetString();
    }

    // On the daemon's thread. Every method and path gets the answer, as
    // kube-proxy's handler gives it; a request body is read and ignored,
    // and the answer comes once the request is complete, so that a prober
    // keeps its connection.
    static MHD_Result on_request(void* cls, MHD_Connection* c, const char*, const char*, const char*, const char*,
                                 size_t* upload_size, void** state) {
        static int k_headers_seen;
        if (*state == nullptr) {
            *state = &k_headers_seen;
            return MHD_YES;
        }
        if (*upload_size != 0) {
            *upload_size = 0;
            return MHD_YES;
        }
        const auto* self = static_cast<const listener*>(cls);
        self->requests->fetch_add(1, std::memory_order_relaxed);
        const uint32_t count = self->local_endpoints.load();
        const bool healthy = self->proxy_healthy->load();
        const std::string text = self->body(count, healthy);
        MHD_Response* resp =
            MHD_create_response_from_buffer(text.size(), const_cast<char*>(text.data()), MHD_RESPMEM_MUST_COPY);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        const unsigned status = count != 0 && healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
        const MHD_Result ok = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ok;
    }
};

std::vector<health_check_want> health_checks_of(const std::map<frontend_key, frontend_ptr>& frontends) {
    struct service_acc {
        uint16_t port = 0;
        std::set<ip_addr> ready;
    };
    std::map<std::string, service_acc> by_service;
    for (const auto& [key, f] : frontends) {
        if (f->health_check_node_port == 0) continue;
        auto& acc = by_service[f->service];
        acc.port = f->health_check_node_port;  // one per Service: every frontend of it carries the same
        // local_backends are the local ready endpoints when there is one
        // (else draining ones, whose ready is false): the ready ones of it
        // are exactly the local ready endpoints of this port and family.
        for (const backend& b : f->local_backends)
            if (b.ready) acc.ready.insert(b.addr);
    }
    std::vector<health_check_want> out;
    for (auto& [service, acc] : by_service)
        out.push_back({service, acc.port, static_cast<uint32_t>(acc.ready.size())});
    return out;
}

health_check_server::health_check_server(ipv4_addr bind) : bind_(bind) {}

health_check_server::~health_check_server() = default;

void health_check_server::update(std::vector<health_check_want> want) {
    want_ = std::move(want);
    apply();
}

void health_check_server::retry_failed() {
    if (failed_.empty() || std::chrono::steady_clock::now() - last_apply_ < k_retry_interval) return;
    apply();
}

void health_check_server::close_unwanted() {
    std::map<std::string, uint16_t> ports;
    for (const auto& w : want_) ports.emplace(w.service, w.port);
    for (auto it = listeners_.begin(); it != listeners_.end();) {
        auto p = ports.find(it->first);
        if (p != ports.end() && p->second == it->second->port) {
            ++it;
            continue;
        }
        VXR_LOG_INFO("services: health check of %s: closing %s:%u", it->first.c_str(), bind_.str().c_str(),
                     it->second->port);
        it = listeners_.erase(it);
    }
    for (auto it = failed_.begin(); it != failed_.end();)
        it = ports.count(it->first) ? std::next(it) : failed_.erase(it);
}

void health_check_server::apply() {
    last_apply_ = std::chrono::steady_clock::now();
    // Closing first frees the ports that move from one Service to another
    // within this update.
    close_unwanted();
    for (const auto& w : want_) {
        if (auto it = listeners_.find(w.service); it != listeners_.end()) {
            it->second->local_endpoints.store(w.local_endpoints);
            continue;
        }
        auto l = std::make_unique<listener>();
        const auto slash = w.service.find('/');
        l->ns = slash == std::string::npos ? "" : w.service.substr(0, slash);
        l->name = slash == std::string::npos ? w.service : w.service.substr(slash + 1);
        l->port = w.port;
        l->local_endpoints.store(w.local_endpoints);
        l->proxy_healthy = &proxy_healthy_;
        l->requests = &requests_;
        std::string error;
        auto sock = open_listen_socket({bind_, w.port}, k_backlog);
        if (!sock) {
            error = sock.err();
        } else {
            l->daemon = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, nullptr, nullptr,
                &listener::on_request, l.get(), MHD_OPTION_EXTERNAL_LOGGER, &log_mhd,
                const_cast<char*>("services: health check"),
                MHD_OPTION_LISTEN_SOCKET, sock->fd, MHD_OPTION_CONNECTION_LIMIT, k_max_connections,
                MHD_OPTION_CONNECTION_TIMEOUT, k_connection_timeout_s, MHD_OPTION_END);
            if (!l->daemon) {
                ::close(sock->fd);
                error = "cannot listen on " + listen_address{bind_, w.port}.str() + ": libmicrohttpd did not start";
            }
        }
        if (!error.empty()) {
            ++listen_failures_;
            // Logged once per Service and error, not at every retry.
            auto [f, fresh] = failed_.try_emplace(w.service, error);
            if (fresh || f->second != error)
                VXR_LOG_ERROR("services: health check of %s (healthCheckNodePort %u) not served: %s; retrying",
                              w.service.c_str(), w.port, error.c_str());
            f->second = error;
            continue;
        }
        if (failed_.erase(w.service))
            VXR_LOG_INFO("services: health check of %s: listening on %s:%u after all", w.service.c_str(),
                         bind_.str().c_str(), w.port);
        else
            VXR_LOG_INFO("services: health check of %s: listening on %s:%u", w.service.c_str(), bind_.str().c_str(),
                         w.port);
        listeners_.emplace(w.service, std::move(l));
    }
}

std::vector<health_check_server::status> health_check_server::statuses() const {
    std::vector<status> out;
    for (const auto& w : want_) {
        status s{w.service, w.port, w.local_endpoints, listeners_.count(w.service) != 0, {}};
        if (auto f = failed_.find(w.service); f != failed_.end() && !s.listening) s.error = f->second;
        out.push_back(std::move(s));
    }
    return out;
}

void write_json(k8s::json_writer& w, const health_check_server& s) {
    w.StartObject();
    w.Key("bind_address");
    w.String(s.bind_address().str().c_str());
    w.Key("listeners");
    w.Uint64(s.listeners());
    w.Key("listen_failures");
    w.Uint64(s.listen_failures());
    w.Key("requests");
    w.Uint64(s.requests());
    w.Key("proxy_healthy");
    w.Bool(s.proxy_healthy());
    w.Key("services");
    w.StartArray();
    for (const auto& st : s.statuses()) {
        w.StartObject();
        w.Key("service");
        w.String(st.service.c_str());
        w.Key("port");
        w.Uint(st.port);
        w.Key("local_endpoints");
        w.Uint(st.local_endpoints);
        w.Key("listening");
        w.Bool(st.listening);
        if (!st.listening) {
            w.Key("error");
            w.String(st.error.c_str());
        }
        w.EndObject();
    }
    w.EndArray();
    w.EndObject();
}

}  // namespace vxr::control::services
