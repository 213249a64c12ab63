// Scenario tests of the SWIM core: several instances on an in-memory network with a virtual clock
// (test_cluster.hpp), plus single-instance tests that feed hand-made messages.

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "reef/membership/swim.hpp"
#include "reef/membership/test_cluster.hpp"

namespace reef::membership {
namespace {

using testing::cluster;
using testing::make_id;

constexpr duration ms(std::int64_t n) { return duration::milliseconds(n); }
constexpr duration sec(std::int64_t n) { return duration::seconds(n); }

// --- a single core fed by hand ---------------------------------------------------------------

struct lone {
    config limits;
    node_id self = make_id(100);
    std::unique_ptr<swim> core;
    instant now = instant::from_ns(5'000'000'000);

    explicit lone(config c = {}) : limits(c) {
        core = std::make_unique<swim>(limits, self, "10.1.0.1:7400", 3, 42);
        core->on_tick(now);
        (void)core->take_effects();
    }
    void feed(const node_id& from, const message& m) {
        core->on_message(now, from, m);
        core->check_invariants();
    }
    void tick_to(instant t) {
        while (core->next_deadline() <= t) {
            now = max(now, core->next_deadline());
            core->on_tick(now);
            core->check_invariants();
        }
        now = t;
    }
    std::vector<send_effect> sends() {
        std::vector<send_effect> out;
        for (auto& e : core->take_effects()) {
            if (auto* s = std::get_if<send_effect>(&e)) {
                out.push_back(std::move(*s));
            }
        }
        return out;
    }
};

/// A valid IPv4 address for member n (n < 65280), "10.1.1.1:7400" for n = 1.
std::string member_address(std::uint64_t n) {
    return "10.1." + std::to_string(1 + n / 256) + "." + std::to_string(n % 256) + ":7400";
}

member_update update(std::uint64_t n, std::uint64_t inc, member_state state,
                     node_id origin = {}) {
    return member_update{make_id(n), member_address(n), inc, state, origin};
}

std::optional<member_state> state_in(const swim& core, std::uint64_t n) {
    auto view = core.member(make_id(n));
    if (!view) {
        return std::nullopt;
    }
    return view->update.state;
}

TEST(swim_config, defaults_validate_and_bad_settings_are_named) {
    EXPECT_TRUE(config{}.validate().ok());
    auto expect_bad = [](config c, std::string_view needle) {
        auto result = c.validate();
        ASSERT_FALSE(result.ok());
        EXPECT_EQ(result.failure().code, errc::invalid_argument);
        EXPECT_NE(result.failure().message.find(needle), std::string::npos)
            << result.failure().message;
    };
    config c;
    c.probe_timeout = c.probe_period;
    expect_bad(c, "probe_timeout");
    c = {};
    c.probe_period = duration::zero();
    expect_bad(c, "probe_period");
    c = {};
    c.indirect_probes = 17;
    expect_bad(c, "indirect_probes");
    c = {};
    c.suspicion_mult = 0.5;
    expect_bad(c, "suspicion_mult");
    c = {};
    c.suspicion_max_mult = std::numeric_limits<double>::quiet_NaN();
    expect_bad(c, "suspicion_max_mult");
    c = {};
    c.awareness_max = 0;
    expect_bad(c, "awareness_max");
    c = {};
    c.retransmit_mult = -1;
    expect_bad(c, "retransmit_mult");
    c = {};
    c.gossip_per_message_max = 65;
    expect_bad(c, "gossip_per_message_max");
    c = {};
    c.reconnect_period = duration::zero();
    expect_bad(c, "reconnect_period");
    c = {};
    c.members_max = 200'000;
    expect_bad(c, "members_max");
    c = {};
    c.probes_in_flight_max = 0;
    expect_bad(c, "probes_in_flight_max");
    c = {};
    c.rtt_alpha = 0;
    expect_bad(c, "rtt_alpha");
}

TEST(swim_state, names) {
    EXPECT_EQ(to_string(member_state::alive), "alive");
    EXPECT_EQ(to_string(member_state::suspect), "suspect");
    EXPECT_EQ(to_string(member_state::dead), "dead");
    EXPECT_EQ(to_string(member_state::left), "left");
    EXPECT_EQ(to_string(static_cast<member_state>(9)), "unknown");
}

TEST(swim_lone, starts_alone_and_alive) {
    lone n;
    EXPECT_EQ(n.core->live_count(), 1U);
    auto me = n.core->member(n.self);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->update.state, member_state::alive);
    EXPECT_EQ(me->update.incarnation, 3U);
    EXPECT_EQ(n.core->incarnation(), 3U);
    EXPECT_GT(n.core->next_deadline(), n.now);
}

TEST(swim_lone, precedence_rules) {
    lone n;
    const node_id peer = make_id(1);
    n.feed(peer, sync{{update(2, 5, member_state::alive)}, false});
    EXPECT_EQ(state_in(*n.core, 2), member_state::alive);
    // alive at the same incarnation does not override suspect; suspect(i) overrides alive(i).
    n.feed(peer, ping{1, n.self, {update(2, 5, member_state::suspect)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::suspect);
    n.feed(peer, ping{2, n.self, {update(2, 5, member_state::alive)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::suspect);
    // suspect at a lower incarnation is ignored once alive at a higher one.
    n.feed(peer, ping{3, n.self, {update(2, 6, member_state::alive)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::alive);
    n.feed(peer, ping{4, n.self, {update(2, 5, member_state::suspect)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::alive);
    // dead overrides alive at the same incarnation; alive only with a higher one.
    n.feed(peer, ping{5, n.self, {update(2, 6, member_state::dead)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::dead);
    n.feed(peer, ping{6, n.self, {update(2, 6, member_state::alive)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::dead);
    n.feed(peer, ping{7, n.self, {update(2, 6, member_state::suspect)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::dead);
    n.feed(peer, ping{8, n.self, {update(2, 7, member_state::alive)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::alive);
    // left is final unless the member returns with a higher incarnation.
    n.feed(peer, ping{9, n.self, {update(2, 8, member_state::left)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::left);
    n.feed(peer, ping{10, n.self, {update(2, 8, member_state::suspect)}});
    n.feed(peer, ping{11, n.self, {update(2, 8, member_state::dead)}});
    n.feed(peer, ping{12, n.self, {update(2, 8, member_state::alive)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::left);
    n.feed(peer, ping{13, n.self, {update(2, 9, member_state::alive)}});
    EXPECT_EQ(state_in(*n.core, 2), member_state::alive);
    EXPECT_EQ(n.core->stats().messages_rejected, 0U);
}

TEST(swim_lone, a_peer_cannot_make_this_node_dead) {
    lone n;
    const node_id peer = make_id(1);
    for (auto state : {member_state::suspect, member_state::dead, member_state::left}) {
        const std::uint64_t before = n.core->incarnation();
        member_update about_me{n.self, "10.1.0.1:7400", before, state, peer};
        n.feed(peer, ping{1, n.self, {about_me}});
        EXPECT_EQ(n.core->member(n.self)->update.state, member_state::alive);
        EXPECT_EQ(n.core->incarnation(), before + 1) << to_string(state);
    }
    // An old claim (lower incarnation) needs no refutation.
    const std::uint64_t now_inc = n.core->incarnation();
    n.feed(peer, ping{2, n.self, {member_update{n.self, "10.1.0.1:7400", now_inc - 1,
                                                member_state::dead, peer}}});
    EXPECT_EQ(n.core->incarnation(), now_inc);
    EXPECT_EQ(n.core->stats().refutations, 3U);
    EXPECT_GT(n.core->stats().local_health, 0); // refuting raises the LHM
    // The refutation is gossiped: the next message carries our alive update.
    n.feed(peer, ping{3, n.self, {}});
    auto sent = n.sends();
    ASSERT_FALSE(sent.empty());
    const auto& reply = std::get<ack>(sent.back().body);
    auto mine = std::find_if(reply.gossip.begin(), reply.gossip.end(),
                             [&](const member_update& u) { return u.id == n.self; });
    ASSERT_NE(mine, reply.gossip.end());
    EXPECT_EQ(mine->incarnation, now_inc);
    EXPECT_EQ(mine->state, member_state::alive);
}

TEST(swim_lone, garbage_content_is_rejected_and_changes_nothing) {
    lone n;
    const node_id peer = make_id(1);
    const auto before = n.core->members();
    std::uint64_t expected = 0;
    auto reject = [&](const node_id& from, const message& m) {
        n.feed(from, m);
        ++expected;
        EXPECT_EQ(n.core->stats().messages_rejected, expected);
        EXPECT_EQ(n.core->members().size(), before.size());
        EXPECT_TRUE(n.sends().empty());
    };
    member_update zero_id = update(2, 1, member_state::alive);
    zero_id.id = node_id{};
    reject(peer, ping{1, n.self, {zero_id}});
    member_update empty_address = update(2, 1, member_state::alive);
    empty_address.address.clear();
    reject(peer, ping{1, n.self, {empty_address}});
    member_update long_address = update(2, 1, member_state::alive);
    long_address.address = std::string(300, 'a') + ":1";
    reject(peer, ack{1, peer, {long_address}});
    member_update no_port = update(2, 1, member_state::alive);
    no_port.address = "10.0.0.1";
    reject(peer, sync{{no_port}, true});
    member_update bad_state = update(2, 1, member_state::alive);
    bad_state.state = static_cast<member_state>(7);
    reject(peer, sync{{bad_state}, false});
    member_update huge_inc = update(2, incarnation_max + 1, member_state::alive);
    reject(peer, ping{1, n.self, {huge_inc}});
    reject(peer, ping{1, node_id{}, {}});
    reject(peer, ping_req{1, make_id(2), "", {}});
    reject(peer, nack{1, node_id{}});
    std::vector<member_update> too_many(gossip_count_max + 1, update(2, 1, member_state::alive));
    reject(peer, ping{1, n.self, too_many});
    reject(node_id{}, ping{1, n.self, {}}); // no sender
    reject(n.self, ping{1, n.self, {}});    // "from myself"
}

TEST(swim_lone, ping_is_acked_only_for_this_node) {
    lone n;
    const node_id peer = make_id(1);
    n.feed(peer, sync{{update(1, 0, member_state::alive)}, false});
    (void)n.sends();
    n.feed(peer, ping{77, n.self, {}});
    auto sent = n.sends();
    ASSERT_EQ(sent.size(), 1U);
    EXPECT_EQ(sent[0].to, peer);
    EXPECT_EQ(sent[0].address, "10.1.1.1:7400");
    const auto& reply = std::get<ack>(sent[0].body);
    EXPECT_EQ(reply.seq, 77U);
    EXPECT_EQ(reply.target, n.self);
    // A ping for whoever had this address before: no answer.
    n.feed(peer, ping{78, make_id(55), {}});
    EXPECT_TRUE(n.sends().empty());
}

TEST(swim_lone, members_max_refuses_new_members) {
    config c;
    c.members_max = 4;
    lone n(c);
    std::vector<member_update> view;
    for (std::uint64_t i = 1; i <= 10; ++i) {
        view.push_back(update(i, 0, member_state::alive));
    }
    n.feed(make_id(1), sync{view, false});
    EXPECT_EQ(n.core->members().size(), 4U);
    EXPECT_EQ(n.core->stats().members_refused, 7U);
    // Known members are still updated.
    n.feed(make_id(1), ping{1, n.self, {update(1, 1, member_state::suspect)}});
    EXPECT_EQ(state_in(*n.core, 1), member_state::suspect);
}

TEST(swim_lone, join_skips_bad_duplicate_and_own_addresses_and_keeps_at_most_16_seeds) {
    lone n;
    std::vector<std::string> seeds{"not an address", "10.1.0.1:7400" /* our own */, "",
                                   "10.3.0.1:7400", "10.3.0.1:7400", "10.3.0.2:0"};
    for (int i = 0; i < 20; ++i) {
        seeds.push_back("10.4.0." + std::to_string(i) + ":7400");
    }
    n.core->join(n.now, seeds);
    auto sent = n.sends();
    std::set<std::string> contacted;
    for (const auto& s : sent) {
        EXPECT_TRUE(s.to.is_zero());
        EXPECT_TRUE(std::get<sync>(s.body).reply_wanted);
        contacted.insert(s.address);
    }
    EXPECT_EQ(sent.size(), seeds_max);
    EXPECT_EQ(contacted.size(), seeds_max);
    EXPECT_TRUE(contacted.contains("10.3.0.1:7400"));
    EXPECT_FALSE(contacted.contains("10.1.0.1:7400"));
    EXPECT_FALSE(contacted.contains("10.3.0.2:0"));
    // Unanswered: the same seeds again after join_retry.
    n.tick_to(n.now + n.limits.join_retry);
    std::set<std::string> again;
    for (const auto& s : n.sends()) {
        if (std::holds_alternative<sync>(s.body) && s.to.is_zero()) {
            again.insert(s.address);
        }
    }
    EXPECT_EQ(again, contacted);
}

TEST(swim_lone, large_views_travel_in_chunks_and_ask_for_one_reply) {
    lone n;
    std::vector<member_update> view;
    for (std::uint64_t i = 1; i <= 3000; ++i) {
        view.push_back(update(i, 0, member_state::alive));
    }
    n.feed(make_id(1), sync{view, false});
    (void)n.sends();
    const std::vector<std::string> seeds{"10.2.0.1:7400"};
    n.core->join(n.now, seeds);
    auto sent = n.sends();
    ASSERT_EQ(sent.size(), 2U); // 3000 members (self is one of them): 2048 + 952
    std::size_t total = 0;
    for (std::size_t i = 0; i < sent.size(); ++i) {
        EXPECT_TRUE(sent[i].to.is_zero());
        EXPECT_EQ(sent[i].address, "10.2.0.1:7400");
        const auto& chunk = std::get<sync>(sent[i].body);
        EXPECT_TRUE(validate(chunk).ok());
        EXPECT_LT(encode(chunk).size(), std::size_t{1} << 20U);
        EXPECT_EQ(chunk.reply_wanted, i + 1 == sent.size());
        total += chunk.members.size();
    }
    EXPECT_EQ(total, 3000U);
    EXPECT_TRUE(n.core->joining());
    // A view arrives: the join is over and its retries stop.
    n.feed(make_id(1), sync{{update(1, 0, member_state::alive)}, false});
    EXPECT_FALSE(n.core->joining());
}

TEST(swim_lone, relays_are_bounded_and_nack_silent_targets) {
    config c;
    c.probes_in_flight_max = 2;
    lone n(c);
    const node_id requester = make_id(1);
    n.feed(requester, sync{{update(1, 0, member_state::alive)}, false});
    (void)n.sends();
    for (std::uint64_t i = 0; i < 5; ++i) {
        n.feed(requester, ping_req{100 + i, make_id(20 + i), "10.9.9.9:7400", {}});
    }
    auto sent = n.sends();
    ASSERT_EQ(sent.size(), 2U); // two relayed pings, three refused
    EXPECT_EQ(n.core->stats().relays_refused, 3U);
    const auto relayed = std::get<ping>(sent[0].body);
    EXPECT_EQ(sent[0].to, make_id(20));
    EXPECT_EQ(sent[0].address, "10.9.9.9:7400");
    // The first target answers: the ack goes back to the requester under its own seq.
    n.feed(make_id(20), ack{relayed.seq, make_id(20), {}});
    sent = n.sends();
    ASSERT_EQ(sent.size(), 1U);
    EXPECT_EQ(sent[0].to, requester);
    EXPECT_EQ(std::get<ack>(sent[0].body).seq, 100U);
    EXPECT_EQ(std::get<ack>(sent[0].body).target, make_id(20));
    // The second target stays silent: a nack goes back before the requester's window closes
    // (probe_period - probe_timeout after it sent the ping_req).
    n.tick_to(n.now + (c.probe_period - c.probe_timeout));
    std::vector<nack> nacks;
    for (const auto& s : n.sends()) {
        if (const auto* answer = std::get_if<nack>(&s.body)) {
            EXPECT_EQ(s.to, requester);
            nacks.push_back(*answer);
        }
    }
    ASSERT_EQ(nacks.size(), 1U);
    EXPECT_EQ(nacks[0].seq, 101U);
    EXPECT_EQ(nacks[0].target, make_id(21));
    EXPECT_EQ(n.core->stats().nacks_sent, 1U);
}

TEST(swim_lone, suspicion_shrinks_with_independent_confirmations) {
    lone n;
    std::vector<member_update> view;
    for (std::uint64_t i = 1; i <= 9; ++i) {
        view.push_back(update(i, 0, member_state::alive));
    }
    n.feed(make_id(1), sync{view, false});
    n.feed(make_id(1), ping{1, n.self, {update(9, 0, member_state::suspect, make_id(1))}});
    auto first = n.core->member(make_id(9))->suspect_deadline;
    ASSERT_TRUE(first);
    // The same origin again is no confirmation.
    n.feed(make_id(2), ping{2, n.self, {update(9, 0, member_state::suspect, make_id(1))}});
    EXPECT_EQ(n.core->member(make_id(9))->suspect_deadline, first);
    n.feed(make_id(2), ping{3, n.self, {update(9, 0, member_state::suspect, make_id(2))}});
    auto second = n.core->member(make_id(9))->suspect_deadline;
    ASSERT_TRUE(second);
    EXPECT_LT(*second, *first);
    n.feed(make_id(3), ping{4, n.self, {update(9, 0, member_state::suspect, make_id(3))}});
    auto third = n.core->member(make_id(9))->suspect_deadline;
    EXPECT_LT(*third, *second);
    // k = 2 confirmations expected: a fourth origin changes nothing more.
    n.feed(make_id(4), ping{5, n.self, {update(9, 0, member_state::suspect, make_id(4))}});
    EXPECT_EQ(n.core->member(make_id(9))->suspect_deadline, third);
    // Fully confirmed: at the deadline the suspect is declared dead by this node.
    n.tick_to(*third);
    EXPECT_EQ(state_in(*n.core, 9), member_state::dead);
    EXPECT_EQ(n.core->stats().deaths_declared, 1U);
    EXPECT_EQ(n.core->stats().verifications, 0U);
    EXPECT_EQ(n.core->member(make_id(9))->update.origin, n.self);
}

TEST(swim_lone, an_unconfirmed_death_follows_a_failed_probe_by_this_node) {
    lone n;
    std::vector<member_update> view;
    for (std::uint64_t i = 1; i <= 9; ++i) {
        view.push_back(update(i, 0, member_state::alive));
    }
    n.feed(make_id(1), sync{view, false});
    n.feed(make_id(1), ping{1, n.self, {update(9, 0, member_state::suspect, make_id(1))}});
    const instant deadline = *n.core->member(make_id(9))->suspect_deadline;
    // Only one origin: the death is declared only right after a probe of the suspect by this
    // node failed: its own round-robin probe, or the verification probe it sends when the
    // deadline passes. Nobody answers here.
    (void)n.sends();
    std::vector<std::pair<instant, ping>> probes_of_nine;
    while (state_in(*n.core, 9) == member_state::suspect) {
        ASSERT_LT(n.now, deadline + sec(5));
        n.tick_to(n.core->next_deadline());
        for (auto& sent : n.sends()) {
            if (const auto* probe = std::get_if<ping>(&sent.body); probe && sent.to == make_id(9)) {
                probes_of_nine.emplace_back(n.now, *probe);
            }
        }
    }
    EXPECT_EQ(state_in(*n.core, 9), member_state::dead);
    EXPECT_GE(n.now, deadline);
    ASSERT_FALSE(probes_of_nine.empty());
    const auto& [probed_at, last_probe] = probes_of_nine.back();
    // (a probe lasts one probe period, stretched by the local health multiplier: this lone node
    // hears from nobody, so its LHM is high)
    EXPECT_LE(n.now - probed_at, n.limits.probe_period * (n.core->stats().local_health + 1));
    ASSERT_FALSE(last_probe.gossip.empty()); // the buddy system: it carried the suspicion
    EXPECT_EQ(last_probe.gossip.front().id, make_id(9));
    EXPECT_EQ(last_probe.gossip.front().state, member_state::suspect);
    EXPECT_EQ(n.core->stats().deaths_declared, 1U);
}

TEST(swim_lone, dead_in_a_view_is_only_a_suspicion) {
    lone n;
    n.feed(make_id(1), sync{{update(1, 0, member_state::alive), update(2, 4, member_state::alive)},
                            false});
    n.feed(make_id(1), sync{{update(2, 4, member_state::dead, make_id(1))}, false});
    EXPECT_EQ(state_in(*n.core, 2), member_state::suspect);
    // An unknown member reported dead is recorded dead (nothing to give a chance to).
    n.feed(make_id(1), sync{{update(3, 1, member_state::dead, make_id(1))}, false});
    EXPECT_EQ(state_in(*n.core, 3), member_state::dead);
}

TEST(swim_lone, dead_and_left_members_are_reclaimed) {
    config c;
    c.dead_reclaim = sec(10);
    lone n(c);
    n.feed(make_id(1), sync{{update(1, 0, member_state::alive), update(2, 0, member_state::dead),
                             update(3, 0, member_state::left)},
                            false});
    EXPECT_EQ(n.core->members().size(), 4U);
    n.tick_to(n.now + sec(5));
    EXPECT_EQ(n.core->members().size(), 4U);
    n.tick_to(n.now + sec(7)); // dead_reclaim, and at most a second of batching
    EXPECT_FALSE(n.core->member(make_id(2)));
    EXPECT_FALSE(n.core->member(make_id(3)));
    EXPECT_TRUE(n.core->member(n.self));
    EXPECT_EQ(n.core->count(member_state::left), 0U);
}

TEST(swim_lone, unreachable_target_goes_indirect_at_once) {
    lone n;
    std::vector<member_update> view;
    for (std::uint64_t i = 1; i <= 5; ++i) {
        view.push_back(update(i, 0, member_state::alive));
    }
    n.feed(make_id(1), sync{view, false});
    (void)n.sends();
    n.tick_to(n.core->next_deadline());
    auto sent = n.sends();
    ASSERT_EQ(sent.size(), 1U);
    const auto target = sent[0].to;
    ASSERT_TRUE(std::holds_alternative<ping>(sent[0].body));
    n.core->on_unreachable(n.now, target);
    sent = n.sends();
    EXPECT_EQ(sent.size(), 3U); // indirect_probes relays, without waiting for probe_timeout
    for (const auto& s : sent) {
        ASSERT_TRUE(std::holds_alternative<ping_req>(s.body));
        EXPECT_EQ(std::get<ping_req>(s.body).target, target);
        EXPECT_NE(s.to, target);
    }
    EXPECT_EQ(n.core->stats().indirect_probes_sent, 3U);
}

TEST(swim_lone, a_late_tick_gives_relays_their_window_and_probing_goes_on) {
    lone n;
    std::vector<member_update> view;
    for (std::uint64_t i = 1; i <= 5; ++i) {
        view.push_back(update(i, 0, member_state::alive));
    }
    n.feed(make_id(1), sync{view, false});
    n.tick_to(n.core->next_deadline());
    auto sent = n.sends();
    ASSERT_EQ(sent.size(), 1U);
    const node_id target = sent[0].to;
    // The process was starved: the next tick comes long after the probe should have ended.
    n.now = n.now + sec(5);
    n.core->on_tick(n.now);
    sent = n.sends();
    ASSERT_EQ(sent.size(), 3U); // the ping_reqs go out now...
    EXPECT_TRUE(std::holds_alternative<ping_req>(sent[0].body));
    EXPECT_EQ(n.core->member(target)->update.state, member_state::alive);
    // ...and get the whole indirect window, once.
    EXPECT_EQ(n.core->next_deadline(), n.now + (n.limits.probe_period - n.limits.probe_timeout));
    n.core->on_tick(n.now + ms(50));
    EXPECT_EQ(n.core->next_deadline(), n.now + (n.limits.probe_period - n.limits.probe_timeout));
    n.tick_to(n.now + ms(100));
    EXPECT_EQ(n.core->member(target)->update.state, member_state::suspect);
    // Probing goes on (slower: nobody answers, so the local health multiplier is up).
    const auto probes = n.core->stats().probes_sent;
    n.tick_to(n.now + sec(4));
    EXPECT_GE(n.core->stats().probes_sent, probes + 2);
}

TEST(swim_lone, probing_a_suspect_carries_its_suspicion_first) {
    lone n;
    n.feed(make_id(1), sync{{update(1, 0, member_state::alive)}, false});
    n.feed(make_id(2), ping{1, n.self, {update(1, 0, member_state::suspect, make_id(2))}});
    (void)n.sends();
    // With one other member every probe goes to it.
    n.tick_to(n.core->next_deadline());
    auto sent = n.sends();
    ASSERT_EQ(sent.size(), 1U);
    const auto& probe = std::get<ping>(sent[0].body);
    EXPECT_EQ(probe.target, make_id(1));
    ASSERT_FALSE(probe.gossip.empty());
    EXPECT_EQ(probe.gossip.front().id, make_id(1));
    EXPECT_EQ(probe.gossip.front().state, member_state::suspect);
}

TEST(swim_lone, rtt_is_measured_from_direct_probes) {
    lone n;
    n.feed(make_id(1), sync{{update(1, 0, member_state::alive)}, false});
    (void)n.sends();
    EXPECT_FALSE(n.core->member(make_id(1))->rtt);
    n.tick_to(n.core->next_deadline());
    auto sent = n.sends();
    ASSERT_EQ(sent.size(), 1U);
    const auto seq = std::get<ping>(sent[0].body).seq;
    n.now = n.now + ms(3);
    n.feed(make_id(1), ack{seq, make_id(1), {}});
    auto rtt = n.core->member(make_id(1))->rtt;
    ASSERT_TRUE(rtt);
    EXPECT_EQ(*rtt, ms(3));
    // An ack for a seq nobody asked about changes nothing.
    n.feed(make_id(1), ack{seq + 1000, make_id(1), {}});
    EXPECT_EQ(*n.core->member(make_id(1))->rtt, ms(3));
}

// --- clusters ---------------------------------------------------------------------------------

TEST(swim_cluster, join_through_one_seed_makes_everyone_alive) {
    cluster c(config{}, 11);
    c.add_nodes_joined(6);
    ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10)));
    for (std::size_t i = 0; i < c.size(); ++i) {
        EXPECT_EQ(c.core(i).live_count(), 6U);
        EXPECT_FALSE(c.core(i).joining());
    }
    c.run_for(sec(20));
    EXPECT_TRUE(c.all_alive()); // and it stays that way: no false suspicion on a clean network
    for (std::size_t i = 0; i < c.size(); ++i) {
        EXPECT_EQ(c.core(i).stats().suspicions_raised, 0U);
        EXPECT_GT(c.core(i).stats().probes_sent, 0U);
    }
}

TEST(swim_cluster, join_is_retried_until_a_seed_answers) {
    cluster c(config{}, 12);
    c.add_nodes_joined(1);
    const std::size_t late = c.add_node();
    c.cut_both(0, late);
    c.join(late, 0);
    c.run_for(sec(3));
    EXPECT_TRUE(c.core(late).joining());
    c.cut_both(0, late, false);
    ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(3)));
    EXPECT_FALSE(c.core(late).joining());
}

// Time from the crash until each survivor marks the node dead.
std::vector<double> crash_detection_seconds(std::uint64_t seed, std::size_t nodes) {
    cluster c(config{}, seed);
    c.add_nodes_joined(nodes);
    EXPECT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10)));
    c.run_for(sec(2));
    const std::size_t victim = nodes - 1;
    const instant crashed_at = c.now();
    c.crash(victim);
    EXPECT_TRUE(c.run_until_true([&] { return c.all_see(victim, member_state::dead); }, sec(30)));
    std::vector<double> out;
    for (const auto& o : c.observations()) {
        if (o.at >= crashed_at && o.member == c.id(victim) && o.state == member_state::dead) {
            out.push_back((o.at - crashed_at).sec());
        }
    }
    EXPECT_EQ(out.size(), nodes - 1);
    return out;
}

TEST(swim_cluster, crashed_node_is_dead_everywhere_within_the_bound) {
    // Bound for 4 nodes with LAN defaults: a full probe round (3 periods) + failed probe (1
    // period) + the unconfirmed suspicion maximum (4.8 s) + dissemination: 6 s.
    const auto times = crash_detection_seconds(21, 4);
    for (double t : times) {
        EXPECT_LT(t, 6.0);
    }
}

TEST(swim_cluster, lan_defaults_detect_a_crash_with_p50_under_two_seconds) {
    std::vector<double> all;
    for (std::uint64_t seed = 100; seed < 120; ++seed) {
        const auto times = crash_detection_seconds(seed, 4);
        all.insert(all.end(), times.begin(), times.end());
    }
    std::sort(all.begin(), all.end());
    ASSERT_FALSE(all.empty());
    const double p50 = all[all.size() / 2];
    EXPECT_LE(p50, 2.0) << "p50 " << p50 << " s, max " << all.back() << " s";
    EXPECT_LT(all.back(), 6.0);
}

TEST(swim_cluster, suspected_node_refutes_and_stays_alive) {
    cluster c(config{}, 31);
    c.add_nodes_joined(5);
    ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10)));
    const std::uint64_t before = c.core(2).incarnation();
    // Node 0 claims node 2 is suspect (as if its probe had failed).
    c.inject(1, c.id(0),
             ping{1, c.id(1),
                  {member_update{c.id(2), c.address(2), before, member_state::suspect, c.id(0)}}});
    EXPECT_EQ(c.state_of(1, 2), member_state::suspect);
    ASSERT_TRUE(c.run_until_true([&] { return c.core(2).incarnation() > before; }, sec(5)));
    ASSERT_TRUE(c.run_until_true([&] { return c.all_see(2, member_state::alive); }, sec(5)));
    for (std::size_t i = 0; i < c.size(); ++i) {
        EXPECT_EQ(c.core(i).member(c.id(2))->update.incarnation, before + 1);
    }
    EXPECT_EQ(c.core(2).stats().refutations, 1U);
    c.run_for(sec(10));
    EXPECT_TRUE(c.all_alive());
}

bool carries_alive_of(const message& body, const node_id& id) {
    const std::vector<member_update>* updates = nullptr;
    if (const auto* m = std::get_if<ping>(&body)) {
        updates = &m->gossip;
    } else if (const auto* r = std::get_if<ping_req>(&body)) {
        updates = &r->gossip;
    } else if (const auto* a = std::get_if<ack>(&body)) {
        updates = &a->gossip;
    } else if (const auto* v = std::get_if<sync>(&body)) {
        updates = &v->members;
    }
    return updates != nullptr &&
           std::any_of(updates->begin(), updates->end(), [&](const member_update& u) {
               return u.id == id && u.state == member_state::alive;
           });
}

// Node 0 learns a suspicion of node 2 second hand, and no gossip of node 2's refutation ever
// reaches it: only what node 2 itself says gets through. Returns how many verification probes
// node 0 sent.
std::uint64_t run_missed_refutation(std::uint64_t seed) {
    cluster c(config{}, seed);
    c.add_nodes_joined(60);
    EXPECT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(20)));
    c.run_for(sec(5));
    const std::uint64_t before = c.core(2).incarnation();
    c.set_filter([&](std::size_t from, std::size_t to, const message& body) {
        return to == 0 && from != 2 && carries_alive_of(body, c.id(2));
    });
    c.inject(0, c.id(1),
             ping{1, c.id(0),
                  {member_update{c.id(2), c.address(2), before, member_state::suspect, c.id(1)}}});
    EXPECT_EQ(c.state_of(0, 2), member_state::suspect);
    c.run_for(sec(30));
    EXPECT_EQ(c.state_of(0, 2), member_state::alive) << "seed " << seed;
    EXPECT_GT(c.core(0).member(c.id(2))->update.incarnation, before);
    for (const auto& o : c.observations()) {
        EXPECT_FALSE(o.member == c.id(2) && o.state == member_state::dead)
            << "seed " << seed << ": node " << o.observer << " declared node 2 dead";
    }
    return c.core(0).stats().verifications;
}

TEST(swim_cluster, a_node_that_missed_the_refutation_verifies_before_declaring_death) {
    // The unconfirmed suspicion (8.5 s with 60 members) usually outlasts node 0's chance to hear
    // the refutation from its own round-robin probe of node 2 (one round is 12 s); then the
    // verification probe at the deadline is what keeps node 2 alive.
    std::uint64_t runs_verified = 0;
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
        runs_verified += run_missed_refutation(seed) > 0 ? 1 : 0;
    }
    EXPECT_GE(runs_verified, 1U);
}

TEST(swim_cluster, indirect_probes_save_a_node_whose_direct_link_is_cut) {
    cluster c(config{}, 41);
    c.add_nodes_joined(5);
    ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10)));
    c.cut_both(0, 1);
    c.run_for(sec(30));
    EXPECT_TRUE(c.all_alive());
    EXPECT_GT(c.core(0).stats().indirect_probes_sent, 0U);
    EXPECT_EQ(c.core(0).stats().suspicions_raised, 0U);
    EXPECT_EQ(c.core(1).stats().suspicions_raised, 0U);
    EXPECT_EQ(c.core(0).stats().local_health, 0); // relays answered: this node is healthy
}

TEST(swim_cluster, graceful_leave_is_left_everywhere_and_never_suspected) {
    cluster c(config{}, 51);
    c.add_nodes_joined(5);
    ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10)));
    const std::uint64_t before = c.core(3).incarnation();
    c.core(3).leave(c.now());
    c.run_for(ms(300));
    c.crash(3); // the process exits shortly after announcing
    ASSERT_TRUE(c.run_until_true([&] { return c.all_see(3, member_state::left); }, sec(5)));
    c.run_for(sec(30));
    EXPECT_TRUE(c.all_see(3, member_state::left));
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (i != 3) {
            EXPECT_GT(c.core(i).member(c.id(3))->update.incarnation, before);
            EXPECT_EQ(c.core(i).live_count(), 4U);
        }
    }
    // Nobody raised or gossiped a suspicion of the departed member.
    for (const auto& o : c.observations()) {
        if (o.member == c.id(3)) {
            EXPECT_NE(o.state, member_state::suspect);
            EXPECT_NE(o.state, member_state::dead);
        }
    }
}

TEST(swim_cluster, restarted_node_rejoins_with_a_higher_incarnation) {
    for (const bool persisted : {true, false}) {
        cluster c(config{}, persisted ? 61 : 62);
        c.add_nodes_joined(4);
        ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10)));
        const std::uint64_t old = c.core(3).incarnation();
        c.crash(3);
        ASSERT_TRUE(c.run_until_true([&] { return c.all_see(3, member_state::dead); }, sec(10)));
        // With the incarnation persisted the runtime starts above it; without, the node learns
        // it was declared dead and refutes.
        c.restart(3, persisted ? old + 1 : 0, 1);
        ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10))) << persisted;
        EXPECT_GT(c.core(3).incarnation(), old);
        for (std::size_t i = 0; i < 3; ++i) {
            EXPECT_EQ(c.core(i).member(c.id(3))->update.incarnation, c.core(3).incarnation());
        }
    }
}

