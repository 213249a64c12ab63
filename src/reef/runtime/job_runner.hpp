#pragma once
// Runs job kernels on threads for a node's job worker (docs/design/jobs.md, "The worker"): each
// run computes [begin, end) in slices on its own thread, and its progress and its end are posted
// back to the io_context, where the worker (a sans-IO core) takes them as inputs.
//
// Thread-safety: start/stop/shorten and the destructor are called on the io thread; the kernel
// runs on the run's thread; the callbacks run on the io thread (posted). A run checks its stop
// flag and its (possibly shortened) end between slices, so a stop takes effect within a slice.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "reef/jobs/kernels.hpp"

namespace asio {
class io_context;
} // namespace asio

namespace reef::runtime {

class job_runner {
public:
    using progress_handler =
        std::function<void(std::uint64_t run, std::uint64_t through, double partial)>;
    using finished_handler =
        std::function<void(std::uint64_t run, std::uint64_t through, double partial)>;

    /// Samples per slice: a pi slice of 2^22 samples takes about 30 ms here.
    static constexpr std::uint64_t slice_samples = std::uint64_t{1} << 22U;

    job_runner(asio::io_context& io, progress_handler on_progress, finished_handler on_finished);
    ~job_runner();
    job_runner(const job_runner&) = delete;
    job_runner& operator=(const job_runner&) = delete;

    /// Starts computing [begin, end) of `kernel` on a new thread.
    void start(std::uint64_t run, const jobs::kernel& kernel, std::uint64_t seed,
               std::uint64_t begin, std::uint64_t end);
    /// The run ends at `end` instead (a split gave the rest to another worker).
    void shorten(std::uint64_t run, std::uint64_t end);
    /// The run stops at its next slice and reports nothing more.
    void stop(std::uint64_t run);
    std::size_t running() const { return runs_.size(); }

private:
    struct run_state {
        std::atomic<bool> stop{false};
        std::atomic<std::uint64_t> end{0};
        std::thread thread;
    };

    void reap(std::uint64_t run);

    asio::io_context& io_;
    progress_handler on_progress_;
    finished_handler on_finished_;
    std::map<std::uint64_t, std::unique_ptr<run_state>> runs_;
    // Shared with posted handlers so a handler that runs after the runner is gone does nothing.
    std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

} // namespace reef::runtime
