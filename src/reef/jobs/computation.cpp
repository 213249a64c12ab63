#include "reef/jobs/computation.hpp"

#include <utility>

#include "reef/jobs/partials.hpp"

namespace reef::jobs {

computation::computation(const kernel* native, std::unique_ptr<lua_job> program,
                         std::uint64_t seed, json base)
    : native_(native), program_(std::move(program)), seed_(seed), partial_(std::move(base)) {
    REEF_ASSERT((native_ == nullptr) != (program_ == nullptr));
}

result<std::unique_ptr<computation>> computation::make(const kernel_registry& kernels,
                                                       const start_run& run,
                                                       const lua_job_limits& limits,
                                                       lua_job_log log) {
    if (run.kernel == lua_kernel) {
        auto program = lua_job::load(run.program, run.seed, run.job_first, run.job_last, limits,
                                     std::move(log));
        if (!program) {
            return program.failure();
        }
        return std::make_unique<computation>(nullptr, std::move(*program), run.seed, run.base);
    }
    const kernel* native = kernels.find(run.kernel);
    if (native == nullptr) {
        return make_error(errc::not_found, "no kernel " + run.kernel + " on this node");
    }
    if (!run.base.is_number() && !run.base.is_null()) {
        return make_error(errc::invalid_argument, "kernel " + run.kernel +
                                                      "'s partial results are numbers");
    }
    return std::make_unique<computation>(native, nullptr, run.seed, run.base);
}

status computation::add(std::uint64_t first, std::uint64_t last) {
    REEF_ASSERT(first <= last);
    if (native_ != nullptr) {
        auto sum = add_numbers(partial_, number_partial(native_->run(seed_, first, last)));
        if (!sum) {
            return sum.failure();
        }
        partial_ = std::move(*sum);
        return {};
    }
    auto mapped = program_->map(first, last);
    if (!mapped) {
        return mapped.failure();
    }
    auto reduced = program_->reduce(partial_, *mapped);
    if (!reduced) {
        return reduced.failure();
    }
    partial_ = std::move(*reduced);
    return {};
}

void computation::interrupt() {
    if (program_ != nullptr) {
        program_->interrupt();
    }
}

} // namespace reef::jobs
