#include "reef/actors/actor_table.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "reef/replica/host.hpp"

namespace reef::actors {

// Readable failures: gtest prints a record as its JSON.
void PrintTo(const actor_record& record, std::ostream* out) {
    *out << to_json(record).dump();
}

namespace {

using replica::host;
using replica::host_message;

constexpr std::string_view counter_program =
    "function init(a) return {n=0} end "
    "function handle(s,m,ctx) s.n = s.n + (m.add or 1) return s end";

node_id node_of(std::uint8_t n) {
    id256::bytes_type bytes{};
    bytes[0] = n;
    return id256{bytes};
}

/// Any deterministic spread of names over group ids will do here (the node uses BLAKE2b).
replica::group_id group_of(std::string_view name) {
    id256::bytes_type bytes{};
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        for (const char c : name) {
            hash = (hash ^ static_cast<std::uint8_t>(c)) * 0x100000001b3ULL;
        }
        hash = (hash ^ i) * 0x100000001b3ULL;
        bytes[i] = static_cast<std::uint8_t>(hash >> 56U);
    }
    return id256{bytes};
}

/// Three nodes, each a replica host with an actor table as its application, on an in-memory
/// network stepped by hand; every node runs the courier for the actors it leads.
class cluster {
public:
    explicit cluster(table_config limits = {}, std::size_t count = 3) {
        for (std::size_t i = 0; i < count; ++i) {
            ids_.push_back(node_of(static_cast<std::uint8_t>(i + 1)));
        }
        for (std::size_t i = 0; i < count; ++i) {
            auto& slot = slots_.emplace_back();
            slot.table = std::make_unique<actor_table>(
                limits, [](const std::string&, std::string_view) {});
            slot.core = std::make_unique<host>(replica::host_config{}, ids_[i], *slot.table,
                                               70 + i);
        }
        set_clocks();
    }

    /// Submits `request` through node `via` and returns its id there (the answer comes later).
    std::uint64_t submit(std::size_t via, const json& request, bool may_create = true) {
        set_clocks();
        auto id = slots_[via].core->submit(now_, group_of(request.value("name", "")), ids_,
                                           ids_.size(), {900 + via, ++requests_},
                                           encode_request(request), may_create);
        EXPECT_TRUE(id.ok()) << id.failure().describe();
        drain(via);
        return id.ok() ? *id : 0;
    }

    /// The answer to request `id` submitted through `via`, once it came.
    std::optional<result<std::string>> answer(std::size_t via, std::uint64_t id) const {
        const auto found = done_.find({via, id});
        if (found == done_.end()) {
            return std::nullopt;
        }
        return found->second;
    }

    /// Submits `request` and runs until it is answered (at most `span`); the answer as JSON.
    result<json> ask(std::size_t via, const json& request, bool may_create = true,
                     duration span = duration::seconds(10)) {
        const std::uint64_t id = submit(via, request, may_create);
        const instant end = now_ + span;
        while (!answer(via, id) && now_ < end) {
            step();
        }
        auto got = answer(via, id);
        if (!got) {
            return make_error(errc::timeout, "no answer to " + request.dump());
        }
        if (!*got) {
            return got->failure();
        }
        json parsed = json::parse(**got, nullptr, false);
        if (parsed.is_discarded()) {
            return make_error(errc::internal, "an answer that is not JSON: " + **got);
        }
        return parsed;
    }

    /// ask(), expecting an answer, which it returns ({"ok": false, ...} on a transport error).
    json must(std::size_t via, const json& request) {
        auto got = ask(via, request);
        EXPECT_TRUE(got.ok()) << request.dump() << ": " << got.failure().describe();
        return got ? *got : failure(got.failure().describe());
    }

    /// Delivers everything in flight and runs the couriers until quiet, then lets time pass.
    void step(duration pass = duration::milliseconds(10)) {
        settle();
        now_ = now_ + pass;
        set_clocks();
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            if (slots_[i].up && slots_[i].core->next_deadline() <= now_) {
                slots_[i].core->on_tick(now_);
                drain(i);
            }
        }
        settle();
    }

