#include "reef/jobs/lua_job.hpp"

#include <utility>

#include "reef/jobs/json_fields.hpp"
#include "reef/jobs/partials.hpp"

namespace reef::jobs {
namespace {

// Loaded after the program: tells which of the job's functions it defines.
constexpr std::string_view describe_source = R"lua(
function __reef_job_functions()
  return { map = type(map) == "function", reduce = type(reduce) == "function",
           finish = type(finish) == "function" }
end
)lua";

error failed(std::string_view what, const error& why) {
    return make_error(why.code, std::string(what) + ": " + why.message);
}

} // namespace

lua_job::lua_job(std::unique_ptr<actors::lua::sandbox> box, json job, bool has_reduce,
                 bool has_finish, const lua_job_limits& limits)
    : box_(std::move(box)), job_(std::move(job)), has_reduce_(has_reduce),
      has_finish_(has_finish), limits_(limits) {
    REEF_ASSERT(box_ != nullptr);
}

result<std::unique_ptr<lua_job>> lua_job::load(std::string_view program, std::uint64_t seed,
                                               std::uint64_t first, std::uint64_t last,
                                               const lua_job_limits& limits,
                                               lua_job_log log) {
    REEF_ASSERT(first <= last);
    actors::lua::sandbox_config config;
    config.memory_limit_bytes = limits.memory_limit_bytes;
    // Each call arms its own budget (call()); this one covers loading.
    config.instructions_per_call_max = limits.other_instructions_max;
    if (!log) {
        log = [](std::string_view) {};
    }
    auto box = actors::lua::sandbox::create(config, seed, std::move(log));
    if (!box) {
        return box.failure();
    }
    if (auto loaded = (*box)->load("job", program); !loaded) {
        return failed("the job program does not load", loaded.failure());
    }
    if (auto loaded = (*box)->load("reef.job", describe_source); !loaded) {
        return failed("the job program does not load", loaded.failure());
    }
    auto functions = (*box)->call("__reef_job_functions", {});
    if (!functions) {
        return failed("the job program does not load", functions.failure());
    }
    // The program may have changed what the describing function sees (a metatable on _G):
    // its answer is read like any untrusted value.
    if (!is_true(*functions, "map")) {
        return make_error(errc::invalid_argument,
                          "the job program defines no function map(first, last, job)");
    }
    json job = {{"seed", seed}, {"first", first}, {"last", last}};
    return std::make_unique<lua_job>(std::move(*box), std::move(job),
                                     is_true(*functions, "reduce"),
                                     is_true(*functions, "finish"), limits);
}

result<json> lua_job::call(std::string_view function, const json::array_t& arguments,
                           std::uint64_t instructions_max) {
    box_->set_instructions_per_call_max(instructions_max);
    // The sandbox's errors name the function already.
    return box_->call(function, arguments);
}

result<json> lua_job::map(std::uint64_t first, std::uint64_t last) {
    REEF_ASSERT(first <= last);
    auto out = call("map", {first, last, job_}, limits_.map_instructions_max);
    if (!out) {
        return out;
    }
    if (auto sized = check_partial_size(*out); !sized) {
        return failed("map", sized.failure());
    }
    return out;
}

result<json> lua_job::reduce(const json& a, const json& b) {
    if (a.is_null() || b.is_null()) {
        return a.is_null() ? b : a; // null: no samples yet
    }
    if (!has_reduce_) {
        return add_numbers(a, b);
    }
    auto out = call("reduce", {a, b}, limits_.other_instructions_max);
    if (!out) {
        return out;
    }
    if (auto sized = check_partial_size(*out); !sized) {
        return failed("reduce", sized.failure());
    }
    return out;
}

result<json> lua_job::finish(const json& reduced, std::uint64_t count) {
    if (!has_finish_) {
        return reduced;
    }
    return call("finish", {reduced, count}, limits_.other_instructions_max);
}

} // namespace reef::jobs
