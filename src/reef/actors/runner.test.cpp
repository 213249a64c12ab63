#include "reef/actors/runner.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace reef::actors {
namespace {

constexpr std::string_view counter_program = R"lua(
function init(args) return { n = args.start or 0 } end
function handle(s, m, ctx) s.n = s.n + (m.add or 1) return s end
)lua";

class runner_test : public ::testing::Test {
protected:
    runner_test() { rebuild(); }

    void rebuild(record_limits records = {}, runner_config limits = small_runner()) {
        run_ = std::make_unique<runner>(limits, records,
                                        [this](const std::string& actor, std::string_view line) {
                                            lines_.emplace_back(actor, std::string(line));
                                        });
    }

    static runner_config small_runner() {
        runner_config limits;
        // Small enough that the runaway handlers below stop within milliseconds.
        limits.sandbox.instructions_per_call_max = 2'000'000;
        limits.sandbox.hook_interval_instructions = 100'000;
        return limits;
    }

    static actor_record actor(std::string name, std::string_view program,
                              json args = json::object()) {
        actor_record record;
        record.name = std::move(name);
        record.program = std::string(program);
        record.args = std::move(args);
        return record;
    }

    /// Runs init, stores the state and returns the output (asserting success).
    run_output start(actor_record& record) {
        auto out = run_->init(record, facts_);
        EXPECT_TRUE(out.ok()) << out.failure().describe();
        if (!out) {
            return {};
        }
        record.state = out->state;
        return *out;
    }

    /// handle(state, body) as a client's message; the error message, or "" (state kept).
    std::string send(actor_record& record, json body) {
        auto out = run_->handle(record, "client:1", body, facts_);
        if (!out) {
            return out.failure().message;
        }
        record.state = out->state;
        return "";
    }

    std::unique_ptr<runner> run_;
    run_context facts_{1'700'000'000'000ULL, 42};
    std::vector<std::pair<std::string, std::string>> lines_;
};

TEST_F(runner_test, a_counter_initializes_and_counts) {
    actor_record record = actor("counter", counter_program, {{"start", 10}});
    const run_output started = start(record);
    EXPECT_EQ(started.state, json({{"n", 10}}));
    EXPECT_TRUE(started.sends.empty());
    EXPECT_TRUE(started.timers.empty());
    EXPECT_FALSE(started.stop);
    EXPECT_EQ(send(record, {{"add", 5}}), "");
    EXPECT_EQ(send(record, json::object()), "");
    EXPECT_EQ(record.state, json({{"n", 16}}));
    EXPECT_EQ(run_->sandboxes(), 1U);
    EXPECT_EQ(run_->sandboxes_created(), 1U); // cached between calls
    // A changed program gets a fresh sandbox.
    record.program += "\n-- v2\n";
    EXPECT_EQ(send(record, {{"add", 1}}), "");
    EXPECT_EQ(record.state, json({{"n", 17}}));
    EXPECT_EQ(run_->sandboxes_created(), 2U);
    // No init: the state starts as {}; a handler returning nothing keeps the state.
    actor_record bare = actor("bare", "function handle(s, m) s.seen = m end");
    EXPECT_EQ(start(bare).state, json::object());
    EXPECT_EQ(send(bare, "hi"), "");
    EXPECT_EQ(bare.state, json({{"seen", "hi"}}));
}

