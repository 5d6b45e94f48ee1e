#include "control/ops/http_server.hpp"

#include <microhttpd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "common/log.hpp"

namespace vxr::control {

namespace {
// Scrapers and probes hold few connections; beyond this MHD refuses more
// rather than let a misbehaving client use up the control thread's fds.
constexpr unsigned k_max_connections = 32;
constexpr unsigned k_connection_timeout_s = 10;  // an idle or stalled client is dropped
constexpr int k_backlog = 16;


MHD_Result queue(MHD_Connection* c, const http_reply& r) {
    MHD_Response* resp =
        MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r.status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    MHD_Result ok = MHD_queue_response(c, r.status, resp);
    MHD_destroy_response(resp);
    return ok;
}
}  // namespace

struct http_access {
    static MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                                 const char*, size_t* upload_size, void** state) {
        static int k_started;
        const std::string_view m = method ? method : "";
        const bool read_only = m == MHD_HTTP_METHOD_GET || m == MHD_HTTP_METHOD_HEAD;
        // The first call comes once the headers are in. A response queued
        // then makes MHD close the connection afterwards (it will not read
        // past an unread body), so GET and HEAD answer on the next call, with
        // the request complete, and scrapers keep their connection. Other
        // methods get their 405 at once and a closed connection: their
        // bodies are never read.
        if (read_only && *state == nullptr) {
            *state = &k_started;
            return MHD_YES;
        }
        if (read_only && *upload_size != 0) {
            *upload_size = 0;  // a GET with a body: ignore it
            return MHD_YES;
        }
        auto* self = static_cast<http_server*>(cls);
        http_reply r;
        try {
            r = self->handler_(m, url ? url : "");
        } catch (const std::exception& e) {
            r = {MHD_HTTP_INTERNAL_SERVER_ERROR, std::string("internal error: ") + e.what() + "\n"};
        }
        return queue(c, r);
    }
};

http_server::~http_server() { close(); }

result<void> http_server::open(const listen_address& addr, handler h) {
    if (daemon_) return make_error("HTTP server already listening on " + address_);
    auto sock = open_listen_socket(addr, k_backlog);
    if (!sock) return make_error(sock.err());
    const int fd = sock->fd;

    handler_ = std::move(h);
    // No MHD thread: MHD_USE_EPOLL without MHD_USE_INTERNAL_POLLING_THREAD is
    // "external polling" through one epoll fd that the control loop waits on.
    daemon_ = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &http_access::on_request,
                               this, MHD_OPTION_EXTERNAL_LOGGER, &log_mhd,
                               const_cast<char*>("metrics endpoint"), MHD_OPTION_LISTEN_SOCKET, fd,
                               MHD_OPTION_CONNECTION_LIMIT, k_max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                               k_connection_timeout_s, MHD_OPTION_END);
    if (!daemon_) {
        ::close(fd);
        return make_error("cannot listen on " + addr.str() + ": libmicrohttpd did not start (epoll mode unavailable?)");
    }
    port_ = sock->port;
    address_ = listen_address{addr.ip, port_}.str();
    return {};
}

void http_server::close() {
    if (!daemon_) return;
    MHD_stop_daemon(daemon_);  // closes the listen socket and every connection
    daemon_ = nullptr;
}

int http_server::poll_fd() const {
    if (!daemon_) return -1;
    const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

int http_server::timeout_ms(int max_ms) const {
    if (!daemon_) return max_ms;
    MHD_UNSIGNED_LONG_LONG t = 0;
    if (MHD_get_timeout(daemon_, &t) != MHD_YES) return max_ms;
    return static_cast<int>(std::min<MHD_UNSIGNED_LONG_LONG>(t, static_cast<MHD_UNSIGNED_LONG_LONG>(max_ms)));
}

void http_server::run() {
    if (daemon_) MHD_run(daemon_);
}

}  // namespace vxr::control
