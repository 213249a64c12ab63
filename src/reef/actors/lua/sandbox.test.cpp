// The sandbox's rules: safe functions work, every escape attempt fails with a clear error, and the
// state stays usable (memory back to its baseline) after each failure.

#include "reef/actors/lua/sandbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace reef::actors::lua {
namespace {

using json = nlohmann::json;

class sandbox_test : public ::testing::Test {
protected:
    void SetUp() override { make(sandbox_config{}); }

    void make(const sandbox_config& limits) {
        auto made = sandbox::create(limits, 42, [this](std::string_view line) {
            log_lines_.emplace_back(line);
        });
        ASSERT_TRUE(made.ok()) << made.failure().describe();
        box_ = std::move(made.value());
    }

    // Loads `source` defining f() and calls it; the error message, or "" on success.
    std::string failure_of(const std::string& body) {
        auto loaded = box_->load("probe", "function f() " + body + " end");
        EXPECT_TRUE(loaded.ok()) << loaded.failure().describe();
        auto called = box_->call("f", {});
        return called.ok() ? "" : called.failure().message;
    }

    json value_of(const std::string& expression) {
        auto loaded = box_->load("probe", "function f() return " + expression + " end");
        EXPECT_TRUE(loaded.ok()) << loaded.failure().describe();
        auto called = box_->call("f", {});
        EXPECT_TRUE(called.ok()) << called.failure().describe();
        return called.ok() ? called.value() : json();
    }

    // After a failure the state still works and its memory returns to the baseline.
    void expect_usable(std::size_t baseline_bytes) {
        EXPECT_FALSE(box_->dead());
        EXPECT_EQ(value_of("1 + 1"), json(2));
        box_->collect_garbage();
        EXPECT_LE(box_->memory_used_bytes(), baseline_bytes + 4096);
    }

    std::size_t baseline() {
        EXPECT_EQ(value_of("0"), json(0));
        box_->collect_garbage();
        return box_->memory_used_bytes();
    }

