#include "reef/replica/host.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "reef/replica/kv.hpp"
#include "reef/replica/storage.hpp"

namespace reef::replica {
namespace {

node_id node_of(std::uint8_t n) {
    id256::bytes_type bytes{};
    bytes[0] = n;
    return id256{bytes};
}

group_id key_of(std::uint8_t n) {
    id256::bytes_type bytes{};
    bytes[31] = n;
    return id256{bytes};
}

/// A node's disk: what its host persisted, read back by load() (a store the host can evict
/// groups to). Every write is durable at once.
class map_store final : public storage {
public:
    std::map<group_id, durable_state> groups_held;

    void save_promise(const group_id& group, std::uint64_t epoch,
                      std::span<const node_id> members) override {
        apply_promise(groups_held[group], epoch, members);
    }
    void append(const group_id& group, std::span<const entry> entries) override {
        apply_append(groups_held[group], entries);
    }
    void save_commit(const group_id& group, std::uint64_t commit_index) override {
        apply_commit(groups_held[group], commit_index);
    }
    void save_snapshot(const group_id& group, const snapshot& base) override {
        apply_snapshot(groups_held[group], base);
    }
    void drop(const group_id& group) override { groups_held.erase(group); }
    status sync() override { return {}; }
    result<std::optional<durable_state>> load(const group_id& group) override {
        auto found = groups_held.find(group);
        return found == groups_held.end() ? std::optional<durable_state>{}
                                          : std::optional<durable_state>{found->second};
    }
    result<std::vector<group_id>> groups() override {
        std::vector<group_id> ids;
        for (const auto& [id, state] : groups_held) {
            ids.push_back(id);
        }
        return ids;
    }
};

/// Hosts on an in-memory network; each node keeps what its host persisted (a model of storage
/// that syncs at the end of every drain) and can crash and recover from it.
class nodes {
public:
    explicit nodes(std::size_t count, host_config limits = {}) : limits_(limits) {
        slots_.reserve(count); // hosts keep a pointer to their slot's store
        for (std::size_t i = 0; i < count; ++i) {
            ids_.push_back(node_of(static_cast<std::uint8_t>(i + 1)));
            slots_.emplace_back();
            start(i);
        }
    }

    void start(std::size_t i) {
        auto& slot = slots_[i];
        slot.app = std::make_unique<kv::registers>();
        slot.core = std::make_unique<host>(limits_, ids_[i], *slot.app, 40 + i);
        for (const auto& [group, state] : slot.disk.groups_held) {
            slot.core->recover(now_, group, state);
        }
        slot.core->attach_store(slot.disk);
        slot.up = true;
        drain(i);
    }

    void crash(std::size_t i) {
        slots_[i].up = false;
        slots_[i].core.reset();
        for (std::size_t j = 0; j < slots_.size(); ++j) {
            if (slots_[j].up) {
                (void)slots_[j].core->on_member_down(now_, ids_[i]);
                drain(j);
            }
        }
    }

    void drain(std::size_t i) {
        auto& slot = slots_[i];
        for (auto& produced : slot.core->take_effects()) {
            if (auto* write = std::get_if<host_persist>(&produced)) {
                auto& state = slot.disk.groups_held[write->group];
                std::visit(
                    [&](const auto& what) {
                        using kind = std::decay_t<decltype(what)>;
                        if constexpr (std::is_same_v<kind, persist_promise>) {
                            apply_promise(state, what.epoch, what.members);
                        } else if constexpr (std::is_same_v<kind, persist_entries>) {
                            apply_append(state, what.entries);
                        } else if constexpr (std::is_same_v<kind, persist_commit>) {
                            apply_commit(state, what.commit_index);
                        } else {
                            apply_snapshot(state, what.base);
                        }
                    },
                    write->write);
            } else if (auto* out = std::get_if<host_send>(&produced)) {
                const auto to = static_cast<std::size_t>(
                    std::find(ids_.begin(), ids_.end(), out->to) - ids_.begin());
                wire_.push_back({i, to, std::move(out->body)});
                if (duplicate_) {
                    wire_.push_back(wire_.back());
                }
            } else if (auto* finished = std::get_if<request_done>(&produced)) {
                done_.emplace_back(i, std::move(*finished));
            }
        }
        slot.core->check_invariants();
    }