    void run(duration span) {
        const instant end = now_ + span;
        while (now_ < end) {
            step();
        }
    }

    /// Delivers only the messages already on the wire (one hop), without the couriers.
    void one_hop() {
        std::deque<wire_item> batch;
        batch.swap(wire_);
        for (auto& item : batch) {
            deliver(item);
        }
    }

    /// Node `i` stops for good: its messages are lost and the others hear it is down.
    void crash(std::size_t i) {
        slots_[i].up = false;
        std::erase_if(wire_, [&](const wire_item& item) { return item.from == i || item.to == i; });
        for (std::size_t j = 0; j < slots_.size(); ++j) {
            if (slots_[j].up) {
                (void)slots_[j].core->on_member_down(now_, ids_[i]);
                drain(j);
            }
        }
    }

    /// The node leading `name`'s group, if one does.
    std::optional<std::size_t> leader_of(std::string_view name) const {
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            const auto* core = slots_[i].core->find(group_of(name));
            if (slots_[i].up && core != nullptr &&
                core->current_role() == replica::role::leader) {
                return i;
            }
        }
        return std::nullopt;
    }

    /// `name`'s committed record at node `i` (nullptr if it holds none).
    const actor_record* record(std::size_t i, std::string_view name) const {
        return slots_[i].table->find(group_of(name));
    }
    /// The committed record at `name`'s leader (which must exist).
    const actor_record& at_leader(std::string_view name) const {
        const auto leader = leader_of(name);
        REEF_ASSERT(leader.has_value());
        const auto* found = record(*leader, name);
        REEF_ASSERT(found != nullptr);
        return *found;
    }
    /// Every live member holds the same committed record of `name` as its leader.
    void expect_replicas_agree(std::string_view name) const {
        const actor_record& leading = at_leader(name);
        for (std::size_t i = 0; i < slots_.size(); ++i) {
            if (!slots_[i].up) {
                continue;
            }
            const auto* held = record(i, name);
            ASSERT_NE(held, nullptr) << "node " << i << " holds no record of " << name;
            EXPECT_EQ(*held, leading) << "node " << i << ", actor " << name;
        }
    }
    actor_table& table(std::size_t i) { return *slots_[i].table; }
    std::uint64_t unix_ms() const {
        return unix_start_ms + static_cast<std::uint64_t>((now_ - start_).ns() / 1'000'000);
    }

