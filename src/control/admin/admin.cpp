// The admin socket, server and client side. The server runs on the control
// thread between other duties, so nothing here may block: every fd is
// non-blocking and poll() only waits in poll(2), bounded by its timeout.
#include "control/admin/admin.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "common/log.hpp"

namespace vxr::control {
namespace {

constexpr size_t k_max_request = 64 * 1024;  // a pod or peer object is a few hundred bytes
constexpr long long k_idle_ms = 5000;        // a local client that stalls this long is stuck or hostile
constexpr size_t k_max_clients = 64;         // past this, new connections wait in the listen backlog
constexpr int k_backlog = 16;
constexpr size_t k_max_reply = 256u << 20;   // guards the client against a runaway daemon
constexpr int k_protocol_version = 1;

long long now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string errno_text() { return std::strerror(errno); }

bool make_address(const std::string& path, sockaddr_un& addr) {
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.data(), path.size());
    return true;
}

result<void> make_parents(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos || slash == 0) return {};
    std::string dir = path.substr(0, slash);
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos != dir.size() && dir[pos] != '/') continue;
        std::string part = dir.substr(0, pos);
        if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
            return make_error("cannot create directory " + part + ": " + errno_text());
    }
    return {};
}

// Raw newlines in valid JSON can only be whitespace between tokens (inside
// strings they are escaped), so flattening them keeps the text equivalent
// and keeps the one-line-per-message framing intact.
std::string one_line(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    std::replace(s.begin(), s.end(), '\r', ' ');
    return s;
}

// Returns an error message for a request that must not reach the handler.
std::string check_request(const std::string& line) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseDefaultFlags>(line.data(), line.size());
    if (doc.HasParseError())
        return std::string("invalid JSON request at offset ") + std::to_string(doc.GetErrorOffset()) + ": " +
               rapidjson::GetParseError_En(doc.GetParseError());
    if (!doc.IsObject()) return "request must be a JSON object";
    auto v = doc.FindMember("v");
    if (v == doc.MemberEnd())
        return "missing protocol version \"v\" (this daemon speaks " + std::to_string(k_protocol_version) + ")";
    if (!v->value.IsInt64()) return "protocol version \"v\" must be an integer";
    if (v->value.GetInt64() != k_protocol_version)
        return "unsupported protocol version " + std::to_string(v->value.GetInt64()) + " (this daemon speaks " +
               std::to_string(k_protocol_version) + ")";
    auto cmd = doc.FindMember("cmd");
    if (cmd == doc.MemberEnd() || !cmd->value.IsString()) return "missing string \"cmd\"";
    return {};
}

class fd_guard {
public:
    explicit fd_guard(int fd) : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// Waits for `events` on fd until deadline; false on timeout.
bool wait_fd(int fd, short events, long long deadline) {
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, static_cast<int>(std::min(left, 60000LL)));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return true;  // let the following call report the error
    }
}

}  // namespace

admin_server::~admin_server() { close(); }

result<void> admin_server::open(const std::string& path) {
    if (listen_fd_ >= 0) return make_error("admin socket already open on " + path_);
    sockaddr_un addr;
    if (!make_address(path, addr))
        return make_error("admin socket path must be 1.." + std::to_string(sizeof addr.sun_path - 1) +
                          " bytes: \"" + path + "\"");
    if (auto r = make_parents(path); !r) return r;

    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
        // Never unlink something that is not a socket: the path may be a typo
        // pointing at a real file.
        if (!S_ISSOCK(st.st_mode)) return make_error(path + " exists and is not a socket");
        fd_guard probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (probe.get() < 0) return make_error("socket: " + errno_text());
        if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 || errno == EAGAIN ||
            errno == EINPROGRESS)
            return make_error("another vxrouted is answering on " + path);
        if (errno != ECONNREFUSED && errno != ENOENT)
            return make_error("cannot check existing socket " + path + ": " + errno_text());
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            return make_error("cannot remove stale socket " + path + ": " + errno_text());
    }

    fd_guard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return make_error("socket: " + errno_text());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno == EADDRINUSE) return make_error("another vxrouted is answering on " + path);
        return make_error("cannot bind admin socket " + path + ": " + errno_text());
    }
    // From here on the path is ours; remove it again if we fail.
    if (::chmod(path.c_str(), 0660) != 0 || ::listen(fd.get(), k_backlog) != 0) {
        std::string msg = "cannot set up admin socket " + path + ": " + errno_text();
        ::unlink(path.c_str());
        return make_error(msg);
    }
    listen_fd_ = fd.release();
    path_ = path;
    return {};
}

