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

std::string object_key(const Value& obj) {
    const Value* meta = member(obj, "metadata");
    std::string name = str_of(meta ? member(*meta, "name") : nullptr);
    if (name.empty()) return name;
    std::string ns = str_of(meta ? member(*meta, "namespace") : nullptr);
    return ns.empty() ? name : ns + "/" + name;
}

reflector::reflector(http_engine& http, resource_spec spec, reflector_sink& sink, reflector_options opt)
    : http_(http),
      spec_(std::move(spec)),
      sink_(sink),
      opt_(std::move(opt)),
      backoff_(opt_.backoff, opt_.seed ? opt_.seed : std::random_device{}()),
      rng_(opt_.seed ? opt_.seed + 1 : std::random_device{}()) {
    if (opt_.watch_timeout_max_s < opt_.watch_timeout_min_s) opt_.watch_timeout_max_s = opt_.watch_timeout_min_s;
    if (opt_.page_limit == 0) opt_.page_limit = 500;
}

reflector::~reflector() {
    if (xfer_) http_.cancel(xfer_);
}

reflector::clock::time_point reflector::step(clock::time_point now) {
    if (phase_ == phase::watching && opt_.watch_stall.count() > 0) {
        const auto silent_until = last_byte_ + opt_.watch_stall;
        if (now < silent_until) return silent_until;
        restart_stalled_watch();
    }
    if (phase_ != phase::idle) return clock::time_point::max();
    if (now < next_attempt_) return next_attempt_;
    if (need_list_) start_list();
    else start_watch();
    return clock::time_point::max();
}

void reflector::restart_stalled_watch() {
    // Silent for watch_stall: the connection is dead even if TCP does not
    // know it yet. Resume from where we were, at once.
    http_.cancel(xfer_);
    xfer_ = 0;
    stats_.watch_connected = false;
    ++stats_.stalls;
    VXR_LOG_WARN("k8s: watch %s: no bytes for %lld s, restarting it from resourceVersion %s", spec_.name.c_str(),
                 static_cast<long long>(opt_.watch_stall.count()), stats_.resource_version.c_str());
    phase_ = phase::idle;
    next_attempt_ = clock::time_point{};
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
    if (stats_.consecutive_errors) VXR_LOG_INFO("k8s: %s: API server reachable again", spec_.name.c_str());
    stats_.consecutive_errors = 0;
    backoff_.reset();
    stats_.last_sync = std::chrono::system_clock::now();
}

std::string reflector::query_prefix() const {
    std::string q = spec_.path + "?";
    if (!spec_.label_selector.empty()) q += "labelSelector=" + url_encode(spec_.label_selector) + "&";
    if (!spec_.field_selector.empty()) q += "fieldSelector=" + url_encode(spec_.field_selector) + "&";
    return q;
}

void reflector::start_list() {
    phase_ = phase::listing;
    if (continue_.empty()) sink_.list_begin();
    std::string target = query_prefix() + "limit=" + std::to_string(opt_.page_limit);
    if (!continue_.empty()) target += "&continue=" + url_encode(continue_);
    http_request req;
    req.target = std::move(target);
    req.timeout = opt_.list_timeout;
    xfer_ = http_.start(std::move(req), [this](http_response&& r) { on_list_done(std::move(r)); });
}

void reflector::on_list_done(http_response&& r) {
    xfer_ = 0;
    const std::string what = "list " + spec_.name + ": ";
    if (!r.ok()) {
        if (r.status == 401) http_.invalidate_token();
        if (r.status == 410 && !continue_.empty()) {
            // The continue token outlived its snapshot (etcd compaction):
            // the pages so far are from a version we can no longer finish,
            // so start a full list now, as client-go does.
            ++stats_.gone;
            VXR_LOG_INFO("k8s: %s: continue token expired (410), listing again from the start", spec_.name.c_str());
            continue_.clear();
            phase_ = phase::idle;
            next_attempt_ = clock::time_point{};
            return;
        }
        continue_.clear();
        fail(what + describe(r), r.status == 429 ? r.retry_after_s : -1);
        return;
    }
    rapidjson::Document d;
    d.Parse(r.body.data(), r.body.size());
    r.body = std::string{};  // the page can be MBs; free it before building the next
    const Value* items = member(d, "items");
    if (d.HasParseError() || !items || !items->IsArray()) {
        continue_.clear();
        fail(what + "response is not a " + spec_.kind + "List");
        return;
    }
    const Value* meta = member(d, "metadata");
    if (continue_.empty()) list_rv_ = str_of(meta ? member(*meta, "resourceVersion") : nullptr);
    for (const auto& item : items->GetArray())
        if (!sink_.list_item(item)) ++stats_.malformed;
    continue_ = str_of(meta ? member(*meta, "continue") : nullptr);
    if (!continue_.empty()) {
        start_list();
        return;
    }
    if (list_rv_.empty()) {
        fail(what + spec_.kind + "List has no resourceVersion");
        return;
    }
    sink_.list_end();
    ++stats_.lists;
    stats_.synced = true;
    stats_.resource_version = list_rv_;
    need_list_ = false;
    healthy();
    VXR_LOG_INFO("k8s: listed %s at resourceVersion %s", spec_.name.c_str(), list_rv_.c_str());
    start_watch();
}