TEST_F(runner_test, ctx_calls_become_run_output) {
    constexpr std::string_view program = R"lua(
worker = {}
function worker.init(args) return { k = args.k } end
function worker.handle(s, m) return s end
supervision = { strategy = "one_for_all", intensity = 2 }
function init(args, ctx) return { me = ctx.self, parent = ctx.parent } end
function handle(s, m, ctx)
  ctx.send("peer", { hello = ctx.sender })
  local child = ctx.spawn("worker", { k = 2 })
  local timer = ctx.after(250, "tick")
  ctx.cancel(3)
  ctx.log("spawned", child, "timer", timer)
  s.child, s.timer, s.now = child, timer, ctx.now()
  if m.stop then ctx.stop() end
  return s
end
)lua";
    actor_record record = actor("boss", program);
    record.parent = "root";
    record.children_made = 4;
    record.timers_made = 6;
    const run_output started = start(record);
    EXPECT_EQ(started.state, json({{"me", "boss"}, {"parent", "root"}}));
    EXPECT_EQ(started.supervision, json({{"strategy", "one_for_all"}, {"intensity", 2}}));

    auto out = run_->handle(record, "client:9", {{"stop", true}}, facts_);
    ASSERT_TRUE(out.ok()) << out.failure().describe();
    EXPECT_EQ(out->sends,
              json::parse(R"([{"to": "peer", "kind": "message", "body": {"hello": "client:9"}},
                              {"to": "boss/worker-5", "kind": "spawn",
                               "body": {"module": "worker", "args": {"k": 2}}}])"));
    EXPECT_EQ(out->timers, json::parse(R"([{"due_ms": 1700000000250, "body": "tick"}])"));
    EXPECT_EQ(out->cancel, json::array({3}));
    EXPECT_TRUE(out->stop);
    EXPECT_EQ(out->state["child"], "boss/worker-5");
    EXPECT_EQ(out->state["timer"], 7); // the id the record will give it
    EXPECT_EQ(out->state["now"], 1'700'000'000'000ULL);
    ASSERT_EQ(lines_.size(), 1U);
    EXPECT_EQ(lines_[0], std::make_pair(std::string("boss"),
                                        std::string("spawned\tboss/worker-5\ttimer\t7")));

    // A module's own init and handle run for a record naming it.
    actor_record child = actor("boss/worker-5", program, {{"k", 2}});
    child.module = "worker";
    EXPECT_EQ(start(child).state, json({{"k", 2}}));
    child.module = "nothing";
    auto missing = run_->init(child, facts_);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.failure().message.find("the program has no actor kind nothing"),
              std::string::npos)
        << missing.failure().message;
}

TEST_F(runner_test, a_failed_handler_says_why_and_its_sandbox_is_dropped) {
    constexpr std::string_view program = R"lua(
function handle(s, m)
  calls = (calls or 0) + 1
  if m.fail then error("refusing " .. m.fail) end
  s.calls = calls
  return s
end
)lua";
    actor_record record = actor("flaky", program);
    record.state = json::object();
    EXPECT_EQ(send(record, json::object()), "");
    EXPECT_EQ(record.state["calls"], 1);
    const std::string why = send(record, {{"fail", "this"}});
    EXPECT_NE(why.find("refusing this"), std::string::npos) << why;
    EXPECT_EQ(run_->sandboxes(), 0U);
    // The global bumped by the failed call is gone with its sandbox.
    EXPECT_EQ(send(record, json::object()), "");
    EXPECT_EQ(record.state["calls"], 1);
    EXPECT_EQ(run_->sandboxes_created(), 2U);

    // Errors in the program itself or a missing handle are reported, not thrown.
    actor_record broken = actor("broken", "function handle(s, m) return s");
    EXPECT_NE(send(broken, 1).find("broken:"), std::string::npos);
    actor_record no_handle = actor("idle", "x = 1");
    EXPECT_NE(send(no_handle, 1).find("the program defines no handle(state, msg, ctx)"),
              std::string::npos);
    actor_record no_program = actor("empty", "");
    EXPECT_EQ(send(no_program, 1), "actor empty has no program");
}

TEST_F(runner_test, escapes_fail_that_call_and_the_next_call_works) {
    constexpr std::string_view program = R"lua(
function handle(s, m)
  if m.try == "io" then io.open("/etc/passwd") end
  if m.try == "os" then os.execute("touch /tmp/reef-escaped") end
  if m.try == "require" then require("os") end
  if m.try == "bytecode" then assert(load("\27Lua\84\0\25\147\r\n\26\n"))() end
  if m.try == "rep" then local big = string.rep("x", 1 << 30) s.big = #big end
  if m.try == "grow" then local t = {} for i = 1, 1e9 do t[i] = i end end
  if m.try == "loop" then while true do end end
  if m.try == "recurse" then local function f(n) return 1 + f(n + 1) end f(1) end
  if m.try == "debug" then debug.sethook() end
  s.n = (s.n or 0) + 1
  return s
end
)lua";
    const std::vector<std::pair<std::string, std::string>> attempts = {
        {"io", "global 'io'"},
        {"os", "nil value"},
        {"require", "global 'require'"},
        {"bytecode", "bytecode is refused"},
        {"rep", "memory limit"},
        {"grow", "memory limit"},
        {"loop", "budget of 2000000 instructions"},
        {"recurse", "stack overflow|memory limit"}, // whichever comes first
        {"debug", "global 'debug'"},
    };
    actor_record record = actor("prisoner", program);
    record.state = json::object();
    int handled = 0;
    for (const auto& [attempt, expected] : attempts) {
        const std::string why = send(record, {{"try", attempt}});
        const auto bar = expected.find('|');
        const bool explained =
            why.find(expected.substr(0, bar)) != std::string::npos ||
            (bar != std::string::npos && why.find(expected.substr(bar + 1)) != std::string::npos);
        EXPECT_TRUE(explained) << attempt << ": " << why;
        EXPECT_EQ(send(record, json::object()), "") << "after " << attempt;
        EXPECT_EQ(record.state["n"], ++handled) << "after " << attempt;
    }
    EXPECT_FALSE(record.state.contains("big"));
}