    std::unique_ptr<sandbox> box_;
    std::vector<std::string> log_lines_;
};

TEST(sandbox_config_test, validate_refuses_bad_limits) {
    EXPECT_TRUE(sandbox_config{}.validate().ok());
    sandbox_config tiny;
    tiny.memory_limit_bytes = 1000;
    EXPECT_FALSE(tiny.validate().ok());
    sandbox_config no_interval;
    no_interval.hook_interval_instructions = 0;
    EXPECT_FALSE(no_interval.validate().ok());
    EXPECT_FALSE(sandbox::create(tiny, 1, nullptr).ok());
}

TEST_F(sandbox_test, counter_handler_round_trips_json) {
    ASSERT_TRUE(box_->load("counter", R"(
        function init(args) return { n = 0 } end
        function handle(state, msg)
          state.n = state.n + (msg.add or 1)
          return state
        end)").ok());
    json state = box_->call("init", {json::object()}).value();
    EXPECT_EQ(state, json({{"n", 0}}));
    for (int k = 0; k < 3; ++k) {
        state = box_->call("handle", {state, json({{"add", 2}})}).value();
    }
    EXPECT_EQ(state["n"], 6);
}

TEST_F(sandbox_test, safe_standard_functions_work) {
    EXPECT_EQ(value_of("string.format('%d-%s', 7, ('ab'):upper())"), json("7-AB"));
    EXPECT_EQ(value_of("table.concat({1, 2, 3}, ',')"), json("1,2,3"));
    EXPECT_EQ(value_of("math.max(3, 9, 4)"), json(9));
    EXPECT_EQ(value_of("utf8.len('h\u00e9')"), json(2));
    EXPECT_EQ(value_of("select('#', pcall(error, 'x'))"), json(2));
    EXPECT_EQ(value_of("load('return 40 + 2')()"), json(42));
    EXPECT_EQ(value_of("tostring(nil) .. type({})"), json("niltable"));
    EXPECT_EQ(value_of("{1, 'two', {three = 3.5}, true}"),
              json::parse(R"([1, "two", {"three": 3.5}, true])"));
    EXPECT_EQ(value_of("{}"), json::object());
}

TEST_F(sandbox_test, print_goes_to_the_log) {
    EXPECT_EQ(failure_of("print('hello', 1, nil)"), "");
    ASSERT_EQ(log_lines_.size(), 1U);
    EXPECT_EQ(log_lines_[0], "hello\t1\tnil");
}

TEST_F(sandbox_test, random_comes_from_the_host_seed) {
    const json first = value_of("{math.random(1, 1000), math.random(), math.random(6)}");
    make(sandbox_config{});
    EXPECT_EQ(value_of("{math.random(1, 1000), math.random(), math.random(6)}"), first);
    EXPECT_EQ(value_of("(function() math.randomseed(7); local a = math.random(100); "
                       "math.randomseed(7); return a == math.random(100) end)()"),
              json(true));
    EXPECT_NE(failure_of("math.randomseed()").find("number expected"), std::string::npos);
    EXPECT_NE(failure_of("math.random(5, 1)").find("interval is empty"), std::string::npos);
}

TEST_F(sandbox_test, dangerous_libraries_are_absent) {
    const std::size_t base = baseline();
    for (const char* attempt : {"io.open('/etc/passwd')", "os.execute('true')", "require('os')",
                                "package.loadlib('x', 'y')", "debug.getinfo(1)",
                                "loadfile('/etc/passwd')", "dofile('/etc/passwd')",
                                "string.dump(f)", "collectgarbage()", "coroutine.create(f)"}) {
        const std::string message = failure_of(std::string(attempt));
        EXPECT_NE(message.find("attempt to"), std::string::npos) << attempt << ": " << message;
        EXPECT_NE(message.find("nil value"), std::string::npos) << attempt << ": " << message;
        expect_usable(base);
    }
    EXPECT_EQ(value_of("getmetatable('').__index.dump == nil and getmetatable('').__index == "
                       "string and rawget(_G, 'io') == nil"),
              json(true));
}

TEST_F(sandbox_test, bytecode_is_refused) {
    const auto loaded = box_->load("binary", std::string("\x1bLua\x54\x00", 6));
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.failure().message.find("bytecode is refused"), std::string::npos);
    EXPECT_EQ(value_of("select(2, load('\\27Lua\\84\\0\\25\\147'))"),
              json("bytecode is refused: a program must be Lua source text"));
    EXPECT_EQ(value_of("select(2, load('return 1', 'x', 'b'))"),
              json("bytecode is refused: a program must be Lua source text"));
    EXPECT_NE(value_of("select(2, load(function() return nil end))").get<std::string>().find(
                  "only source text"),
              std::string::npos);
}

TEST_F(sandbox_test, finalizers_are_refused) {
    EXPECT_NE(failure_of("setmetatable({}, {__gc = function() while true do end end})")
                  .find("__gc finalizers are not available"),
              std::string::npos);
    EXPECT_EQ(value_of("getmetatable(setmetatable({}, {__index = {x = 5}})).__index.x"), json(5));
}

TEST_F(sandbox_test, pairs_visits_keys_in_a_fixed_order) {
    // Inserted in different orders, with deletions: the visit order is always the same.
    const std::string visit = R"(
        local out = {}
        for key, value in pairs(t) do out[#out + 1] = tostring(key) .. "=" .. tostring(value) end
        return table.concat(out, ",")
    )";
    EXPECT_EQ(value_of(R"((function() local t = { b = 1, a = 2, [3] = "x", [1] = "y" }
        t[true] = 0; t[false] = 1; t.zz = nil;)" + visit + " end)()"),
              json("false=1,true=0,1=y,3=x,a=2,b=1"));
    EXPECT_EQ(value_of(R"((function() local t = {} t[1] = "y" t.a = 2 t[false] = 1
        t.b = 1 t[3] = "x" t.gone = 5 t.gone = nil t[true] = 0)" + visit + " end)()"),
              json("false=1,true=0,1=y,3=x,a=2,b=1"));
    // A __pairs metamethod still decides for its table.
    EXPECT_EQ(value_of(R"((function() local t = setmetatable({}, { __pairs = function()
        return function(_, k) if k == nil then return "only", 1 end end, nil, nil end })
        local n = 0 for k in pairs(t) do n = n + 1 end return n end)())"),
              json(1));
}