void admin_server::close() {
    for (auto& c : clients_) ::close(c.fd);
    clients_.clear();
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
        ::unlink(path_.c_str());
    }
}

void admin_server::poll(int timeout_ms, const handler& h, std::initializer_list<int> wake_fds) {
    try {
        const long long start = now_ms();
        timeout_ms = std::max(timeout_ms, 0);
        std::vector<pollfd> fds;
        fds.reserve(clients_.size() + 1 + wake_fds.size());
        if (listen_fd_ >= 0 && clients_.size() < k_max_clients) fds.push_back({listen_fd_, POLLIN, 0});
        const size_t first_client = fds.size();
        long long wait = timeout_ms;
        for (const auto& c : clients_) {
            fds.push_back({c.fd, static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
            wait = std::min(wait, std::max(0LL, c.deadline_ms - start));
        }
        for (int fd : wake_fds)  // after the clients: their indexes stay
            if (fd >= 0) fds.push_back({fd, POLLIN, 0});
        int n = ::poll(fds.empty() ? nullptr : fds.data(), fds.size(), static_cast<int>(wait));
        if (n < 0) return;  // EINTR: the caller simply polls again
        const long long now = now_ms();

        // A reply is the last thing written; after it the client is closed.
        auto queue_reply = [&](client& c, const std::string& reply) {
            c.out = one_line(reply) + '\n';
            c.in.clear();
        };
        std::vector<bool> done(clients_.size(), false);
        for (size_t i = 0; i < clients_.size(); ++i) {
            client& c = clients_[i];
            short rev = fds[first_client + i].revents;
            if (c.out.empty() && (rev & (POLLIN | POLLHUP | POLLERR))) {
                bool eof = false;
                char buf[4096];
                for (;;) {
                    ssize_t got = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
                    if (got > 0) {
                        c.in.append(buf, static_cast<size_t>(got));
                        c.deadline_ms = now + k_idle_ms;
                        if (c.in.find('\n') != std::string::npos || c.in.size() > k_max_request) break;
                        continue;
                    }
                    if (got < 0 && errno == EINTR) continue;
                    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    eof = true;  // orderly shutdown or a socket error
                    break;
                }
                auto nl = c.in.find('\n');
                if (nl == std::string::npos && c.in.size() > k_max_request) {
                    queue_reply(c, reply_error("request larger than " + std::to_string(k_max_request) +
                                               " bytes without a newline"));
                } else if (nl != std::string::npos || (eof && !c.in.empty())) {
                    // A client that half-closes without the final newline
                    // (printf ... | socat) still gets its answer.
                    std::string line = c.in.substr(0, nl);
                    if (!line.empty() && line.back() == '\r') line.pop_back();
                    std::string reason = check_request(line);
                    std::string reply;
                    if (!reason.empty()) {
                        reply = reply_error(reason);
                    } else {
                        try {
                            reply = h(line);
                        } catch (const std::exception& e) {
                            reply = reply_error(std::string("internal error: ") + e.what());
                        }
                        if (reply.empty()) reply = reply_error("internal error: empty reply");
                    }
                    queue_reply(c, reply);
                } else if (eof) {
                    done[i] = true;
                    continue;
                }
            }
            if (!c.out.empty()) {
                // Try at once: most replies fit the socket buffer, which saves a poll round.
                while (!c.out.empty()) {
                    ssize_t sent = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                    if (sent > 0) {
                        c.out.erase(0, static_cast<size_t>(sent));
                        c.deadline_ms = now + k_idle_ms;
                        continue;
                    }
                    if (sent < 0 && errno == EINTR) continue;
                    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    done[i] = true;  // the peer went away; nothing left to tell it
                    break;
                }
                if (c.out.empty()) done[i] = true;
            }
            if (!done[i] && now >= c.deadline_ms) {
                if (c.out.empty()) {
                    std::string msg = one_line(reply_error("request timed out (idle more than " +
                                                           std::to_string(k_idle_ms / 1000) + " s)")) + '\n';
                    [[maybe_unused]] auto ignored = ::send(c.fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                }
                done[i] = true;
            }
        }
        size_t keep = 0;
        for (size_t i = 0; i < clients_.size(); ++i) {
            if (done[i]) {
                ::close(clients_[i].fd);
            } else {
                if (keep != i) clients_[keep] = std::move(clients_[i]);
                ++keep;
            }
        }
        clients_.resize(keep);

        if (first_client == 1 && (fds[0].revents & POLLIN)) {
            while (clients_.size() < k_max_clients) {
                int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) break;
                clients_.push_back(client{fd, {}, {}, now + k_idle_ms});
            }
        }
    } catch (const std::exception& e) {
        // Only allocation can throw here; dropping the clients frees memory
        // and keeps the daemon up.
        VXR_LOG_WARN("admin socket: %s; dropping %zu clients", e.what(), clients_.size());
        for (auto& c : clients_) ::close(c.fd);
        clients_.clear();
    }
}

std::string reply_ok(const std::string& result_json) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    std::string body = result_json.empty() ? std::string("{}") : one_line(result_json);
    w.StartObject();
    w.Key("ok");
    w.Bool(true);
    w.Key("result");
    w.RawValue(body.data(), body.size(), rapidjson::kObjectType);
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

std::string reply_error(const std::string& message) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("ok");
    w.Bool(false);
    w.Key("error");
    w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
    w.EndObject();
    return std::string(sb.GetString(), sb.GetSize());
}

result<std::string> admin_call(const std::string& path, const std::string& request_json, int timeout_ms) {
    const long long deadline = now_ms() + std::max(timeout_ms, 0);
    const std::string timed_out = "vxrouted did not answer within " + std::to_string(timeout_ms) + " ms";
    sockaddr_un addr;
    if (!make_address(path, addr)) return make_error("invalid admin socket path \"" + path + "\"");
    fd_guard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return make_error("socket: " + errno_text());

    for (;;) {
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
        if (errno == ENOENT || errno == ECONNREFUSED)
            return make_error("vxrouted is not running (no daemon on " + path + ")");
        if (errno == EINTR) continue;
        if (errno == EINPROGRESS) {
            if (!wait_fd(fd.get(), POLLOUT, deadline)) return make_error(timed_out);
            int so_error = 0;
            socklen_t len = sizeof so_error;
            ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
            if (so_error == 0) break;
            errno = so_error;
            if (errno == ECONNREFUSED) return make_error("vxrouted is not running (no daemon on " + path + ")");
            return make_error("cannot connect to " + path + ": " + errno_text());
        }
        // A full listen backlog: the daemon is alive but busy; retry briefly.
        if (errno == EAGAIN) {
            if (now_ms() >= deadline) return make_error(timed_out);
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            continue;
        }
        return make_error("cannot connect to " + path + ": " + errno_text());
    }

    std::string out = one_line(request_json) + '\n';
    size_t off = 0;
    while (off < out.size()) {
        ssize_t n = ::send(fd.get(), out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd.get(), POLLOUT, deadline)) return make_error(timed_out);
        } else {
            return make_error("cannot send request to vxrouted on " + path + ": " + errno_text());
        }
    }

    std::string in;
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n > 0) {
            size_t before = in.size();
            in.append(buf, static_cast<size_t>(n));
            auto nl = in.find('\n', before);
            if (nl != std::string::npos) {
                in.resize(nl);
                return in;
            }
            if (in.size() > k_max_reply)
                return make_error("reply from vxrouted larger than " + std::to_string(k_max_reply) + " bytes");
        } else if (n == 0) {
            return make_error("vxrouted closed the connection without a complete reply");
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_fd(fd.get(), POLLIN, deadline)) return make_error(timed_out);
        } else {
            return make_error("cannot read reply from vxrouted on " + path + ": " + errno_text());
        }
    }
}

}  // namespace vxr::control
