// Lua handler costs in the actor sandbox (docs/design/actors.md, "Lua sandbox").
//
//  1. Counter handler `handle(state, msg)` incrementing state.n: per host call with the state
//     converted JSON -> Lua -> JSON each time; per host call with the state kept in Lua; and the
//     handler body alone, called from a Lua loop.
//  2. Numeric loop s += sign/(2k+1): ns per iteration with the budget off, with the budget checked
//     every 1,000,000 instructions and every 10,000, beside the same loop in C++ (ratio).
//  3. A table-heavy handler (builds 100 records, sorts them, sums a field): ns per call.
//
// Each figure is the median of --runs runs. No assertions: timing is printed, never tested.
// Usage: lua_handlers [--calls N] [--terms N] [--runs R]

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "reef/actors/lua/sandbox.hpp"

namespace {

using json = nlohmann::json;
using reef::actors::lua::sandbox;
using reef::actors::lua::sandbox_config;

constexpr const char* program = R"(
function handle(state, msg)
  state.n = state.n + (msg.add or 1)
  return state
end

local kept_state, kept_msg = { n = 0 }, { add = 1 }
function step() kept_state = handle(kept_state, kept_msg) end

function handle_loop(n)
  local state, msg = { n = 0 }, { add = 1 }
  for i = 1, n do state = handle(state, msg) end
  return state.n
end

function leibniz(n)
  local s, sign = 0.0, 1.0
  for k = 0, n - 1 do
    s = s + sign / (2 * k + 1)
    sign = -sign
  end
  return s
end

function table_handler(seed)
  local records = {}
  for i = 1, 100 do
    records[i] = { id = i, name = "item" .. i, score = (i * 7919 + seed) % 1000 }
  end
  table.sort(records, function(a, b) return a.score < b.score end)
  local total = 0
  for _, r in ipairs(records) do total = total + r.score end
  return total
end

function table_loop(n)
  local total = 0
  for i = 1, n do total = total + table_handler(i) end
  return total
end
)";

