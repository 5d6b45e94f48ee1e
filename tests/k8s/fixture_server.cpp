#include "fixture_server.hpp"

#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#ifndef VXR_K8S_FIXTURE
#error "VXR_K8S_FIXTURE (path of apiserver.py) must be defined by the build"
#endif
#ifndef VXR_PYTHON
#define VXR_PYTHON "python3"
#endif

namespace vxr::test {

namespace {

size_t collect(char* p, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(p, size * n);
    return size * n;
}

}  // namespace

std::unique_ptr<fixture_server> fixture_server::start() {
    std::unique_ptr<fixture_server> s(new fixture_server());
    char tmpl[] = "/tmp/vxr-k8s-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    s->dir_ = tmpl;
    int in_pipe[2], out_pipe[2];
    if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        close(in_pipe[1]);
        close(out_pipe[0]);
        execlp(VXR_PYTHON, VXR_PYTHON, VXR_K8S_FIXTURE, "--dir", s->dir_.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    s->pid_ = pid;
    s->stdin_fd_ = in_pipe[1];
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd pfd{out_pipe[0], POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) continue;
        char buf[256];
        ssize_t n = read(out_pipe[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<size_t>(n));
    }
    close(out_pipe[0]);
    int api = 0, ctl = 0;
    if (sscanf(line.c_str(), "READY %d %d", &api, &ctl) != 2)
        throw std::runtime_error("fixture API server did not start (python3 + openssl needed): '" + line + "'");
    s->url_ = "https://127.0.0.1:" + std::to_string(api);
    s->control_port_ = ctl;
    s->write_token("token-1");
    return s;
}

fixture_server::~fixture_server() {
    if (stdin_fd_ >= 0) close(stdin_fd_);
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

void fixture_server::write_token(const std::string& token) {
    // Replace atomically, as the kubelet does with projected tokens.
    std::string tmp = dir_ + "/token.tmp";
    std::ofstream(tmp) << token << "\n";
    std::filesystem::rename(tmp, dir_ + "/token");
}

void fixture_server::reset() {
    control("reset");
    write_token("token-1");
}

rapidjson::Document fixture_server::control(const std::string& cmd, const std::string& json) {
    CURL* c = curl_easy_init();
    std::string url = "http://127.0.0.1:" + std::to_string(control_port_) + "/" + cmd;
    std::string out;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) throw std::runtime_error("fixture control " + cmd + ": " + curl_easy_strerror(rc));
    rapidjson::Document d;
    d.Parse(out.c_str());
    if (d.HasParseError()) throw std::runtime_error("fixture control " + cmd + ": bad reply " + out);
    return d;
}

rapidjson::Document fixture_server::requests() { return control("requests"); }

control::k8s::client_config fixture_server::client() const {
    control::k8s::client_config c;
    c.server = url_;
    c.ca_file = dir_ + "/ca.crt";
    c.token_file = dir_ + "/token";
    c.source = "fixture";
    return c;
}

fixture_server& shared_fixture() {
    static std::unique_ptr<fixture_server> s = [] {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        return fixture_server::start();
    }();
    return *s;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                const std::function<void()>& step) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        if (step) step();
        else std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
}

}  // namespace vxr::test