TEST_F(sandbox_test, costly_patterns_are_refused_before_they_run) {
    const auto before = baseline();
    // Backtracking inside one C call escapes the instruction budget: refused by its bound.
    const auto refused =
        failure_of(R"(return ("a"):rep(200):find(("a-"):rep(4) .. "b"))");
    EXPECT_NE(refused.find("pattern too costly: 4 quantifiers over a subject of 200 bytes"),
              std::string::npos)
        << refused;
    for (const char* call : {R"(("a"):rep(5000):match(".-.-b"))",
                             R"(("a"):rep(5000):gsub(".-.-b", ""))",
                             R"(("a"):rep(5000):gmatch(".-.-b")())"}) {
        EXPECT_NE(failure_of(std::string("return ") + call).find("pattern too costly"),
                  std::string::npos)
            << call;
    }
    expect_usable(before);
    // Ordinary patterns, anchored ones on longer text, sets and plain find still work.
    EXPECT_EQ(value_of(R"(("key=value"):match("^(.-)=(.*)$"))"), json("key"));
    EXPECT_EQ(value_of(R"((("x"):rep(2000) .. "=1"):match("^(.-)=(.*)$") ~= nil)"), json(true));
    EXPECT_EQ(value_of(R"((("a-b+c"):gsub("[%-+]", "")))"), json("abc"));
    EXPECT_EQ(value_of(R"(("a"):rep(100000):find("a-a-a-b", 1, true))"), json(nullptr));
}

TEST_F(sandbox_test, string_rep_bomb_hits_the_memory_limit) {
    const std::size_t base = baseline();
    const auto loaded = box_->load("bomb", "function f() return #string.rep('x', 1e9) end");
    ASSERT_TRUE(loaded.ok());
    const auto called = box_->call("f", {});
    ASSERT_FALSE(called.ok());
    EXPECT_EQ(called.failure().code, errc::resource_exhausted);
    EXPECT_NE(called.failure().message.find("more than its memory limit of 16777216 bytes"),
              std::string::npos)
        << called.failure().message;
    EXPECT_EQ(box_->last_stop(), stop_reason::memory);
    expect_usable(base);
}

TEST_F(sandbox_test, table_growth_bomb_hits_the_memory_limit) {
    const std::size_t base = baseline();
    const std::string message =
        failure_of("local t = {} for i = 1, 1e9 do t[i] = {i} end return #t");
    EXPECT_NE(message.find("memory limit"), std::string::npos) << message;
    EXPECT_LE(box_->memory_peak_bytes(), box_->limits().memory_limit_bytes);
    expect_usable(base);
}

TEST_F(sandbox_test, infinite_loop_stops_at_the_budget) {
    sandbox_config small;
    small.instructions_per_call_max = 100'000;
    small.hook_interval_instructions = 30'000;
    make(small);
    const std::size_t base = baseline();
    ASSERT_TRUE(box_->load("loop", "function f() while true do end end").ok());
    const auto called = box_->call("f", {});
    ASSERT_FALSE(called.ok());
    EXPECT_EQ(called.failure().code, errc::resource_exhausted);
    EXPECT_NE(called.failure().message.find(
                  "loop:1: the handler used more than its budget of 100000 instructions"),
              std::string::npos)
        << called.failure().message;
    EXPECT_EQ(box_->last_stop(), stop_reason::budget);
    expect_usable(base);
}

TEST_F(sandbox_test, budget_cannot_be_caught_with_pcall) {
    sandbox_config small;
    small.instructions_per_call_max = 50'000;
    make(small);
    const std::string message = failure_of(
        "while true do pcall(function() while true do end end) end");
    EXPECT_NE(message.find("budget of 50000 instructions"), std::string::npos) << message;
    EXPECT_EQ(box_->last_stop(), stop_reason::budget);
}

TEST_F(sandbox_test, budget_stop_point_is_deterministic) {
    sandbox_config small;
    small.instructions_per_call_max = 12'345;
    small.hook_interval_instructions = 1000;
    std::vector<json> counts;
    for (int run = 0; run < 2; ++run) {
        make(small);
        ASSERT_TRUE(box_->load("count", "n = 0 function f() while true do n = n + 1 end end "
                                        "function g() return n end")
                        .ok());
        EXPECT_FALSE(box_->call("f", {}).ok());
        counts.push_back(box_->call("g", {}).value());
    }
    EXPECT_EQ(counts[0], counts[1]);
    EXPECT_GT(counts[0].get<int>(), 1000);
}

TEST_F(sandbox_test, interrupt_from_another_thread_stops_a_call) {
    sandbox_config unbudgeted;
    unbudgeted.instructions_per_call_max = 0;  // only the interrupt can stop this loop
    std::atomic<bool> started{false};
    auto made = sandbox::create(unbudgeted, 1, [&started](std::string_view) { started = true; });
    ASSERT_TRUE(made.ok());
    sandbox& box = *made.value();
    ASSERT_TRUE(box.load("spin", "function f() print('go') while true do end end "
                                 "function g() return 5 end")
                    .ok());
    // The watchdog: waits until the handler is running, then interrupts it (no sleeps).
    std::thread watchdog([&] {
        while (!started.load()) {
            std::this_thread::yield();
        }
        box.interrupt();
    });
    const auto called = box.call("f", {});
    watchdog.join();
    ASSERT_FALSE(called.ok());
    EXPECT_EQ(called.failure().code, errc::timeout);
    EXPECT_NE(called.failure().message.find("spin:1: interrupted"), std::string::npos)
        << called.failure().message;
    EXPECT_EQ(box.last_stop(), stop_reason::interrupted);
    EXPECT_EQ(box.call("g", {}).value(), json(5));  // one-shot: the next call runs normally
}

