#include "control/k8s/sync_thread.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace vxr::control::k8s {

namespace {
// Short enough that stop() and status snapshots stay prompt, long enough to
// cost nothing while idle; wakeup() cuts it short when there is work.
constexpr int k_poll_ms = 200;
}  // namespace

sync_thread::sync_thread(std::unique_ptr<cluster_sync> sync) : sync_(std::move(sync)) {
    event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sync_->set_diff_callback([this](const peer_diff& d) {
        {
            std::lock_guard lk(mu_);
            queue_.push_back(d);
            tables_dirty_ = true;
        }
        cv_.notify_all();
        if (event_fd_ >= 0) {
            uint64_t one = 1;
            [[maybe_unused]] auto n = ::write(event_fd_, &one, sizeof one);
        }
    });
}

sync_thread::~sync_thread() {
    stop();
    if (event_fd_ >= 0) ::close(event_fd_);
}

void sync_thread::start() {
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void sync_thread::stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    sync_->wakeup();
    thread_.join();
}

void sync_thread::run() {
    while (!stop_.load(std::memory_order_relaxed)) {
        std::optional<self_publication> pub;
        {
            std::lock_guard lk(mu_);
            pub.swap(pending_publish_);
        }
        if (pub) sync_->publish_self(*pub);
        sync_->poll(k_poll_ms);
        snapshot();
    }
}

void sync_thread::snapshot() {
    sync_status st = sync_->status();
    std::lock_guard lk(mu_);
    // Skipped nodes can change without a peer diff (a new reason); their
    // count is a cheap proxy, the full copy only happens on change.
    if (st.skipped != status_.skipped || st.events != status_.events || st.lists != status_.lists)
        tables_dirty_ = true;
    status_ = std::move(st);
    if (tables_dirty_) {
        skipped_ = sync_->skipped();
        peers_.clear();
        peers_.reserve(sync_->peers().size());
        for (const auto& [name, p] : sync_->peers()) peers_.push_back(p);
        tables_dirty_ = false;
    }
}

std::vector<peer_diff> sync_thread::drain() {
    std::vector<peer_diff> out;
    std::lock_guard lk(mu_);
    out.swap(queue_);
    if (event_fd_ >= 0) {
        uint64_t v;
        [[maybe_unused]] auto n = ::read(event_fd_, &v, sizeof v);
    }
    return out;
}

bool sync_thread::wait_for_diff(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [this] { return !queue_.empty(); });
}

void sync_thread::publish_self(const self_publication& self) {
    {
        std::lock_guard lk(mu_);
        pending_publish_ = self;
    }
    sync_->wakeup();
}

sync_status sync_thread::status() const {
    std::lock_guard lk(mu_);
    return status_;
}

std::vector<skipped_node> sync_thread::skipped() const {
    std::lock_guard lk(mu_);
    return skipped_;
}

std::vector<peer_config> sync_thread::peers() const {
    std::lock_guard lk(mu_);
    return peers_;
}

}  // namespace vxr::control::k8s
