#include "control/node/netns.hpp"

#include "common/log.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

extern char** environ;

namespace vxr::control {

namespace {
// The child's stdout goes to `output` (through a memory file, read after it
// exits, so that its stderr pipe and stdout never wait on each other), or to
// /dev/null.
result<void> spawn_and_wait(const std::vector<std::string>& argv, const std::string* input, std::string* output) {
    // The input goes through a memory file, not a pipe: the child may write
    // its errors before it has read all of it, and nobody blocks on anybody.
    int in_fd = -1;
    if (input != nullptr) {
        in_fd = memfd_create("vxr-stdin", MFD_CLOEXEC);
        if (in_fd < 0) return make_error(std::string("memfd_create: ") + std::strerror(errno));
        for (size_t off = 0; off < input->size();) {
            const ssize_t w = write(in_fd, input->data() + off, input->size() - off);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                const int e = errno;
                close(in_fd);
                return make_error(std::string("writing the input of '") + argv[0] + "': " + std::strerror(e));
            }
            off += static_cast<size_t>(w);
        }
        lseek(in_fd, 0, SEEK_SET);
    }
    int out_fd = -1;
    if (output != nullptr) {
        out_fd = memfd_create("vxr-stdout", MFD_CLOEXEC);
        if (out_fd < 0) {
            const int e = errno;
            if (in_fd >= 0) close(in_fd);
            return make_error(std::string("memfd_create: ") + std::strerror(e));
        }
    }
    const auto close_io = [&] {
        if (in_fd >= 0) close(in_fd);
        if (out_fd >= 0) close(out_fd);
    };
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) {
        const int e = errno;
        close_io();
        return make_error(std::string("pipe: ") + std::strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (in_fd >= 0) posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, errpipe[1], STDERR_FILENO);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    else
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(errpipe[1]);
    if (in_fd >= 0) {
        close(in_fd);
        in_fd = -1;
    }
    std::string cmd;
    for (auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    if (rc != 0) {
        close(errpipe[0]);
        close_io();
        return make_error("cannot run '" + cmd + "': " + std::strerror(rc));
    }
    std::string err;
    char buf[512];
    ssize_t n;
    while ((n = read(errpipe[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
    close(errpipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (out_fd >= 0) {
        lseek(out_fd, 0, SEEK_SET);
        while ((n = read(out_fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
            if (n > 0) output->append(buf, static_cast<size_t>(n));
    }
    close_io();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
        return make_error("'" + cmd + "' failed: " + (err.empty() ? "exit status " + std::to_string(status) : err));
    }
    return {};
}

}  // namespace

result<void> run_command(const std::vector<std::string>& argv) { return spawn_and_wait(argv, nullptr, nullptr); }

result<void> run_command(const std::vector<std::string>& argv, const std::string& input) {
    return spawn_and_wait(argv, &input, nullptr);
}

result<std::string> command_output(const std::vector<std::string>& argv) {
    std::string out;
    if (auto r = spawn_and_wait(argv, nullptr, &out); !r) return make_error(r.err());
    return out;
}

std::string netns_path(const std::string& netns) {
    return netns.find('/') != std::string::npos ? netns : "/var/run/netns/" + netns;
}

namespace {
std::vector<std::string> in_ns(const std::string& netns, std::vector<std::string> argv) {
    std::vector<std::string> v{"nsenter", "--net=" + netns_path(netns), "--"};
    v.insert(v.end(), argv.begin(), argv.end());
    return v;
}
// Keeps the kernel's IPv6 (link-local address, DAD, router solicitations)
// off an interface vxrouted does not route IPv6 for. disable_ipv6 is a
// sysctl, and /proc/sys is read-only in a container that is not privileged
// (the DaemonSet's); there, stop address generation and drop what was
// generated instead (netlink, CAP_NET_ADMIN is enough). prefix: in_ns() or
// nothing.
result<void> quiet_ipv6(const std::vector<std::string>& prefix, const std::string& ifname) {
    auto cmd = [&](std::vector<std::string> argv) {
        std::vector<std::string> v = prefix;
        v.insert(v.end(), argv.begin(), argv.end());
        return v;
    };
    auto sysctl = run_command(cmd({"sysctl", "-qw", "net.ipv6.conf." + ifname + ".disable_ipv6=1"}));
    if (sysctl) return {};
    auto gen = run_command(cmd({"ip", "link", "set", "dev", ifname, "addrgenmode", "none"}));
    if (!gen) return make_error(sysctl.err() + "; and " + gen.err());
    return run_command(cmd({"ip", "-6", "addr", "flush", "dev", ifname}));
}
}  // namespace

result<void> plumb_pod(const pod_link& l) {
    struct stat st{};
    if (stat(netns_path(l.netns).c_str(), &st) != 0)
        return make_error("pod network namespace " + netns_path(l.netns) + " does not exist");
    const std::string addr = l.ip.str() + "/" + std::to_string(l.prefix_len);
    for (auto& s : std::vector<std::vector<std::string>>{
             {"ip", "link", "set", "dev", l.iface, "netns", netns_path(l.netns)},
             in_ns(l.netns, {"ip", "link", "set", "dev", l.iface, "name", l.ifname})}) {
        if (auto r = run_command(s); !r) return r;
    }
    if (auto r = quiet_ipv6(in_ns(l.netns, {}), l.ifname); !r) return r;
    for (auto& s : std::vector<std::vector<std::string>>{
             in_ns(l.netns, {"ip", "addr", "add", addr, "dev", l.ifname}),
             in_ns(l.netns, {"ip", "link", "set", "dev", l.ifname, "mtu", std::to_string(l.mtu), "up"}),
             in_ns(l.netns, {"ip", "route", "replace", "default", "via", l.gateway.str(), "dev", l.ifname})}) {
        if (auto r = run_command(s); !r) return r;
    }
    return {};
}

void unplumb_pod(const std::string& netns, const std::string& ifname) {
    struct stat st{};
    if (stat(netns_path(netns).c_str(), &st) != 0) return;
    (void)run_command(in_ns(netns, {"ip", "link", "del", "dev", ifname}));
}

result<unsigned> link_flags_in(const std::string& netns, const std::string& ifname) {
    if (ifname.empty() || ifname.size() >= IFNAMSIZ) return make_error("not an interface name: '" + ifname + "'");
    const std::string path = netns_path(netns);
    const int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return make_error("cannot open " + path + ": " + std::strerror(errno));
    int err = 0;
    const char* failed = nullptr;  // the step that failed, if one did
    unsigned flags = 0;
    // setns moves only the calling thread, and a socket stays in the
    // namespace it was made in: a thread of its own makes and asks it.
    std::thread t([&] {
        int s = -1;
        ifreq ifr{};
        std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname.c_str());
        if (setns(ns, CLONE_NEWNET) != 0)
            failed = "cannot enter";
        else if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
            failed = "no socket in";
        else if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
            failed = "cannot read the flags of the interface in";
        else
            flags = static_cast<uint16_t>(ifr.ifr_flags);
        if (failed != nullptr) err = errno;
        if (s >= 0) close(s);
    });
    t.join();
    close(ns);
    if (err == ENODEV) return make_error("no interface " + ifname + " in " + path);
    if (failed != nullptr) return make_error(std::string(failed) + " " + path + ": " + std::strerror(err));
    return flags;
}

result<void> plumb_host(const host_link& h) {
    if (auto r = quiet_ipv6({}, h.iface); !r) return r;
    std::vector<std::vector<std::string>> steps = {
        {"ip", "addr", "replace", h.node_ip.str(), "dev", h.iface},
        {"ip", "link", "set", "dev", h.iface, "mtu", std::to_string(h.mtu), "up"},
        {"ip", "route", "replace", h.pod_cidr.str(), "via", h.gateway.str(), "dev", h.iface, "onlink"},
    };
    const std::string overlay_src = h.pod_cidr.addr.str();
    if (h.cluster_cidr || !h.service_cidrs.empty())
        steps.push_back({"ip", "addr", "replace", overlay_src + "/32", "dev", h.iface});
    if (h.cluster_cidr)
        steps.push_back({"ip", "route", "replace", h.cluster_cidr->str(), "via", h.gateway.str(), "dev", h.iface,
                         "onlink", "src", overlay_src});
    for (const auto& c : h.service_cidrs)
        steps.push_back({"ip", "route", "replace", c.str(), "via", h.gateway.str(), "dev", h.iface, "onlink", "src",
                         overlay_src});
    for (auto& s : steps) {
        auto r = run_command(s);
        if (!r) return r;
    }
    // Replies of a node port's flows come back from the workers with the
    // node's own address as source, for the kernel to route to the client;
    // without accept_local it drops them as martians. Not fatal: only node
    // ports from outside need it.
    if (auto r = run_command({"sysctl", "-qw", "net.ipv4.conf." + h.iface + ".accept_local=1"}); !r)
        VXR_LOG_WARN("host port: %s; replies to node-port clients outside the cluster will be dropped by the kernel",
                     r.err().c_str());
    return {};
}

}  // namespace vxr::control
