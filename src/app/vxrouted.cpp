// vxrouted: wiring only. Parse the config, start EAL, bring up the dataplane
// and the router, launch the workers, then run the control loop.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_pdump.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "control/admin/admin.hpp"
#include "control/cni/cni.hpp"
#include "control/ops/commands.hpp"
#include "control/node/config.hpp"
#include "control/node/k8s_bridge.hpp"
#include "control/node/lcores.hpp"
#include "control/ops/metrics_service.hpp"
#include "control/node/reload.hpp"
#include "control/node/router.hpp"
#include "control/services/service_proxy.hpp"
#include "fastpath/dataplane.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_reload = 0;
void on_signal(int) { g_stop = 1; }
void on_hup(int) { g_reload = 1; }

constexpr int k_exit_runtime = 1;
constexpr int k_exit_config = 2;
constexpr int k_exit_usage = 64;
constexpr int k_poll_ms = 10;  // control loop period: ARP timers, admin socket, punts
constexpr long long k_slow_step_ms = 500;  // a shutdown step slower than this is logged
constexpr int k_shutdown_budget_s = 10;     // well inside Kubernetes' 30 s grace period

void usage(FILE* f) {
    std::fprintf(f,
                 "usage: vxrouted [-c CONFIG.json] [--check-config] [--print-config] [-v]\n"
                 "  without -c, the embedded default configuration (demo node A) is used\n"
                 "  SIGHUP re-reads CONFIG and applies its peers and pods; SIGTERM stops\n");
}

// Hugepages must exist before EAL starts, or EAL's own failure is a page of
// noise; one line says what to do instead.
bool have_free_hugepages() {
    std::ifstream f("/proc/meminfo");
    std::string key;
    long value = 0;
    while (f >> key >> value) {
        if (key == "HugePages_Free:") return value > 0;
        f.ignore(256, '\n');
    }
    return false;
}

// Teardown, step by step. Each step is timed (tearing down kernel interfaces
// can take the kernel seconds, and an operator should see where it went),
// and a watchdog bounds the whole: Kubernetes SIGKILLs a pod 30 s after
// SIGTERM, and a step blocked in a driver call must not turn a stop whose
// pods' state is saved into a kill. Past the budget the process exits and
// names the step; the kernel closes what is left.
std::atomic<const char*> g_shutdown_step{"stopping"};

template <typename Step>
void timed(const char* what, Step&& step) {
    g_shutdown_step.store(what);
    const auto t0 = std::chrono::steady_clock::now();
    step();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    if (ms.count() >= k_slow_step_ms) VXR_LOG_WARN("shutdown: %s took %lld ms", what, static_cast<long long>(ms.count()));
}

void start_shutdown_watchdog(int rc) {
    std::thread([rc] {
        std::this_thread::sleep_for(std::chrono::seconds(k_shutdown_budget_s));
        VXR_LOG_ERROR("shutdown: not done %d s after SIGTERM, stuck in: %s; exiting now", k_shutdown_budget_s,
                      g_shutdown_step.load());
        std::_Exit(rc);
    }).detach();
}

// SIGHUP: apply the config file's peers and pods; a config that does not
// parse, or that changes what only a restart can, leaves everything as it is.
// Services on: the shared conntrack and affinity tables (before the workers
// start) and the control side that fills the workers' service table and
// serves the Services' healthCheckNodePorts.
vxr::result<std::unique_ptr<vxr::control::services::service_proxy>> start_services(
    const vxr::control::config& cfg, vxr::fastpath::dataplane& dp, vxr::control::router& router) {
    namespace svc = vxr::control::services;
    auto cc = svc::compiler_config_from(cfg);  // checked at start-up already; cannot fail here
    if (!cc) return vxr::make_error(cc.err());
    vxr::fastpath::ct_params ct;
    ct.max_entries = cfg.services.conntrack_max;
    ct.timeouts = cfg.services.timeouts;
    if (auto r = dp.enable_services(ct); !r) return vxr::make_error("services: " + r.err());
    auto proxy =
        svc::service_proxy::create(std::move(*cc), dp, [&router](auto t) { router.set_services(std::move(t)); });
    // healthCheckNodePorts on every address, as kube-proxy binds them.
    if (proxy) (*proxy)->serve_health_checks(vxr::ipv4_addr{});
    // The node's own connections to its node ports and hostPorts, through
    // the host port (plumb_host routes ClusterIPs and pods there).
    if (proxy && !cfg.host_iface.empty())
        (*proxy)->serve_host_nat({"vxroute", cfg.host_iface, cfg.pod_cidr.addr});
    return proxy;
}

