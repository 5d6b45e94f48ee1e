// One list+watch loop for any resource, shaped like client-go's reflector: a
// paginated list (a fresh list when a continue token expires), then a watch
// from the list's resourceVersion with bookmarks and a randomised timeout;
// resume from the last seen resourceVersion after a clean close; relist on
// 410 Gone (HTTP or in-stream); exponential backoff with jitter on errors;
// honour 429 Retry-After; a watch that delivers no bytes for watch_stall is
// restarted. resourceVersion stays an opaque string. What it reads goes to a
// reflector_sink, which decodes. Driven by step() on the thread that owns
// the http_engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include <rapidjson/document.h>

#include "control/k8s/backoff.hpp"
#include "control/k8s/http.hpp"
#include "control/k8s/line_splitter.hpp"
#include "control/k8s/resource.hpp"

namespace vxr::control::k8s {

struct reflector_options {
    uint32_t page_limit = 500;           // client-go's default page size
    uint32_t watch_timeout_min_s = 300;  // client-go picks [5, 10) min so all
    uint32_t watch_timeout_max_s = 600;  // clients do not reconnect together
    std::chrono::milliseconds list_timeout{60000};
    // A watch that ends sooner than this with nothing in it is treated as an
    // error (backoff), so a server that closes at once cannot make us spin.
    std::chrono::milliseconds min_watch_duration{1000};
    std::chrono::seconds max_retry_after{300};
    // The API server sends a bookmark about once a minute on a watch that
    // asked for them, so three minutes without a byte means a dead stream
    // (a half-open TCP connection, a stuck proxy).
    std::chrono::seconds watch_stall{180};
    backoff_params backoff;
    uint64_t seed = 0;  // 0 = random
};

struct reflector_stats {
    bool synced = false;  // the first full list has been applied
    bool watch_connected = false;
    std::chrono::system_clock::time_point last_sync{};
    std::chrono::system_clock::time_point last_error_time{};
    uint32_t consecutive_errors = 0;
    std::string last_error;
    std::string resource_version;
    uint64_t lists = 0;           // completed full lists
    uint64_t watches = 0;         // watch requests started
    uint64_t events = 0;          // valid watch events applied (bookmarks included)
    uint64_t malformed = 0;       // events / objects logged and skipped
    uint64_t gone = 0;            // 410s (HTTP or in-stream, list continue included)
    uint64_t stalls = 0;          // watches restarted for want of bytes
};

class reflector {
public:
    using clock = std::chrono::steady_clock;

    reflector(http_engine& http, resource_spec spec, reflector_sink& sink, reflector_options opt);
    ~reflector();
    reflector(const reflector&) = delete;
    reflector& operator=(const reflector&) = delete;

    // Starts whatever is due (a list, a watch) and returns when it next
    // needs to be called even without network activity.
    clock::time_point step(clock::time_point now);
    const reflector_stats& stats() const { return stats_; }
    const resource_spec& spec() const { return spec_; }

private:
    enum class phase { idle, listing, watching };

    void start_list();
    void start_watch();
    void on_list_done(http_response&& r);
    void on_watch_done(http_response&& r);
    bool on_watch_line(std::string_view line);
    void restart_stalled_watch();
    void fail(const std::string& what, int retry_after_s = -1);
    void healthy();
    std::string query_prefix() const;

    http_engine& http_;
    resource_spec spec_;
    reflector_sink& sink_;
    reflector_options opt_;
    backoff backoff_;
    std::mt19937_64 rng_;
    line_splitter splitter_;
    reflector_stats stats_;

    phase phase_ = phase::idle;
    uint64_t xfer_ = 0;
    clock::time_point next_attempt_{};
    bool need_list_ = true;
    std::string continue_;
    std::string list_rv_;
    clock::time_point watch_started_{};
    // Our own clock, not libcurl's low-speed limit: that one re-measures the
    // speed once a second over a window of up to five, so it notices a stall
    // seconds late and, with a short limit, kills a stream that is alive.
    clock::time_point last_byte_{};
    uint64_t watch_events_ = 0;
    bool stream_gone_ = false;          // in-stream 410 seen
    std::string stream_error_;          // in-stream non-410 ERROR / broken stream
};

}  // namespace vxr::control::k8s