TEST_F(sandbox_test, deep_recursion_is_an_error) {
    const std::size_t base = baseline();
    const std::string lua_stack = failure_of("local function r() return r() + 1 end return r()");
    EXPECT_TRUE(lua_stack.find("stack overflow") != std::string::npos ||
                lua_stack.find("memory limit") != std::string::npos)
        << lua_stack;
    expect_usable(base);
    const std::string c_stack = failure_of(
        "local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x");
    EXPECT_NE(c_stack.find("stack overflow"), std::string::npos) << c_stack;
    expect_usable(base);
}

TEST_F(sandbox_test, errors_carry_message_and_location) {
    const std::string plain = failure_of("error('boom')");
    EXPECT_NE(plain.find("probe:1: boom"), std::string::npos) << plain;
    EXPECT_NE(plain.find("stack traceback"), std::string::npos) << plain;
    EXPECT_NE(failure_of("error({code = 7})").find("(error object is a table value)"),
              std::string::npos);
    EXPECT_NE(failure_of("error(setmetatable({}, {__tostring = function() return 'custom' end}))")
                  .find("custom"),
              std::string::npos);
    const std::string arithmetic = failure_of("return nil + 1");
    EXPECT_NE(arithmetic.find("attempt to perform arithmetic on a nil value"), std::string::npos);
    EXPECT_FALSE(box_->dead());
}

TEST_F(sandbox_test, syntax_errors_and_missing_functions) {
    const auto loaded = box_->load("broken", "function f( end");
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.failure().code, errc::invalid_argument);
    EXPECT_NE(loaded.failure().message.find("broken:1:"), std::string::npos);
    const auto missing = box_->call("nope", {});
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.failure().code, errc::not_found);
}

TEST_F(sandbox_test, unconvertible_results_are_refused) {
    const auto refused = [this](const std::string& expression) {
        EXPECT_TRUE(box_->load("probe", "function f() return " + expression + " end").ok());
        auto called = box_->call("f", {});
        EXPECT_FALSE(called.ok()) << expression;
        return called.ok() ? std::string() : called.failure().message;
    };
    EXPECT_NE(refused("function() end").find("result: a function value cannot be converted"),
              std::string::npos);
    EXPECT_NE(refused("{a = {print}}").find("result.a[1]: a function"), std::string::npos);
    EXPECT_NE(refused("(function() local t = {} t.self = t return t end)()").find("cycle"),
              std::string::npos);
    EXPECT_NE(refused("{1, 2, nil, 4}").find("holes"), std::string::npos);
    EXPECT_NE(refused("{1, x = 2}").find("mixes"), std::string::npos);
    EXPECT_NE(refused("0/0").find("NaN"), std::string::npos);
    EXPECT_NE(refused("'\\255'").find("UTF-8"), std::string::npos);
    EXPECT_NE(refused("(function() local t = {} for i = 1, 100 do t = {t} end return t end)()")
                  .find("deeper than 64"),
              std::string::npos);
    EXPECT_NE(refused("string.rep('x', 5000000)").find("larger than the limit"),
              std::string::npos);
    EXPECT_EQ(box_->last_stop(), stop_reason::conversion);
    EXPECT_FALSE(box_->dead());
}

TEST_F(sandbox_test, deep_arguments_are_refused) {
    json deep = json::array();
    for (int k = 0; k < 100; ++k) {
        deep = json::array({deep});
    }
    ASSERT_TRUE(box_->load("probe", "function f(x) return 1 end").ok());
    const auto called = box_->call("f", {deep});
    ASSERT_FALSE(called.ok());
    EXPECT_NE(called.failure().message.find("deeper than 64"), std::string::npos);
}

TEST_F(sandbox_test, source_size_is_limited) {
    sandbox_config small;
    small.source_size_max_bytes = 100;
    make(small);
    const auto loaded = box_->load("big", std::string(200, ' '));
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.failure().message.find("more than the limit of 100"), std::string::npos);
}

} // namespace
} // namespace reef::actors::lua