    void run(duration span = duration::seconds(3)) {
        const instant end = now_ + span;
        while (now_ < end) {
            while (!wire_.empty()) {
                auto item = std::move(wire_.front());
                wire_.pop_front();
                if (slots_[item.to].up) {
                    slots_[item.to].core->on_message(now_, ids_[item.from], item.body);
                    drain(item.to);
                }
            }
            now_ = now_ + duration::milliseconds(50);
            for (std::size_t i = 0; i < slots_.size(); ++i) {
                if (slots_[i].up && slots_[i].core->next_deadline() <= now_) {
                    slots_[i].core->on_tick(now_);
                    drain(i);
                }
            }
        }
    }

    /// Submit an incr of `key` from node `from`, run, and return the answer.
    result<std::string> incr(std::size_t from, const group_id& key, std::uint64_t sequence,
                             const std::vector<std::size_t>& member_indexes,
                             duration span = duration::seconds(3), std::size_t group_size = 0) {
        std::vector<node_id> members;
        for (auto m : member_indexes) {
            members.push_back(ids_[m]);
        }
        auto id = slots_[from].core->submit(now_, key, members,
                                            group_size == 0 ? members.size() : group_size,
                                            {100 + from, sequence},
                                            kv::encode_command(kv::incr{1}));
        if (!id) {
            return id.failure();
        }
        drain(from);
        run(span);
        for (auto& [at, finished] : done_) {
            if (at == from && finished.id == *id) {
                if (!finished.answer) {
                    return finished.answer.failure();
                }
                auto answer = kv::decode_answer(*finished.answer);
                if (!answer) {
                    return answer.failure();
                }
                return answer->value.value_or("-");
            }
        }
        return make_error(errc::internal, "no answer");
    }

    /// The value of `key`'s register on node `i` (nothing when it holds none or it is absent).
    std::optional<std::string> value(std::size_t i, const group_id& key) const {
        const auto* held = slots_[i].app->find(key);
        return held == nullptr ? std::nullopt : held->value();
    }
    host& at(std::size_t i) { return *slots_[i].core; }
    const node_id& id(std::size_t i) const { return ids_[i]; }
    void duplicate_everything(bool on) { duplicate_ = on; }
    instant now() const { return now_; }

private:
    struct slot {
        std::unique_ptr<kv::registers> app;
        std::unique_ptr<host> core;
        map_store disk;
        bool up = false;
    };
    struct in_flight {
        std::size_t from = 0;
        std::size_t to = 0;
        host_message body;
    };

    host_config limits_;
    instant now_ = instant::from_ns(1'000'000'000);
    std::vector<node_id> ids_;
    std::vector<slot> slots_;
    std::deque<in_flight> wire_;
    std::vector<std::pair<std::size_t, request_done>> done_;
    bool duplicate_ = false;
};

const std::vector<std::size_t> first_three{0, 1, 2};

TEST(replica_host, a_request_from_any_node_reaches_the_group_and_is_answered) {
    nodes cluster(4);
    const group_id key = key_of(1);
    auto first = cluster.incr(3, key, 1, first_three); // node 3 is not a member
    ASSERT_TRUE(first.ok()) << first.failure().describe();
    EXPECT_EQ(*first, "1");
    auto second = cluster.incr(1, key, 1, first_three); // a follower: sends to its leader
    ASSERT_TRUE(second.ok()) << second.failure().describe();
    EXPECT_EQ(*second, "2");
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(cluster.value(i, key), "2") << "member " << i;
    }
    EXPECT_EQ(cluster.value(3, key), std::nullopt); // not a member: holds nothing
    EXPECT_EQ(cluster.at(3).groups_count(), 0U);

