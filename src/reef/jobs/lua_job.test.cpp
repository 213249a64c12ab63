#include "reef/jobs/lua_job.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reef/jobs/computation.hpp"
#include "reef/jobs/coordinator.hpp"
#include "reef/jobs/kernels.hpp"
#include "reef/jobs/partials.hpp"

namespace reef::jobs {
namespace {

std::string example(const std::string& name) {
    std::ifstream file(std::string(REEF_EXAMPLES_DIR) + "/jobs/" + name);
    EXPECT_TRUE(file.good()) << name;
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

std::unique_ptr<lua_job> loaded(const std::string& program, std::uint64_t seed = 1,
                                const lua_job_limits& limits = {}) {
    auto job = lua_job::load(program, seed, 0, 1'000'000, limits);
    EXPECT_TRUE(job.ok()) << job.failure().describe();
    return job.ok() ? std::move(*job) : nullptr;
}

std::string load_error(const std::string& program) {
    auto job = lua_job::load(program, 1, 0, 10);
    EXPECT_FALSE(job.ok());
    return job.ok() ? "" : job.failure().message;
}

TEST(lua_job, the_lua_pi_counts_exactly_the_native_hits) {
    for (const std::uint64_t seed : {1ULL, 7ULL, 123456789ULL}) {
        auto job = loaded(example("pi.lua"), seed);
        ASSERT_NE(job, nullptr);
        for (const auto& [first, last] : {std::pair{0ULL, 20'000ULL}, {987'654ULL, 1'000'000ULL}}) {
            auto hits = job->map(first, last);
            ASSERT_TRUE(hits.ok()) << hits.failure().describe();
            EXPECT_EQ(hits->get<std::uint64_t>(), pi_hits(seed, first, last)) << seed;
        }
        auto value = job->finish(json(pi_hits(seed, 0, 1000)), 1000);
        ASSERT_TRUE(value.ok());
        EXPECT_EQ(value->get<double>(), pi_estimate(pi_hits(seed, 0, 1000), 1000));
    }
}

TEST(lua_job, a_table_partial_reduces_the_same_in_any_split) {
    auto job = loaded(example("collatz.lua"));
    ASSERT_NE(job, nullptr);
    auto whole = job->map(1, 10'000);
    ASSERT_TRUE(whole.ok());
    EXPECT_EQ(*whole, (json{{"n", 6171}, {"steps", 261}}));
    json reduced; // null: no samples yet
    for (std::uint64_t first = 1; first < 10'000; first += 777) {
        auto part = job->map(first, std::min<std::uint64_t>(first + 777, 10'000));
        ASSERT_TRUE(part.ok());
        auto next = job->reduce(*part, reduced); // finishing order does not matter
        ASSERT_TRUE(next.ok()) << next.failure().describe();
        reduced = *next;
    }
    EXPECT_EQ(reduced, *whole);
    // No finish: the value is the reduced result.
    EXPECT_EQ(*job->finish(reduced, 9'999), *whole);
}

TEST(lua_job, numbers_are_summed_when_there_is_no_reduce) {
    auto job = loaded("function map(first, last) return last - first end");
    ASSERT_NE(job, nullptr);
    EXPECT_EQ(*job->reduce(json(3), json(4)), json(7));
    EXPECT_EQ(*job->reduce(json(), json(4)), json(4));
    EXPECT_EQ(*job->reduce(json(2.5), json()), json(2.5));
    auto refused = job->reduce(json("a"), json(1));
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.failure().message.find("must be numbers"), std::string::npos);
}

TEST(lua_job, the_job_argument_carries_seed_and_range) {
    auto job = lua_job::load(
        "function map(first, last, job) return {job.seed, job.first, job.last} end", 9, 5, 50);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(*(*job)->map(5, 6), (json{9, 5, 50}));
}

TEST(lua_job, bad_programs_are_refused_with_the_reason) {
    EXPECT_NE(load_error("function map(").find("does not load"), std::string::npos);
    EXPECT_NE(load_error("x = 1").find("defines no function map"), std::string::npos);
    EXPECT_NE(load_error("error('no thanks')").find("no thanks"), std::string::npos);
    EXPECT_NE(load_error("while true do end").find("budget"), std::string::npos);
    EXPECT_NE(load_error(std::string("\x1bLua", 4)).find("bytecode"), std::string::npos);
    EXPECT_NE(load_error("function map() return io.open('/etc/passwd') end map()")
                  .find("io"),
              std::string::npos);
}

TEST(lua_job, print_lines_go_to_the_log_it_is_given) {
    std::vector<std::string> lines;
    auto job = lua_job::load("function map(first, last) print('from', first) return 1 end", 1, 0,
                             10, {}, [&](std::string_view line) { lines.emplace_back(line); });
    ASSERT_TRUE(job.ok());
    ASSERT_TRUE((*job)->map(3, 4).ok());
    EXPECT_EQ(lines, std::vector<std::string>{"from\t3"});
    auto quiet = lua_job::load("function map() print('x') return 1 end", 1, 0, 10);
    ASSERT_TRUE(quiet.ok());
    EXPECT_TRUE((*quiet)->map(0, 1).ok()); // no log given: dropped
}

TEST(lua_job, failing_maps_and_reduces_say_why) {
    auto job = loaded(R"lua(
function map(first, last)
  if first == 13 then error("unlucky " .. first) end
  if first == 14 then return function() end end
  if first == 15 then return string.rep("x", 1000) end
  return 1
end
function reduce(a, b) if a == 2 then error("bad reduce") end return a + b end
)lua");
    ASSERT_NE(job, nullptr);
    auto raised = job->map(13, 14);
    ASSERT_FALSE(raised.ok());
    EXPECT_NE(raised.failure().message.find("unlucky 13"), std::string::npos);
    auto converted = job->map(14, 15);
    ASSERT_FALSE(converted.ok());
    EXPECT_NE(converted.failure().message.find("map"), std::string::npos);
    auto large = job->map(15, 16);
    ASSERT_FALSE(large.ok());
    EXPECT_NE(large.failure().message.find("more than 256"), std::string::npos);
    ASSERT_TRUE(job->map(16, 17).ok()); // still usable after each failure
    auto reduce_failed = job->reduce(json(2), json(1));
    ASSERT_FALSE(reduce_failed.ok());
    EXPECT_NE(reduce_failed.failure().message.find("bad reduce"), std::string::npos);
}

TEST(lua_job, a_runaway_map_ends_at_its_budget_or_an_interrupt) {
    lua_job_limits limits;
    limits.map_instructions_max = 1'000'000;
    auto job = loaded("function map() while true do end end", 1, limits);
    ASSERT_NE(job, nullptr);
    auto stopped = job->map(0, 1);
    ASSERT_FALSE(stopped.ok());
    EXPECT_NE(stopped.failure().message.find("budget"), std::string::npos);

    auto endless = loaded("function map() while true do end end");
    ASSERT_NE(endless, nullptr);
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        endless->interrupt();
    });
    auto interrupted = endless->map(0, 1);
    stopper.join();
    ASSERT_FALSE(interrupted.ok());
    EXPECT_NE(interrupted.failure().message.find("interrupt"), std::string::npos);
}

TEST(computation, folds_slices_into_the_checkpointed_base) {
    kernel_registry kernels;
    start_run native{1, "pi", 3, 1000, 5000, json(17), "", 0, 10'000};
    auto pi = computation::make(kernels, native);
    ASSERT_TRUE(pi.ok());
    ASSERT_TRUE((*pi)->add(1000, 2500).ok());
    ASSERT_TRUE((*pi)->add(2500, 5000).ok());
    EXPECT_EQ((*pi)->partial(), json(17 + pi_hits(3, 1000, 5000)));
    EXPECT_FALSE((*pi)->interpreted());

    start_run lua{2, "lua", 3, 1000, 5000, json(), example("pi.lua"), 0, 10'000};
    auto program = computation::make(kernels, lua);
    ASSERT_TRUE(program.ok());
    EXPECT_TRUE((*program)->interpreted());
    ASSERT_TRUE((*program)->add(1000, 5000).ok());
    EXPECT_EQ((*program)->partial(), json(pi_hits(3, 1000, 5000)));

    auto unknown = computation::make(kernels, start_run{3, "nope", 1, 0, 1, json(), "", 0, 1});
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.failure().message.find("no kernel nope"), std::string::npos);
    auto broken = computation::make(kernels, start_run{4, "lua", 1, 0, 1, json(), "x(", 0, 1});
    ASSERT_FALSE(broken.ok());
    auto bad_base = computation::make(kernels, start_run{5, "pi", 1, 0, 1, json("x"), "", 0, 1});
    ASSERT_FALSE(bad_base.ok());
}

TEST(partials, sums_stay_exact_while_they_fit) {
    EXPECT_EQ(*add_numbers(json(std::uint64_t{1} << 62), json(std::uint64_t{1} << 62)),
              json(std::uint64_t{1} << 63));
    EXPECT_EQ(*add_numbers(json(-3), json(5)), json(2.0));
    EXPECT_EQ(*add_numbers(json(-3), json(-5)), json(-8));
    EXPECT_TRUE(add_numbers(json(~std::uint64_t{0}), json(1))->is_number_float());
    EXPECT_EQ(number_partial(12.0), json(12));
    EXPECT_TRUE(number_partial(0.5).is_number_float());
    EXPECT_FALSE(check_partial_size(json(std::string(300, 'x'))).ok());
}

} // namespace
} // namespace reef::jobs
