// Non-blocking HTTPS to the API server: one libcurl easy handle per request
// (a watch stream is one long request), all driven by one multi handle from
// poll(). Nothing here blocks longer than the poll timeout, so the thread
// that owns it stays responsive. Single-threaded except wakeup().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "control/k8s/client_config.hpp"

namespace vxr::control::k8s {

struct http_options {
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds token_reload{60000};  // client-go re-reads projected tokens every minute
};

struct http_request {
    std::string method = "GET";
    std::string target;  // path and query, e.g. "/api/v1/nodes?limit=500"
    std::string body;
    std::string content_type;
    std::chrono::milliseconds timeout{60000};  // whole transfer, including a watch stream
};

struct http_response {
    long status = 0;            // 0 when no response arrived
    std::string transport_error;  // libcurl's message when the transfer failed
    std::string body;           // whole body, unless streamed to on_data (2xx)
    int retry_after_s = -1;     // Retry-After in seconds, -1 when absent
    bool aborted = false;       // on_data returned false
    bool ok() const { return transport_error.empty() && !aborted && status >= 200 && status < 300; }
};

class http_engine {
public:
    // Called once the response headers are in (the watch is now connected).
    using headers_fn = std::function<void(long status)>;
    // Body bytes of a 2xx response, in arbitrary pieces; false aborts.
    using data_fn = std::function<bool(std::string_view)>;
    using done_fn = std::function<void(http_response&&)>;

    static result<std::unique_ptr<http_engine>> create(const client_config& cfg, const http_options& opt);
    ~http_engine();
    http_engine(const http_engine&) = delete;
    http_engine& operator=(const http_engine&) = delete;

    // Returns a transfer id (never 0). Callbacks run inside poll().
    uint64_t start(http_request req, done_fn on_done, data_fn on_data = {}, headers_fn on_headers = {});
    // Drops a transfer without calling its done callback.
    void cancel(uint64_t id);
    // Waits up to timeout_ms for socket activity, then runs whatever is
    // ready. Returns the number of transfers still running.
    int poll(int timeout_ms);
    // Thread-safe: makes a concurrent poll() return early.
    void wakeup();
    size_t running() const { return transfers_.size(); }
    // A 401 means the token file probably rotated: re-read it before the next request.
    void invalidate_token() { tokens_.invalidate(); }

private:
    struct transfer;
    http_engine(client_config cfg, http_options opt);
    static size_t on_write(char* p, size_t size, size_t n, void* user);
    static size_t on_header(char* p, size_t size, size_t n, void* user);
    void finish(transfer* t, int code);

    client_config cfg_;
    http_options opt_;
    token_source tokens_;
    void* multi_ = nullptr;  // CURLM*, kept out of this header
    uint64_t next_id_ = 1;
    std::unordered_map<uint64_t, std::unique_ptr<transfer>> transfers_;
    bool in_poll_ = false;
    std::vector<uint64_t> deferred_cancels_;
};

// Percent-encode a query value (continue tokens are opaque base64).
std::string url_encode(std::string_view s);

// One blocking GET with a hard timeout, for start-up only (e.g. reading our
// own Node before anything else runs). Returns the body of a 2xx response.
result<std::string> http_get_once(const client_config& cfg, const std::string& target,
                                  std::chrono::milliseconds timeout);

}  // namespace vxr::control::k8s
