// Runs tests/k8s/fixture/apiserver.py (a fake HTTPS API server on 127.0.0.1)
// as a child process and talks to its plain-HTTP control endpoint.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <rapidjson/document.h>

#include "control/k8s/client_config.hpp"

namespace vxr::test {

class fixture_server {
public:
    // Starts the server (throwaway CA and certs in a fresh temp dir). Fails
    // the calling test with a message when python3/openssl are missing.
    static std::unique_ptr<fixture_server> start();
    ~fixture_server();

    // POST /<cmd> with a JSON body; returns the JSON reply.
    rapidjson::Document control(const std::string& cmd, const std::string& json = "{}");
    // Resets the server state and the token file ("token-1").
    void reset();
    void write_token(const std::string& token);

    // Bearer-token client config (CA file, rotating token file).
    control::k8s::client_config client() const;
    const std::string& dir() const { return dir_; }
    const std::string& url() const { return url_; }

    // Requests the server received so far of one kind ("list", "watch",
    // "patch", "get"), oldest first.
    rapidjson::Document requests();

private:
    fixture_server() = default;
    std::string dir_;
    std::string url_;
    int control_port_ = 0;
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
};

// The one server a test binary shares (started on first use, reset per test).
fixture_server& shared_fixture();

// Polls pred every few ms until it holds or the timeout passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                const std::function<void()>& step = {});

}  // namespace vxr::test
