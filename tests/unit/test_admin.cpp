// The admin socket over real Unix sockets in a temporary directory, with the
// server's poll loop on its own thread as the daemon's control thread would
// run it.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "control/admin/admin.hpp"

namespace vxr::control {
namespace {

using namespace std::chrono_literals;

// Echoes the request's cmd back, and counts calls so tests can tell whether
// a bad request reached the handler.
struct echo_handler {
    std::atomic<int>* calls;
    std::string operator()(const std::string& request) const {
        ++*calls;
        rapidjson::Document d;
        d.Parse(request.c_str());
        std::string cmd = d["cmd"].GetString();
        if (cmd == "throw") throw std::runtime_error("boom");
        return reply_ok("{\"cmd\":\"" + cmd + "\"}");
    }
};

std::string error_of(const std::string& reply) {
    rapidjson::Document d;
    d.Parse(reply.c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("error") || !d["error"].IsString()) return "<" + reply + ">";
    return d["error"].GetString();
}

class admin : public testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vxr-admin-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = dir_ + "/run/vxroute/test.sock";  // parents do not exist yet: open() creates them
    }
    void TearDown() override {
        stop();
        std::filesystem::remove_all(dir_);
    }
    void start() {
        auto r = server_.open(path_);
        ASSERT_TRUE(r.ok()) << r.err();
        stop_ = false;
        thread_ = std::thread([this] {
            echo_handler h{&calls_};
            while (!stop_) server_.poll(20, h);
        });
    }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        server_.close();
    }
    // A raw client, for what admin_call deliberately cannot do.
    int raw_connect() {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
        EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
        timeval tv{10, 0};  // a hung server fails the test instead of hanging it
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return fd;
    }
    static void send_all(int fd, const std::string& s) {
        ASSERT_EQ(send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
    }
    static std::string read_to_eof(int fd) {
        std::string out;
        char buf[4096];
        ssize_t n;
        while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
        return out;
    }
    std::string call(const std::string& request) {
        auto r = admin_call(path_, request, 3000);
        EXPECT_TRUE(r.ok()) << r.err();
        return r.ok() ? *r : std::string();
    }

    std::string dir_;
    std::string path_;
    admin_server server_;
    std::atomic<bool> stop_{false};
    std::atomic<int> calls_{0};
    std::thread thread_;
};

TEST_F(admin, round_trip) {
    start();
    EXPECT_EQ(call(R"({"v":1,"cmd":"show","what":"ports"})"), R"({"ok":true,"result":{"cmd":"show"}})");
    EXPECT_EQ(call(R"({"v":1,"cmd":"pod-del","name":"x"})"), R"({"ok":true,"result":{"cmd":"pod-del"}})");
    EXPECT_EQ(calls_, 2);
}

TEST_F(admin, socket_mode_and_cleanup) {
    start();
    struct stat st;
    ASSERT_EQ(lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    stop();
    EXPECT_NE(lstat(path_.c_str(), &st), 0) << "close() must remove the socket file";
}

TEST_F(admin, invalid_json_gets_error) {
    start();
    std::string r = call("{\"v\":1,\"cmd\":");
    EXPECT_NE(r.find("\"ok\":false"), std::string::npos) << r;
    EXPECT_NE(r.find("invalid JSON"), std::string::npos) << r;
    r = call("[1,2]");
    EXPECT_NE(r.find("must be a JSON object"), std::string::npos) << r;
    EXPECT_EQ(calls_, 0);
}

TEST_F(admin, wrong_version_or_missing_cmd) {
    start();
    EXPECT_EQ(call(R"({"v":2,"cmd":"show"})"),
              R"j({"ok":false,"error":"unsupported protocol version 2 (this daemon speaks 1)"})j");
    EXPECT_EQ(error_of(call(R"({"cmd":"show"})")), "missing protocol version \"v\" (this daemon speaks 1)");
    EXPECT_EQ(error_of(call(R"({"v":"1","cmd":"show"})")), "protocol version \"v\" must be an integer");
    EXPECT_EQ(error_of(call(R"({"v":1,"cmd":7})")), "missing string \"cmd\"");
    EXPECT_EQ(calls_, 0);
}

TEST_F(admin, handler_exception_becomes_error_reply) {
    start();
    std::string r = call(R"({"v":1,"cmd":"throw"})");
    EXPECT_EQ(r, R"({"ok":false,"error":"internal error: boom"})");
    EXPECT_EQ(call(R"({"v":1,"cmd":"after"})"), R"({"ok":true,"result":{"cmd":"after"}})");
}

TEST_F(admin, oversized_request_is_refused) {
    start();
    int fd = raw_connect();
    std::string big(70 * 1024, 'x');
    ssize_t sent = send(fd, big.data(), big.size(), MSG_NOSIGNAL);
    EXPECT_GT(sent, 0);
    std::string got = read_to_eof(fd);
    close(fd);
    // Either the error reply arrived or the connection was simply closed;
    // never a handler call, never a hang.
    if (!got.empty()) {
        EXPECT_NE(got.find("larger than 65536 bytes"), std::string::npos) << got;
    }
    EXPECT_EQ(calls_, 0);
    EXPECT_EQ(call(R"({"v":1,"cmd":"still-alive"})"), R"({"ok":true,"result":{"cmd":"still-alive"}})");
}

TEST_F(admin, slow_client_does_not_block_others) {
    start();
    int slow = raw_connect();
    send_all(slow, R"({"v":1,)");  // half a request, then silence
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(call(R"({"v":1,"cmd":"fast"})"), R"({"ok":true,"result":{"cmd":"fast"}})");
    send_all(slow, "\"cmd\":\"slow\"}\n");
    EXPECT_EQ(read_to_eof(slow), "{\"ok\":true,\"result\":{\"cmd\":\"slow\"}}\n");
    close(slow);
}

TEST_F(admin, concurrent_clients) {
    start();
    constexpr int k_threads = 2;
    constexpr int k_calls = 50;
    std::atomic<int> good{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < k_threads; ++t) {
        clients.emplace_back([&, t] {
            for (int i = 0; i < k_calls; ++i) {
                std::string cmd = "c" + std::to_string(t) + "-" + std::to_string(i);
                auto r = admin_call(path_, R"({"v":1,"cmd":")" + cmd + "\"}", 3000);
                if (r.ok() && *r == R"({"ok":true,"result":{"cmd":")" + cmd + "\"}}") ++good;
            }
        });
    }
    for (auto& c : clients) c.join();
    EXPECT_EQ(good, k_threads * k_calls);
}

