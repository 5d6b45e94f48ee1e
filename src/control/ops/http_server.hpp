// A small HTTP/1.1 server on the control thread (libmicrohttpd in
// "external polling" epoll mode: no thread of its own). The caller waits on
// poll_fd() (an epoll fd, readable when a connection needs service) for at
// most timeout_ms() and then calls run(), which never blocks.
// Thread: control (main) lcore only.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "control/node/listen_address.hpp"

struct MHD_Daemon;
struct MHD_Connection;

namespace vxr::control {

struct http_reply {
    unsigned status = 200;
    std::string body;
    std::string content_type = "text/plain; charset=utf-8";
};

class http_server {
public:
    // Called once per request with its method and path (without the query);
    // exceptions become a 500.
    using handler = std::function<http_reply(std::string_view method, std::string_view path)>;

    http_server() = default;
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Bind (port 0: any free port, see port()), listen, start serving.
    // Errors name the address: "cannot listen on 127.0.0.1:9464: Address already in use".
    result<void> open(const listen_address& addr, handler h);
    void close();
    bool is_open() const { return daemon_ != nullptr; }

    int poll_fd() const;               // -1 when closed
    int timeout_ms(int max_ms) const;  // how long the caller may wait before run()
    void run();

    uint16_t port() const { return port_; }  // the bound port
    const std::string& address() const { return address_; }

private:
    friend struct http_access;  // libmicrohttpd's callbacks (http_server.cpp)
    MHD_Daemon* daemon_ = nullptr;
    handler handler_;
    uint16_t port_ = 0;
    std::string address_;
};

}  // namespace vxr::control