void reflector::start_watch() {
    phase_ = phase::watching;
    std::uniform_int_distribution<uint32_t> pick(opt_.watch_timeout_min_s, opt_.watch_timeout_max_s);
    uint32_t timeout_s = pick(rng_);
    std::string target = query_prefix() + "watch=true&allowWatchBookmarks=true&resourceVersion=" +
                         url_encode(stats_.resource_version) + "&timeoutSeconds=" + std::to_string(timeout_s);
    http_request req;
    req.target = std::move(target);
    // The server ends the watch at timeoutSeconds; our own limit is only a
    // backstop for a server that forgets to.
    req.timeout = std::chrono::seconds(timeout_s + 30);
    splitter_.reset();
    watch_started_ = last_byte_ = clock::now();
    watch_events_ = 0;
    stream_gone_ = false;
    stream_error_.clear();
    ++stats_.watches;
    xfer_ = http_.start(
        std::move(req), [this](http_response&& r) { on_watch_done(std::move(r)); },
        [this](std::string_view data) {
            last_byte_ = clock::now();
            bool ok = splitter_.feed(data, [this](std::string_view l) {
                if (stream_gone_ || !stream_error_.empty()) return;
                on_watch_line(l);
            });
            if (!ok) stream_error_ = "watch event larger than " + std::to_string(line_splitter::k_max_line) + " bytes";
            return ok && !stream_gone_ && stream_error_.empty();
        },
        [this](long status) {
            last_byte_ = clock::now();
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
    const std::string what = "watch " + spec_.name + ": ";
    if (stream_gone_ || r.status == 410) {
        // Our resourceVersion was compacted away: only a fresh list can
        // tell us what we missed. No backoff: this is routine.
        ++stats_.gone;
        VXR_LOG_INFO("k8s: watch %s: resourceVersion %s is too old (410 Gone), relisting", spec_.name.c_str(),
                     stats_.resource_version.c_str());
        phase_ = phase::idle;
        need_list_ = true;
        continue_.clear();
        next_attempt_ = clock::time_point{};
        return;
    }
    if (!stream_error_.empty()) {
        fail(what + stream_error_);
        return;
    }
    if (!r.ok()) {
        if (r.status == 401) http_.invalidate_token();
        fail(what + describe(r), r.status == 429 ? r.retry_after_s : -1);
        return;
    }
    if (watch_events_ == 0 && clock::now() - watch_started_ < opt_.min_watch_duration) {
        fail(what + "closed after less than a second with no events");
        return;
    }
    // A clean close (timeoutSeconds reached): resume where we were.
    VXR_LOG_DEBUG("k8s: watch %s closed after %llu events, resuming at %s", spec_.name.c_str(),
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
        VXR_LOG_WARN("k8s: watch %s: skipping malformed event (%zu bytes)", spec_.name.c_str(), line.size());
        return true;
    }
    std::string type = str_of(member(d, "type"));
    const Value* obj = member(d, "object");
    if (!obj || !obj->IsObject()) {
        ++stats_.malformed;
        VXR_LOG_WARN("k8s: watch %s: skipping %s event without an object", spec_.name.c_str(), type.c_str());
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
        if (str_of(meta ? member(*meta, "name") : nullptr).empty()) {
            ++stats_.malformed;
            VXR_LOG_WARN("k8s: watch %s: skipping %s event for a %s without a name", spec_.name.c_str(), type.c_str(),
                         spec_.kind.c_str());
            return true;
        }
        bool ok = type == "DELETED" ? sink_.remove(*obj) : sink_.upsert(*obj);
        if (!ok) ++stats_.malformed;
        // The stream moved on even past an object we could not use.
        if (!rv.empty()) stats_.resource_version = rv;
    } else {
        ++stats_.malformed;
        VXR_LOG_WARN("k8s: watch %s: skipping event of unknown type '%s'", spec_.name.c_str(), type.c_str());
        return true;
    }
    ++stats_.events;
    if (watch_events_++ == 0) healthy();
    else stats_.last_sync = std::chrono::system_clock::now();
    return true;
}

}  // namespace vxr::control::k8s
