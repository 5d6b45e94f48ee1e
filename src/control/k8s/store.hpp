// The watch cache of one resource: a reflector_sink that decodes every
// object into a compact struct T (objects.hpp), keyed by namespace/name,
// and hands the changes to the control thread coalesced per object, so a
// burst of events costs one recompute downstream.
//
// Two threads, one hand-over:
//  - the sync thread (reflector) calls the sink methods; it alone touches
//    objects_ (the authoritative set, for relist diffs);
//  - the control thread calls take(), which swaps the pending changes out
//    under the lock, applies them to view_ and returns them as
//    (before, after) pairs; view() is what that thread reads.
// Objects are immutable and shared between the two sides (shared_ptr to
// const): a change costs no copy of the object.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "common/log.hpp"
#include "common/result.hpp"
#include "control/k8s/latency.hpp"
#include "control/k8s/resource.hpp"

namespace vxr::control::k8s {

struct store_stats {
    size_t objects = 0;          // held by the sync side
    uint64_t decode_errors = 0;  // objects logged and skipped
    uint64_t changes = 0;        // handed to the control thread
    latency_histogram latency;   // event applied -> change taken by the control thread
};

template <typename T>
class object_store final : public reflector_sink {
public:
    using clock = std::chrono::steady_clock;
    using ptr = std::shared_ptr<const T>;
    using decode_fn = result<T> (*)(const rapidjson::Value&);

    struct change {
        std::string key;
        ptr before;  // null: the object is new
        ptr after;   // null: the object is gone
    };

    object_store(std::string kind, decode_fn decode) : kind_(std::move(kind)), decode_(decode) {}

    // Called on the sync thread, outside the lock, when changes start
    // waiting for take() (once per batch, not per event). Before attaching.
    void set_notify(std::function<void()> fn) { notify_ = std::move(fn); }

    // --- sync thread ---------------------------------------------------------
    void list_begin() override { listed_.clear(); }
    bool list_item(const rapidjson::Value& obj) override {
        std::string key = object_key(obj);
        listed_.insert(key);
        return apply(std::move(key), obj);
    }
    void list_end() override {
        // Whatever the complete list did not have is gone.
        std::vector<std::string> gone;
        for (const auto& [key, e] : objects_)
            if (!listed_.count(key)) gone.push_back(key);
        listed_.clear();
        if (gone.empty()) return;
        {
            std::lock_guard lk(mu_);
            for (auto& key : gone) {
                note(key, nullptr);
                objects_.erase(key);
            }
            objects_size_ = objects_.size();
        }
        wake();
    }
    bool upsert(const rapidjson::Value& obj) override { return apply(object_key(obj), obj); }
    bool remove(const rapidjson::Value& obj) override {
        std::string key = object_key(obj);
        if (key.empty()) return unnamed();
        auto it = objects_.find(key);
        if (it == objects_.end()) return true;
        {
            std::lock_guard lk(mu_);
            note(key, nullptr);
            objects_.erase(it);
            objects_size_ = objects_.size();
        }
        wake();
        return true;
    }

    // --- control thread ------------------------------------------------------
    std::vector<change> take() {
        std::unordered_map<std::string, pending> batch;
        {
            std::lock_guard lk(mu_);
            batch.swap(pending_);
        }
        std::vector<change> out;
        out.reserve(batch.size());
        const auto now = clock::now();
        latency_histogram lat;
        for (auto& [key, p] : batch) {
            if (p.before == p.after) continue;  // changed and changed back, or added and deleted
            lat.add(now - p.first);
            if (p.after) view_[key] = p.after;
            else view_.erase(key);
            out.push_back({key, std::move(p.before), std::move(p.after)});
        }
        std::lock_guard lk(mu_);
        stats_.changes += out.size();
        for (size_t i = 0; i < lat.buckets.size(); ++i) stats_.latency.buckets[i] += lat.buckets[i];
        stats_.latency.count += lat.count;
        stats_.latency.sum += lat.sum;
        return out;
    }
    // Ordered by key: stable `vxroutectl show` output.
    const std::map<std::string, ptr>& view() const { return view_; }

