#include "reef/node/node.hpp"

#include <map>

#include <gtest/gtest.h>

#include <set>
#include <rapidcheck/gtest.h>

#include "reef/base/address.hpp"
#include "reef/dht/record.hpp"
#include "reef/membership/codec.hpp"
#include "reef/wire/envelope.hpp"

namespace reef::node {
namespace {

constexpr std::uint64_t unix_start = 1'800'000'000;

crypto::identity identity_of(std::uint8_t first) {
    crypto::seed32 seed{};
    seed[0] = first;
    seed[31] = 1;
    return crypto::identity::from_seed(seed);
}

node_id id_of(std::uint8_t first) { return identity_of(first).id(); }

std::string address_of(std::uint8_t first) { return "127.0.0.1:" + std::to_string(7400 + first); }

config test_config() { return config{}; }

std::vector<std::uint8_t> envelope_bytes(wire::channel kind, const std::string& body) {
    return wire::encode(wire::envelope{kind, body});
}

std::vector<std::uint8_t> membership_bytes(const membership::message& body) {
    return envelope_bytes(wire::channel::membership, membership::encode(body));
}

template <typename T>
std::vector<T> effects_of(const std::vector<effect>& all) {
    std::vector<T> out;
    for (const auto& one : all) {
        if (const auto* typed = std::get_if<T>(&one)) {
            out.push_back(*typed);
        }
    }
    return out;
}

// Nodes on a perfect in-memory network, stepped by hand.
class cluster {
public:
    void add(std::uint8_t first, std::uint64_t incarnation = 1) {
        nodes_.emplace(std::piecewise_construct, std::forward_as_tuple(id_of(first)),
                       std::forward_as_tuple(test_config(), identity_of(first), address_of(first),
                                             incarnation, first, now_, unix_start));
        address_by_id_.emplace(id_of(first), address_of(first));
        by_address_.emplace(address_of(first), id_of(first));
    }
    node& at(std::uint8_t first) { return nodes_.at(id_of(first)); }

    // Deliver every pending payload until quiet (or a step bound), then advance time.
    void run_for(duration span) {
        const instant end = now_ + span;
        while (now_ < end) {
            deliver_all();
            now_ = now_ + duration::milliseconds(10);
            for (auto& [id, one] : nodes_) {
                if (one.next_deadline() <= now_) {
                    one.on_tick(now_);
                }
            }
        }
        deliver_all();
    }
    instant now() const { return now_; }
    std::vector<member_changed> changes;
    std::vector<std::pair<node_id, dht_done>> dht_results;
    std::vector<std::pair<node_id, kv_done>> kv_results;

    /// The answer to kv request `id` of node `first`, once it finished.
    const kv_done* kv_result_of(std::uint8_t first, std::uint64_t id) const {
        for (const auto& [at, finished] : kv_results) {
            if (at == id_of(first) && finished.id == id) {
                return &finished;
            }
        }
        return nullptr;
    }

    /// The outcome of DHT operation `id` started on node `first`, once it finished.
    const dht_done* result_of(std::uint8_t first, dht::operation_id id) const {
        for (const auto& [at, finished] : dht_results) {
            if (at == id_of(first) && finished.id == id) {
                return &finished;
            }
        }
        return nullptr;
    }

private:
    void deliver_all() {
        for (int round = 0; round < 100; ++round) {
            bool any = false;
            for (auto& [from, one] : nodes_) {
                for (auto& produced : one.take_effects()) {
                    if (auto* change = std::get_if<member_changed>(&produced)) {
                        changes.push_back(*change);
                    }
                    if (auto* finished = std::get_if<dht_done>(&produced)) {
                        dht_results.emplace_back(from, std::move(*finished));
                    }
                    if (auto* answered = std::get_if<kv_done>(&produced)) {
                        kv_results.emplace_back(from, std::move(*answered));
                    }
                    auto* send = std::get_if<send_payload>(&produced);
                    if (send == nullptr) {
                        continue;
                    }
                    any = true;
                    const auto to = by_address_.find(send->address);
                    if (to == by_address_.end()) {
                        continue;
                    }
                    EXPECT_TRUE(send->to.is_zero() || send->to == to->second);
                    pending_.push_back({from, to->second, std::move(send->bytes)});
                }
            }
            for (auto& message : std::exchange(pending_, {})) {
                nodes_.at(message.to)
                    .on_payload(now_, message.from, address_by_id_.at(message.from),
                                message.bytes);
                nodes_.at(message.to).check_invariants();
            }
            if (!any) {
                return;
            }
        }
    }

