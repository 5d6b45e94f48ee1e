// A GoogleTest environment that brings up DPDK's EAL once per test process
// (rte_eal_init cannot run twice) and owns a small mbuf pool for tests that
// need packets but no dataplane. No NIC, no hugepages, no files under
// /var/run/dpdk: --no-huge --no-shconf (--in-memory is refused with --no-huge,
// which implies --legacy-mem).
//
// Register it from a test file at namespace scope:
//   static auto* const g_eal = vxr::test::eal_env::install({"-l", "0-1"});
// If the EAL cannot start, the environment fails (and with it the binary):
// a test that cannot run says why and fails (DESIGN.md 6).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

namespace vxr::test {

class eal_env : public testing::Environment {
public:
    // `extra` is appended to the defaults; pass "-l" "0-1" for a worker lcore,
    // "--vdev=..." for devices present from the start.
    static eal_env* install(std::vector<std::string> extra = {}) {
        auto* e = new eal_env(std::move(extra));
        testing::AddGlobalTestEnvironment(e);  // gtest owns it from here
        instance_ = e;
        return e;
    }
    static rte_mempool* pool() { return instance_ ? instance_->pool_ : nullptr; }
    static bool ready() { return instance_ && instance_->ready_; }

    void SetUp() override {
        std::vector<std::string> args = {"test", "--no-pci", "--no-huge", "-m", "512", "--no-shconf",
                                         "--file-prefix=ut" + std::to_string(getpid()),
                                         "--log-level=lib.eal:error", "--log-level=pmd.net.*:error",
                                         "--log-level=lib.ethdev:error", "--no-telemetry"};
        bool have_lcores = false;
        for (const auto& a : extra_) have_lcores |= a == "-l" || a.rfind("--lcores", 0) == 0;
        if (!have_lcores) args.insert(args.begin() + 1, {"-l", "0"});
        args.insert(args.end(), extra_.begin(), extra_.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const int rc = rte_eal_init(static_cast<int>(args.size()), argv.data());
        ASSERT_GE(rc, 0) << "rte_eal_init failed: " << rte_strerror(rte_errno);
        eal_up_ = true;
        pool_ = rte_pktmbuf_pool_create("ut_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                        static_cast<int>(rte_socket_id()));
        ASSERT_NE(pool_, nullptr) << "cannot create the test mbuf pool: " << rte_strerror(rte_errno);
        ready_ = true;
    }

    void TearDown() override {
        if (pool_ != nullptr) rte_mempool_free(pool_);
        pool_ = nullptr;
        ready_ = false;
        if (eal_up_) rte_eal_cleanup();
        eal_up_ = false;
    }

private:
    explicit eal_env(std::vector<std::string> extra) : extra_(std::move(extra)) {}

    std::vector<std::string> extra_;
    rte_mempool* pool_ = nullptr;
    bool eal_up_ = false;
    bool ready_ = false;
    static inline eal_env* instance_ = nullptr;
};

}  // namespace vxr::test
