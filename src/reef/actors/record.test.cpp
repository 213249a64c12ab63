#include "reef/actors/record.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace reef::actors {

// Readable failures: gtest prints a record as its JSON.
void PrintTo(const actor_record& record, std::ostream* out) {
    *out << to_json(record).dump();
}

namespace {

/// A record with every field away from its default.
actor_record full_record() {
    actor_record record;
    record.name = "shop/cart-1";
    record.program = "function handle(s, m) return s end";
    record.module = "cart";
    record.parent = "shop";
    record.owner = "alice";
    record.args = {{"size", 3}};
    record.state = {{"items", {"apple", "pear"}}, {"total", 12.5}};
    record.status = "failed";
    record.last_error = "boom";
    record.paused = true;
    record.handled = 7;
    record.failures = 2;
    record.step_index = 42;
    record.policy = supervision{"rest_for_one", 5, 1000, 10, 800};
    record.senders["client:ab"] = remembered{9, {{"ok", true}}, 40};
    record.senders["shop"] = remembered{3, {{"ok", false}, {"error", "x"}}, 41};
    record.sent["shop"] = 4;
    record.outbox.push_back(outgoing{4, "shop", "message", {{"n", 1}}});
    record.mailbox.push_back(queued{"client:ab", 10, {{"add", 2}}});
    record.timers[3] = timer{5000, {{"tick", true}}};
    record.timers_made = 3;
    record.children = {"shop/cart-1/line-1", "shop/cart-1/line-2"};
    record.children_made = 2;
    record.restarts_ms = {100, 200};
    return record;
}

std::string error_of(const result<actor_record>& read) {
    return read ? std::string("(accepted)") : read.failure().message;
}

json handled(const std::string& from, std::uint64_t sequence, json state) {
    return {{"step", "handled"}, {"from", from}, {"sequence", sequence}, {"state", state}};
}

TEST(actor_record, json_round_trip_keeps_every_field) {
    const actor_record record = full_record();
    auto back = record_from_json(to_json(record));
    ASSERT_TRUE(back.ok()) << back.failure().describe();
    EXPECT_EQ(*back, record);
    // Through text too, as a snapshot travels (numbers come back unsigned).
    auto parsed = record_from_json(json::parse(to_json(record).dump()));
    ASSERT_TRUE(parsed.ok()) << parsed.failure().describe();
    EXPECT_EQ(*parsed, record);
    EXPECT_EQ(to_json(*parsed), to_json(record));
    // The least record is only a name; everything else takes its default.
    auto least = record_from_json({{"name", "a"}});
    ASSERT_TRUE(least.ok());
    EXPECT_EQ(least->status, "running");
    EXPECT_EQ(least->policy.strategy, "one_for_one");
    EXPECT_EQ(least->policy.intensity, 3U);
}

TEST(actor_record, malformed_records_are_refused_with_a_reason) {
    EXPECT_EQ(error_of(record_from_json(json::array())), "an actor record must be an object");
    EXPECT_EQ(error_of(record_from_json(json::object())), "missing field \"name\"");
    EXPECT_EQ(error_of(record_from_json({{"name", 5}})), "field \"name\" has the wrong type");

    const json good = to_json(full_record());
    const auto with = [&](const std::string& key, json value) {
        json changed = good;
        changed[key] = std::move(value);
        return error_of(record_from_json(changed));
    };
    EXPECT_EQ(with("paused", "yes"), "field \"paused\" has the wrong type");
    EXPECT_EQ(with("handled", -1), "field \"handled\" has the wrong type");
    EXPECT_EQ(with("handled", 1.5), "field \"handled\" has the wrong type");
    EXPECT_EQ(with("failures", true), "field \"failures\" has the wrong type");
    EXPECT_EQ(with("program", json::array()), "field \"program\" has the wrong type");
    EXPECT_EQ(with("status", "sleeping"), "unknown status \"sleeping\"");
    EXPECT_EQ(with("policy", 3), "field \"policy\" must be an object");
    EXPECT_EQ(with("policy", {{"strategy", "all_for_none"}}),
              "unknown supervision strategy \"all_for_none\"");
    EXPECT_EQ(with("policy", {{"intensity", 5'000'000'000ULL}}),
              "field \"intensity\" has the wrong type");
    EXPECT_EQ(with("senders", json::array()), "field \"senders\" must be an object");
    EXPECT_EQ(with("senders", {{"x", 3}}), "a sender's entry must be an object");
    EXPECT_EQ(with("senders", {{"x", {{"sequence", "3"}}}}),
              "field \"sequence\" has the wrong type");
    EXPECT_EQ(with("sent", {{"x", "3"}}), "sent sequences must be numbers");
    EXPECT_EQ(with("outbox", {{{"to", "x"}, {"kind", "message"}}}),
              "an outbox item needs to, kind and sequence");
    EXPECT_EQ(with("outbox", {{{"to", "x"}, {"kind", "gift"}, {"sequence", 1}}}),
              "unknown outbox kind \"gift\"");
    EXPECT_EQ(with("mailbox", {{{"from", 1}}}), "field \"from\" has the wrong type");
    EXPECT_EQ(with("timers", {{{"id", 1}, {"due_ms", "soon"}}}),
              "field \"due_ms\" has the wrong type");
    EXPECT_EQ(with("children", {1, 2}), "field \"children\" has the wrong type");

    record_limits small;
    small.program_size_max = 10;
    EXPECT_EQ(error_of(record_from_json(good, small)), "the program is larger than 10 bytes");
}

TEST(actor_record, names_are_validated) {
    EXPECT_TRUE(validate_name("a").ok());
    EXPECT_TRUE(validate_name("shop/cart-1_v2.x").ok());
    const auto refused = [](std::string_view name) {
        auto valid = validate_name(name);
        return valid ? std::string("(accepted)") : valid.failure().message;
    };
    EXPECT_EQ(refused(""), "an actor name must be 1..128 bytes");
    EXPECT_EQ(refused(std::string(129, 'a')), "an actor name must be 1..128 bytes");
    EXPECT_TRUE(validate_name(std::string(128, 'a')).ok());
    EXPECT_EQ(refused("/root"), "an actor name must not start with / or .");
    EXPECT_EQ(refused(".hidden"), "an actor name must not start with / or .");
    EXPECT_EQ(refused("a b"), "an actor name may hold only letters, digits and . _ - /");
    EXPECT_EQ(refused("caf\xc3\xa9"), "an actor name may hold only letters, digits and . _ - /");
    EXPECT_EQ(error_of(record_from_json({{"name", "../up"}})),
              "an actor name must not start with / or .");
}

TEST(actor_record, malformed_steps_are_refused_and_change_nothing) {
    actor_record record = full_record();
    record.paused = false;
    record.mailbox.clear();
    const actor_record before = record;
    const auto refused = [&](const json& step) {
        const json answer = apply_step(record, step, 99);
        // Only the log position moves: the entry was applied, as a refusal.
        actor_record expected = before;
        expected.step_index = record.step_index == 99 ? 99 : before.step_index;
        EXPECT_EQ(record, expected) << step.dump();
        EXPECT_FALSE(answer.value("ok", true)) << step.dump();
        return answer.value("error", std::string());
    };
    EXPECT_EQ(refused(json::array()), "a step must be an object");
    EXPECT_EQ(refused({{"step", "teleport"}}), "unknown step \"teleport\"");
    EXPECT_EQ(refused({{"step", 5}}), "unknown step \"\"");
    EXPECT_EQ(refused({{"step", "handled"}, {"from", "x"}}),
              "a handled step needs from and sequence");
    EXPECT_EQ(refused({{"step", "handled"}, {"from", "x"}, {"sequence", -3}}),
              "a handled step needs from and sequence");
    EXPECT_EQ(refused({{"step", "handled"}, {"from", "x"}, {"sequence", 1}, {"mailbox", true}}),
              "a handled step from an empty mailbox");
    json bad_send = handled("client:1", 11, {{"n", 1}});
    bad_send["sends"] = {{{"to", "y"}, {"kind", "message"}}, {{"kind", "message"}}};
    EXPECT_EQ(refused(bad_send), "a send needs to and kind");
    bad_send["sends"] = {{{"to", "y"}, {"kind", "gift"}}};
    EXPECT_EQ(refused(bad_send), "unknown send kind \"gift\"");
    json bad_timer = handled("client:1", 11, {{"n", 1}});
    bad_timer["timers"] = {{{"due_ms", "later"}}};
    EXPECT_EQ(refused(bad_timer), "field \"due_ms\" has the wrong type");
    json bad_flag = handled("client:1", 11, {{"n", 1}});
    bad_flag["stop"] = "yes";
    EXPECT_EQ(refused(bad_flag), "field \"stop\" must be a boolean");
    json bad_status = handled("client:1", 11, {{"n", 1}});
    bad_status["status"] = "asleep";
    EXPECT_EQ(refused(bad_status), "a step's status must be running or failed");
    EXPECT_EQ(refused({{"step", "queued"}, {"from", "x"}}),
              "a queued step needs from and sequence");
    EXPECT_EQ(refused({{"step", "steer"}, {"op", "dance"}}), "unknown steer op \"dance\"");
    EXPECT_EQ(refused({{"step", "steer"}, {"op", "set_state"}, {"state", 1}}),
              "the actor must be paused to replace its state");
    EXPECT_EQ(refused({{"step", "steer"}, {"op", "pause"}, {"sends", 1}}),
              "field \"sends\" must be an array");
    EXPECT_EQ(refused({{"step", "create"}, {"record", {{"name", "/x"}}}}),
              "an actor name must not start with / or .");
}

TEST(actor_record, steps_change_the_record_as_described) {
    actor_record record;
    json created = apply_step(
        record,
        {{"step", "create"},
         {"from", "client:1"},
         {"sequence", 1},
         {"answer", {{"ok", true}, {"name", "a"}}},
         {"record", {{"name", "a"}, {"program", "x"}, {"state", {{"n", 0}}}}},
         {"timers", {{{"due_ms", 500}, {"body", "t"}}}}},
        1);
    EXPECT_EQ(created, json({{"ok", true}, {"name", "a"}}));
    EXPECT_EQ(record.name, "a");
    EXPECT_EQ(record.step_index, 1U);
    ASSERT_EQ(record.timers.size(), 1U);
    EXPECT_EQ(record.timers.at(1).due_ms, 500U);
    EXPECT_EQ(duplicate_answer(record, "client:1", 1), created);

    json step = handled("client:1", 2, {{"n", 1}});
    step["sends"] = {{{"to", "b"}, {"kind", "message"}, {"body", 1}},
                     {{"to", "b"}, {"kind", "message"}, {"body", 2}},
                     {{"to", "a/w-1"}, {"kind", "spawn"}, {"body", {{"module", "w"}}}}};
    step["cancel"] = {1}; // a signed id, as the leader holds it before encoding
    EXPECT_EQ(apply_step(record, step, 2), success());
    EXPECT_EQ(record.state, json({{"n", 1}}));
    EXPECT_EQ(record.handled, 1U);
    EXPECT_TRUE(record.timers.empty());
    ASSERT_EQ(record.outbox.size(), 3U);
    EXPECT_EQ(record.outbox[0].sequence, 1U);
    EXPECT_EQ(record.outbox[1].sequence, 2U);
    EXPECT_EQ(record.outbox[2].sequence, 1U); // sequences count per destination
    EXPECT_EQ(record.children, std::vector<std::string>{"a/w-1"});
    EXPECT_EQ(record.children_made, 1U);

    EXPECT_EQ(apply_step(record, {{"step", "ack"}, {"to", "b"}, {"sequence", 1}}, 3), success());
    ASSERT_EQ(record.outbox.size(), 2U);
    EXPECT_EQ(record.outbox[0].body, json(2));

    json failed = handled("client:1", 3, {{"n", 99}});
    failed["failed"] = "handler error";
    failed["answer"] = failure("handler error");
    EXPECT_EQ(apply_step(record, failed, 4), failure("handler error"));
    EXPECT_EQ(record.state, json({{"n", 1}})); // a failed message keeps the state
    EXPECT_EQ(record.failures, 1U);
    EXPECT_EQ(record.last_error, "handler error");
    EXPECT_EQ(duplicate_answer(record, "client:1", 3), failure("handler error"));

    EXPECT_EQ(apply_step(record, {{"step", "steer"}, {"op", "pause"}}, 5), success());
    EXPECT_EQ(apply_step(record, {{"step", "queued"}, {"from", "c"}, {"sequence", 1},
                                  {"body", "m"}},
                         6),
              json({{"ok", true}, {"queued", true}}));
    EXPECT_EQ(apply_step(record, {{"step", "steer"}, {"op", "set_state"}, {"state", 7}}, 7),
              success());
    EXPECT_EQ(record.state, json(7));
    json drained = handled("c", 1, 8);
    drained["mailbox"] = true;
    EXPECT_EQ(apply_step(record, drained, 8), success());
    EXPECT_TRUE(record.mailbox.empty());
    EXPECT_EQ(record.state, json(8));

    const json seen = apply_step(record, {{"step", "inspect"}}, 9);
    EXPECT_EQ(seen["state"], json(8));
    EXPECT_EQ(seen["handled"], 2);
    EXPECT_EQ(seen["children"], json({"a/w-1"}));

    json stop = handled("client:1", 4, 8);
    stop["stop"] = true;
    record.timers[9] = timer{1, nullptr};
    (void)apply_step(record, stop, 10);
    EXPECT_EQ(record.status, "stopped");
    EXPECT_TRUE(record.timers.empty());
    EXPECT_EQ(record.step_index, 10U);
}

TEST(actor_record, duplicate_answer_and_in_order) {
    actor_record record;
    record.name = "a";
    EXPECT_EQ(duplicate_answer(record, "b", 1), std::nullopt); // never seen: new
    EXPECT_TRUE(in_order(record, "b", 1));
    EXPECT_TRUE(in_order(record, "b", 5)); // a sender not remembered starts afresh

    (void)apply_step(record, handled("b", 1, 1), 1);
    (void)apply_step(record, handled("b", 2, 2), 2);
    EXPECT_EQ(duplicate_answer(record, "b", 2), success()); // its last: the remembered answer
    EXPECT_EQ(duplicate_answer(record, "b", 1), json({{"ok", true}, {"duplicate", true}}));
    EXPECT_EQ(duplicate_answer(record, "b", 3), std::nullopt);
    EXPECT_TRUE(in_order(record, "b", 3));
    EXPECT_FALSE(in_order(record, "b", 4)); // an actor sender leaves no gaps
    EXPECT_FALSE(in_order(record, "b", 2));

    // Clients may leave gaps; timers are the actor's own.
    (void)apply_step(record, handled("client:ff", 10, 3), 3);
    EXPECT_TRUE(in_order(record, "client:ff", 20));
    EXPECT_TRUE(in_order(record, std::string(timer_sender), 77));

    // A message waiting in the mailbox counts as arrived.
    (void)apply_step(record, {{"step", "queued"}, {"from", "b"}, {"sequence", 3}}, 4);
    EXPECT_EQ(duplicate_answer(record, "b", 3), json({{"ok", true}, {"queued", true}}));
    EXPECT_TRUE(in_order(record, "b", 4));
    EXPECT_FALSE(in_order(record, "b", 3));
}

TEST(actor_record, the_exactly_once_table_forgets_its_oldest_sender_first) {
    record_limits limits;
    limits.senders_max = 2;
    actor_record record;
    record.name = "a";
    (void)apply_step(record, handled("x", 1, 1), 1, limits);
    (void)apply_step(record, handled("y", 1, 2), 2, limits);
    (void)apply_step(record, handled("x", 2, 3), 3, limits); // x is now the most recent
    (void)apply_step(record, handled("z", 1, 4), 4, limits);
    EXPECT_EQ(record.senders.size(), 2U);
    EXPECT_TRUE(record.senders.contains("x"));
    EXPECT_TRUE(record.senders.contains("z"));
    EXPECT_FALSE(record.senders.contains("y")); // the least recently used went
    EXPECT_EQ(record.senders.at("x").sequence, 2U);
    EXPECT_EQ(record.senders.at("x").used_at, 3U);
    EXPECT_TRUE(in_order(record, "y", 9)); // forgotten: starts afresh rather than stuck
}

} // namespace
} // namespace reef::actors