private:
    static constexpr std::uint64_t unix_start_ms = 1'700'000'000'000ULL;

    struct slot {
        std::unique_ptr<actor_table> table;
        std::unique_ptr<host> core;
        bool up = true;
        std::map<std::uint64_t, std::uint64_t> courier; // host request id -> courier token
    };
    struct wire_item {
        std::size_t from = 0;
        std::size_t to = 0;
        host_message body;
    };

    void set_clocks() {
        for (auto& each : slots_) {
            each.table->set_clock(now_, unix_ms());
        }
    }

    void deliver(wire_item& item) {
        if (slots_[item.to].up) {
            slots_[item.to].core->on_message(now_, ids_[item.from], item.body);
            drain(item.to);
        }
    }

    void settle() {
        for (int rounds = 0; rounds < 100'000; ++rounds) {
            for (std::size_t i = 0; i < slots_.size(); ++i) {
                pump(i);
            }
            if (wire_.empty()) {
                return;
            }
            auto item = std::move(wire_.front());
            wire_.pop_front();
            deliver(item);
        }
        ADD_FAILURE() << "the network never went quiet";
    }

    /// Node `i`'s courier: the requests its led actors want sent, submitted to their groups.
    void pump(std::size_t i) {
        auto& each = slots_[i];
        if (!each.up) {
            return;
        }
        auto due = each.table->due_requests([&](const replica::group_id& group) {
            const auto* core = each.core->find(group);
            return core != nullptr && core->current_role() == replica::role::leader;
        });
        for (auto& out : due) {
            auto id = each.core->submit(now_, group_of(out.to), ids_, ids_.size(),
                                        {500 + i, ++requests_}, std::move(out.command),
                                        out.may_create);
            if (id) {
                each.courier[*id] = out.token;
            } else {
                each.table->on_request_done(out.token, id.failure());
            }
        }
        drain(i);
    }

    void drain(std::size_t i) {
        auto& each = slots_[i];
        for (auto& produced : each.core->take_effects()) {
            if (auto* out = std::get_if<replica::host_send>(&produced)) {
                const auto to = static_cast<std::size_t>(
                    std::find(ids_.begin(), ids_.end(), out->to) - ids_.begin());
                wire_.push_back({i, to, std::move(out->body)});
            } else if (auto* finished = std::get_if<replica::request_done>(&produced)) {
                if (auto token = each.courier.find(finished->id); token != each.courier.end()) {
                    const std::uint64_t courier_token = token->second;
                    each.courier.erase(token);
                    each.table->on_request_done(courier_token, finished->answer);
                } else {
                    done_.insert_or_assign({i, finished->id}, finished->answer);
                }
            }
            // Persist effects need no disk here: crashed nodes never come back.
        }
        each.core->check_invariants();
    }

    std::vector<node_id> ids_;
    std::vector<slot> slots_;
    std::deque<wire_item> wire_;
    std::map<std::pair<std::size_t, std::uint64_t>, result<std::string>> done_;
    std::uint64_t requests_ = 0;
    instant start_ = instant::from_ns(1'000'000'000);
    instant now_ = start_;
};

json spawn_request(std::string_view name, std::string_view program, json args = json::object()) {
    static std::uint64_t spawns = 0;
    return {{"op", "spawn"},      {"name", name},        {"program", program},
            {"module", ""},       {"args", args},        {"parent", ""},
            {"owner", "tester"},  {"from", "client:5a"}, {"sequence", ++spawns}};
}

json deliver(std::string_view name, std::string_view from, std::uint64_t sequence, json body,
             std::string_view kind = "message") {
    return {{"op", "deliver"}, {"name", name},  {"from", from},
            {"sequence", sequence}, {"body", body}, {"kind", kind}};
}

json steer(std::string_view name, std::string_view action) {
    return {{"op", "steer"}, {"name", name}, {"action", action}};
}

json inspect(std::string_view name) {
    return {{"op", "inspect"}, {"name", name}};
}

const json ok = {{"ok", true}};
const json queued_ok = {{"ok", true}, {"queued", true}};

TEST(actor_table, a_counter_counts_every_increment_on_every_member) {
    cluster nodes;
    EXPECT_EQ(nodes.must(0, spawn_request("counter", counter_program)),
              json({{"ok", true}, {"name", "counter"}}));
    constexpr int increments = 12;
    for (int i = 1; i <= increments; ++i) {
        // From every node in turn: followers and non-leaders forward to the leader.
        EXPECT_EQ(nodes.must(static_cast<std::size_t>(i) % 3,
                             deliver("counter", "client:aa", i, {{"add", 1}})),
                  ok);
    }
    const json seen = nodes.must(1, inspect("counter"));
    EXPECT_EQ(seen["state"], json({{"n", increments}}));
    EXPECT_EQ(seen["handled"], increments);
    EXPECT_EQ(seen["status"], "running");
    nodes.run(duration::milliseconds(200)); // the last commit reaches the followers
    nodes.expect_replicas_agree("counter");
    EXPECT_EQ(nodes.at_leader("counter").state, json({{"n", increments}}));
    // A second spawn of the same name is refused.
    EXPECT_EQ(nodes.must(2, spawn_request("counter", counter_program))["error"],
              "actor counter already exists");
}

