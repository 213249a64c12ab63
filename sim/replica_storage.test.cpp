#include "sim/replica_storage.hpp"

#include <gtest/gtest.h>

#include "reef/base/prng.hpp"
#include "tests/replica_storage_contract.hpp"

namespace reef::sim {
namespace {

using replica::contract::make_entries;
using replica::contract::make_id;

struct sim_harness {
    replica::storage& storage() { return store; }
    void crash() { store.crash(); }
    void fail_syncs(bool on) { store.fail_syncs(faults, on ? 1.0 : 0.0); }

    prng faults{1};
    replica_storage store;
};

} // namespace
} // namespace reef::sim

namespace reef::replica::contract {
INSTANTIATE_TYPED_TEST_SUITE_P(sim, replica_storage_contract, ::testing::Types<sim::sim_harness>);
} // namespace reef::replica::contract

namespace reef::sim {
namespace {

TEST(sim_replica_storage, crash_drops_only_what_was_not_synced) {
    replica_storage store;
    store.append(make_id(1), make_entries(1, 2, 1));
    EXPECT_TRUE(store.dirty());
    ASSERT_TRUE(store.sync().ok());
    EXPECT_FALSE(store.dirty());
    store.append(make_id(1), make_entries(3, 3, 1));
    store.append(make_id(2), make_entries(1, 1, 1));
    store.crash();
    EXPECT_FALSE(store.dirty());
    EXPECT_EQ(store.load(make_id(1)).value()->log, make_entries(1, 2, 1));
    EXPECT_EQ(store.load(make_id(2)).value(), std::nullopt);
    EXPECT_EQ(store.groups().value(), std::vector<replica::group_id>{make_id(1)});
}

TEST(sim_replica_storage, sync_failures_follow_the_seed) {
    auto run = [](std::uint64_t seed) {
        prng faults(seed);
        replica_storage store;
        store.fail_syncs(faults, 0.5);
        std::vector<bool> outcomes;
        for (std::uint64_t index = 1; index <= 64; ++index) {
            store.append(make_id(1), make_entries(index, index, 1));
            outcomes.push_back(store.sync().ok());
        }
        // Whatever failed stayed staged and went out with a later successful sync.
        EXPECT_EQ(store.sync_failures_count(),
                  static_cast<std::uint64_t>(std::count(outcomes.begin(), outcomes.end(), false)));
        return outcomes;
    };
    const std::vector<bool> first = run(42);
    EXPECT_EQ(run(42), first);
    EXPECT_NE(std::count(first.begin(), first.end(), true), 0);
    EXPECT_NE(std::count(first.begin(), first.end(), false), 0);
}

TEST(sim_replica_storage, failed_syncs_are_retried_by_the_next_one) {
    prng faults(7);
    replica_storage store;
    store.fail_syncs(faults, 1.0);
    store.append(make_id(1), make_entries(1, 3, 1));
    EXPECT_EQ(store.sync().failure().code, errc::io_error);
    store.fail_syncs(faults, 0.0);
    ASSERT_TRUE(store.sync().ok());
    store.crash();
    EXPECT_EQ(store.load(make_id(1)).value()->log, make_entries(1, 3, 1));
    EXPECT_EQ(store.syncs_count(), 2U);
    EXPECT_EQ(store.sync_failures_count(), 1U);
}

TEST(sim_replica_storage, nothing_staged_never_fails) {
    prng faults(7);
    replica_storage store;
    store.fail_syncs(faults, 1.0);
    EXPECT_TRUE(store.sync().ok());
}

} // namespace
} // namespace reef::sim