double seconds_of(const std::function<void()>& work) {
    const auto start = std::chrono::steady_clock::now();
    work();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median_ns(int runs, std::uint64_t units, const std::function<void()>& work) {
    std::vector<double> samples;
    for (int run = 0; run < runs; ++run) {
        samples.push_back(seconds_of(work) * 1e9 / static_cast<double>(units));
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

std::unique_ptr<sandbox> make_box(std::uint64_t budget, std::uint32_t interval) {
    sandbox_config limits;
    limits.instructions_per_call_max = budget;
    limits.hook_interval_instructions = interval;
    auto made = sandbox::create(limits, 1, nullptr);
    if (!made.ok() || !made.value()->load("bench", program).ok()) {
        std::fprintf(stderr, "cannot set up the sandbox\n");
        std::exit(1);
    }
    return std::move(made.value());
}

json must(reef::result<json> called) {
    if (!called.ok()) {
        std::fprintf(stderr, "call failed: %s\n", called.failure().describe().c_str());
        std::exit(1);
    }
    return std::move(called).value();
}

double cpp_leibniz(std::uint64_t terms) {
    double s = 0.0;
    double sign = 1.0;
    for (std::uint64_t k = 0; k < terms; ++k) {
        s += sign / static_cast<double>(2 * k + 1);
        sign = -sign;
    }
    return s;
}

std::uint64_t flag(int argc, char** argv, const char* name, std::uint64_t fallback) {
    for (int index = 1; index + 1 < argc; ++index) {
        if (std::strcmp(argv[index], name) == 0) {
            return std::strtoull(argv[index + 1], nullptr, 10);
        }
    }
    return fallback;
}

void counter_figures(int runs, std::uint64_t calls) {
    auto box = make_box(10'000'000, 1'000'000);
    const json msg = {{"add", 1}};
    json state = {{"n", 0}};
    const double converted = median_ns(runs, calls, [&] {
        for (std::uint64_t k = 0; k < calls; ++k) {
            state = must(box->call("handle", {state, msg}));
        }
    });
    const double kept = median_ns(runs, calls, [&] {
        for (std::uint64_t k = 0; k < calls; ++k) {
            (void)must(box->call("step", {}));
        }
    });
    const double body = median_ns(runs, calls, [&] {
        (void)must(box->call("handle_loop", {calls}));
    });
    auto unhooked = make_box(0, 1);
    const double body_unhooked = median_ns(runs, calls, [&] {
        (void)must(unhooked->call("handle_loop", {calls}));
    });
    std::printf("counter handle(state,msg), ns per message (budget hook every 1,000,000):\n");
    std::printf("  host call, state JSON->Lua->JSON each time  %8.0f ns\n", converted);
    std::printf("  host call, state kept in Lua (no JSON)      %8.0f ns\n", kept);
    std::printf("  handler body only (called from a Lua loop)  %8.1f ns\n", body);
    std::printf("  handler body only, no budget hook           %8.1f ns\n", body_unhooked);
    std::printf("  (final n = %lld)\n", static_cast<long long>(state["n"].get<std::int64_t>()));
}

void numeric_figures(int runs, std::uint64_t terms) {
    const double cpp = median_ns(runs, terms, [&] {
        volatile double sink = cpp_leibniz(terms);
        (void)sink;
    });
    std::printf("numeric loop s += sign/(2k+1), %llu terms, ns per iteration:\n",
                static_cast<unsigned long long>(terms));
    std::printf("  C++ (same binary, RelWithDebInfo -O2)       %8.2f ns   1.0x\n", cpp);
    struct variant {
        const char* name;
        std::uint64_t budget;
        std::uint32_t interval;
    };
    const variant variants[] = {
        {"Lua 5.4, no budget hook", 0, 1},
        {"Lua 5.4, budget hook every 1,000,000", 1'000'000'000'000, 1'000'000},
        {"Lua 5.4, budget hook every 10,000", 1'000'000'000'000, 10'000},
    };
    double unhooked = 0;
    for (const auto& v : variants) {
        auto box = make_box(v.budget, v.interval);
        const double lua = median_ns(runs, terms, [&] {
            (void)must(box->call("leibniz", {terms}));
        });
        if (v.budget == 0) {
            unhooked = lua;
        }
        std::printf("  %-42s %8.2f ns  %5.1fx C++  %4.2fx unhooked\n", v.name, lua, lua / cpp,
                    lua / unhooked);
    }
}

void table_figures(int runs, std::uint64_t calls) {
    auto box = make_box(0, 1);
    const double body = median_ns(runs, calls, [&] {
        (void)must(box->call("table_loop", {calls}));
    });
    auto hooked = make_box(1'000'000'000'000, 1'000'000);
    const double body_hooked = median_ns(runs, calls, [&] {
        (void)must(hooked->call("table_loop", {calls}));
    });
    const double host = median_ns(runs, calls, [&] {
        for (std::uint64_t k = 0; k < calls; ++k) {
            (void)must(hooked->call("table_handler", {k}));
        }
    });
    std::printf("table-heavy handler (100 records: build, sort, sum), ns per call:\n");
    std::printf("  no budget hook, from a Lua loop             %8.0f ns\n", body);
    std::printf("  budget hook every 1,000,000, Lua loop       %8.0f ns  %4.2fx\n", body_hooked,
                body_hooked / body);
    std::printf("  budget hook, one host call each             %8.0f ns\n", host);
}

} // namespace

int main(int argc, char** argv) {
    const int runs = static_cast<int>(flag(argc, argv, "--runs", 5));
    const std::uint64_t calls = flag(argc, argv, "--calls", 200'000);
    const std::uint64_t terms = flag(argc, argv, "--terms", 20'000'000);
    counter_figures(runs, calls);
    numeric_figures(runs, terms);
    table_figures(runs, calls / 20);
    return 0;
}