TEST(actor_table, a_duplicate_applies_once_and_gets_the_remembered_answer) {
    cluster nodes;
    ASSERT_EQ(nodes.must(0, spawn_request("counter", counter_program))["ok"], true);
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:aa", 5, {{"add", 2}})), ok);
    EXPECT_EQ(nodes.must(1, deliver("counter", "client:aa", 5, {{"add", 2}})), ok);
    EXPECT_EQ(nodes.must(2, deliver("counter", "client:aa", 6, {{"add", 3}})), ok);
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:aa", 5, {{"add", 2}})),
              json({{"ok", true}, {"duplicate", true}}));
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:aa", 6, {{"add", 3}})), ok);
    // A failed message's answer is remembered too.
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:aa", 7, {{"add", "x"}}))["ok"], false);
    const json again = nodes.must(1, deliver("counter", "client:aa", 7, {{"add", "x"}}));
    EXPECT_EQ(again["ok"], false);
    EXPECT_NE(again.value("error", "").find("attempt to add"), std::string::npos) << again;
    EXPECT_EQ(nodes.must(0, inspect("counter"))["state"], json({{"n", 5}}));
}

TEST(actor_table, an_actor_sender_must_not_skip_a_sequence) {
    cluster nodes;
    ASSERT_EQ(nodes.must(0, spawn_request("counter", counter_program))["ok"], true);
    EXPECT_EQ(nodes.must(0, deliver("counter", "peer", 1, json::object())), ok);
    const json gap = nodes.must(0, deliver("counter", "peer", 3, json::object()));
    EXPECT_EQ(gap["ok"], false);
    EXPECT_EQ(gap["retry"], true);
    EXPECT_NE(gap.value("error", "").find("out of order"), std::string::npos) << gap;
    EXPECT_EQ(nodes.must(0, deliver("counter", "peer", 2, json::object())), ok);
    EXPECT_EQ(nodes.must(0, deliver("counter", "peer", 3, json::object())), ok);
    // A client may leave gaps.
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:bb", 10, json::object())), ok);
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:bb", 20, json::object())), ok);
    EXPECT_EQ(nodes.must(0, inspect("counter"))["state"], json({{"n", 5}}));
}

TEST(actor_table, malformed_and_unknown_requests_are_answered) {
    cluster nodes;
    EXPECT_EQ(nodes.must(0, deliver("ghost", "client:aa", 1, json::object())),
              failure("no such actor ghost"));
    auto nowhere = nodes.ask(1, deliver("nobody", "client:aa", 1, json::object()), false);
    ASSERT_FALSE(nowhere.ok());
    EXPECT_EQ(nowhere.failure().code, errc::not_found);

    ASSERT_EQ(nodes.must(0, spawn_request("counter", counter_program))["ok"], true);
    json wrong = deliver("counter", "client:aa", 1, json::object());
    wrong["sequence"] = "one";
    EXPECT_EQ(nodes.must(0, wrong)["ok"], false);
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:aa", 0, json::object()))["error"],
              "a message needs a sender and a sequence from 1");
    EXPECT_EQ(nodes.must(0, {{"op", "juggle"}, {"name", "counter"}})["error"],
              "unknown actor request \"juggle\"");
    EXPECT_EQ(nodes.must(0, steer("counter", "dance"))["ok"], false);
    EXPECT_EQ(nodes.must(0, spawn_request("/bad", counter_program))["error"],
              "an actor name must not start with / or .");
    const json init_fails =
        nodes.must(0, spawn_request("broken", "function init() error('no') end"));
    EXPECT_EQ(init_fails["ok"], false);
    EXPECT_NE(init_fails.value("error", "").find("init failed"), std::string::npos);
    EXPECT_EQ(nodes.must(1, inspect("broken"))["status"], "failed");
    EXPECT_EQ(nodes.must(0, inspect("counter"))["state"], json({{"n", 0}}));
}

