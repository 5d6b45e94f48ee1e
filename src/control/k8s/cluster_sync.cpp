#include "control/k8s/cluster_sync.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace vxr::control::k8s {

cluster_sync::cluster_sync(sync_options opt)
    : opt_(std::move(opt)),
      publish_backoff_(opt_.watch.backoff, opt_.watch.seed ? opt_.watch.seed + 7 : std::random_device{}()) {}

cluster_sync::~cluster_sync() {
    caches_.clear();
    reflector_.reset();
    if (publish_xfer_) http_->cancel(publish_xfer_);
}

result<std::unique_ptr<cluster_sync>> cluster_sync::create(const client_config& cfg, sync_options opt) {
    if (opt.node.self_name.empty()) return make_error("k8s: our node name is required");
    if (opt.node.prefix.empty()) return make_error("k8s: annotation prefix must not be empty");
    auto http = http_engine::create(cfg, opt.http);
    if (!http) return make_error(http.err());
    std::unique_ptr<cluster_sync> s(new cluster_sync(std::move(opt)));
    s->http_ = std::move(*http);
    s->node_sink_ = std::make_unique<node_sink>(
        s->table_, s->opt_.node,
        [p = s.get()](const peer_diff& d) {
            if (p->on_diff_) p->on_diff_(d);
        },
        [p = s.get()](const rapidjson::Value& node) { p->on_self(node); });
    s->reflector_ = std::make_unique<reflector>(*s->http_, resource_spec{"nodes", "Node", "/api/v1/nodes", {}, {}},
                                                *s->node_sink_, s->opt_.watch);
    return s;
}

void cluster_sync::add_watch(resource_spec spec, reflector_sink& sink) {
    auto o = opt_.watch;
    // Each reflector its own jitter, so the caches do not reconnect in step.
    if (o.seed) o.seed += 100 * (caches_.size() + 1);
    caches_.push_back(std::make_unique<reflector>(*http_, std::move(spec), sink, o));
}

void cluster_sync::publish_self(const self_publication& self) {
    self_ = self;
    published_ = false;
    publish_at_ = clock::time_point{};
    publish_backoff_.reset();
    if (!own_vtep_mac_) own_vtep_mac_ = self.vtep_mac;
}

void cluster_sync::on_self(const rapidjson::Value& node) {
    if (auto mac = published_vtep_mac(node, opt_.node.prefix)) own_vtep_mac_ = mac;
    // Someone (an old flannel, an operator) rewrote our annotations after we
    // published them: peers would reach us at the wrong VTEP, so put them back.
    if (self_ && published_ && !publish_xfer_ && !self_annotations_match(node, *self_, opt_.node.prefix)) {
        VXR_LOG_WARN("k8s: our node's annotations changed behind our back; publishing again");
        published_ = false;
        publish_at_ = clock::time_point{};
    }
}

void cluster_sync::poll(int timeout_ms) {
    auto now = clock::now();
    auto next = reflector_->step(now);
    for (auto& c : caches_) next = std::min(next, c->step(now));
    publish_step(now);
    if (self_ && !published_ && !publish_xfer_) next = std::min(next, publish_at_);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    int t = static_cast<int>(std::clamp<int64_t>(wait, 0, std::max(timeout_ms, 0)));
    http_->poll(t);
    // Start right away whatever the completed transfers made due (the next
    // list page, a re-watch, a relist after 410) instead of one poll later.
    now = clock::now();
    reflector_->step(now);
    for (auto& c : caches_) c->step(now);
    publish_step(now);
}

void cluster_sync::publish_step(clock::time_point now) {
    if (!self_ || published_ || publish_xfer_ || now < publish_at_) return;
    ++publish_attempts_;
    http_request req;
    req.method = "PATCH";
    req.target = "/api/v1/nodes/" + url_encode(opt_.node.self_name) + "/status";
    req.content_type = "application/strategic-merge-patch+json";
    req.body = build_status_patch(*self_, opt_.node.prefix, std::chrono::system_clock::now());
    req.timeout = opt_.patch_timeout;
    publish_xfer_ = http_->start(std::move(req), [this](http_response&& r) { on_publish_done(std::move(r)); });
}

void cluster_sync::on_publish_done(http_response&& r) {
    publish_xfer_ = 0;
    if (r.ok()) {
        published_ = true;
        publish_error_.clear();
        publish_backoff_.reset();
        VXR_LOG_INFO("k8s: published node %s: VTEP %s at %s, VNI %u", opt_.node.self_name.c_str(),
                     self_->vtep_mac.str().c_str(), self_->public_ip.str().c_str(), self_->vni);
        return;
    }
    if (r.status == 401) http_->invalidate_token();
    publish_error_ = r.transport_error.empty() ? "HTTP " + std::to_string(r.status) : r.transport_error;
    auto delay = publish_backoff_.next();
    if (r.status == 429 && r.retry_after_s >= 0)
        delay = std::min<std::chrono::milliseconds>(std::chrono::seconds(r.retry_after_s), opt_.watch.max_retry_after);
    publish_at_ = clock::now() + delay;
    VXR_LOG_WARN("k8s: publishing node %s failed: %s (retrying in %lld ms)", opt_.node.self_name.c_str(),
                 publish_error_.c_str(), static_cast<long long>(delay.count()));
}

sync_status cluster_sync::status() const {
    const reflector_stats& s = reflector_->stats();
    sync_status st;
    st.synced = s.synced;
    st.watch_connected = s.watch_connected;
    st.last_sync = s.last_sync;
    st.consecutive_errors = s.consecutive_errors;
    st.last_error = s.last_error;
    st.last_error_time = s.last_error_time;
    st.resource_version = s.resource_version;
    st.peers = table_.peers().size();
    st.skipped = table_.skipped_count();
    st.lists = s.lists;
    st.watches = s.watches;
    st.events = s.events;
    st.malformed = s.malformed;
    st.gone = s.gone;
    st.stalls = s.stalls;
    for (const auto& c : caches_) st.caches.push_back({c->spec().name, c->stats()});
    st.self_published = published_;
    st.publish_attempts = publish_attempts_;
    st.publish_error = publish_error_;
    st.own_vtep_mac = own_vtep_mac_;
    return st;
}

result<std::optional<mac_addr>> fetch_published_vtep_mac(const client_config& cfg, const std::string& node_name,
                                                         std::chrono::milliseconds timeout, std::string_view prefix) {
    auto body = http_get_once(cfg, "/api/v1/nodes/" + url_encode(node_name), timeout);
    if (!body) return make_error("k8s: reading our node " + node_name + ": " + body.err());
    return published_vtep_mac(*body, prefix);
}

}  // namespace vxr::control::k8s
