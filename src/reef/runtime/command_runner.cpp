#include "reef/runtime/command_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "reef/base/assert.hpp"

extern char** environ;

namespace reef::runtime {
namespace {

/// A pipe whose ends close when it goes.
struct pipe_pair {
    int read_end = -1;
    int write_end = -1;
    ~pipe_pair() {
        for (int end : {read_end, write_end}) {
            if (end >= 0) {
                ::close(end);
            }
        }
    }
    static result<std::unique_ptr<pipe_pair>> make() {
        auto made = std::make_unique<pipe_pair>();
        std::array<int, 2> ends{};
        if (::pipe2(ends.data(), O_CLOEXEC) != 0) {
            return make_error(errc::unavailable, std::string("pipe: ") + std::strerror(errno));
        }
        made->read_end = ends[0];
        made->write_end = ends[1];
        return made;
    }
    void close_write() {
        ::close(write_end);
        write_end = -1;
    }
};

std::string describe_exit(int status) {
    if (WIFEXITED(status)) {
        return "exited " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return std::string("was killed by signal ") + ::strsignal(WTERMSIG(status));
    }
    return "ended oddly (status " + std::to_string(status) + ")";
}

/// Reads both pipes until both close, keeping at most `output_max` + 1 bytes of standard output
/// (one more shows it was too much) and the last error_tail_max bytes of standard error.
void drain(int output_fd, int error_fd, std::size_t output_max, std::string& output,
           std::string& error_tail) {
    std::array<pollfd, 2> watched{pollfd{output_fd, POLLIN, 0}, pollfd{error_fd, POLLIN, 0}};
    std::array<char, 16384> buffer{};
    int open_count = 2;
    while (open_count > 0) {
        if (::poll(watched.data(), watched.size(), -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        for (std::size_t index = 0; index < watched.size(); ++index) {
            if (watched[index].fd < 0 || watched[index].revents == 0) {
                continue;
            }
            const ssize_t got = ::read(watched[index].fd, buffer.data(), buffer.size());
            if (got <= 0) {
                watched[index].fd = -1;
                --open_count;
                continue;
            }
            const std::string_view chunk(buffer.data(), static_cast<std::size_t>(got));
            if (index == 0) {
                output.append(chunk.substr(0, output_max + 1 - std::min(output.size(),
                                                                        output_max + 1)));
            } else {
                error_tail.append(chunk);
                if (error_tail.size() > command_runner::error_tail_max) {
                    error_tail.erase(0, error_tail.size() - command_runner::error_tail_max);
                }
            }
        }
    }
}

} // namespace

command_runner::command_runner(asio::io_context& io, std::size_t output_size_max,
                               finished_handler on_finished)
    : io_(io), output_size_max_(output_size_max), on_finished_(std::move(on_finished)) {
    REEF_ASSERT(output_size_max_ > 0);
}

command_runner::~command_runner() {
    alive_->store(false);
    for (auto& [run, state] : runs_) {
        stop(run);
    }
    for (auto& [run, state] : runs_) {
        if (state->thread.joinable()) {
            state->thread.join();
        }
    }
}

void command_runner::start(std::uint64_t run, std::vector<std::string> argv) {
    REEF_ASSERT(!runs_.contains(run));
    REEF_ASSERT(!argv.empty());
    auto state = std::make_unique<run_state>();
    run_state* shared = state.get();
    state->thread = std::thread([this, run, shared, argv = std::move(argv)] {
        auto outcome = execute(*shared, argv);
        const bool stopped = shared->stop.load();
        asio::post(io_, [this, run, stopped, outcome = std::move(outcome), alive = alive_] {
            if (!alive->load()) {
                return;
            }
            reap(run);
            if (!stopped) {
                on_finished_(run, outcome);
            }
        });
    });
    runs_.emplace(run, std::move(state));
}

result<std::string> command_runner::execute(run_state& state,
                                            const std::vector<std::string>& argv) {
    auto output = pipe_pair::make();
    auto errors = pipe_pair::make();
    if (!output || !errors) {
        return !output ? output.failure() : errors.failure();
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, (*output)->write_end, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, (*errors)->write_end, STDERR_FILENO);
    // A group of its own, so a stop kills whatever the command started too.
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attributes, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    std::vector<char*> pointers;
    for (const auto& argument : argv) {
        pointers.push_back(const_cast<char*>(argument.c_str()));
    }
    pointers.push_back(nullptr);
    pid_t child = 0;
    const int spawned =
        ::posix_spawnp(&child, argv.front().c_str(), &actions, &attributes, pointers.data(),
                       environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (spawned != 0) {
        return make_error(errc::not_found, "cannot start " + argv.front() + ": " +
                                               std::strerror(spawned));
    }
    state.group.store(child);
    if (state.stop.load()) {
        ::kill(-child, SIGKILL); // stopped while it was starting
    }
    (*output)->close_write();
    (*errors)->close_write();
    std::string stdout_text;
    std::string error_tail;
    drain((*output)->read_end, (*errors)->read_end, output_size_max_, stdout_text, error_tail);
    if (stdout_text.size() > output_size_max_) {
        ::kill(-child, SIGKILL);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    state.group.store(0);
    if (stdout_text.size() > output_size_max_) {
        return make_error(errc::resource_exhausted,
                          argv.front() + " wrote more than " + std::to_string(output_size_max_) +
                              " bytes");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return make_error(errc::aborted, argv.front() + " " + describe_exit(status) +
                                             (error_tail.empty() ? "" : ": " + error_tail));
    }
    return stdout_text;
}

void command_runner::stop(std::uint64_t run) {
    const auto found = runs_.find(run);
    if (found == runs_.end()) {
        return;
    }
    found->second->stop.store(true);
    if (const pid_t group = found->second->group.load(); group > 0) {
        ::kill(-group, SIGKILL);
    }
}

void command_runner::reap(std::uint64_t run) {
    const auto found = runs_.find(run);
    if (found == runs_.end()) {
        return;
    }
    if (found->second->thread.joinable()) {
        found->second->thread.join();
    }
    runs_.erase(found);
}

} // namespace reef::runtime
