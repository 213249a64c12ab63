#pragma once
// The contract of replica::storage (src/reef/replica/storage.hpp) as one typed GTest suite that
// every implementation instantiates with a harness:
//
//   struct harness {
//       replica::storage& storage();  // the storage under test (valid until the next crash())
//       void crash();                 // the node dies and restarts: every unsynced write is lost
//       void fail_syncs(bool on);     // while on, every sync() fails
//   };
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(name, replica_storage_contract, ::testing::Types<harness>);
//
// Caller bugs (non-dense appends, a promise going backwards) are asserted by the implementations
// and not exercised here. The randomized test checks every implementation against the reference
// model: a durable_state changed only through the apply_* functions of storage.hpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/prng.hpp"
#include "reef/replica/storage.hpp"
#include "reef/replica/types.hpp"

namespace reef::replica::contract {

inline id256 make_id(std::uint8_t first, std::uint8_t last = 0) {
    id256::bytes_type bytes{};
    bytes.front() = first;
    bytes.back() = last;
    return id256(bytes);
}

inline entry make_entry(std::uint64_t index, std::uint64_t epoch, std::string command = {}) {
    if (command.empty()) {
        command = "cmd-" + std::to_string(index) + "@" + std::to_string(epoch);
    }
    // A client id above 2^63 checks that full 64-bit values survive the round trip.
    return entry{index, epoch, request_id{0xfedc'ba98'7654'3210ULL, index}, std::move(command)};
}

inline std::vector<entry> make_entries(std::uint64_t first, std::uint64_t last,
                                       std::uint64_t epoch) {
    std::vector<entry> entries;
    for (std::uint64_t index = first; index <= last; ++index) {
        entries.push_back(make_entry(index, epoch));
    }
    return entries;
}

inline std::vector<std::uint64_t> indexes(const durable_state& state) {
    std::vector<std::uint64_t> result;
    for (const entry& kept : state.log) {
        result.push_back(kept.index);
    }
    return result;
}

template <typename Harness>
class replica_storage_contract : public ::testing::Test {
protected:
    storage& store() { return harness_.storage(); }
    void crash() { harness_.crash(); }
    void fail_syncs(bool on) { harness_.fail_syncs(on); }

    void sync_ok() {
        const status synced = store().sync();
        ASSERT_TRUE(synced.ok()) << synced.failure().describe();
    }
    std::optional<durable_state> load(const group_id& group) {
        auto loaded = store().load(group);
        EXPECT_TRUE(loaded.ok()) << loaded.failure().describe();
        return loaded.ok() ? std::move(loaded).value() : std::nullopt;
    }
    durable_state load_known(const group_id& group) {
        std::optional<durable_state> state = load(group);
        EXPECT_TRUE(state.has_value());
        return state.value_or(durable_state{});
    }
    std::vector<group_id> groups() {
        auto listed = store().groups();
        EXPECT_TRUE(listed.ok()) << listed.failure().describe();
        return listed.ok() ? std::move(listed).value() : std::vector<group_id>{};
    }

    Harness harness_;
};

TYPED_TEST_SUITE_P(replica_storage_contract);

TYPED_TEST_P(replica_storage_contract, unknown_group_loads_nothing) {
    EXPECT_EQ(this->load(make_id(1)), std::nullopt);
    EXPECT_TRUE(this->groups().empty());
    this->sync_ok(); // nothing staged: still fine
}

TYPED_TEST_P(replica_storage_contract, reads_its_writes_before_sync) {
    const group_id group = make_id(1);
    const std::vector<node_id> members{make_id(10), make_id(11), make_id(12)};
    this->store().save_promise(group, 3, members);
    this->store().append(group, make_entries(1, 4, 3));
    this->store().save_commit(group, 2);

    const durable_state state = this->load_known(group);
    EXPECT_EQ(state.promised_epoch, 3U);
    EXPECT_EQ(state.members, members);
    EXPECT_EQ(state.log, make_entries(1, 4, 3));
    EXPECT_EQ(state.commit_index, 2U);
    EXPECT_FALSE(state.base.has_value());
    EXPECT_EQ(this->groups(), std::vector<group_id>{group});
}

TYPED_TEST_P(replica_storage_contract, unsynced_writes_are_lost_in_a_crash) {
    const group_id group = make_id(1);
    this->store().append(group, make_entries(1, 2, 1));
    this->crash();
    EXPECT_EQ(this->load(group), std::nullopt);
    EXPECT_TRUE(this->groups().empty());
}

TYPED_TEST_P(replica_storage_contract, synced_writes_survive_a_crash) {
    const group_id group = make_id(1);
    const std::vector<node_id> members{make_id(10), make_id(11)};
    this->store().save_promise(group, 2, members);
    this->store().append(group, make_entries(1, 3, 2));
    this->store().save_commit(group, 3);
    this->sync_ok();
    const durable_state before = this->load_known(group);

    // Written after the sync: lost with the crash, while everything synced stays.
    this->store().append(group, make_entries(4, 5, 2));
    this->store().save_commit(group, 5);
    this->crash();

    EXPECT_EQ(this->load(group), before);
    EXPECT_EQ(before.promised_epoch, 2U);
    EXPECT_EQ(before.members, members);
    EXPECT_EQ(indexes(before), (std::vector<std::uint64_t>{1, 2, 3}));
    EXPECT_EQ(before.commit_index, 3U);
}

TYPED_TEST_P(replica_storage_contract, append_at_an_existing_index_replaces_the_suffix) {
    const group_id group = make_id(1);
    this->store().append(group, make_entries(1, 5, 1));
    this->sync_ok();
    // A new leader (epoch 2) overwrites from index 3: entries 3..5 of epoch 1 go, 3..4 come.
    this->store().append(group, make_entries(3, 4, 2));
    std::vector<entry> expected = make_entries(1, 2, 1);
    for (const entry& added : make_entries(3, 4, 2)) {
        expected.push_back(added);
    }
    EXPECT_EQ(this->load_known(group).log, expected);
    this->sync_ok();
    this->crash();
    EXPECT_EQ(this->load_known(group).log, expected);
}

TYPED_TEST_P(replica_storage_contract, staged_overwrites_apply_in_order) {
    const group_id group = make_id(1);
    this->store().append(group, make_entries(1, 6, 1));
    this->store().append(group, make_entries(2, 3, 2));
    this->store().append(group, make_entries(4, 4, 3));
    this->store().append(group, make_entries(3, 3, 4)); // drops 4 again
    std::vector<entry> expected{make_entry(1, 1), make_entry(2, 2), make_entry(3, 4)};
    EXPECT_EQ(this->load_known(group).log, expected);
    this->sync_ok();
    this->crash();
    EXPECT_EQ(this->load_known(group).log, expected);
}

TYPED_TEST_P(replica_storage_contract, snapshot_drops_the_entries_it_covers) {
    const group_id group = make_id(1);
    this->store().append(group, make_entries(1, 6, 1));
    this->sync_ok();
    const snapshot base{4, 1, std::string("state\0after 4", 13)};
    this->store().save_snapshot(group, base);
    durable_state state = this->load_known(group);
    EXPECT_EQ(state.base, base);
    EXPECT_EQ(indexes(state), (std::vector<std::uint64_t>{5, 6}));
    EXPECT_EQ(state.commit_index, 4U); // a snapshot only covers committed entries
    this->sync_ok();
    this->crash();
    state = this->load_known(group);
    EXPECT_EQ(state.base, base);
    EXPECT_EQ(indexes(state), (std::vector<std::uint64_t>{5, 6}));
    EXPECT_EQ(last_index(state), 6U);

    // Appends below the snapshot are skipped; the first one past it continues the log.
    this->store().append(group, make_entries(3, 7, 2));
    this->sync_ok();
    this->crash();
    state = this->load_known(group);
    EXPECT_EQ(state.base, base);
    ASSERT_EQ(indexes(state), (std::vector<std::uint64_t>{5, 6, 7}));
    EXPECT_EQ(state.log.front(), make_entry(5, 2));
}

TYPED_TEST_P(replica_storage_contract, append_wholly_inside_the_snapshot_changes_nothing) {
    const group_id group = make_id(1);
    this->store().append(group, make_entries(1, 8, 1));
    this->store().save_snapshot(group, snapshot{5, 1, "five"});
    this->sync_ok();
    this->store().append(group, make_entries(2, 4, 2));
    this->sync_ok();
    this->crash();
    const durable_state state = this->load_known(group);
    ASSERT_EQ(indexes(state), (std::vector<std::uint64_t>{6, 7, 8}));
    EXPECT_EQ(state.log.front(), make_entry(6, 1));
}

TYPED_TEST_P(replica_storage_contract, older_snapshot_never_replaces_a_newer_one) {
    const group_id group = make_id(1);
    this->store().append(group, make_entries(1, 8, 1));
    this->store().save_snapshot(group, snapshot{6, 1, "six"});
    this->sync_ok();
    this->store().save_snapshot(group, snapshot{3, 1, "three"});
    this->sync_ok();
    this->crash();
    const durable_state state = this->load_known(group);
    EXPECT_EQ(state.base, (snapshot{6, 1, "six"}));
    EXPECT_EQ(indexes(state), (std::vector<std::uint64_t>{7, 8}));
}

TYPED_TEST_P(replica_storage_contract, empty_snapshot_state_is_still_a_snapshot) {
    const group_id group = make_id(1);
    this->store().save_snapshot(group, snapshot{0, 0, ""});
    this->sync_ok();
    this->crash();
    const durable_state state = this->load_known(group);
    ASSERT_TRUE(state.base.has_value());
    EXPECT_EQ(state.base, (snapshot{0, 0, ""}));
    EXPECT_TRUE(state.log.empty());
}

TYPED_TEST_P(replica_storage_contract, commit_index_is_never_lowered) {
    const group_id group = make_id(1);
    this->store().append(group, make_entries(1, 9, 1));
    this->store().save_commit(group, 7);
    this->store().save_commit(group, 5);
    EXPECT_EQ(this->load_known(group).commit_index, 7U);
    this->sync_ok();
    this->store().save_commit(group, 2);
    this->sync_ok();
    this->crash();
    EXPECT_EQ(this->load_known(group).commit_index, 7U);
    this->store().save_commit(group, 9);
    this->sync_ok();
    this->crash();
    EXPECT_EQ(this->load_known(group).commit_index, 9U);
}

TYPED_TEST_P(replica_storage_contract, promise_replaces_epoch_and_members) {
    const group_id group = make_id(1);
    this->store().save_promise(group, 1, std::vector<node_id>{make_id(1), make_id(2)});
    this->sync_ok();
    const std::vector<node_id> members{make_id(2), make_id(3), make_id(4)};
    this->store().save_promise(group, 4, members);
    this->sync_ok();
    this->crash();
    const durable_state state = this->load_known(group);
    EXPECT_EQ(state.promised_epoch, 4U);
    EXPECT_EQ(state.members, members);
    EXPECT_TRUE(state.log.empty());
}

TYPED_TEST_P(replica_storage_contract, groups_are_independent) {
    const group_id a = make_id(1);
    const group_id b = make_id(1, 1); // differs in the last byte only
    this->store().save_promise(a, 5, std::vector<node_id>{make_id(9)});
    this->store().append(a, make_entries(1, 4, 5));
    this->store().save_commit(a, 4);
    this->store().append(b, make_entries(1, 2, 1));
    this->sync_ok();
    this->store().append(b, make_entries(1, 1, 2)); // truncates b, not a
    this->store().save_snapshot(b, snapshot{1, 2, "b"});
    this->sync_ok();
    this->crash();

    const durable_state state_a = this->load_known(a);
    EXPECT_EQ(state_a.promised_epoch, 5U);
    EXPECT_EQ(state_a.log, make_entries(1, 4, 5));
    EXPECT_EQ(state_a.commit_index, 4U);
    EXPECT_FALSE(state_a.base.has_value());
    const durable_state state_b = this->load_known(b);
    EXPECT_EQ(state_b.promised_epoch, 0U);
    EXPECT_TRUE(state_b.log.empty());
    EXPECT_EQ(state_b.base, (snapshot{1, 2, "b"}));
}

TYPED_TEST_P(replica_storage_contract, drop_forgets_a_group) {
    const group_id a = make_id(1);
    const group_id b = make_id(2);
    this->store().append(a, make_entries(1, 3, 1));
    this->store().save_snapshot(a, snapshot{1, 1, "a"});
    this->store().append(b, make_entries(1, 1, 1));
    this->sync_ok();
    this->store().drop(a);
    EXPECT_EQ(this->load(a), std::nullopt);
    EXPECT_EQ(this->groups(), std::vector<group_id>{b});
    this->sync_ok();
    this->crash();
    EXPECT_EQ(this->load(a), std::nullopt);
    EXPECT_EQ(this->groups(), std::vector<group_id>{b});

    // A dropped group can be joined again from scratch.
    this->store().append(a, make_entries(1, 1, 7));
    this->sync_ok();
    this->crash();
    const durable_state state = this->load_known(a);
    EXPECT_EQ(state.log, make_entries(1, 1, 7));
    EXPECT_FALSE(state.base.has_value());
    EXPECT_EQ(state.commit_index, 0U);
}

TYPED_TEST_P(replica_storage_contract, unsynced_drop_is_undone_by_a_crash) {
    const group_id group = make_id(1);
    this->store().append(group, make_entries(1, 2, 1));
    this->sync_ok();
    this->store().drop(group);
    this->crash();
    EXPECT_EQ(this->load_known(group).log, make_entries(1, 2, 1));
}

TYPED_TEST_P(replica_storage_contract, groups_are_listed_ascending) {
    const std::vector<group_id> expected{make_id(0, 9), make_id(1), make_id(1, 1), make_id(7),
                                         make_id(200), make_id(255, 255)};
    // Some durable, some only staged, in scrambled order.
    for (const std::size_t i : {3U, 0U, 5U}) {
        this->store().save_commit(expected[i], 0);
    }
    this->sync_ok();
    for (const std::size_t i : {4U, 1U, 2U}) {
        this->store().append(expected[i], make_entries(1, 1, 1));
    }
    EXPECT_EQ(this->groups(), expected);
    this->sync_ok();
    this->crash();
    EXPECT_EQ(this->groups(), expected);
}

TYPED_TEST_P(replica_storage_contract, one_sync_covers_many_groups) {
    for (std::uint8_t g = 0; g < 50; ++g) {
        this->store().save_promise(make_id(g), g, std::vector<node_id>{make_id(g)});
        this->store().append(make_id(g), make_entries(1, 20, g));
        this->store().save_commit(make_id(g), 10);
    }
    this->sync_ok();
    this->crash();
    EXPECT_EQ(this->groups().size(), 50U);
    for (std::uint8_t g = 0; g < 50; ++g) {
        const durable_state state = this->load_known(make_id(g));
        EXPECT_EQ(state.promised_epoch, g);
        EXPECT_EQ(state.log, make_entries(1, 20, g));
        EXPECT_EQ(state.commit_index, 10U);
    }
}

TYPED_TEST_P(replica_storage_contract, failed_sync_keeps_nothing_durable_and_can_be_retried) {
    const group_id a = make_id(1);
    const group_id b = make_id(2);
    this->store().append(a, make_entries(1, 2, 1));
    this->sync_ok();

    this->fail_syncs(true);
    this->store().append(a, make_entries(2, 4, 2));
    this->store().save_commit(a, 3);
    this->store().append(b, make_entries(1, 3, 1));
    this->store().drop(a);
    this->store().append(a, make_entries(1, 1, 3));
    const status failed = this->store().sync();
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.failure().code, errc::io_error);
    // The staged writes are still there to read and to retry.
    EXPECT_EQ(this->load_known(a).log, make_entries(1, 1, 3));
    EXPECT_EQ(this->load_known(b).log, make_entries(1, 3, 1));
    EXPECT_FALSE(this->store().sync().ok());

    this->fail_syncs(false);
    this->sync_ok();
    this->crash();
    EXPECT_EQ(this->load_known(a).log, make_entries(1, 1, 3));
    EXPECT_EQ(this->load_known(a).commit_index, 0U);
    EXPECT_EQ(this->load_known(b).log, make_entries(1, 3, 1));
}

TYPED_TEST_P(replica_storage_contract, failed_sync_then_crash_keeps_the_old_state) {
    const group_id group = make_id(1);
    this->store().append(group, make_entries(1, 2, 1));
    this->sync_ok();
    this->fail_syncs(true);
    this->store().append(group, make_entries(1, 3, 2));
    this->store().save_snapshot(group, snapshot{2, 2, "two"});
    EXPECT_FALSE(this->store().sync().ok());
    this->crash();
    this->fail_syncs(false);
    const durable_state state = this->load_known(group);
    EXPECT_EQ(state.log, make_entries(1, 2, 1));
    EXPECT_FALSE(state.base.has_value());
}

/// Random valid operations on a few groups, checked after each step against the reference
/// model; syncs and crashes (which roll the model back to its last synced copy) interleaved.
TYPED_TEST_P(replica_storage_contract, agrees_with_the_reference_model) {
    prng random(2024);
    using model = std::map<group_id, durable_state>;
    model synced;
    model staged;
    const std::vector<group_id> names{make_id(1), make_id(2), make_id(3)};
    for (int step = 0; step < 600; ++step) {
        const group_id& group = names[random.below(names.size())];
        const auto current = staged.find(group);
        durable_state state = current == staged.end() ? durable_state{} : current->second;
        const std::uint64_t last = last_index(state);
        const auto epoch = static_cast<std::uint64_t>(step);
        bool wrote = true;
        switch (random.below(9)) {
        case 0:
        case 1:
        case 2: {
            const std::uint64_t low = state.base ? state.base->last_index : 0;
            std::uint64_t first = 1 + random.below(last + 1);
            if (low > 0 && random.chance(0.3)) {
                first = 1 + random.below(low); // starts inside the snapshot
            }
            const auto entries = make_entries(first, first + random.below(4), epoch);
            apply_append(state, entries);
            this->store().append(group, entries);
            break;
        }
        case 3: {
            const std::uint64_t commit_index = random.below(last + 1);
            apply_commit(state, commit_index);
            this->store().save_commit(group, commit_index);
            break;
        }
        case 4: {
            const snapshot base{random.below(last + 1), random.below(5),
                                "s" + std::to_string(step)};
            apply_snapshot(state, base);
            this->store().save_snapshot(group, base);
            break;
        }
        case 5: {
            std::vector<node_id> members{make_id(5), make_id(static_cast<std::uint8_t>(step))};
            std::sort(members.begin(), members.end());
            const std::uint64_t promised = state.promised_epoch + random.below(2);
            apply_promise(state, promised, members);
            this->store().save_promise(group, promised, members);
            break;
        }
        case 6:
            wrote = false;
            if (random.chance(0.3)) {
                staged.erase(group);
                this->store().drop(group);
            }
            break;
        case 7:
            wrote = false;
            this->sync_ok();
            synced = staged;
            break;
        default:
            wrote = false;
            if (random.chance(0.5)) {
                this->crash();
                staged = synced;
            }
            break;
        }
        if (wrote) {
            staged[group] = std::move(state);
        }
        for (const group_id& name : names) {
            const auto found = staged.find(name);
            const std::optional<durable_state> expected =
                found == staged.end() ? std::nullopt : std::optional(found->second);
            ASSERT_EQ(this->load(name), expected) << "step " << step;
        }
    }
}

REGISTER_TYPED_TEST_SUITE_P(replica_storage_contract, unknown_group_loads_nothing,
                            reads_its_writes_before_sync, unsynced_writes_are_lost_in_a_crash,
                            synced_writes_survive_a_crash,
                            append_at_an_existing_index_replaces_the_suffix,
                            staged_overwrites_apply_in_order,
                            snapshot_drops_the_entries_it_covers,
                            append_wholly_inside_the_snapshot_changes_nothing,
                            older_snapshot_never_replaces_a_newer_one,
                            empty_snapshot_state_is_still_a_snapshot,
                            commit_index_is_never_lowered, promise_replaces_epoch_and_members,
                            groups_are_independent, drop_forgets_a_group,
                            unsynced_drop_is_undone_by_a_crash, groups_are_listed_ascending,
                            one_sync_covers_many_groups,
                            failed_sync_keeps_nothing_durable_and_can_be_retried,
                            failed_sync_then_crash_keeps_the_old_state,
                            agrees_with_the_reference_model);

} // namespace reef::replica::contract
