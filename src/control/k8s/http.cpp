#include "control/k8s/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "common/log.hpp"

namespace vxr::control::k8s {

namespace {

// Error bodies are Status objects of a few hundred bytes; anything bigger
// is not worth keeping in memory.
constexpr size_t k_max_error_body = 1u << 20;

CURLM* multi_of(void* p) { return static_cast<CURLM*>(p); }

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

struct http_engine::transfer {
    uint64_t id = 0;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string body_in;  // request body; libcurl reads it in place
    done_fn on_done;
    data_fn on_data;
    headers_fn on_headers;
    http_response resp;
    bool headers_seen = false;
    char errbuf[CURL_ERROR_SIZE] = {};

    ~transfer() {
        if (easy) curl_easy_cleanup(easy);
        if (headers) curl_slist_free_all(headers);
    }
};

std::string url_encode(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

http_engine::http_engine(client_config cfg, http_options opt)
    : cfg_(std::move(cfg)), opt_(opt), tokens_(cfg_.token, cfg_.token_file, opt.token_reload) {}

result<std::unique_ptr<http_engine>> http_engine::create(const client_config& cfg, const http_options& opt) {
    if (!cfg.server.starts_with("https://")) return make_error("k8s: server must be https://, got " + cfg.server);
    global_init();
    std::unique_ptr<http_engine> e(new http_engine(cfg, opt));
    e->multi_ = curl_multi_init();
    if (!e->multi_) return make_error("k8s: curl_multi_init failed");
    return e;
}

http_engine::~http_engine() {
    for (auto& [id, t] : transfers_) curl_multi_remove_handle(multi_of(multi_), t->easy);
    transfers_.clear();
    if (multi_) curl_multi_cleanup(multi_of(multi_));
}

size_t http_engine::on_header(char* p, size_t size, size_t n, void* user) {
    auto* t = static_cast<transfer*>(user);
    size_t len = size * n;
    std::string_view h(p, len);
    if (h.starts_with("HTTP/")) {
        // A new header block (after a 100 Continue or a redirect): start over.
        t->resp.retry_after_s = -1;
        t->headers_seen = false;
        return len;
    }
    if (h == "\r\n" || h == "\n") {
        long code = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && !t->headers_seen) {
            t->headers_seen = true;
            t->resp.status = code;
            if (t->on_headers) t->on_headers(code);
        }
        return len;
    }
    constexpr std::string_view k_retry = "retry-after:";
    if (h.size() > k_retry.size()) {
        std::string lower(h.substr(0, k_retry.size()));
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (lower == k_retry) {
            // Only the delta-seconds form: the API server never sends an HTTP date.
            int v = 0;
            bool any = false;
            for (char c : h.substr(k_retry.size())) {
                if (c >= '0' && c <= '9') { v = v * 10 + (c - '0'); any = true; if (v > 86400) break; }
                else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') { any = false; break; }
            }
            if (any) t->resp.retry_after_s = v;
        }
    }
    return len;
}

size_t http_engine::on_write(char* p, size_t size, size_t n, void* user) {
    auto* t = static_cast<transfer*>(user);
    size_t len = size * n;
    long code = t->resp.status;
    if (code >= 200 && code < 300 && t->on_data) {
        if (!t->on_data(std::string_view(p, len))) {
            t->resp.aborted = true;
            return 0;  // makes libcurl fail the transfer with CURLE_WRITE_ERROR
        }
        return len;
    }
    bool is_error = code < 200 || code >= 300;
    if (!is_error || t->resp.body.size() < k_max_error_body) t->resp.body.append(p, len);
    return len;
}

uint64_t http_engine::start(http_request req, done_fn on_done, data_fn on_data, headers_fn on_headers) {
    auto t = std::make_unique<transfer>();
    t->id = next_id_++;
    t->on_done = std::move(on_done);
    t->on_data = std::move(on_data);
    t->on_headers = std::move(on_headers);
    t->body_in = std::move(req.body);
    CURL* e = curl_easy_init();
    t->easy = e;
    std::string url = cfg_.server + req.target;
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_blob blob{};
    if (!cfg_.ca_data.empty()) {
        blob = {cfg_.ca_data.data(), cfg_.ca_data.size(), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    } else if (!cfg_.ca_file.empty()) {
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg_.ca_file.c_str());
    }
    if (!cfg_.client_cert_data.empty()) {
        blob = {cfg_.client_cert_data.data(), cfg_.client_cert_data.size(), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (!cfg_.client_cert_file.empty()) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, cfg_.client_cert_file.c_str());
    }
    if (!cfg_.client_key_data.empty()) {
        blob = {cfg_.client_key_data.data(), cfg_.client_key_data.size(), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (!cfg_.client_key_file.empty()) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, cfg_.client_key_file.c_str());
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt_.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
    // A watch can be silent for minutes; keepalive notices a dead peer
    // (node reboot, NAT timeout) long before the watch timeout would.
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // 5,000-node lists compress ~10x
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vxroute/0.1");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &http_engine::on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &http_engine::on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    t->headers = curl_slist_append(t->headers, "Accept: application/json");
    const std::string& token = tokens_.get();
    if (!token.empty()) t->headers = curl_slist_append(t->headers, ("Authorization: Bearer " + token).c_str());
    if (!req.content_type.empty())
        t->headers = curl_slist_append(t->headers, ("Content-Type: " + req.content_type).c_str());
    if (req.method != "GET") {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str());
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body_in.c_str());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->body_in.size()));
        // The API server never needs "Expect: 100-continue"; it only costs a round trip.
        t->headers = curl_slist_append(t->headers, "Expect:");
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    uint64_t id = t->id;
    curl_multi_add_handle(multi_of(multi_), e);
    transfers_.emplace(id, std::move(t));
    return id;
}