void reload_config(const std::string& path, vxr::control::router& router) {
    if (path.empty()) {
        VXR_LOG_WARN("reload: running the embedded configuration (no -c): nothing to reload");
        return;
    }
    auto next = vxr::control::load_config(path);
    if (!next) {
        VXR_LOG_ERROR("reload: config %s: %s; keeping the running configuration", path.c_str(), next.err().c_str());
        return;
    }
    auto r = vxr::control::reload(router, *next);
    if (!r) {
        VXR_LOG_ERROR("reload: config %s: %s; keeping the running configuration", path.c_str(), r.err().c_str());
        return;
    }
    VXR_LOG_INFO("reload: config %s: %s", path.c_str(), r->c_str());
}

// The CPUs this process may run on (what taskset or a CPU manager gave it).
std::vector<unsigned> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<unsigned> cpus;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (unsigned c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

}  // namespace

int main(int argc, char** argv) {
    vxr::log::set_program("vxrouted");
    std::string config_path;
    bool check_only = false, print_config = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "-c" || a == "--config") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (a == "--check-config") {
            check_only = true;
        } else if (a == "--print-config") {
            print_config = true;
        } else if (a == "-v") {
            vxr::log::set_level(vxr::log::level::debug);
        } else if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return k_exit_usage;
        }
    }
    auto cfg = config_path.empty() ? vxr::control::parse_config(vxr::control::default_config_json())
                                   : vxr::control::load_config(config_path);
    if (!cfg) {
        VXR_LOG_ERROR("config %s: %s", config_path.empty() ? "(embedded)" : config_path.c_str(), cfg.err().c_str());
        return k_exit_config;
    }
    // What only the Services module can judge (node-port range syntax, a
    // prime Maglev size) fails here too, so that --check-config catches it.
    if (cfg->services.enabled) {
        if (auto cc = vxr::control::services::compiler_config_from(*cfg); !cc) {
            VXR_LOG_ERROR("config %s: %s", config_path.empty() ? "(embedded)" : config_path.c_str(), cc.err().c_str());
            return k_exit_config;
        }
    }
    if (print_config) std::printf("%s\n", vxr::control::to_json(*cfg).c_str());
    if (check_only || print_config) return 0;

    // vhost-user narrates every message at INFO; eal_args may raise it again.
    std::vector<std::string> eal = {"vxrouted", "--log-level=lib.vhost.config:warning"};
    bool no_huge = false;
    for (const auto& a : cfg->eal_args) {
        eal.push_back(a);
        no_huge |= a == "--no-huge";
    }
    // No lcores in eal_args: take the CPUs we were given (a Kubernetes static
    // CPU manager's exclusive cores, taskset): the first for the control
    // thread, the next ones for the workers.
    if (!vxr::control::eal_args_choose_lcores(cfg->eal_args)) {
        auto plan = vxr::control::plan_lcores(allowed_cpus(), cfg->workers, RTE_MAX_LCORE);
        if (!plan) {
            VXR_LOG_ERROR("%s", plan.err().c_str());
            return k_exit_config;
        }
        eal.insert(eal.end(), plan->eal_args.begin(), plan->eal_args.end());
        cfg->workers = static_cast<uint32_t>(plan->worker_cpus.size());
        VXR_LOG_INFO("lcores from the CPU affinity: %s (EAL %s %s)", plan->describe().c_str(),
                     plan->eal_args[0].c_str(), plan->eal_args[1].c_str());
    } else if (cfg->workers == 0) {
        cfg->workers = 1;  // explicit lcores, no worker count: one worker, as before "auto" existed
    }
    // With only virtual devices, keep EAL away from the machine's PCI NICs
    // (the kernel's own interfaces); a PCI uplink is named in eal_args (-a).
    bool pci_chosen = false;
    for (const auto& a : cfg->eal_args)
        pci_chosen |= a == "--no-pci" || a == "-a" || a == "-b" || a.rfind("--allow", 0) == 0 || a.rfind("--block", 0) == 0;
    if (!pci_chosen && cfg->uplink.rfind("net_", 0) == 0) eal.push_back("--no-pci");
    if (!no_huge && !have_free_hugepages()) {
        VXR_LOG_ERROR("no free hugepages: reserve some first (./scripts/hugepages.sh), or see README 'Deploy'");
        return k_exit_runtime;
    }
    std::vector<char*> eal_argv;
    for (auto& a : eal) eal_argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        VXR_LOG_ERROR("DPDK EAL initialisation failed: %s (eal_args: check -l and --file-prefix)",
                      rte_strerror(rte_errno));
        return k_exit_runtime;
    }
    // Packet capture: dpdk-dumpcap (a secondary process on our --file-prefix)
    // asks us over EAL's multi-process channel to mirror a port's bursts.
    // Without a capture this costs nothing on the workers.
    const bool pdump = rte_pdump_init() == 0;
    if (!pdump) VXR_LOG_WARN("packet capture unavailable: rte_pdump_init: %s", rte_strerror(rte_errno));
    int rc = 0;
    {
        vxr::fastpath::dataplane dp;
        vxr::control::router router(*cfg, dp);
        vxr::control::admin_server admin;
        vxr::control::metrics_service metrics(router, dp);
        std::unique_ptr<vxr::control::k8s_bridge> k8s;  // peers from the API server, when configured
        std::unique_ptr<vxr::control::services::service_proxy> services;  // when enabled
        std::unique_ptr<vxr::control::cni::port_mapping_table> port_maps;  // CNI pods' hostPorts
        auto enable_services = [&]() -> vxr::result<void> {
            if (!cfg->services.enabled) return {};
            auto sv = start_services(*cfg, dp, router);
            if (!sv) return vxr::make_error(sv.err());
            services = std::move(*sv);
            return {};
        };
        auto fail = [&](const std::string& what) {
            VXR_LOG_ERROR("%s", what.c_str());
            rc = k_exit_runtime;
        };
        if (auto r = dp.init({cfg->workers, cfg->mbufs, cfg->max_routes, cfg->idle_backoff_us}); !r) {
            fail(r.err());
        } else if (auto sv = enable_services(); !sv) {
            fail(sv.err());
        } else if (auto s = router.start(); !s) {
            fail(s.err());
        } else if (auto a = admin.open(cfg->admin_socket); !a) {
            fail("admin socket: " + a.err());
        } else if (auto m = metrics.open(cfg->metrics_listen); !m) {
            fail(m.err());
        } else if (auto l = dp.launch(); !l) {
            fail(l.err());
        } else if (cfg->kubernetes) {
            k8s = std::make_unique<vxr::control::k8s_bridge>(*cfg, router);
            if (auto k = k8s->start(); !k) fail(k.err());
            else if (services) services->attach(*k8s->cache());
        }
        if (rc == 0) {
            // After the router restored its pods: their saved port mappings.
            port_maps = vxr::control::make_port_mapping_table(*cfg, services.get());
            port_maps->restore(router);
            vxr::control::register_telemetry(dp);
            metrics.set_k8s(k8s.get());
            metrics.set_services(services.get());
            std::signal(SIGINT, on_signal);
            std::signal(SIGTERM, on_signal);
            std::signal(SIGHUP, on_hup);
            std::signal(SIGPIPE, SIG_IGN);
            VXR_LOG_INFO("ready: node %s, %zu pods, %zu peers, %u workers, admin socket %s",
                         cfg->node_name.c_str(), router.pod_count(), router.peer_count(), cfg->workers,
                         cfg->admin_socket.c_str());
            while (!g_stop) {
                // One wait covers the admin socket, the metrics endpoint and
                // the watch cache (changes reach their handlers at once, not
                // a loop period later).
                admin.poll(metrics.timeout_ms(k_poll_ms),
                           [&](const std::string& req) {
                               return vxr::control::handle_command(router, k8s.get(), services.get(), port_maps.get(),
                                                                       req);
                           },
                           {metrics.poll_fd(), k8s ? k8s->wake_fd() : -1});
                metrics.poll();
                router.poll();
                if (k8s) k8s->poll();
                if (services) services->poll();
                if (g_reload) {
                    g_reload = 0;
                    reload_config(config_path, router);
                }
            }
            VXR_LOG_INFO("stopping");
            metrics.close();  // probes fail fast from here on
        }
        start_shutdown_watchdog(rc);
        timed("stopping the Kubernetes sync", [&] { if (k8s) k8s->stop(); });
        timed("removing the node-port rules of the host", [&] { if (services) services->stop_host_nat(); });
        bool stopped = true;
        timed("stopping the workers", [&] { stopped = dp.stop(); });
        if (!stopped) {
            // Nothing can be torn down under a worker that may still run;
            // the process exit closes the pods' taps (the kernel removes
            // their interfaces) and the ports.
            VXR_LOG_ERROR("worker lcore %u did not stop within 2 s (blocked in a driver call); exiting without "
                          "tearing down ports", dp.stuck_lcore());
            admin.close();
            std::_Exit(rc);
        }
        timed("removing pods", [&] { router.shutdown(); });
        timed("closing the admin socket", [&] { admin.close(); });
        timed("closing the uplink and host ports", [&] { dp.close_ports(); });
        g_shutdown_step.store("freeing the router and the dataplane");
    }
    timed("stopping packet capture", [&] { if (pdump) rte_pdump_uninit(); });
    timed("EAL cleanup", [] { rte_eal_cleanup(); });
    return rc;
}