    // A follower asked directly names its leader instead of serving.
    std::vector<node_id> members{cluster.id(0), cluster.id(1), cluster.id(2)};
    std::sort(members.begin(), members.end());
    cluster.at(2).on_message(cluster.now(), cluster.id(3),
                             client_request{77, key, members, {9, 1}, kv::encode_command(
                                                                          kv::get{})});
    auto effects = cluster.at(2).take_effects();
    ASSERT_EQ(effects.size(), 1U);
    const auto& answer = std::get<client_answer>(std::get<host_send>(effects[0]).body);
    EXPECT_EQ(answer.id, 77U);
    EXPECT_FALSE(answer.applied);
    EXPECT_EQ(answer.leader, cluster.id(0));
}

TEST(replica_host, a_requester_whose_view_changed_finds_the_group_instead_of_creating_another) {
    nodes cluster(5);
    const group_id key = key_of(6);
    ASSERT_TRUE(cluster.incr(4, key, 1, first_three).ok());
    cluster.crash(2);
    // Node 4 now sees nodes 0, 1 and 3 as the closest: node 3 is no member, and must not become
    // one (a group of {0, 1, 3} would never reach a majority, or worse, split the key).
    auto answer = cluster.incr(4, key, 2, {0, 1, 3});
    ASSERT_TRUE(answer.ok()) << answer.failure().describe();
    EXPECT_EQ(*answer, "2");
    answer = cluster.incr(4, key, 3, {3, 1, 0}); // the non-member is asked first
    ASSERT_TRUE(answer.ok()) << answer.failure().describe();
    EXPECT_EQ(*answer, "3");
    EXPECT_EQ(cluster.at(3).groups_count(), 0U);
    EXPECT_GE(cluster.at(4).stats().groups_located, 1U);
    EXPECT_EQ(cluster.at(4).stats().creations_asked, 1U); // only the first use created it
}

TEST(replica_host, a_group_is_created_only_after_every_candidate_answered_unknown) {
    nodes cluster(5);
    const group_id key = key_of(7);
    // Four candidates, groups of three: the first three (by the candidates' order) are chosen.
    auto answer = cluster.incr(4, key, 1, {0, 1, 2, 3}, duration::seconds(3), 3);
    ASSERT_TRUE(answer.ok()) << answer.failure().describe();
    EXPECT_EQ(*answer, "1");
    EXPECT_EQ(cluster.at(3).groups_count(), 0U);
    EXPECT_EQ(cluster.at(0).groups_count(), 1U);

    // A silent candidate might host the group: nothing is created while it does not answer,
    // and the request times out (the client retries later, with a fresher view).
    const group_id other = key_of(8);
    cluster.crash(3);
    auto silent = cluster.incr(4, other, 1, {0, 1, 2, 3}, duration::seconds(10), 3);
    ASSERT_FALSE(silent.ok());
    EXPECT_EQ(silent.failure().code, errc::timeout);
    for (std::size_t i : {0, 1, 2, 4}) {
        EXPECT_EQ(cluster.at(i).find(other), nullptr) << "node " << i;
    }
}

TEST(replica_host, idle_followed_groups_are_evicted_and_loaded_back_when_used) {
    host_config limits;
    limits.groups_resident_max = 1;
    nodes cluster(3, limits);
    // Node 0 leads every group (the first member leads epoch 0); 1 and 2 follow all three.
    for (std::uint8_t key = 20; key < 23; ++key) {
        for (std::uint64_t s = 1; s <= 2; ++s) {
            auto answer = cluster.incr(0, key_of(key), s, first_three);
            ASSERT_TRUE(answer.ok()) << answer.failure().describe();
            EXPECT_EQ(*answer, std::to_string(s));
        }
    }
    EXPECT_EQ(cluster.at(1).groups_count(), 3U);
    EXPECT_EQ(cluster.at(1).groups_resident(), 1U); // two evicted, state on disk only
    EXPECT_GE(cluster.at(1).stats().groups_evicted, 2U);
    EXPECT_EQ(cluster.at(0).groups_resident(), 3U); // a leader keeps the groups it leads
    EXPECT_EQ(cluster.value(1, key_of(20)), std::nullopt); // its register left memory too
    // Used again: loaded, the register rebuilt from the log, and it goes on.
    auto again = cluster.incr(1, key_of(20), 3, first_three);
    ASSERT_TRUE(again.ok()) << again.failure().describe();
    EXPECT_EQ(*again, "3");
    EXPECT_GE(cluster.at(1).stats().groups_loaded + cluster.at(2).stats().groups_loaded, 1U);
    // The leader dies: evicted followers hear of it, load, and elect a new leader.
    cluster.crash(0);
    for (std::uint8_t key = 20; key < 23; ++key) {
        auto after = cluster.incr(2, key_of(key), 10, first_three, duration::seconds(10));
        ASSERT_TRUE(after.ok()) << "key " << int{key} << ": " << after.failure().describe();
        EXPECT_EQ(*after, key == 20 ? "4" : "3");
    }
}

TEST(replica_host, the_group_survives_its_leader_and_the_leader_recovers_from_disk) {
    nodes cluster(4);
    const group_id key = key_of(2);
    ASSERT_TRUE(cluster.incr(3, key, 1, first_three).ok());
    cluster.crash(0); // the leader of epoch 0
    auto after = cluster.incr(3, key, 2, first_three);
    ASSERT_TRUE(after.ok()) << after.failure().describe();
    EXPECT_EQ(*after, "2");
    cluster.start(0);
    cluster.run();
    auto third = cluster.incr(0, key, 3, first_three);
    ASSERT_TRUE(third.ok()) << third.failure().describe();
    EXPECT_EQ(*third, "3");
    cluster.run();
    EXPECT_EQ(cluster.value(0, key), "3"); // rebuilt from its log, then caught up
}

TEST(replica_host, duplicated_messages_apply_a_request_once) {
    nodes cluster(3);
    cluster.duplicate_everything(true);
    const group_id key = key_of(3);
    for (std::uint64_t s = 1; s <= 5; ++s) {
        auto answer = cluster.incr(2, key, s, first_three);
        ASSERT_TRUE(answer.ok()) << answer.failure().describe();
        EXPECT_EQ(*answer, std::to_string(s));
    }
    // A retry of request 5 (same request id) answers again without counting twice.
    auto retried = cluster.incr(2, key, 5, first_three);
    ASSERT_TRUE(retried.ok());
    EXPECT_EQ(*retried, "5");
    EXPECT_EQ(cluster.value(0, key), "5");
}

TEST(replica_host, bad_member_sets_are_refused) {
    nodes cluster(3);
    std::vector<node_id> repeated{cluster.id(2), cluster.id(0), cluster.id(2)};
    EXPECT_EQ(cluster.at(0)
                  .submit(cluster.now(), key_of(4), repeated, 2, {1, 1}, "x")
                  .failure()
                  .code,
              errc::invalid_argument);
    // Group traffic naming a member set without this node is ignored.
    cluster.at(1).on_message(cluster.now(), cluster.id(0),
                             group_traffic{key_of(5), {cluster.id(0)}, epoch_change{1}});
    EXPECT_EQ(cluster.at(1).groups_count(), 0U);
    EXPECT_EQ(cluster.at(1).stats().refused, 1U);
}

TEST(replica_host, a_request_nobody_can_serve_times_out) {
    nodes cluster(4);
    cluster.crash(0);
    cluster.crash(1);
    cluster.crash(2);
    auto answer = cluster.incr(3, key_of(6), 1, first_three, duration::seconds(10));
    ASSERT_FALSE(answer.ok());
    EXPECT_EQ(answer.failure().code, errc::timeout);
    EXPECT_GE(cluster.at(3).stats().retries, 10U); // every 500 ms, rotating over the members
}

} // namespace
} // namespace reef::replica
