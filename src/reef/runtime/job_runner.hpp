#pragma once
// Runs job computations on threads for a node's job worker (docs/design/jobs.md, "Runs"): each
// run computes [begin, end) in slices on its own thread, and its progress and its end are posted
// back to the io_context, where the worker (a sans-IO core) takes them as inputs.
//
// Thread-safety: start/stop/shorten and the destructor are called on the io thread; the
// computation runs on the run's thread; the callbacks run on the io thread (posted). A run checks
// its stop flag and its (possibly shortened) end between slices, and a stop also interrupts a
// Lua call in progress, so a stop takes effect within a slice.
//
// Slices: a native kernel computes slice_samples at a time; a Lua job's slices are sized from
// the time the last one took, aiming at slice_target, so progress comes as often whatever a
// sample costs.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "reef/jobs/computation.hpp"

namespace asio {
class io_context;
} // namespace asio

namespace reef::runtime {

class job_runner {
public:
    using json = nlohmann::json;
    using progress_handler =
        std::function<void(std::uint64_t run, std::uint64_t through, const json& partial)>;
    using failed_handler = std::function<void(std::uint64_t run, const std::string& why)>;

    /// Samples per slice of a native kernel: a pi slice of 2^22 samples takes about 20 ms here.
    static constexpr std::uint64_t slice_samples = std::uint64_t{1} << 22U;
    /// How long a Lua slice should take.
    static constexpr std::chrono::milliseconds slice_target{50};

    job_runner(asio::io_context& io, progress_handler on_progress, progress_handler on_finished,
               failed_handler on_failed);
    ~job_runner();
    job_runner(const job_runner&) = delete;
    job_runner& operator=(const job_runner&) = delete;

    /// Starts computing [begin, end) of `computed` on a new thread.
    void start(std::uint64_t run, std::unique_ptr<jobs::computation> computed,
               std::uint64_t begin, std::uint64_t end);
    /// Reports that run `run` failed before it started (its computation could not be made).
    void fail(std::uint64_t run, std::string why);
    /// The run ends at `end` instead (a split gave the rest to another worker).
    void shorten(std::uint64_t run, std::uint64_t end);
    /// The run stops at its next slice and reports nothing more.
    void stop(std::uint64_t run);
    std::size_t running() const { return runs_.size(); }

private:
    struct run_state {
        std::atomic<bool> stop{false};
        std::atomic<std::uint64_t> end{0};
        std::unique_ptr<jobs::computation> computed;
        std::thread thread;
    };

    void compute(std::uint64_t run, run_state& state, std::uint64_t begin);
    void reap(std::uint64_t run);

    asio::io_context& io_;
    progress_handler on_progress_;
    progress_handler on_finished_;
    failed_handler on_failed_;
    std::map<std::uint64_t, std::unique_ptr<run_state>> runs_;
    // Shared with posted handlers so a handler that runs after the runner is gone does nothing.
    std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

} // namespace reef::runtime