TEST(actor_table, a_leader_crash_loses_and_doubles_nothing) {
    cluster nodes;
    ASSERT_EQ(nodes.must(0, spawn_request("counter", counter_program))["ok"], true);
    const auto leader = nodes.leader_of("counter");
    ASSERT_TRUE(leader.has_value());
    const std::size_t client = (*leader + 1) % 3;
    std::uint64_t sequence = 0;
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(nodes.must(client, deliver("counter", "client:cc", ++sequence, json::object())),
                  ok);
    }
    // More increments in flight when the leader dies: the first three reached the followers'
    // logs uncommitted (two hops), the last three only the leader (one hop); none answered.
    std::map<std::uint64_t, std::uint64_t> waiting; // sequence -> request id
    for (int batch = 0; batch < 2; ++batch) {
        for (int i = 0; i < 3; ++i) {
            ++sequence;
            waiting[sequence] = nodes.submit(client, deliver("counter", "client:cc", sequence,
                                                             json::object()));
        }
        nodes.one_hop();
        if (batch == 0) {
            nodes.one_hop();
        }
    }
    for (const auto& [each, id] : waiting) {
        EXPECT_FALSE(nodes.answer(client, id).has_value()) << "sequence " << each;
    }
    nodes.crash(*leader);
    // The client retries what was not acknowledged, with the same sender and sequence.
    for (int round = 0; round < 20 && !waiting.empty(); ++round) {
        nodes.run(duration::seconds(1));
        std::map<std::uint64_t, std::uint64_t> next;
        for (const auto& [each, id] : waiting) {
            auto got = nodes.answer(client, id);
            const bool acknowledged =
                got && got->ok() && json::parse(**got, nullptr, false).value("ok", false);
            if (!acknowledged && got) {
                next[each] = nodes.submit(client, deliver("counter", "client:cc", each,
                                                          json::object()));
            } else if (!acknowledged) {
                next[each] = id; // still waiting
            }
        }
        waiting = std::move(next);
    }
    EXPECT_TRUE(waiting.empty());
    const auto successor = nodes.leader_of("counter");
    ASSERT_TRUE(successor.has_value());
    EXPECT_NE(*successor, *leader);
    // The three the dead leader alone had seen were run again by its successor.
    EXPECT_GE(nodes.table(*successor).stats().handled, 3U);
    const json seen = nodes.must(client, inspect("counter"));
    EXPECT_EQ(seen["state"], json({{"n", sequence}})) << seen;
    EXPECT_EQ(seen["handled"], sequence);
    nodes.run(duration::milliseconds(200));
    nodes.expect_replicas_agree("counter");
}

constexpr std::string_view ping_program = R"lua(
function init(a) return { peer = a.peer, got = {} } end
function handle(s, m, ctx)
  s.got[#s.got + 1] = m.n
  if m.burst then
    for k = 1, m.burst do ctx.send(s.peer, { n = k, quiet = true }) end
  elseif not m.quiet and m.n < 10 then
    ctx.send(s.peer, { n = m.n + 1 })
  end
  return s
end
)lua";

TEST(actor_table, actors_play_ping_pong_through_the_courier) {
    cluster nodes;
    ASSERT_EQ(nodes.must(0, spawn_request("ping", ping_program, {{"peer", "pong"}}))["ok"], true);
    ASSERT_EQ(nodes.must(1, spawn_request("pong", ping_program, {{"peer", "ping"}}))["ok"], true);
    EXPECT_EQ(nodes.must(2, deliver("ping", "client:dd", 1, {{"n", 1}})), ok);
    nodes.run(duration::seconds(2));
    EXPECT_EQ(nodes.at_leader("ping").state["got"], json({1, 3, 5, 7, 9}));
    EXPECT_EQ(nodes.at_leader("pong").state["got"], json({2, 4, 6, 8, 10}));
    EXPECT_TRUE(nodes.at_leader("ping").outbox.empty()); // every send acknowledged
    EXPECT_TRUE(nodes.at_leader("pong").outbox.empty());
    EXPECT_EQ(nodes.at_leader("pong").senders.at("ping").sequence, 5U);

    // A burst from one handler arrives in the order it was sent.
    EXPECT_EQ(nodes.must(0, deliver("pong", "client:dd", 2, {{"n", 20}, {"burst", 8}})), ok);
    nodes.run(duration::seconds(2));
    EXPECT_EQ(nodes.at_leader("ping").state["got"],
              json({1, 3, 5, 7, 9, 1, 2, 3, 4, 5, 6, 7, 8}));
    nodes.expect_replicas_agree("ping");
    nodes.expect_replicas_agree("pong");
}