    struct in_flight {
        node_id from;
        node_id to;
        std::vector<std::uint8_t> bytes;
    };
    std::map<node_id, node> nodes_;
    std::map<std::string, node_id> by_address_;
    std::map<node_id, std::string> address_by_id_;
    std::vector<in_flight> pending_;
    instant now_ = instant::from_ns(1'000'000'000);
};

TEST(node, join_sends_an_envelope_with_a_membership_message_to_the_seed) {
    node one(test_config(), identity_of(1), address_of(1), 1, 42, instant::from_ns(0),
             unix_start);
    const std::vector<std::string> seeds{address_of(2)};
    one.join(instant::from_ns(0), seeds);
    auto sends = effects_of<send_payload>(one.take_effects());
    ASSERT_FALSE(sends.empty());
    EXPECT_EQ(sends[0].address, address_of(2));
    EXPECT_TRUE(sends[0].to.is_zero());
    auto outer = wire::decode(sends[0].bytes);
    ASSERT_TRUE(outer.ok()) << outer.failure().describe();
    EXPECT_EQ(outer->kind, wire::channel::membership);
    auto inner = membership::decode(outer->body);
    ASSERT_TRUE(inner.ok()) << inner.failure().describe();
    EXPECT_EQ(one.stats().payloads_sent, sends.size());
    one.check_invariants();
}

TEST(node, three_nodes_join_through_one_seed_and_all_see_three_alive) {
    cluster nodes;
    nodes.add(1);
    nodes.add(2);
    nodes.add(3);
    const std::vector<std::string> seed{address_of(1)};
    nodes.at(2).join(nodes.now(), seed);
    nodes.at(3).join(nodes.now(), seed);
    nodes.run_for(duration::seconds(5));
    for (std::uint8_t i = 1; i <= 3; ++i) {
        EXPECT_EQ(nodes.at(i).cluster_size(), 3U) << "node " << int{i};
        const auto members = nodes.at(i).members();
        ASSERT_EQ(members.size(), 3U);
        for (const auto& member : members) {
            EXPECT_EQ(member.update.state, membership::member_state::alive);
        }
    }
    EXPECT_FALSE(nodes.changes.empty());
}

TEST(node, leave_marks_self_left_and_peers_learn_it) {
    cluster nodes;
    nodes.add(1);
    nodes.add(2);
    const std::vector<std::string> seed{address_of(1)};
    nodes.at(2).join(nodes.now(), seed);
    nodes.run_for(duration::seconds(3));
    ASSERT_EQ(nodes.at(1).cluster_size(), 2U);

    nodes.at(2).leave(nodes.now());
    EXPECT_TRUE(nodes.at(2).has_left());
    nodes.run_for(duration::seconds(2));
    auto seen = nodes.at(1).members();
    bool found = false;
    for (const auto& member : seen) {
        if (member.update.id == id_of(2)) {
            found = true;
            EXPECT_EQ(member.update.state, membership::member_state::left);
        }
    }
    EXPECT_TRUE(found);
    EXPECT_EQ(nodes.at(1).cluster_size(), 1U);
}

TEST(node, refuting_a_suspicion_persists_the_new_incarnation_before_sending) {
    node one(test_config(), identity_of(1), address_of(1), 5, 7, instant::from_ns(0),
             unix_start);
    membership::sync rumor;
    rumor.members.push_back(
        {id_of(1), address_of(1), 9, membership::member_state::suspect, id_of(2)});
    rumor.members.push_back({id_of(2), address_of(2), 1, membership::member_state::alive, {}});
    one.on_payload(instant::from_ns(0), id_of(2), address_of(2), membership_bytes(rumor));
    one.on_tick(instant::from_ns(1'000'000));
    auto effects = one.take_effects();
    ASSERT_GT(one.incarnation(), 9U);
    std::size_t persist_index = effects.size();
    std::size_t first_send_index = effects.size();
    for (std::size_t i = 0; i < effects.size(); ++i) {
        if (std::holds_alternative<persist_incarnation>(effects[i]) &&
            persist_index == effects.size()) {
            persist_index = i;
            EXPECT_EQ(std::get<persist_incarnation>(effects[i]).incarnation, one.incarnation());
        }
        if (std::holds_alternative<send_payload>(effects[i]) &&
            first_send_index == effects.size()) {
            first_send_index = i;
        }
    }
    ASSERT_LT(persist_index, effects.size());
    EXPECT_LT(persist_index, first_send_index);
    one.check_invariants();
}

TEST(node, garbage_bytes_are_rejected_and_reported_with_the_sender) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    const std::vector<std::uint8_t> garbage{0xff, 0xff, 0xff, 0xff, 0x0f};
    one.on_payload(instant::from_ns(0), id_of(9), address_of(9), garbage);
    auto rejected = effects_of<payload_rejected>(one.take_effects());
    ASSERT_EQ(rejected.size(), 1U);
    EXPECT_EQ(rejected[0].from, id_of(9));
    EXPECT_FALSE(rejected[0].reason.empty());
    EXPECT_EQ(one.stats().payloads_received, 1U);
    EXPECT_EQ(one.stats().payloads_rejected, 1U);
    EXPECT_EQ(one.cluster_size(), 1U);
    one.check_invariants();
}

TEST(node, empty_payload_is_rejected_for_its_missing_version) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    one.on_payload(instant::from_ns(0), id_of(9), address_of(9), {});
    auto rejected = effects_of<payload_rejected>(one.take_effects());
    ASSERT_EQ(rejected.size(), 1U);
    EXPECT_NE(rejected[0].reason.find("version"), std::string::npos) << rejected[0].reason;
}

TEST(node, unknown_channel_is_rejected) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    one.on_payload(instant::from_ns(0), id_of(9), address_of(9),
                   envelope_bytes(static_cast<wire::channel>(77), "x"));
    auto rejected = effects_of<payload_rejected>(one.take_effects());
    ASSERT_EQ(rejected.size(), 1U);
    EXPECT_NE(rejected[0].reason.find("channel"), std::string::npos) << rejected[0].reason;
}

