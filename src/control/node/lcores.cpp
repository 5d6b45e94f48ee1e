#include "control/node/lcores.hpp"

#include <algorithm>

namespace vxr::control {

bool eal_args_choose_lcores(const std::vector<std::string>& eal_args) {
    for (const auto& a : eal_args) {
        // "-l 0-3", "-l0-3", "-c 0xf", "-c0xf", "--lcores=...", "--lcores ..."
        if (a.rfind("-l", 0) == 0 || a.rfind("-c", 0) == 0 || a.rfind("--lcores", 0) == 0) return true;
    }
    return false;
}

std::string cpu_list_text(const std::vector<unsigned>& cpus) {
    std::string out;
    for (size_t i = 0; i < cpus.size();) {
        size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(cpus[i]);
        if (j > i) out += (j == i + 1 ? "," : "-") + std::to_string(cpus[j]);
        i = j + 1;
    }
    return out;
}

std::string lcore_plan::describe() const {
    return "main lcore on CPU " + std::to_string(main_cpu) + ", " + std::to_string(worker_cpus.size()) +
           (worker_cpus.size() == 1 ? " worker on CPU " : " workers on CPUs ") + cpu_list_text(worker_cpus);
}

result<lcore_plan> plan_lcores(std::vector<unsigned> allowed, uint32_t workers, unsigned max_lcore) {
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    const std::string have = std::to_string(allowed.size()) + " CPU" + (allowed.size() == 1 ? "" : "s") +
                             (allowed.empty() ? "" : " (" + cpu_list_text(allowed) + ")");
    if (allowed.size() < 2)
        return make_error("lcores: vxrouted needs at least 2 CPUs (one control, one worker) but may run on " + have +
                          "; give it more CPUs (Kubernetes: a whole-CPU request of 2 or more) or set -l in eal_args");
    const size_t want = workers == 0 ? allowed.size() - 1 : workers;
    if (want + 1 > allowed.size())
        return make_error("lcores: workers " + std::to_string(workers) + " needs " + std::to_string(want + 1) +
                          " CPUs (one control + one per worker) but vxrouted may run on " + have +
                          "; lower workers or give it more CPUs");
    lcore_plan p;
    p.main_cpu = allowed[0];
    p.worker_cpus.assign(allowed.begin() + 1, allowed.begin() + 1 + static_cast<std::ptrdiff_t>(want));
    std::vector<unsigned> used{p.main_cpu};
    used.insert(used.end(), p.worker_cpus.begin(), p.worker_cpus.end());
    if (used.back() < max_lcore) {
        p.eal_args = {"-l", cpu_list_text(used)};
    } else {
        // EAL's lcore ids stop at RTE_MAX_LCORE; map ids 0..n onto the CPUs.
        std::string map;
        for (size_t i = 0; i < used.size(); ++i)
            map += (i ? "," : "") + std::to_string(i) + "@" + std::to_string(used[i]);
        p.eal_args = {"--lcores", map};
    }
    return p;
}

}  // namespace vxr::control