TEST(actor_table, pause_queues_step_handles_one_and_resume_drains) {
    cluster nodes;
    ASSERT_EQ(nodes.must(0, spawn_request("counter", counter_program))["ok"], true);
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:aa", 1, json::object())), ok);
    EXPECT_EQ(nodes.must(0, steer("counter", "pause")), ok);
    for (std::uint64_t s = 2; s <= 5; ++s) {
        EXPECT_EQ(nodes.must(1, deliver("counter", "client:aa", s, {{"add", 10}})), queued_ok);
    }
    // A queued message retried is recognised as queued, not queued twice.
    EXPECT_EQ(nodes.must(2, deliver("counter", "client:aa", 3, {{"add", 10}})), queued_ok);
    nodes.run(duration::milliseconds(500));
    json seen = nodes.must(0, inspect("counter"));
    EXPECT_EQ(seen["paused"], true);
    EXPECT_EQ(seen["mailbox"].size(), 4U);
    EXPECT_EQ(seen["state"], json({{"n", 1}}));

    EXPECT_EQ(nodes.must(0, steer("counter", "step")), ok);
    seen = nodes.must(0, inspect("counter"));
    EXPECT_EQ(seen["state"], json({{"n", 11}}));
    EXPECT_EQ(seen["mailbox"].size(), 3U);

    json replace = steer("counter", "set_state");
    replace["state"] = {{"n", 100}};
    EXPECT_EQ(nodes.must(0, replace), ok);
    EXPECT_EQ(nodes.must(0, inspect("counter"))["state"], json({{"n", 100}}));

    EXPECT_EQ(nodes.must(0, steer("counter", "resume")), ok);
    nodes.run(duration::seconds(1));
    seen = nodes.must(0, inspect("counter"));
    EXPECT_EQ(seen["state"], json({{"n", 130}}));
    EXPECT_TRUE(seen["mailbox"].empty());
    EXPECT_EQ(seen["paused"], false);
    EXPECT_EQ(nodes.must(0, replace)["ok"], false); // only while paused
    EXPECT_EQ(nodes.must(0, steer("counter", "step"))["ok"], false);
    nodes.run(duration::milliseconds(200));
    nodes.expect_replicas_agree("counter");
}

TEST(actor_table, a_full_mailbox_answers_busy) {
    table_config limits;
    limits.records.mailbox_max = 2;
    cluster nodes(limits);
    ASSERT_EQ(nodes.must(0, spawn_request("counter", counter_program))["ok"], true);
    EXPECT_EQ(nodes.must(0, steer("counter", "pause")), ok);
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:aa", 1, json::object())), queued_ok);
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:aa", 2, json::object())), queued_ok);
    const json full = nodes.must(0, deliver("counter", "client:aa", 3, json::object()));
    EXPECT_EQ(full["ok"], false);
    EXPECT_EQ(full["retry"], true);
    EXPECT_EQ(full["error"], "busy: the mailbox of counter is full");
    EXPECT_EQ(nodes.must(0, steer("counter", "resume")), ok);
    nodes.run(duration::milliseconds(500));
    EXPECT_EQ(nodes.must(0, deliver("counter", "client:aa", 3, json::object())), ok);
    EXPECT_EQ(nodes.must(0, inspect("counter"))["state"], json({{"n", 3}}));
}

