#include "reef/runtime/job_runner.hpp"

#include <algorithm>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "reef/base/assert.hpp"

namespace reef::runtime {
namespace {

using clock = std::chrono::steady_clock;

/// The next Lua slice: scaled towards the target from the last one's time, at most 4x larger or
/// smaller at a step.
std::uint64_t next_lua_slice(std::uint64_t slice, clock::duration took) {
    const auto target = std::chrono::duration_cast<clock::duration>(job_runner::slice_target);
    if (took <= clock::duration::zero()) {
        return std::min(slice * 4, job_runner::slice_samples);
    }
    const double scale = std::clamp(static_cast<double>(target.count()) /
                                        static_cast<double>(took.count()),
                                    0.25, 4.0);
    const auto scaled = static_cast<std::uint64_t>(static_cast<double>(slice) * scale);
    return std::clamp<std::uint64_t>(scaled, 1, job_runner::slice_samples);
}

} // namespace

job_runner::job_runner(asio::io_context& io, progress_handler on_progress,
                       progress_handler on_finished, failed_handler on_failed)
    : io_(io), on_progress_(std::move(on_progress)), on_finished_(std::move(on_finished)),
      on_failed_(std::move(on_failed)) {}

job_runner::~job_runner() {
    alive_->store(false);
    for (auto& [run, state] : runs_) {
        state->stop.store(true);
        state->computed->interrupt();
    }
    for (auto& [run, state] : runs_) {
        if (state->thread.joinable()) {
            state->thread.join();
        }
    }
}

void job_runner::start(std::uint64_t run, std::unique_ptr<jobs::computation> computed,
                       std::uint64_t begin, std::uint64_t end) {
    REEF_ASSERT(!runs_.contains(run));
    REEF_ASSERT(begin <= end);
    REEF_ASSERT(computed != nullptr);
    auto state = std::make_unique<run_state>();
    state->end.store(end);
    state->computed = std::move(computed);
    run_state* shared = state.get();
    state->thread = std::thread([this, run, shared, begin] { compute(run, *shared, begin); });
    runs_.emplace(run, std::move(state));
}

void job_runner::compute(std::uint64_t run, run_state& state, std::uint64_t begin) {
    jobs::computation& computed = *state.computed;
    std::uint64_t through = begin;
    std::uint64_t slice = computed.interpreted() ? 1 : slice_samples;
    std::string failure;
    while (!state.stop.load()) {
        const std::uint64_t stop_at = state.end.load();
        if (through >= stop_at) {
            break;
        }
        const std::uint64_t next = std::min(stop_at, through + slice);
        const auto started = clock::now();
        if (auto added = computed.add(through, next); !added) {
            failure = added.failure().message;
            break;
        }
        through = next;
        if (computed.interpreted()) {
            slice = next_lua_slice(slice, clock::now() - started);
        }
        if (through < state.end.load()) {
            asio::post(io_, [this, run, through, partial = computed.partial(), alive = alive_] {
                if (alive->load() && runs_.contains(run)) {
                    on_progress_(run, through, partial);
                }
            });
        }
    }
    const bool stopped = state.stop.load();
    asio::post(io_, [this, run, through, partial = computed.partial(), stopped,
                     failure = std::move(failure), alive = alive_] {
        if (!alive->load()) {
            return;
        }
        reap(run);
        if (stopped) {
            return;
        }
        if (!failure.empty()) {
            on_failed_(run, failure);
        } else {
            on_finished_(run, through, partial);
        }
    });
}

void job_runner::fail(std::uint64_t run, std::string why) {
    asio::post(io_, [this, run, why = std::move(why), alive = alive_] {
        if (alive->load()) {
            on_failed_(run, why);
        }
    });
}

void job_runner::shorten(std::uint64_t run, std::uint64_t end) {
    if (auto found = runs_.find(run); found != runs_.end()) {
        found->second->end.store(end);
    }
}

void job_runner::stop(std::uint64_t run) {
    if (auto found = runs_.find(run); found != runs_.end()) {
        found->second->stop.store(true);
        found->second->computed->interrupt();
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
