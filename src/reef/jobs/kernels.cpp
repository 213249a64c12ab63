#include "reef/jobs/kernels.hpp"

#include <utility>

namespace reef::jobs {

std::uint64_t pi_hits(std::uint64_t seed, std::uint64_t begin, std::uint64_t end) {
    REEF_ASSERT(begin <= end);
    std::uint64_t hits = 0;
    for (std::uint64_t index = begin; index < end; ++index) {
        hits += pi_hit(seed, index) ? 1U : 0U;
    }
    REEF_ASSERT(hits <= end - begin);
    return hits;
}

double pi_estimate(std::uint64_t hits, std::uint64_t samples) {
    REEF_ASSERT(hits <= samples);
    if (samples == 0) {
        return 0.0;
    }
    return 4.0 * static_cast<double>(hits) / static_cast<double>(samples);
}

kernel_registry::kernel_registry() {
    auto added = add(kernel{std::string(pi_kernel), [](std::uint64_t seed, std::uint64_t begin,
                                                       std::uint64_t end) {
                                return static_cast<double>(pi_hits(seed, begin, end));
                            }});
    REEF_ASSERT(added.ok());
}

status kernel_registry::add(kernel added) {
    if (added.name.empty() || added.name.size() > name_size_max) {
        return make_error(errc::invalid_argument, "a kernel name must be 1 to " +
                                                      std::to_string(name_size_max) + " bytes");
    }
    if (!added.run) {
        return make_error(errc::invalid_argument, "kernel " + added.name + " has no function");
    }
    if (kernels_.contains(added.name)) {
        return make_error(errc::already_exists, "kernel " + added.name + " is already registered");
    }
    if (kernels_.size() >= kernels_max) {
        return make_error(errc::resource_exhausted,
                          "at most " + std::to_string(kernels_max) + " kernels per node");
    }
    std::string name = added.name;
    kernels_.emplace(std::move(name), std::move(added));
    REEF_ASSERT(kernels_.size() <= kernels_max);
    return {};
}

const kernel* kernel_registry::find(std::string_view name) const {
    const auto found = kernels_.find(name);
    return found == kernels_.end() ? nullptr : &found->second;
}

std::vector<std::string> kernel_registry::names() const {
    std::vector<std::string> out;
    out.reserve(kernels_.size());
    for (const auto& [name, unused] : kernels_) {
        out.push_back(name);
    }
    return out;
}

} // namespace reef::jobs