void http_engine::cancel(uint64_t id) {
    if (in_poll_) {
        deferred_cancels_.push_back(id);
        return;
    }
    auto it = transfers_.find(id);
    if (it == transfers_.end()) return;
    curl_multi_remove_handle(multi_of(multi_), it->second->easy);
    transfers_.erase(it);
}

void http_engine::wakeup() { curl_multi_wakeup(multi_of(multi_)); }

void http_engine::finish(transfer* t, int code) {
    auto res = static_cast<CURLcode>(code);
    if (res != CURLE_OK && !t->resp.aborted)
        t->resp.transport_error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(res);
    if (t->resp.status == 0) {
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        t->resp.status = status;
    }
}

int http_engine::poll(int timeout_ms) {
    curl_multi_poll(multi_of(multi_), nullptr, 0, std::max(timeout_ms, 0), nullptr);
    int running = 0;
    in_poll_ = true;
    curl_multi_perform(multi_of(multi_), &running);
    in_poll_ = false;
    // Collect first, then call back: a done callback usually starts the
    // next request (list page, re-watch), which must not disturb the walk
    // over libcurl's message queue.
    std::vector<std::unique_ptr<transfer>> done;
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_of(multi_), &left)) {
        if (m->msg != CURLMSG_DONE) continue;
        void* priv = nullptr;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        auto* t = static_cast<transfer*>(priv);
        finish(t, m->data.result);
        curl_multi_remove_handle(multi_of(multi_), m->easy_handle);
        auto it = transfers_.find(t->id);
        done.push_back(std::move(it->second));
        transfers_.erase(it);
    }
    for (uint64_t id : deferred_cancels_) cancel(id);
    deferred_cancels_.clear();
    for (auto& t : done)
        if (t->on_done) t->on_done(std::move(t->resp));
    return static_cast<int>(transfers_.size());
}

result<std::string> http_get_once(const client_config& cfg, const std::string& target,
                                  std::chrono::milliseconds timeout) {
    http_options opt;
    opt.connect_timeout = std::min(opt.connect_timeout, timeout);
    auto eng = http_engine::create(cfg, opt);
    if (!eng) return make_error(eng.err());
    bool finished = false;
    http_response out;
    http_request req;
    req.target = target;
    req.timeout = timeout;
    (*eng)->start(std::move(req), [&](http_response&& r) {
        out = std::move(r);
        finished = true;
    });
    auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::milliseconds(100);
    while (!finished && std::chrono::steady_clock::now() < deadline) (*eng)->poll(50);
    if (!finished) return make_error("GET " + target + ": timed out");
    if (!out.transport_error.empty()) return make_error("GET " + target + ": " + out.transport_error);
    if (!out.ok()) return make_error("GET " + target + ": HTTP " + std::to_string(out.status));
    return std::move(out.body);
}

}  // namespace vxr::control::k8s