TEST(actor_table, a_timer_fires_once_when_its_time_comes) {
    cluster nodes;
    constexpr std::string_view program = R"lua(
function handle(s, m, ctx)
  if m.arm then s.armed = ctx.after(1000, { fire = true }) end
  if m.fire then s.fired = (s.fired or 0) + 1 s.at = ctx.now() end
  return s
end
)lua";
    ASSERT_EQ(nodes.must(0, spawn_request("alarm", program))["ok"], true);
    const std::uint64_t armed_at = nodes.unix_ms();
    EXPECT_EQ(nodes.must(0, deliver("alarm", "client:aa", 1, {{"arm", true}})), ok);
    nodes.run(duration::milliseconds(500));
    EXPECT_FALSE(nodes.at_leader("alarm").state.contains("fired"));
    EXPECT_EQ(nodes.at_leader("alarm").timers.size(), 1U);
    nodes.run(duration::seconds(2));
    const actor_record& fired = nodes.at_leader("alarm");
    EXPECT_EQ(fired.state["fired"], 1);
    EXPECT_GE(fired.state["at"].get<std::uint64_t>(), armed_at + 1000);
    EXPECT_TRUE(fired.timers.empty());
    nodes.run(duration::seconds(2));
    EXPECT_EQ(nodes.at_leader("alarm").state["fired"], 1);
    nodes.expect_replicas_agree("alarm");
}

/// A supervisor with `strategy` and workers it spawns on request; a worker fails on "crash".
std::string supervisor_program(std::string_view strategy, int intensity) {
    return R"lua(
worker = {}
function worker.init(a) return { n = 0, id = a.id } end
function worker.handle(s, m, ctx)
  if m.crash then error("worker " .. s.id .. " crashed") end
  s.n = s.n + 1
  return s
end
supervision = { strategy = ")lua" +
           std::string(strategy) + R"lua(", intensity = )lua" + std::to_string(intensity) +
           R"lua(, period_ms = 60000, backoff_ms = 10 }
function init(a) return { kids = {} } end
function handle(s, m, ctx)
  if m.spawn then
    for i = 1, m.spawn do s.kids[#s.kids + 1] = ctx.spawn("worker", { id = i }) end
  end
  return s
end
)lua";
}

/// Spawns "sup" with `workers` children and gives each worker one message (n = 1).
void start_tree(cluster& nodes, std::string_view strategy, int workers, int intensity = 3) {
    ASSERT_EQ(nodes.must(0, spawn_request("sup", supervisor_program(strategy, intensity)))["ok"],
              true);
    ASSERT_EQ(nodes.must(0, deliver("sup", "client:ee", 1, {{"spawn", workers}})), ok);
    nodes.run(duration::seconds(1));
    for (int i = 1; i <= workers; ++i) {
        const std::string name = "sup/worker-" + std::to_string(i);
        const actor_record* child = nodes.record(0, name);
        ASSERT_NE(child, nullptr) << name;
        EXPECT_EQ(child->parent, "sup");
        EXPECT_EQ(child->module, "worker");
        EXPECT_EQ(child->state, json({{"n", 0}, {"id", i}}));
        ASSERT_EQ(nodes.must(1, deliver(name, "client:ee", 1, json::object())), ok);
    }
    const json seen = nodes.must(0, inspect("sup"));
    EXPECT_EQ(seen["children"].size(), static_cast<std::size_t>(workers));
}

json worker_state(cluster& nodes, int i) {
    return nodes.must(2, inspect("sup/worker-" + std::to_string(i)))["state"];
}

/// Makes worker `i` fail and lets the supervisor react.
void crash_worker(cluster& nodes, int i, std::uint64_t sequence) {
    const json failed = nodes.must(
        1, deliver("sup/worker-" + std::to_string(i), "client:ee", sequence, {{"crash", true}}));
    EXPECT_EQ(failed["ok"], false);
    EXPECT_NE(failed.value("error", "").find("crashed"), std::string::npos) << failed;
    nodes.run(duration::seconds(2));
}

