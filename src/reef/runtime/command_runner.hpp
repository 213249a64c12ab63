#pragma once
// Runs command jobs' external commands (docs/design/jobs.md, "Command jobs"): one process per
// run, started with posix_spawnp in a process group of its own, standard input /dev/null,
// standard output captured (at most output_size_max bytes) and the tail of standard error kept
// for the error message. A thread per run waits for it and posts the outcome to the io_context.
//
// Thread-safety: start/stop and the destructor are called on the io thread; the callbacks run
// on the io thread (posted). stop() kills the run's whole process group with SIGKILL; a stopped
// run reports nothing.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reef/base/result.hpp"

namespace asio {
class io_context;
} // namespace asio

namespace reef::runtime {

class command_runner {
public:
    /// The command exited 0 and wrote `output`; or why it failed (it could not start, it exited
    /// non-zero or was killed, it wrote too much), with the end of its standard error.
    using finished_handler =
        std::function<void(std::uint64_t run, const result<std::string>& output)>;

    static constexpr std::size_t error_tail_max = 400;

    command_runner(asio::io_context& io, std::size_t output_size_max,
                   finished_handler on_finished);
    ~command_runner();
    command_runner(const command_runner&) = delete;
    command_runner& operator=(const command_runner&) = delete;

    /// Starts `argv` (argv[0] looked up in PATH).
    void start(std::uint64_t run, std::vector<std::string> argv);
    /// Kills the run's processes; it reports nothing.
    void stop(std::uint64_t run);
    std::size_t running() const { return runs_.size(); }

private:
    struct run_state {
        std::atomic<bool> stop{false};
        std::atomic<pid_t> group{0}; // the process group, once started
        std::thread thread;
    };

    result<std::string> execute(run_state& state, const std::vector<std::string>& argv);
    void reap(std::uint64_t run);

    asio::io_context& io_;
    std::size_t output_size_max_;
    finished_handler on_finished_;
    std::map<std::uint64_t, std::unique_ptr<run_state>> runs_;
    std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

} // namespace reef::runtime
