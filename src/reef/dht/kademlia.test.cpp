#include "reef/dht/kademlia.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <set>

#include "reef/dht/codec.hpp"

namespace reef::dht {
namespace {

constexpr std::uint64_t unix_start = 1'800'000'000;

crypto::identity identity_of(std::size_t index) {
    crypto::seed32 seed{};
    seed[0] = static_cast<std::uint8_t>(index & 0xFFU);
    seed[1] = static_cast<std::uint8_t>((index >> 8U) & 0xFFU);
    seed[2] = 0x5A;
    return crypto::identity::from_seed(seed);
}

std::string address_of(std::size_t index) { return "127.0.0.1:" + std::to_string(7000 + index); }

/// Nodes exchanging encoded messages through FIFO queues on a virtual clock; every message goes
/// through the codec, as on the wire. A node in `silent` neither answers nor is reported
/// unreachable: its queries time out.
struct network {
    struct in_transit {
        std::size_t from = 0;
        std::size_t to = 0;
        std::string bytes;
    };

    explicit network(std::size_t count, kademlia_config limits = {}) {
        for (std::size_t i = 0; i < count; ++i) {
            const auto who = identity_of(i);
            auto parsed = parse_host_port(address_of(i));
            index_of.emplace(who.id(), i);
            ids.push_back(who.id());
            nodes.push_back(std::make_unique<kademlia>(
                limits, who, std::vector<host_port>{*parsed}, 1000 + i, now));
        }
    }

    std::uint64_t unix_now() const {
        return unix_start + static_cast<std::uint64_t>(now.ns() / 1'000'000'000);
    }

    /// Node i learns of node j (as membership would tell it).
    void introduce(std::size_t i, std::size_t j) {
        nodes[i]->observe(now, ids[j], address_of(j));
        drain(i);
    }

    void drain(std::size_t i) {
        for (auto& produced : nodes[i]->take_effects()) {
            if (auto* send = std::get_if<send_message>(&produced)) {
                auto target = index_of.find(send->to.id);
                ASSERT_NE(target, index_of.end());
                ASSERT_EQ(send->to.address, address_of(target->second));
                queue.push_back({i, target->second, encode(send->body)});
            } else {
                done.emplace_back(i, std::get<operation_done>(std::move(produced)));
            }
        }
    }

    /// Deliver everything and tick through deadlines until quiet or `limit` virtual time passed.
    void run(duration limit = duration::seconds(30)) {
        const instant end = now + limit;
        while (now < end) {
            while (!queue.empty()) {
                auto next = std::move(queue.front());
                queue.pop_front();
                now = now + duration::microseconds(100);
                if (silent.contains(next.to)) {
                    auto decoded = decode(next.bytes);
                    if (decoded.ok() && std::holds_alternative<dht::store>(*decoded)) {
                        ++stores_to_silent;
                    }
                    continue;
                }
                auto decoded = decode(next.bytes);
                ASSERT_TRUE(decoded.ok()) << decoded.failure().describe();
                nodes[next.to]->on_message(now, unix_now(), ids[next.from], address_of(next.from),
                                           *decoded);
                drain(next.to);
            }
            instant earliest = instant::never();
            for (std::size_t i = 0; i < nodes.size(); ++i) {
                if (!silent.contains(i)) {
                    earliest = std::min(earliest, nodes[i]->next_deadline());
                }
            }
            if (earliest >= end) {
                return;
            }
            now = std::max(now, earliest);
            for (std::size_t i = 0; i < nodes.size(); ++i) {
                if (!silent.contains(i) && nodes[i]->next_deadline() <= now) {
                    nodes[i]->on_tick(now, unix_now());
                    drain(i);
                }
            }
        }
    }

    /// Every node joins through node 0 and the network settles (bootstrap lookups, announcements).
    void join_all() {
        for (std::size_t i = 1; i < nodes.size(); ++i) {
            introduce(i, 0);
            run(duration::milliseconds(200));
        }
        run(duration::seconds(5));
    }

    /// Runs until operation `id` of node `at` finished and returns its outcome.
    operation_done wait_for(std::size_t at, result<operation_id> id) {
        if (!id.ok()) {
            ADD_FAILURE() << "not started: " << id.failure().describe();
            return operation_done{0, id.failure()};
        }
        drain(at);
        run(duration::seconds(20));
        for (auto& [node, finished] : done) {
            if (node == at && finished.id == *id) {
                return std::move(finished);
            }
        }
        ADD_FAILURE() << "operation " << *id << " never finished";
        return operation_done{*id, make_error(errc::internal, "never finished")};
    }

    std::vector<node_id> true_closest(const id256& target, std::size_t count) const {
        std::vector<node_id> live;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            if (!silent.contains(i)) {
                live.push_back(ids[i]);
            }
        }
        std::sort(live.begin(), live.end(), [&](const node_id& a, const node_id& b) {
            return a.distance_to(target) < b.distance_to(target);
        });
        live.resize(std::min(count, live.size()));
        return live;
    }