TEST(node, malformed_membership_body_is_rejected_with_its_layer_named) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    one.on_payload(instant::from_ns(0), id_of(9), address_of(9),
                   envelope_bytes(wire::channel::membership, "\xff\xff\xff garbage"));
    auto rejected = effects_of<payload_rejected>(one.take_effects());
    ASSERT_EQ(rejected.size(), 1U);
    EXPECT_EQ(rejected[0].reason.rfind("membership message: ", 0), 0U) << rejected[0].reason;
    EXPECT_EQ(one.stats().payloads_rejected, 1U);
}

TEST(node, rejection_reports_are_rate_limited_and_count_what_they_suppressed) {
    config limits = test_config();
    limits.rejection_reports_per_second = 3;
    node one(limits, identity_of(1), address_of(1), 1, 1, instant::from_ns(0), unix_start);
    const std::vector<std::uint8_t> garbage{0xff, 0x01};
    const instant start = instant::from_ns(5'000'000'000);
    for (int i = 0; i < 10; ++i) {
        one.on_payload(start, id_of(9), address_of(9), garbage);
    }
    EXPECT_EQ(effects_of<payload_rejected>(one.take_effects()).size(), 3U);
    EXPECT_EQ(one.stats().payloads_rejected, 10U);

    one.on_payload(start + duration::seconds(1), id_of(9), address_of(9), garbage);
    auto later = effects_of<payload_rejected>(one.take_effects());
    ASSERT_EQ(later.size(), 1U);
    EXPECT_EQ(later[0].suppressed, 7U);
    one.check_invariants();
}

TEST(node, unreachable_seed_address_is_harmless) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    one.on_unreachable(instant::from_ns(0), node_id{});
    EXPECT_EQ(one.stats().unreachable_reports, 1U);
    EXPECT_EQ(one.cluster_size(), 1U);
    one.check_invariants();
}

