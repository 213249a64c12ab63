#pragma once
// A Lua map/reduce job's program (docs/design/jobs.md, "Lua jobs"), loaded in a sandbox of its
// own:
//
//   function map(first, last, job) ... return partial end   -- indices [first, last); required
//   function reduce(a, b) return a + b end                  -- optional; default: a + b
//   function finish(result, count) return result end        -- optional; the job's value
//
// `job` is {seed, first, last}: the job's seed and whole range. map must depend only on its
// arguments (draw randomness from (seed, index), not math.random), and reduce must be
// associative and commutative, because chunks are split anywhere and finish in any order.
// null stands for "no samples yet" and is never passed to reduce.
//
// Thread-safety: one thread at a time, except interrupt(), which any thread may call while a
// call runs (a runner's stop).

#include <cstdint>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "reef/actors/lua/sandbox.hpp"
#include "reef/base/result.hpp"

namespace reef::jobs {

using json = nlohmann::json;

inline constexpr std::string_view lua_kernel = "lua";

/// Where a Lua job's print() lines go.
using lua_job_log = actors::lua::sandbox::log_sink;

struct lua_job_limits {
    std::size_t memory_limit_bytes = std::size_t{64} << 20U;
    /// Instructions one map call may take. Runner threads size their slices to about 50 ms, far
    /// below this; a map that loops forever fails here instead of holding a slot.
    std::uint64_t map_instructions_max = 4'000'000'000;
    /// Instructions of loading the program and of one reduce or finish call (these run in the
    /// coordinator, on its node's event loop).
    std::uint64_t other_instructions_max = 10'000'000;
};

class lua_job {
public:
    /// Loads `program` in a fresh sandbox and checks that it defines map. Errors say why, with
    /// Lua's own message for a syntax or runtime error.
    /// `log` receives the program's print() lines (none: they are dropped); it is called on
    /// the thread that calls map, reduce or finish.
    [[nodiscard]] static result<std::unique_ptr<lua_job>> load(
        std::string_view program, std::uint64_t seed, std::uint64_t first, std::uint64_t last,
        const lua_job_limits& limits = {}, lua_job_log log = {});

    /// map(first, last, job): the partial result of [first, last), at most partial_size_max
    /// bytes as JSON.
    [[nodiscard]] result<json> map(std::uint64_t first, std::uint64_t last);
    /// reduce(a, b), or a + b for numbers when the program has no reduce; null (no samples)
    /// reduces to the other side without a call.
    [[nodiscard]] result<json> reduce(const json& a, const json& b);
    /// finish(result, count), or `reduced` itself when the program has no finish.
    [[nodiscard]] result<json> finish(const json& reduced, std::uint64_t count);
    /// Stops the call in progress (from any thread).
    void interrupt() { box_->interrupt(); }

    lua_job(std::unique_ptr<actors::lua::sandbox> box, json job, bool has_reduce,
            bool has_finish, const lua_job_limits& limits);

private:
    result<json> call(std::string_view function, const json::array_t& arguments,
                      std::uint64_t instructions_max);

    std::unique_ptr<actors::lua::sandbox> box_;
    json job_;
    bool has_reduce_ = false;
    bool has_finish_ = false;
    lua_job_limits limits_;
};

} // namespace reef::jobs