TEST_F(admin, request_without_final_newline_is_answered_on_half_close) {
    start();
    int fd = raw_connect();
    send_all(fd, R"({"v":1,"cmd":"eof"})");
    shutdown(fd, SHUT_WR);
    EXPECT_EQ(read_to_eof(fd), "{\"ok\":true,\"result\":{\"cmd\":\"eof\"}}\n");
    close(fd);
}

TEST_F(admin, idle_client_is_closed) {
    start();
    int fd = raw_connect();
    auto t0 = std::chrono::steady_clock::now();
    std::string got = read_to_eof(fd);  // blocks until the server gives up on us
    auto waited = std::chrono::steady_clock::now() - t0;
    close(fd);
    EXPECT_GE(waited, 4500ms);
    EXPECT_LT(waited, 8s);
    EXPECT_NE(got.find("timed out"), std::string::npos) << got;
}

TEST_F(admin, missing_socket_says_not_running) {
    auto r = admin_call(dir_ + "/nothing.sock", R"({"v":1,"cmd":"show"})", 1000);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err(), "vxrouted is not running (no daemon on " + dir_ + "/nothing.sock)");
}

TEST_F(admin, silent_daemon_times_out) {
    // Something listening that never answers: a hung daemon.
    std::filesystem::create_directories(dir_ + "/run/vxroute");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(listen(fd, 4), 0);
    auto t0 = std::chrono::steady_clock::now();
    auto r = admin_call(path_, R"({"v":1,"cmd":"show"})", 200);
    auto waited = std::chrono::steady_clock::now() - t0;
    close(fd);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err(), "vxrouted did not answer within 200 ms");
    EXPECT_LT(waited, 2s);
}

TEST_F(admin, second_open_on_live_path_fails) {
    start();
    admin_server other;
    auto r = other.open(path_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err(), "another vxrouted is answering on " + path_);
    // The failed attempt must not have removed the live daemon's socket.
    EXPECT_EQ(call(R"({"v":1,"cmd":"alive"})"), R"({"ok":true,"result":{"cmd":"alive"}})");
}

TEST_F(admin, stale_socket_is_replaced) {
    // A socket file left behind by a crashed daemon: bound, then closed.
    std::filesystem::create_directories(dir_ + "/run/vxroute");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    close(fd);
    ASSERT_TRUE(std::filesystem::exists(path_));
    start();
    EXPECT_EQ(call(R"({"v":1,"cmd":"fresh"})"), R"({"ok":true,"result":{"cmd":"fresh"}})");
}

TEST_F(admin, regular_file_is_not_removed) {
    std::filesystem::create_directories(dir_ + "/run/vxroute");
    std::ofstream(path_) << "precious";
    admin_server s;
    auto r = s.open(path_);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.err().find("is not a socket"), std::string::npos) << r.err();
    EXPECT_TRUE(std::filesystem::is_regular_file(path_));
}

TEST_F(admin, poll_respects_timeout) {
    auto r = server_.open(path_);
    ASSERT_TRUE(r.ok()) << r.err();
    int stalled = raw_connect();
    send_all(stalled, "{");
    echo_handler h{&calls_};
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) server_.poll(40, h);
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(waited, 1s);
    close(stalled);
    server_.close();
}

TEST(admin_reply, error_is_escaped) {
    std::string msg = "bad \"name\"\nwith \\ and \x01";
    std::string reply = reply_error(msg);
    EXPECT_EQ(reply.find('\n'), std::string::npos);
    rapidjson::Document d;
    d.Parse(reply.c_str());
    ASSERT_FALSE(d.HasParseError()) << reply;
    EXPECT_FALSE(d["ok"].GetBool());
    EXPECT_EQ(std::string(d["error"].GetString()), msg);
}

TEST(admin_reply, ok_embeds_result_verbatim) {
    EXPECT_EQ(reply_ok(R"({"ports":[{"id":0}]})"), R"({"ok":true,"result":{"ports":[{"id":0}]}})");
    // Pretty-printed results must still fit one protocol line.
    std::string pretty = reply_ok("{\n  \"a\": \"x\\ny\"\n}");
    EXPECT_EQ(pretty.find('\n'), std::string::npos);
    rapidjson::Document d;
    d.Parse(pretty.c_str());
    ASSERT_FALSE(d.HasParseError()) << pretty;
    EXPECT_EQ(std::string(d["result"]["a"].GetString()), "x\ny");
}

}  // namespace
}  // namespace vxr::control