TEST(node, config_validation_refuses_zero_report_rate) {
    config limits = test_config();
    limits.rejection_reports_per_second = 0;
    auto checked = limits.validate();
    ASSERT_FALSE(checked.ok());
    EXPECT_EQ(checked.failure().code, errc::invalid_argument);
}

// A node is built with an address people typed (flags, config, the control API); whatever the
// parser accepts with a real port must be an address membership gossips and dials.
TEST(node, parsed_addresses_are_valid_membership_addresses) {
    for (const char* text : {"127.0.0.1:7401", "node-3.example.org:65535", "[::1]:1",
                             "[::ffff:10.0.0.1]:7400", "[fe80::1:2]:80", "localhost:1"}) {
        auto parsed = parse_host_port(text);
        ASSERT_TRUE(parsed.ok()) << text;
        EXPECT_TRUE(membership::is_valid_address(parsed->text())) << parsed->text();
    }
}

TEST(node, membership_feeds_the_routing_table_and_dht_records_travel) {
    cluster nodes;
    for (std::uint8_t i = 1; i <= 5; ++i) {
        nodes.add(i);
    }
    const std::vector<std::string> seed{address_of(1)};
    for (std::uint8_t i = 2; i <= 5; ++i) {
        nodes.at(i).join(nodes.now(), seed);
    }
    nodes.run_for(duration::seconds(5));
    for (std::uint8_t i = 1; i <= 5; ++i) {
        EXPECT_EQ(nodes.at(i).dht().table().size(), 4U) << "node " << int{i};
    }
    auto put = nodes.at(2).dht_put(nodes.now(), "greeting", "hello");
    ASSERT_TRUE(put.ok()) << put.failure().describe();
    nodes.run_for(duration::seconds(1));
    const dht_done* stored = nodes.result_of(2, *put);
    ASSERT_NE(stored, nullptr);
    ASSERT_TRUE(stored->outcome.ok()) << stored->outcome.failure().describe();
    EXPECT_EQ(std::get<dht::put_result>(*stored->outcome).stored_on.size(), 5U);

    auto get = nodes.at(5).dht_get(nodes.now(), dht::record_key(id_of(2), "greeting"));
    ASSERT_TRUE(get.ok());
    nodes.run_for(duration::seconds(1));
    const dht_done* read = nodes.result_of(5, *get);
    ASSERT_NE(read, nullptr);
    ASSERT_TRUE(read->outcome.ok()) << read->outcome.failure().describe();
    EXPECT_EQ(std::get<dht::get_result>(*read->outcome).found.value, "hello");

    // A member that leaves leaves every routing table.
    nodes.at(4).leave(nodes.now());
    nodes.run_for(duration::seconds(3));
    for (std::uint8_t i : {1, 2, 3, 5}) {
        EXPECT_FALSE(nodes.at(i).dht().table().find(id_of(4)).has_value()) << "node " << int{i};
    }
}

TEST(node, concurrent_kv_requests_from_one_node_each_apply_once_with_their_own_answer) {
    cluster nodes;
    for (std::uint8_t i = 1; i <= 3; ++i) {
        nodes.add(i);
    }
    const std::vector<std::string> seed{address_of(1)};
    for (std::uint8_t i = 2; i <= 3; ++i) {
        nodes.at(i).join(nodes.now(), seed);
    }
    nodes.run_for(duration::seconds(5));
    // All at once: entries may reach the log in any order; none may be taken for another's
    // retry (which a shared client id with growing sequences would do).
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 20; ++i) {
        auto id = nodes.at(2).kv_submit(nodes.now(), "together", replica::kv::incr{1});
        ASSERT_TRUE(id.ok()) << id.failure().describe();
        ids.push_back(*id);
    }
    nodes.run_for(duration::seconds(3));
    std::set<std::string> values;
    for (auto id : ids) {
        const kv_done* answered = nodes.kv_result_of(2, id);
        ASSERT_NE(answered, nullptr);
        ASSERT_TRUE(answered->answer.ok()) << answered->answer.failure().describe();
        values.insert(*answered->answer->value);
    }
    EXPECT_EQ(values.size(), 20U);
    EXPECT_TRUE(values.contains("20"));
    nodes.at(2).check_invariants();
}