TEST_F(runner_test, outputs_beyond_the_limits_are_refused) {
    record_limits records;
    records.state_size_max = 100;
    records.sends_per_step_max = 3;
    records.timers_max = 2;
    records.message_size_max = 50;
    rebuild(records);
    constexpr std::string_view program = R"lua(
function handle(s, m, ctx)
  if m.big then s.pad = string.rep("x", 200) end
  if m.to then ctx.send(m.to, "hi") end
  if m.bad_to then ctx.send(5, "hi") end
  if m.sends then for i = 1, m.sends do ctx.send("peer", i) end end
  if m.timers then for i = 1, m.timers do ctx.after(10, i) end end
  if m.long then ctx.send("peer", string.rep("y", 100)) end
  if m.delay then ctx.after(m.delay, 1) end
  if m.kind then ctx.spawn(m.kind) end
  return s
end
)lua";
    actor_record record = actor("bounded", program);
    record.state = json::object();
    const auto refused = [&](json body, std::string_view expected) {
        const std::string why = send(record, body);
        EXPECT_NE(why.find(expected), std::string::npos) << body.dump() << ": " << why;
    };
    refused({{"big", true}}, "the new state is larger than 100 bytes as JSON");
    refused({{"to", "/etc"}}, "ctx.send to \"/etc\": an actor name must not start with / or .");
    refused({{"to", "a b"}}, "ctx.send to \"a b\": an actor name may hold only");
    refused({{"to", ""}}, "ctx.send to \"\": an actor name must be 1..128 bytes");
    refused({{"bad_to", true}}, "ctx.send: the destination must be an actor name");
    refused({{"sends", 4}}, "one message may send, spawn and set timers 3 times at most");
    refused({{"timers", 3}}, "more than 2 timers pending");
    refused({{"long", true}}, "a message to peer is larger than 50 bytes as JSON");
    refused({{"delay", -1}}, "ctx.after: the delay must be a number of milliseconds");
    refused({{"kind", "ghost"}}, "ctx.spawn: this program has no actor kind ghost");
    // Within the limits, the same handler works.
    auto out = run_->handle(record, "client:1", {{"sends", 3}}, facts_);
    ASSERT_TRUE(out.ok()) << out.failure().describe();
    EXPECT_EQ(out->sends.size(), 3U);
    EXPECT_EQ(record.state, json::object());
}

TEST_F(runner_test, the_sandbox_cache_is_bounded) {
    runner_config limits = small_runner();
    limits.sandboxes_max = 2;
    rebuild({}, limits);
    actor_record a = actor("a", counter_program);
    actor_record b = actor("b", counter_program);
    actor_record c = actor("c", counter_program);
    start(a);
    start(b);
    start(a); // a is now the most recently used
    start(c); // b goes
    EXPECT_EQ(run_->sandboxes(), 2U);
    EXPECT_EQ(run_->sandboxes_created(), 3U);
    start(a);
    EXPECT_EQ(run_->sandboxes_created(), 3U);
    start(b);
    EXPECT_EQ(run_->sandboxes_created(), 4U);
}

TEST_F(runner_test, the_same_facts_give_the_same_result) {
    constexpr std::string_view program = R"lua(
function handle(s, m, ctx) return { r = ctx.random(1, 1000000), t = ctx.now() } end
)lua";
    actor_record record = actor("dice", program);
    auto first = run_->handle(record, "client:1", 1, facts_);
    auto again = run_->handle(record, "client:1", 1, facts_);
    ASSERT_TRUE(first.ok() && again.ok());
    EXPECT_EQ(first->state, again->state); // the seed is reset per call
    auto other = run_->handle(record, "client:1", 1, {facts_.now_ms, facts_.seed + 1});
    ASSERT_TRUE(other.ok());
    EXPECT_NE(first->state["r"], other->state["r"]);
}

} // namespace
} // namespace reef::actors
