// Maglev lookup tables (control/services/maglev.hpp): balance, disruption on
// backend changes, independence of input order, seeds, golden slots (so that
// a change of hash or algorithm, which would split a cluster's nodes during
// an upgrade, cannot pass unnoticed), errors.
#include <gtest/gtest.h>
#include <rte_jhash.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "control/services/maglev.hpp"

namespace vxr::control::services {
namespace {

using keys = std::vector<std::string>;

// n distinct endpoint-like keys: "10.244.<i/250>.<i%250+1>:8080", from index first.
keys make_keys(uint32_t n, uint32_t first = 0) {
    keys k;
    for (uint32_t i = first; i < first + n; ++i)
        k.push_back("10.244." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":8080");
    return k;
}

maglev_table build_ok(const keys& k, maglev_params p = {}) {
    auto t = build_maglev(k, p);
    EXPECT_TRUE(t) << t.err();
    return t ? std::move(*t) : maglev_table{};
}

// Largest |share - M/N| / (M/N) over the backends.
double worst_imbalance(const maglev_table& t) {
    const double ideal = static_cast<double>(t.table_size()) / static_cast<double>(t.keys().size());
    double worst = 0;
    for (size_t i = 0; i < t.keys().size(); ++i)
        worst = std::max(worst, std::abs(static_cast<double>(t.share(i)) - ideal) / ideal);
    return worst;
}

// Fraction of all M slots that changed hands between two backends present in
// both tables: the churn beyond the unavoidable (slots of the backend that
// left, or that the new one takes). Compared by key, as indexes shift.
double moved_between_others(const maglev_table& a, const maglev_table& b, const std::string& changed) {
    uint32_t moved = 0;
    for (uint32_t s = 0; s < a.table_size(); ++s) {
        const auto& ka = a.keys()[a.slots()[s]];
        const auto& kb = b.keys()[b.slots()[s]];
        if (ka != kb && ka != changed && kb != changed) ++moved;
    }
    return static_cast<double>(moved) / static_cast<double>(a.table_size());
}

TEST(maglev, every_slot_filled_and_lookup_is_slot_of_hash_mod_size) {
    const auto t = build_ok(make_keys(3), {.table_size = 251});
    ASSERT_EQ(t.table_size(), 251u);
    ASSERT_EQ(t.slots().size(), 251u);
    uint32_t total = 0;
    for (size_t i = 0; i < 3; ++i) total += t.share(i);
    EXPECT_EQ(total, 251u);
    EXPECT_EQ(t.share(3), 0u);  // out of range: holds nothing
    for (uint32_t s = 0; s < 251; ++s) {
        ASSERT_LT(t.slots()[s], 3u);
        EXPECT_EQ(t.lookup(s), static_cast<int32_t>(t.slots()[s]));
    }
    EXPECT_EQ(t.lookup(251 + 7), t.lookup(7));
    EXPECT_EQ(t.lookup(UINT32_MAX), t.lookup(UINT32_MAX % 251));
}

// Round robin gives each backend floor(M/N) or ceil(M/N) slots, so the
// relative error is below N/M: 1% needs M >= 100 N (the paper's rule).
// Measured at M=16381: N=10 0.05%, N=100 0.49%, N=1000 3.8% (16 or 17 slots
// for an ideal 16.4), so N=1000 is held to 1% at M=65521 (measured 0.80%)
// and only to "one slot" at 16381.
TEST(maglev, balance_within_one_percent) {
    for (uint32_t n : {1u, 2u, 3u, 10u, 100u}) {
        const auto t = build_ok(make_keys(n));
        EXPECT_LT(worst_imbalance(t), 0.01) << "N=" << n;
    }
    const auto big = build_ok(make_keys(1000), {.table_size = 65521});
    EXPECT_LT(worst_imbalance(big), 0.01) << "N=1000 M=65521";

    const auto coarse = build_ok(make_keys(1000));
    for (size_t i = 0; i < 1000; ++i) {
        EXPECT_GE(coarse.share(i), 16u) << i;  // floor(16381 / 1000)
        EXPECT_LE(coarse.share(i), 17u) << i;
    }
    std::printf("worst imbalance: N=1000 M=16381 %.2f%%, M=65521 %.2f%%\n", 100 * worst_imbalance(coarse),
                100 * worst_imbalance(big));
}

TEST(maglev, accepted_primes_balance_to_one_slot) {
    for (uint32_t m : {2u, 251u, 1021u, 4093u, 16381u, 65521u, 131071u}) {
        const uint32_t n = std::min(m, 7u);
        const auto t = build_ok(make_keys(n), {.table_size = m});
        ASSERT_EQ(t.table_size(), m);
        for (size_t i = 0; i < n; ++i) {
            EXPECT_GE(t.share(i), m / n) << "M=" << m;
            EXPECT_LE(t.share(i), m / n + 1) << "M=" << m;
        }
    }
    // As many backends as slots: one each.
    const auto full = build_ok(make_keys(251), {.table_size = 251});
    for (size_t i = 0; i < 251; ++i) EXPECT_EQ(full.share(i), 1u);
}

// Maglev trades minimal disruption for balance (paper 3.4; its 5.3 measures
// the extra churn and shows it falling as M grows against N). Measured here
// at M=16381, as slots moved between backends present before and after:
// removing one of 10 / 100 (each of 10, the first 50) worst 0.57% / 1.44% of
// M, adding one (50 newcomers) worst 0.81% / 1.46%, against 10% / 1% for the
// slots that must move. The bound, 3% of M, is twice the worst seen; hash
// mod N, or a table filled from unrelated permutations, moves ~(N-1)/N.
constexpr double k_max_other_churn = 0.03;

TEST(maglev, removing_a_backend_moves_little_else) {
    for (uint32_t n : {10u, 100u}) {
        const auto all = make_keys(n);
        const auto before = build_ok(all);
        double worst = 0;
        for (uint32_t r = 0; r < std::min(n, 50u); ++r) {
            auto rest = all;
            const std::string gone = rest[r];
            rest.erase(rest.begin() + r);
            const auto after = build_ok(rest);
            // Only the removed backend's slots must move; every one of them does.
            for (uint32_t s = 0; s < after.table_size(); ++s)
                ASSERT_NE(after.keys()[after.slots()[s]], gone);
            const double f = moved_between_others(before, after, gone);
            worst = std::max(worst, f);
            EXPECT_LE(f, k_max_other_churn) << "N=" << n << " removing " << gone;
        }
        std::printf("remove 1 of %u: worst %.2f%% of slots moved between the others\n", n, 100 * worst);
    }
}

TEST(maglev, adding_a_backend_moves_little_else) {
    for (uint32_t n : {10u, 100u}) {
        const auto all = make_keys(n);
        const auto before = build_ok(all);
        double worst = 0;
        for (uint32_t r = 0; r < 50; ++r) {
            auto more = all;
            const std::string added = make_keys(1, 10000 + r)[0];
            more.push_back(added);
            const auto after = build_ok(more);
            const double f = moved_between_others(before, after, added);
            worst = std::max(worst, f);
            EXPECT_LE(f, k_max_other_churn) << "N=" << n << " adding " << added;
            // The newcomer takes its fair share, from the others.
            const auto idx = std::find(after.keys().begin(), after.keys().end(), added) - after.keys().begin();
            EXPECT_GE(after.share(static_cast<size_t>(idx)), 16381 / (n + 1));
        }
        std::printf("add 1 to %u: worst %.2f%% of slots moved between the others\n", n, 100 * worst);
    }
}

TEST(maglev, input_order_does_not_matter) {
    const auto sorted = make_keys(100);
    const auto ref = build_ok(sorted);
    std::mt19937 rng(12345);
    for (int round = 0; round < 5; ++round) {
        auto shuffled = sorted;
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        ASSERT_NE(shuffled, sorted);
        const auto t = build_ok(shuffled);
        EXPECT_EQ(t.keys(), ref.keys());
        EXPECT_EQ(t.slots(), ref.slots()) << "round " << round;
    }
    EXPECT_TRUE(std::is_sorted(ref.keys().begin(), ref.keys().end()));
}

TEST(maglev, seed_decides_the_table) {
    const auto k = make_keys(10);
    const auto a = build_ok(k, {.seed = 0});
    const auto a2 = build_ok(k, {.seed = 0});
    const auto b = build_ok(k, {.seed = 1});
    EXPECT_EQ(a.slots(), a2.slots());
    uint32_t same = 0;
    for (uint32_t s = 0; s < a.table_size(); ++s) same += a.slots()[s] == b.slots()[s];
    // Unrelated tables agree on ~1/N of the slots.
    EXPECT_LT(same, a.table_size() / 5) << "seed 1 agrees with seed 0 on " << same << " slots";
}

// Golden slots, recorded from this implementation (rte_jhash, initvals seed
// and seed ^ 0x9e3779b9, keys sorted bytewise). Every node of a cluster must
// compute these same numbers: a change here breaks flow affinity across
// nodes running different versions, so it must be deliberate.
TEST(maglev, golden_slots) {
    const keys k = {"10.244.2.7:8080", "10.244.1.5:8080", "10.244.3.9:8080", "10.244.1.6:8080"};
    const auto small = build_ok(k, {.table_size = 251, .seed = 0});
    EXPECT_EQ(small.keys(), (keys{"10.244.1.5:8080", "10.244.1.6:8080", "10.244.2.7:8080", "10.244.3.9:8080"}));
    const std::vector<uint32_t> first16(small.slots().begin(), small.slots().begin() + 16);
    EXPECT_EQ(first16, (std::vector<uint32_t>{3, 0, 3, 0, 3, 0, 0, 1, 1, 3, 2, 2, 2, 3, 1, 1}));

    const auto dflt = build_ok(k, {.seed = 0});
    const auto seeded = build_ok(k, {.seed = 0xc0ffee});
    std::vector<uint32_t> picks, seeded_picks;
    for (uint32_t s : {0u, 1u, 2u, 100u, 4093u, 8191u, 16380u}) {
        picks.push_back(dflt.slots()[s]);
        seeded_picks.push_back(seeded.slots()[s]);
    }
    EXPECT_EQ(picks, (std::vector<uint32_t>{1, 3, 0, 2, 3, 0, 2}));
    EXPECT_EQ(seeded_picks, (std::vector<uint32_t>{0, 0, 2, 2, 3, 0, 1}));
    // And all 16381 slots at once, so that no change hides between the picks.
    const auto whole = rte_jhash(dflt.slots().data(), static_cast<uint32_t>(dflt.slots().size() * sizeof(uint32_t)), 0);
    EXPECT_EQ(whole, 0x4f663764u) << std::hex << whole;
}

TEST(maglev, empty_table_says_none) {
    const auto t = build_ok({});
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(t.table_size(), 0u);
    EXPECT_EQ(t.lookup(0), -1);
    EXPECT_EQ(t.lookup(12345), -1);
    EXPECT_EQ(t.share(0), 0u);
    EXPECT_EQ(maglev_table{}.lookup(7), -1);
}

TEST(maglev, errors) {
    auto nonprime = build_maglev(make_keys(3), {.table_size = 16380});
    ASSERT_FALSE(nonprime);
    EXPECT_NE(nonprime.err().find("16380 is not prime"), std::string::npos) << nonprime.err();
    for (uint32_t m : {0u, 1u, 4u, 65536u, 65537u * 3})
        EXPECT_FALSE(build_maglev(make_keys(1), {.table_size = m})) << m;
    // Checked even with no backends: a bad config fails before the first endpoint.
    EXPECT_FALSE(build_maglev({}, {.table_size = 1000}));

    ASSERT_TRUE(is_prime(16777259));  // above 2^24
    auto huge = build_maglev(make_keys(1), {.table_size = 16777259});
    ASSERT_FALSE(huge);
    EXPECT_NE(huge.err().find("above the limit"), std::string::npos) << huge.err();

    const keys dup = {"10.244.1.5:8080", "10.244.2.7:8080", "10.244.1.5:8080"};
    auto d = build_maglev(dup, {});
    ASSERT_FALSE(d);
    EXPECT_NE(d.err().find("\"10.244.1.5:8080\" is listed twice"), std::string::npos) << d.err();

    auto crowded = build_maglev(make_keys(252), {.table_size = 251});
    ASSERT_FALSE(crowded);
    EXPECT_NE(crowded.err().find("smaller than the 252 backends"), std::string::npos) << crowded.err();

    EXPECT_FALSE(build_maglev(keys{"10.244.1.5:8080", ""}, {}));
}

TEST(maglev, is_prime_matches_a_sieve) {
    constexpr uint32_t k_limit = 20000;
    std::vector<bool> composite(k_limit, false);
    for (uint32_t i = 2; i * i < k_limit; ++i)
        if (!composite[i])
            for (uint32_t j = i * i; j < k_limit; j += i) composite[j] = true;
    for (uint32_t i = 0; i < k_limit; ++i) ASSERT_EQ(is_prime(i), i >= 2 && !composite[i]) << i;
    EXPECT_TRUE(is_prime(131071));
    EXPECT_FALSE(is_prime(65537u * 257u));
}

// The control thread rebuilds a Service's table on every EndpointSlice
// change; 100 backends at the default size must stay far below 10 ms
// (measured ~0.15 ms). Best of 5 so that a busy shared machine does not fail it.
TEST(maglev, build_time_m16381_n100) {
    const auto k = make_keys(100);
    double best_ms = 1e9;
    for (int i = 0; i < 5; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        auto t = build_maglev(k, {});
        const auto t1 = std::chrono::steady_clock::now();
        ASSERT_TRUE(t);
        best_ms = std::min(best_ms, std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::printf("build M=16381 N=100: %.3f ms\n", best_ms);
    EXPECT_LT(best_ms, 10.0);
}

}  // namespace
}  // namespace vxr::control::services
