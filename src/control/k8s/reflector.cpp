#include "control/k8s/reflector.hpp"

#include "common/log.hpp"

namespace vxr::control::k8s {

namespace {

using rapidjson::Value;

const Value* member(const Value& v, const char* name) {
    if (!v.IsObject()) return nullptr;
    auto it = v.FindMember(name);
    return it == v.MemberEnd() ? nullptr : &it->value;
}

std::string str_of(const Value* v) {
    return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string{};
}

// "HTTP 500: <Status.message>" so the operator sees the API server's words.
std::string describe(const http_response& r) {
    if (!r.transport_error.empty()) return r.transport_error;
    std::string s = "HTTP " + std::to_string(r.status);
    rapidjson::Document d;
    d.Parse(r.body.data(), r.body.size());
    if (!d.HasParseError()) {
        std::string msg = str_of(member(d, "message"));
        if (!msg.empty()) s += ": " + msg;
    }
    return s;
}

}  // namespace

reflector::reflector(http_engine& http, peer_table& table, reflector_options opt, diff_fn on_diff, self_fn on_self)
    : http_(http),
      table_(table),
      opt_(std::move(opt)),
      on_diff_(std::move(on_diff)),
      on_self_(std::move(on_self)),
      backoff_(opt_.backoff, opt_.seed ? opt_.seed : std::random_device{}()),
      rng_(opt_.seed ? opt_.seed + 1 : std::random_device{}()) {
    if (opt_.watch_timeout_max_s < opt_.watch_timeout_min_s) opt_.watch_timeout_max_s = opt_.watch_timeout_min_s;
    if (opt_.page_limit == 0) opt_.page_limit = 500;
}

reflector::~reflector() {
    if (xfer_) http_.cancel(xfer_);
}

reflector::clock::time_point reflector::step(clock::time_point now) {
    if (phase_ != phase::idle) return clock::time_point::max();
    if (now < next_attempt_) return next_attempt_;
    if (need_list_) start_list();
    else start_watch();
    return clock::time_point::max();
}

void reflector::fail(const std::string& what, int retry_after_s) {
    phase_ = phase::idle;
    xfer_ = 0;
    stats_.watch_connected = false;
    ++stats_.consecutive_errors;
    stats_.last_error = what;
    stats_.last_error_time = std::chrono::system_clock::now();
    auto delay = backoff_.next();
    if (retry_after_s >= 0) {
        // The server said when; both our backoff and its hint are bounded.
        auto hint = std::min<std::chrono::milliseconds>(std::chrono::seconds(retry_after_s), opt_.max_retry_after);
        delay = std::max<std::chrono::milliseconds>(hint, std::chrono::milliseconds(1));
    }
    next_attempt_ = clock::now() + delay;
    VXR_LOG_WARN("k8s: %s (attempt %u, retrying in %lld ms)", what.c_str(), stats_.consecutive_errors,
                 static_cast<long long>(delay.count()));
}

void reflector::healthy() {
    if (stats_.consecutive_errors) VXR_LOG_INFO("k8s: API server reachable again");
    stats_.consecutive_errors = 0;
    backoff_.reset();
    stats_.last_sync = std::chrono::system_clock::now();
}

void reflector::start_list() {
    phase_ = phase::listing;
    std::string target = "/api/v1/nodes?limit=" + std::to_string(opt_.page_limit);
    if (!continue_.empty()) target += "&continue=" + url_encode(continue_);
    http_request req;
    req.target = std::move(target);
    req.timeout = opt_.list_timeout;
    xfer_ = http_.start(std::move(req), [this](http_response&& r) { on_list_done(std::move(r)); });
}

void reflector::on_list_done(http_response&& r) {
    xfer_ = 0;
    if (!r.ok()) {
        if (r.status == 401) http_.invalidate_token();
        // An expired continue token (410) cannot be resumed: start over.
        continue_.clear();
        pending_.clear();
        fail("list nodes: " + describe(r), r.status == 429 ? r.retry_after_s : -1);
        return;
    }
    rapidjson::Document d;
    d.Parse(r.body.data(), r.body.size());
    r.body = std::string{};  // the page can be MBs; free it before building the next
    const Value* items = member(d, "items");
    if (d.HasParseError() || !items || !items->IsArray()) {
        continue_.clear();
        pending_.clear();
        fail("list nodes: response is not a NodeList");
        return;
    }
    const Value* meta = member(d, "metadata");
    if (continue_.empty()) list_rv_ = str_of(meta ? member(*meta, "resourceVersion") : nullptr);
    for (const auto& item : items->GetArray()) {
        auto info = classify_node(item, opt_.node);
        if (!info) {
            ++stats_.malformed;
            VXR_LOG_WARN("k8s: list: skipping malformed Node: %s", info.err().c_str());
            continue;
        }
        if (info->kind == node_kind::self && on_self_) on_self_(item);
        pending_.push_back(std::move(*info));
    }
    continue_ = str_of(meta ? member(*meta, "continue") : nullptr);
    if (!continue_.empty()) {
        start_list();
        return;
    }
    if (list_rv_.empty()) {
        pending_.clear();
        fail("list nodes: NodeList has no resourceVersion");
        return;
    }
    peer_diff diff = table_.replace_all(std::move(pending_));
    pending_.clear();
    ++stats_.lists;
    stats_.synced = true;
    stats_.resource_version = list_rv_;
    need_list_ = false;
    healthy();
    VXR_LOG_INFO("k8s: listed nodes at resourceVersion %s: %zu peers (+%zu ~%zu -%zu), %zu skipped",
                 list_rv_.c_str(), table_.peers().size(), diff.added.size(), diff.updated.size(),
                 diff.removed.size(), table_.skipped_count());
    if (!diff.empty() && on_diff_) on_diff_(diff);
    start_watch();
}

void reflector::start_watch() {
    phase_ = phase::watching;
    std::uniform_int_distribution<uint32_t> pick(opt_.watch_timeout_min_s, opt_.watch_timeout_max_s);
    uint32_t timeout_s = pick(rng_);
    std::string target = "/api/v1/nodes?watch=true&allowWatchBookmarks=true&resourceVersion=" +
                         url_encode(stats_.resource_version) + "&timeoutSeconds=" + std::to_string(timeout_s);
    http_request req;
    req.target = std::move(target);
    // The server ends the watch at timeoutSeconds; our own limit is only a
    // backstop for a server that forgets to.
    req.timeout = std::chrono::seconds(timeout_s + 30);
    splitter_.reset();
    watch_started_ = clock::now();
    watch_events_ = 0;
    stream_gone_ = false;
    stream_error_.clear();
    ++stats_.watches;
    xfer_ = http_.start(
        std::move(req), [this](http_response&& r) { on_watch_done(std::move(r)); },
        [this](std::string_view data) {
            bool ok = splitter_.feed(data, [this](std::string_view l) {
                if (stream_gone_ || !stream_error_.empty()) return;
                on_watch_line(l);
            });
            if (!ok) stream_error_ = "watch event larger than " + std::to_string(line_splitter::k_max_line) + " bytes";
            return ok && !stream_gone_ && stream_error_.empty();
        },
        [this](long status) {
            if (status != 200) return;
            stats_.watch_connected = true;
            // The API server answers again; the backoff itself is only reset
            // once the stream delivers, so a server that accepts and then
            // drops every watch still gets exponentially slower retries.
            stats_.consecutive_errors = 0;
        });
}

void reflector::on_watch_done(http_response&& r) {
    xfer_ = 0;
    stats_.watch_connected = false;
    if (stream_gone_ || r.status == 410) {
        // Our resourceVersion was compacted away: only a fresh list can
        // tell us what we missed. No backoff: this is routine.
        ++stats_.gone;
        VXR_LOG_INFO("k8s: watch: resourceVersion %s is too old (410 Gone), relisting",
                     stats_.resource_version.c_str());
        phase_ = phase::idle;
        need_list_ = true;
        continue_.clear();
        next_attempt_ = clock::time_point{};
        return;
    }
    if (!stream_error_.empty()) {
        fail("watch nodes: " + stream_error_);
        return;
    }
    if (!r.ok()) {
        if (r.status == 401) http_.invalidate_token();
        fail("watch nodes: " + describe(r), r.status == 429 ? r.retry_after_s : -1);
        return;
    }
    if (watch_events_ == 0 && clock::now() - watch_started_ < opt_.min_watch_duration) {
        fail("watch nodes: closed after less than a second with no events");
        return;
    }
    // A clean close (timeoutSeconds reached): resume where we were.
    VXR_LOG_DEBUG("k8s: watch closed after %llu events, resuming at %s",
                  static_cast<unsigned long long>(watch_events_), stats_.resource_version.c_str());
    healthy();
    phase_ = phase::idle;
    next_attempt_ = clock::time_point{};
}

bool reflector::on_watch_line(std::string_view line) {
    rapidjson::Document d;
    d.Parse(line.data(), line.size());
    if (d.HasParseError() || !d.IsObject()) {
        ++stats_.malformed;
        VXR_LOG_WARN("k8s: watch: skipping malformed event (%zu bytes)", line.size());
        return true;
    }
    std::string type = str_of(member(d, "type"));
    const Value* obj = member(d, "object");
    if (!obj || !obj->IsObject()) {
        ++stats_.malformed;
        VXR_LOG_WARN("k8s: watch: skipping %s event without an object", type.c_str());
        return true;
    }
    if (type == "ERROR") {
        const Value* code = member(*obj, "code");
        if (code && code->IsInt() && code->GetInt() == 410) {
            stream_gone_ = true;
        } else {
            // Appended piecewise: GCC 12 at -O3 warns (-Wrestrict, a false
            // positive) on the chained operator+ this replaced.
            const std::string msg = str_of(member(*obj, "message"));
            stream_error_ = "ERROR event";
            if (code && code->IsInt()) stream_error_.append(" ").append(std::to_string(code->GetInt()));
            if (!msg.empty()) stream_error_.append(": ").append(msg);
        }
        return false;
    }
    const Value* meta = member(*obj, "metadata");
    std::string rv = str_of(meta ? member(*meta, "resourceVersion") : nullptr);
    if (type == "BOOKMARK") {
        if (!rv.empty()) stats_.resource_version = rv;
    } else if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
        if (!str_of(meta ? member(*meta, "name") : nullptr).size()) {
            ++stats_.malformed;
            VXR_LOG_WARN("k8s: watch: skipping %s event for a Node without a name", type.c_str());
            return true;
        }
        apply(*obj, type == "DELETED");
        if (!rv.empty()) stats_.resource_version = rv;
    } else {
        ++stats_.malformed;
        VXR_LOG_WARN("k8s: watch: skipping event of unknown type '%s'", type.c_str());
        return true;
    }
    ++stats_.events;
    if (watch_events_++ == 0) healthy();
    else stats_.last_sync = std::chrono::system_clock::now();
    return true;
}

void reflector::apply(const Value& obj, bool deleted) {
    peer_diff diff;
    if (deleted) {
        const Value* meta = member(obj, "metadata");
        std::string name = str_of(meta ? member(*meta, "name") : nullptr);
        if (name == opt_.node.self_name) return;
        table_.remove(name, diff);
    } else {
        auto info = classify_node(obj, opt_.node);
        if (!info) {
            ++stats_.malformed;
            VXR_LOG_WARN("k8s: watch: skipping malformed Node: %s", info.err().c_str());
            return;
        }
        if (info->kind == node_kind::self) {
            if (on_self_) on_self_(obj);
            return;
        }
        table_.upsert(*info, diff);
    }
    if (!diff.empty() && on_diff_) on_diff_(diff);
}

}  // namespace vxr::control::k8s