TEST(node, kv_requests_from_any_node_are_served_by_the_keys_group) {
    cluster nodes;
    for (std::uint8_t i = 1; i <= 5; ++i) {
        nodes.add(i);
    }
    const std::vector<std::string> seed{address_of(1)};
    for (std::uint8_t i = 2; i <= 5; ++i) {
        nodes.at(i).join(nodes.now(), seed);
    }
    nodes.run_for(duration::seconds(5));
    for (std::uint8_t round = 1; round <= 3; ++round) {
        const std::uint8_t from = static_cast<std::uint8_t>(round + 1);
        auto id = nodes.at(from).kv_submit(nodes.now(), "counter", replica::kv::incr{1});
        ASSERT_TRUE(id.ok()) << id.failure().describe();
        nodes.run_for(duration::seconds(2));
        const kv_done* answered = nodes.kv_result_of(from, *id);
        ASSERT_NE(answered, nullptr) << "round " << int{round};
        ASSERT_TRUE(answered->answer.ok()) << answered->answer.failure().describe();
        EXPECT_EQ(answered->answer->value, std::to_string(round));
    }
    auto read = nodes.at(5).kv_submit(nodes.now(), "counter", replica::kv::get{});
    ASSERT_TRUE(read.ok());
    nodes.run_for(duration::seconds(2));
    const kv_done* got = nodes.kv_result_of(5, *read);
    ASSERT_NE(got, nullptr);
    ASSERT_TRUE(got->answer.ok());
    EXPECT_EQ(got->answer->value, "3");
    // Exactly the three closest members host the group.
    std::size_t hosting = 0;
    for (std::uint8_t i = 1; i <= 5; ++i) {
        hosting += nodes.at(i).replicas().groups_count();
    }
    EXPECT_EQ(hosting, 3U);
    EXPECT_EQ(nodes.at(1).kv_submit(nodes.now(), "", replica::kv::get{}).failure().code,
              errc::invalid_argument);
}

TEST(node, malformed_dht_payloads_are_rejected_with_a_reason) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    one.on_payload(instant::from_ns(0), id_of(2), address_of(2),
                   envelope_bytes(wire::channel::dht, "\x0a\xff"));
    auto rejected = effects_of<payload_rejected>(one.take_effects());
    ASSERT_EQ(rejected.size(), 1U);
    EXPECT_NE(rejected[0].reason.find("dht message"), std::string::npos) << rejected[0].reason;
}

RC_GTEST_PROP(node, arbitrary_dht_bodies_never_crash, (std::string body)) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    one.on_payload(instant::from_ns(0), id_of(2), address_of(2),
                   envelope_bytes(wire::channel::dht, body));
    (void)one.take_effects();
    one.check_invariants();
    RC_ASSERT(one.stats().payloads_received == 1U);
}

RC_GTEST_PROP(node, arbitrary_replica_bodies_never_crash, (std::string body)) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    one.on_payload(instant::from_ns(0), id_of(2), address_of(2),
                   envelope_bytes(wire::channel::replica, body));
    (void)one.take_effects();
    one.check_invariants();
    RC_ASSERT(one.stats().payloads_received == 1U);
}

RC_GTEST_PROP(node, arbitrary_bytes_never_crash_and_are_counted,
              (std::vector<std::uint8_t> bytes)) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    one.on_payload(instant::from_ns(0), id_of(2), address_of(2), bytes);
    (void)one.take_effects();
    one.check_invariants();
    RC_ASSERT(one.stats().payloads_received == 1U);
    RC_ASSERT(one.stats().payloads_rejected <= 1U);
}

RC_GTEST_PROP(node, arbitrary_membership_bodies_never_crash, (std::string body)) {
    node one(test_config(), identity_of(1), address_of(1), 1, 1, instant::from_ns(0),
             unix_start);
    one.on_payload(instant::from_ns(0), id_of(2), address_of(2),
                   envelope_bytes(wire::channel::membership, body));
    (void)one.take_effects();
    one.check_invariants();
    RC_ASSERT(one.stats().payloads_received == 1U);
}

} // namespace
} // namespace reef::node