TEST(swim_cluster, partition_heals_through_reconnect) {
    cluster c(config{}, 71);
    c.add_nodes_joined(6);
    ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10)));
    const std::vector<std::size_t> a{0, 1, 2};
    const std::vector<std::size_t> b{3, 4, 5};
    c.partition(a, b);
    auto split = [&] {
        for (auto i : a) {
            for (auto j : b) {
                if (c.state_of(i, j) != member_state::dead ||
                    c.state_of(j, i) != member_state::dead) {
                    return false;
                }
            }
        }
        return true;
    };
    ASSERT_TRUE(c.run_until_true(split, sec(30)));
    c.run_for(sec(10)); // both sides settle with the other side dead
    EXPECT_TRUE(split());
    c.partition(a, b, false);
    ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(20)));
    c.run_for(sec(20));
    EXPECT_TRUE(c.all_alive());
}

TEST(swim_cluster, local_health_rises_when_this_nodes_acks_are_lost) {
    cluster c(config{}, 81);
    c.add_nodes_joined(5);
    ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10)));
    EXPECT_EQ(c.core(0).stats().local_health, 0);
    // Everything addressed to node 0 is lost: its probes see no ack and no nack.
    c.set_filter([](std::size_t, std::size_t to, const message&) { return to == 0; });
    c.run_for(sec(2));
    EXPECT_GE(c.core(0).stats().local_health, 3);
    // Healthy nodes stay healthy: their relays' nacks explain the silence of node 0.
    for (std::size_t i = 1; i < c.size(); ++i) {
        EXPECT_LE(c.core(i).stats().local_health, 1) << i;
    }
    // Once the links recover, successful probes bring the score back down.
    c.set_filter(nullptr);
    c.run_for(sec(30));
    EXPECT_EQ(c.core(0).stats().local_health, 0);
    EXPECT_TRUE(c.all_alive());
}

TEST(swim_cluster, lossy_network_has_no_false_deaths) {
    cluster c(config{}, 91);
    c.add_nodes_joined(8);
    ASSERT_TRUE(c.run_until_true([&] { return c.all_alive(); }, sec(10)));
    c.set_loss(0.05);
    c.run_for(sec(120));
    for (const auto& o : c.observations()) {
        EXPECT_NE(o.state, member_state::dead) << "false death seen by node " << o.observer;
    }

}

TEST(swim_cluster, same_seed_same_effects) {
    auto run = [](std::uint64_t seed) {
        cluster c(config{}, seed);
        c.set_tracing(true);
        c.add_nodes_joined(6);
        c.run_for(sec(5));
        c.crash(4);
        c.set_loss(0.02);
        c.run_for(sec(15));
        return c.trace();
    };
    const auto first = run(5);
    const auto second = run(5);
    EXPECT_GT(first.size(), 1000U);
    EXPECT_EQ(first, second);
    EXPECT_NE(first, run(6));
}

} // namespace
} // namespace reef::membership
