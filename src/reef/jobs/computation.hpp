#pragma once
// What one run computes (docs/design/jobs.md, "Runs"): a native kernel or a Lua job's map,
// slice by slice, folded into the chunk's partial result, which starts from the partial of the
// chunk's samples before the run (a checkpoint another worker reported).
//
// Thread-safety: made on one thread and then used by one thread at a time (a runner thread),
// except interrupt(), which any thread may call.

#include <cstdint>
#include <memory>

#include <nlohmann/json.hpp>

#include "reef/base/result.hpp"
#include "reef/jobs/kernels.hpp"
#include "reef/jobs/lua_job.hpp"
#include "reef/jobs/worker.hpp"

namespace reef::jobs {

class computation {
public:
    /// The computation `run` asks for: its kernel from `kernels`, or its Lua program loaded
    /// (which may fail: a program that does not load, or an unknown kernel). A Lua program's
    /// print() lines go to `log`.
    [[nodiscard]] static result<std::unique_ptr<computation>> make(
        const kernel_registry& kernels, const start_run& run, const lua_job_limits& limits = {},
        lua_job_log log = {});

    /// Computes [first, last) and folds it into partial(). An error (a Lua error, a bad partial)
    /// fails the run: the job's program is wrong, and every worker would fail the same way.
    [[nodiscard]] status add(std::uint64_t first, std::uint64_t last);
    const json& partial() const { return partial_; }
    /// Lua runs are slow per sample: their runner sizes slices by time, not by count.
    bool interpreted() const { return program_ != nullptr; }
    /// Stops a Lua call in progress (it fails with "interrupted"); from any thread.
    void interrupt();

    computation(const kernel* native, std::unique_ptr<lua_job> program, std::uint64_t seed,
                json base);

private:
    const kernel* native_ = nullptr;
    std::unique_ptr<lua_job> program_;
    std::uint64_t seed_ = 0;
    json partial_;
};

} // namespace reef::jobs
