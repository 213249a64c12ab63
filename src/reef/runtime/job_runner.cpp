#include "reef/runtime/job_runner.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "reef/base/assert.hpp"

namespace reef::runtime {

job_runner::job_runner(asio::io_context& io, progress_handler on_progress,
                       finished_handler on_finished)
    : io_(io), on_progress_(std::move(on_progress)), on_finished_(std::move(on_finished)) {}

job_runner::~job_runner() {
    alive_->store(false);
    for (auto& [run, state] : runs_) {
        state->stop.store(true);
    }
    for (auto& [run, state] : runs_) {
        if (state->thread.joinable()) {
            state->thread.join();
        }
    }
}

void job_runner::start(std::uint64_t run, const jobs::kernel& kernel, std::uint64_t seed,
                       std::uint64_t begin, std::uint64_t end) {
    REEF_ASSERT(!runs_.contains(run));
    REEF_ASSERT(begin <= end);
    auto state = std::make_unique<run_state>();
    state->end.store(end);
    run_state* shared = state.get();
    auto alive = alive_;
    state->thread = std::thread([this, run, compute = kernel.run, seed, begin, shared, alive] {
        double partial = 0.0;
        std::uint64_t through = begin;
        while (!shared->stop.load()) {
            const std::uint64_t stop_at = shared->end.load();
            if (through >= stop_at) {
                break;
            }
            const std::uint64_t next = std::min(stop_at, through + slice_samples);
            partial += compute(seed, through, next);
            through = next;
            if (through < shared->end.load()) {
                asio::post(io_, [this, run, through, partial, alive] {
                    if (alive->load() && runs_.contains(run)) {
                        on_progress_(run, through, partial);
                    }
                });
            }
        }
        const bool stopped = shared->stop.load();
        asio::post(io_, [this, run, through, partial, stopped, alive] {
            if (!alive->load()) {
                return;
            }
            reap(run);
            if (!stopped) {
                on_finished_(run, through, partial);
            }
        });
    });
    runs_.emplace(run, std::move(state));
}

void job_runner::shorten(std::uint64_t run, std::uint64_t end) {
    if (auto found = runs_.find(run); found != runs_.end()) {
        found->second->end.store(end);
    }
}

void job_runner::stop(std::uint64_t run) {
    if (auto found = runs_.find(run); found != runs_.end()) {
        found->second->stop.store(true);
    }
}

void job_runner::reap(std::uint64_t run) {
    auto found = runs_.find(run);
    if (found == runs_.end()) {
        return;
    }
    if (found->second->thread.joinable()) {
        found->second->thread.join(); // it has posted its last handler: it is ending
    }
    runs_.erase(found);
}

} // namespace reef::runtime