TEST(actor_table, one_for_one_restarts_only_the_failed_child) {
    cluster nodes;
    start_tree(nodes, "one_for_one", 2);
    crash_worker(nodes, 1, 2);
    EXPECT_EQ(worker_state(nodes, 1), json({{"n", 0}, {"id", 1}})); // back to init
    EXPECT_EQ(worker_state(nodes, 2), json({{"n", 1}, {"id", 2}}));
    const actor_record& sup = nodes.at_leader("sup");
    EXPECT_EQ(sup.restarts_ms.size(), 1U);
    EXPECT_EQ(sup.status, "running");
    EXPECT_EQ(nodes.at_leader("sup/worker-1").failures, 1U);
    EXPECT_EQ(nodes.at_leader("sup/worker-1").status, "running");
    // The restarted child works again.
    EXPECT_EQ(nodes.must(0, deliver("sup/worker-1", "client:ee", 3, json::object())), ok);
    EXPECT_EQ(worker_state(nodes, 1), json({{"n", 1}, {"id", 1}}));
}

TEST(actor_table, one_for_all_restarts_every_sibling) {
    cluster nodes;
    start_tree(nodes, "one_for_all", 3);
    crash_worker(nodes, 2, 2);
    for (int i = 1; i <= 3; ++i) {
        EXPECT_EQ(worker_state(nodes, i), json({{"n", 0}, {"id", i}})) << "worker " << i;
    }
}

TEST(actor_table, rest_for_one_restarts_the_later_siblings) {
    cluster nodes;
    start_tree(nodes, "rest_for_one", 3);
    crash_worker(nodes, 2, 2);
    EXPECT_EQ(worker_state(nodes, 1), json({{"n", 1}, {"id", 1}}));
    EXPECT_EQ(worker_state(nodes, 2), json({{"n", 0}, {"id", 2}}));
    EXPECT_EQ(worker_state(nodes, 3), json({{"n", 0}, {"id", 3}}));
}

TEST(actor_table, too_many_failures_escalate) {
    cluster nodes;
    start_tree(nodes, "one_for_one", 2, 2);
    crash_worker(nodes, 1, 2);
    crash_worker(nodes, 1, 3);
    EXPECT_EQ(nodes.at_leader("sup").status, "running");
    crash_worker(nodes, 1, 4); // the third within the period: more than intensity 2
    const json sup = nodes.must(0, inspect("sup"));
    EXPECT_EQ(sup["status"], "failed");
    EXPECT_NE(sup.value("last_error", "").find("failed 3 times"), std::string::npos) << sup;
    for (int i = 1; i <= 2; ++i) {
        EXPECT_EQ(nodes.must(0, inspect("sup/worker-" + std::to_string(i)))["status"], "stopped")
            << "worker " << i;
    }
}

TEST(actor_table, a_stop_cascades_to_the_children) {
    cluster nodes;
    start_tree(nodes, "one_for_one", 2);
    EXPECT_EQ(nodes.must(2, deliver("sup", "client:ee", 2, {{"reef", "stop"}}, "control")), ok);
    nodes.run(duration::seconds(1));
    for (const char* name : {"sup", "sup/worker-1", "sup/worker-2"}) {
        EXPECT_EQ(nodes.must(0, inspect(name))["status"], "stopped") << name;
    }
    EXPECT_EQ(nodes.must(0, deliver("sup/worker-1", "client:ee", 9, json::object()))["error"],
              "actor sup/worker-1 is stopped");
    nodes.run(duration::milliseconds(200));
    nodes.expect_replicas_agree("sup");
    nodes.expect_replicas_agree("sup/worker-2");
}

} // namespace
} // namespace reef::actors