    // --- any thread ------------------------------------------------------------
    store_stats stats() const {
        std::lock_guard lk(mu_);
        store_stats s = stats_;
        s.objects = objects_size_;
        return s;
    }
    const std::string& kind() const { return kind_; }

private:
    struct entry {
        std::string resource_version;
        ptr object;
    };
    struct pending {
        ptr before;
        ptr after;
        clock::time_point first;  // when the first change of this batch arrived
    };

    bool apply(std::string key, const rapidjson::Value& obj) {
        if (key.empty()) return unnamed();
        std::string rv = resource_version_of(obj);
        auto it = objects_.find(key);
        // The same resourceVersion is the same object: a relist does not
        // decode or report what it already has.
        if (it != objects_.end() && !rv.empty() && it->second.resource_version == rv) return true;
        auto decoded = decode_(obj);
        if (!decoded) {
            // The last good version (if any) stays: better slightly stale
            // than a Service or policy that vanishes on a bad update.
            // The decoders name the object themselves; say it once.
            if (decoded.err().find(key) != std::string::npos)
                VXR_LOG_WARN("k8s: skipping %s", decoded.err().c_str());
            else
                VXR_LOG_WARN("k8s: skipping %s %s: %s", kind_.c_str(), key.c_str(), decoded.err().c_str());
            std::lock_guard lk(mu_);
            ++stats_.decode_errors;
            return false;
        }
        auto p = std::make_shared<const T>(std::move(*decoded));
        {
            std::lock_guard lk(mu_);
            note(key, p);
            if (it != objects_.end()) it->second = {std::move(rv), std::move(p)};
            else objects_.emplace(std::move(key), entry{std::move(rv), std::move(p)});
            objects_size_ = objects_.size();
        }
        wake();
        return true;
    }

    // Under mu_: record that key's state is now `after`.
    void note(const std::string& key, ptr after) {
        if (pending_.empty()) wake_ = true;
        auto [it, fresh] = pending_.try_emplace(key);
        if (fresh) {
            auto cur = objects_.find(key);
            it->second.before = cur == objects_.end() ? nullptr : cur->second.object;
            it->second.first = clock::now();
        }
        it->second.after = std::move(after);
    }

    // Outside mu_, after a note(): tell the control thread once per batch.
    void wake() {
        bool w;
        {
            std::lock_guard lk(mu_);
            w = std::exchange(wake_, false);
        }
        if (w && notify_) notify_();
    }

    bool unnamed() {
        VXR_LOG_WARN("k8s: skipping a %s without metadata.name", kind_.c_str());
        std::lock_guard lk(mu_);
        ++stats_.decode_errors;
        return false;
    }

    static std::string resource_version_of(const rapidjson::Value& obj) {
        auto m = obj.FindMember("metadata");
        if (m == obj.MemberEnd() || !m->value.IsObject()) return {};
        auto rv = m->value.FindMember("resourceVersion");
        return rv != m->value.MemberEnd() && rv->value.IsString()
                   ? std::string(rv->value.GetString(), rv->value.GetStringLength())
                   : std::string{};
    }

    const std::string kind_;
    const decode_fn decode_;
    std::function<void()> notify_;
    // sync thread
    std::unordered_map<std::string, entry> objects_;
    std::unordered_set<std::string> listed_;  // keys of the list being read
    // hand-over, under mu_
    mutable std::mutex mu_;
    std::unordered_map<std::string, pending> pending_;
    bool wake_ = false;  // pending_ became non-empty since the last wake()
    store_stats stats_;
    size_t objects_size_ = 0;
    // control thread
    std::map<std::string, ptr> view_;
};

}  // namespace vxr::control::k8s