    instant now = instant::from_ns(1'000'000'000);
    std::vector<std::unique_ptr<kademlia>> nodes;
    std::vector<node_id> ids;
    std::map<node_id, std::size_t> index_of;
    std::deque<in_transit> queue;
    std::vector<std::pair<std::size_t, operation_done>> done;
    std::set<std::size_t> silent;
    std::size_t stores_to_silent = 0;
};

TEST(kademlia, config_validation_names_the_setting) {
    kademlia_config limits;
    EXPECT_TRUE(limits.validate().ok());
    limits.get_confirmations = 0;
    EXPECT_FALSE(limits.validate().ok());
    limits = {};
    limits.routing.bucket_size = 21;
    EXPECT_FALSE(limits.validate().ok());
    limits = {};
    limits.record_lifetime_seconds = limits.store.lifetime_max_seconds + 1;
    EXPECT_FALSE(limits.validate().ok());
}

TEST(kademlia, put_on_one_node_is_read_on_every_other) {
    network net(40);
    net.join_all();
    auto stored = net.wait_for(3, net.nodes[3]->start_put(net.now, net.unix_now(), "greeting",
                                                          "hello"));
    ASSERT_TRUE(stored.outcome.ok()) << stored.outcome.failure().describe();
    const auto& written = std::get<put_result>(*stored.outcome);
    EXPECT_EQ(written.stored_on.size(), 20U);
    EXPECT_EQ(written.failed, 0U);
    const id256 key = record_key(net.ids[3], "greeting");
    EXPECT_EQ(written.stored.key, key);
    // The record lives on the true 20 closest nodes.
    for (const auto& holder : net.true_closest(key, 20)) {
        EXPECT_NE(net.nodes[net.index_of.at(holder)]->store().get(key, net.unix_now()), nullptr);
    }
    for (std::size_t i = 0; i < net.nodes.size(); ++i) {
        if (i == 3) {
            continue;
        }
        auto read = net.wait_for(i, net.nodes[i]->start_get(net.now, net.unix_now(), key));
        ASSERT_TRUE(read.outcome.ok()) << "node " << i << ": " << read.outcome.failure().describe();
        const auto& found = std::get<get_result>(*read.outcome);
        EXPECT_EQ(found.found.value, "hello");
        EXPECT_FALSE(found.from_local_store);
        EXPECT_GE(found.holders, 1U);
        EXPECT_GE(found.rounds, 1U); // also when enough confirmations end the get early
    }
}

TEST(kademlia, newer_put_wins_and_sequences_increase) {
    network net(25);
    net.join_all();
    auto first = net.wait_for(1, net.nodes[1]->start_put(net.now, net.unix_now(), "k", "one"));
    auto second = net.wait_for(1, net.nodes[1]->start_put(net.now, net.unix_now(), "k", "two"));
    ASSERT_TRUE(first.outcome.ok());
    ASSERT_TRUE(second.outcome.ok());
    EXPECT_GT(std::get<put_result>(*second.outcome).stored.sequence,
              std::get<put_result>(*first.outcome).stored.sequence);
    auto read = net.wait_for(20, net.nodes[20]->start_get(net.now, net.unix_now(),
                                                       record_key(net.ids[1], "k")));
    ASSERT_TRUE(read.outcome.ok());
    EXPECT_EQ(std::get<get_result>(*read.outcome).found.value, "two");
}

TEST(kademlia, closest_returns_the_true_k_closest_live_nodes) {
    network net(80);
    net.join_all();
    net.silent = {5, 17, 33, 61};
    prng draw(9);
    for (int round = 0; round < 10; ++round) {
        id256::bytes_type raw{};
        for (auto& byte : raw) {
            byte = static_cast<std::uint8_t>(draw.next_u64() & 0xFFU);
        }
        const node_id target(raw);
        auto found = net.wait_for(2, net.nodes[2]->start_closest(net.now, target));
        ASSERT_TRUE(found.outcome.ok()) << found.outcome.failure().describe();
        std::vector<node_id> got;
        for (const auto& peer : std::get<lookup_result>(*found.outcome).closest) {
            got.push_back(peer.id);
        }
        auto expected = net.true_closest(target, 21);
        expected.erase(std::remove(expected.begin(), expected.end(), net.ids[2]), expected.end());
        expected.resize(20);
        EXPECT_EQ(got, expected) << "round " << round;
    }
}

TEST(kademlia, a_silent_holder_is_sent_the_store_twice_then_counted_as_failed) {
    network net(25);
    net.join_all();
    const id256 key = record_key(net.ids[4], "r");
    const auto holders = net.true_closest(key, 20);
    std::size_t mute = 0;
    while (net.ids[mute] == net.ids[4] ||
           std::find(holders.begin(), holders.end(), net.ids[mute]) == holders.end()) {
        ++mute;
    }
    // The holder answers the lookup and goes silent when the first store is on its way.
    auto put = net.nodes[4]->start_put(net.now, net.unix_now(), "r", "v");
    ASSERT_TRUE(put.ok());
    net.drain(4);
    for (int i = 0; i < 400 && net.nodes[4]->operations_in_flight() > 0; ++i) {
        if (net.queue.empty()) {
            break;
        }
        auto decoded = decode(net.queue.front().bytes);
        if (decoded.ok() && std::holds_alternative<dht::store>(*decoded)) {
            net.silent = {mute};
            break;
        }
        auto next = std::move(net.queue.front());
        net.queue.pop_front();
        net.nodes[next.to]->on_message(net.now, net.unix_now(), net.ids[next.from],
                                       address_of(next.from), *decoded);
        net.drain(next.to);
    }
    auto stored = net.wait_for(4, put);
    ASSERT_TRUE(stored.outcome.ok()) << stored.outcome.failure().describe();
    EXPECT_EQ(net.stores_to_silent, 2U); // the store and its one retry
    EXPECT_EQ(std::get<put_result>(*stored.outcome).failed, 1U);
    EXPECT_EQ(std::get<put_result>(*stored.outcome).stored_on.size(), 19U);
}

TEST(kademlia, every_node_finds_every_other_by_id) {
    network net(30);
    net.join_all();
    for (std::size_t i = 0; i < net.nodes.size(); ++i) {
        auto read = net.wait_for(29, net.nodes[29]->start_get(net.now, net.unix_now(),
                                                           node_addresses_key(net.ids[i])));
        ASSERT_TRUE(read.outcome.ok()) << "node " << i << ": "
                                       << read.outcome.failure().describe();
        auto addresses = parse_node_addresses(std::get<get_result>(*read.outcome).found);
        ASSERT_TRUE(addresses.ok());
        ASSERT_EQ(addresses->size(), 1U);
        EXPECT_EQ((*addresses)[0].text(), address_of(i));
    }
}

TEST(kademlia, bad_put_arguments_and_overload_are_refused) {
    kademlia_config limits;
    limits.operations_max = 2;
    network net(3, limits);
    auto& first = *net.nodes[0];
    EXPECT_EQ(first.start_put(net.now, net.unix_now(), "", "v").failure().code,
              errc::invalid_argument);
    EXPECT_EQ(first.start_put(net.now, net.unix_now(), std::string(129, 'n'), "v").failure().code,
              errc::invalid_argument);
    EXPECT_EQ(first.start_put(net.now, net.unix_now(), "n", std::string(1025, 'v')).failure().code,
              errc::invalid_argument);
    EXPECT_EQ(first.start_closest(net.now, net.ids[1]).failure().code, errc::unavailable);
    net.introduce(0, 1);
    net.silent = {1};
    ASSERT_TRUE(first.start_closest(net.now, net.ids[2]).ok());
    ASSERT_TRUE(first.start_closest(net.now, net.ids[2]).ok());
    EXPECT_EQ(first.start_closest(net.now, net.ids[2]).failure().code, errc::resource_exhausted);
}

TEST(kademlia, get_of_an_absent_key_is_not_found_and_silence_times_out) {
    network net(10);
    net.join_all();
    id256::bytes_type raw{};
    raw[0] = 0x42;
    const id256 nowhere(raw);
    auto missing = net.wait_for(4, net.nodes[4]->start_get(net.now, net.unix_now(), nowhere));
    ASSERT_FALSE(missing.outcome.ok());
    EXPECT_EQ(missing.outcome.failure().code, errc::not_found);

    // Everyone else silent: the lookup's queries time out and the get ends, not found.
    for (std::size_t i = 1; i < 10; ++i) {
        net.silent.insert(i);
    }
    auto lonely = net.wait_for(0, net.nodes[0]->start_get(net.now, net.unix_now(), nowhere));
    ASSERT_FALSE(lonely.outcome.ok());
    EXPECT_EQ(lonely.outcome.failure().code, errc::not_found);
}

TEST(kademlia, unreachable_peers_fail_fast) {
    network net(12);
    net.join_all();
    net.silent = {7};
    auto get = net.nodes[0]->start_get(net.now, net.unix_now(), net.ids[7]);
    net.nodes[0]->on_unreachable(net.now, net.ids[7]);
    auto read = net.wait_for(0, get);
    EXPECT_FALSE(read.outcome.ok()); // nobody published at that key
}

/// A node that answers find_value with a forged or foreign record is treated as a liar.
TEST(kademlia, forged_records_and_unsolicited_replies_are_rejected) {
    network net(2);
    net.introduce(0, 1);
    net.queue.clear(); // drop the bootstrap traffic: node 1 plays by hand
    net.done.clear();
    auto& asker = *net.nodes[0];
    const id256 key = record_key(net.ids[1], "x");
    auto get = asker.start_get(net.now, net.unix_now(), key);
    ASSERT_TRUE(get.ok());
    std::uint64_t query_id = 0;
    for (auto& produced : asker.take_effects()) {
        if (auto* send = std::get_if<send_message>(&produced)) {
            if (auto* asked = std::get_if<find_value>(&send->body)) {
                query_id = asked->query_id;
            }
        }
    }
    ASSERT_NE(query_id, 0U);
    const auto liar = identity_of(1);
    auto forged = sign_record(liar, "x", 5, net.unix_now() + 100, "real");
    forged.value = "tampered";
    const auto rejected_before = asker.stats().records_rejected;
    asker.on_message(net.now, net.unix_now(), net.ids[1], address_of(1),
                     find_value_reply{query_id, forged, {}});
    EXPECT_EQ(asker.stats().records_rejected, rejected_before + 1);

    const auto unsolicited_before = asker.stats().replies_unsolicited;
    asker.on_message(net.now, net.unix_now(), net.ids[1], address_of(1),
                     find_node_reply{987654321, {}});
    asker.on_message(net.now, net.unix_now(), net.ids[1], address_of(1), pong{query_id});
    EXPECT_EQ(asker.stats().replies_unsolicited, unsolicited_before + 2);
    asker.check_invariants();
}

TEST(kademlia, store_requests_with_bad_records_are_refused) {
    network net(2);
    auto& keeper = *net.nodes[0];
    auto good = sign_record(identity_of(1), "x", 5, net.unix_now() + 100, "v");
    auto bad = good;
    bad.value = "w";
    keeper.on_message(net.now, net.unix_now(), net.ids[1], address_of(1), store{11, bad});
    keeper.on_message(net.now, net.unix_now(), net.ids[1], address_of(1), store{12, good});
    std::vector<store_reply> verdicts;
    for (auto& produced : keeper.take_effects()) {
        if (auto* send = std::get_if<send_message>(&produced)) {
            if (auto* verdict = std::get_if<store_reply>(&send->body)) {
                verdicts.push_back(*verdict);
            }
        }
    }
    ASSERT_EQ(verdicts.size(), 2U);
    EXPECT_EQ(verdicts[0].failure, errc::permission_denied);
    EXPECT_FALSE(verdicts[1].failure.has_value());
    EXPECT_EQ(keeper.stats().stores_refused, 1U);
    EXPECT_EQ(keeper.stats().stores_accepted, 1U);
}

TEST(kademlia, own_records_are_republished_with_a_higher_sequence) {
    kademlia_config limits;
    limits.store.republish_interval_seconds = 600;
    network net(6, limits);
    net.join_all();
    auto put = net.wait_for(2, net.nodes[2]->start_put(net.now, net.unix_now(), "n", "v"));
    ASSERT_TRUE(put.outcome.ok());
    const auto first_sequence = std::get<put_result>(*put.outcome).stored.sequence;
    const id256 key = record_key(net.ids[2], "n");
    net.run(duration::seconds(700));
    EXPECT_GE(net.nodes[2]->stats().republished, 1U);
    const record* elsewhere = net.nodes[4]->store().get(key, net.unix_now());
    ASSERT_NE(elsewhere, nullptr);
    EXPECT_GT(elsewhere->sequence, first_sequence);
    EXPECT_EQ(elsewhere->value, "v");
    for (const auto& node : net.nodes) {
        node->check_invariants();
    }
}

} // namespace
} // namespace reef::dht
