// The local admin API: a Unix stream socket on the control thread.
//
// Protocol (version 1): the client writes one JSON object terminated by
// '\n' and reads one JSON object terminated by '\n'; then either side may
// close. Requests:
//   {"v":1,"cmd":"show","what":"ports|routes|peers|neighbors|pods|counters|config"}
//   {"v":1,"cmd":"pod-add","pod":{...pod object as in the config file...}}
//   {"v":1,"cmd":"pod-del","name":"pod-a"}
//   {"v":1,"cmd":"peer-add","peer":{...peer object as in the config file...}}
//   {"v":1,"cmd":"peer-del","node_ip":"198.18.0.2"}
// Replies: {"ok":true,"result":<object>} or {"ok":false,"error":"<reason>"}.
// Requests over 64 KiB or not valid JSON get an error reply.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace vxr::control {

class admin_server {
public:
    // Takes the request's JSON text (already known to be a valid JSON object
    // with "v" == 1 and a string "cmd") and returns the full reply line's
    // JSON object text (without the newline).
    using handler = std::function<std::string(const std::string& request_json)>;

    admin_server() = default;
    ~admin_server();
    admin_server(const admin_server&) = delete;
    admin_server& operator=(const admin_server&) = delete;

    // Creates the parent directory, removes a stale socket file, binds,
    // listens (mode 0660). Fails with a clear message if another daemon
    // is already answering on the path.
    result<void> open(const std::string& path);
    // Waits up to timeout_ms for activity, then serves every client that
    // is ready without blocking on any of them. Never blocks longer than
    // timeout_ms in total. The wait also ends when one of wake_fds (those
    // >= 0) turns readable, so one wait covers the control loop's other
    // sources (the metrics endpoint, the watch cache), which the caller
    // then serves.
    void poll(int timeout_ms, const handler& h, std::initializer_list<int> wake_fds = {});
    void close();
    const std::string& path() const { return path_; }

private:
    struct client {
        int fd;
        std::string in;
        std::string out;
        long long deadline_ms;
    };
    int listen_fd_ = -1;
    std::string path_;
    std::vector<client> clients_;
};

// Helpers to build replies.
std::string reply_ok(const std::string& result_json);
std::string reply_error(const std::string& message);

// Client side (vxroutectl, vxroute-cni): connect, send one request, read one
// reply, with a timeout. Errors say whether the daemon is down.
result<std::string> admin_call(const std::string& path, const std::string& request_json,
                               int timeout_ms = 5000);

}  // namespace vxr::control
