#include "sim/network.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "reef/base/assert.hpp"

namespace reef::sim {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31U);
}

double unit_of(std::uint64_t bits) { return static_cast<double>(bits >> 11U) * 0x1.0p-53; }

// Standard normal from two uniforms (Box-Muller); u1 is moved off zero so the log is finite.
double normal_of(double u1, double u2) {
    const double safe = std::max(u1, 0x1.0p-53);
    return std::sqrt(-2.0 * std::log(safe)) * std::cos(2.0 * std::numbers::pi * u2);
}

} // namespace

network::network(std::size_t nodes_count, std::uint64_t seed, const network_options& options)
    : options_(options), random_(seed), link_seed_(splitmix64(seed ^ 0x6c696e6b73ULL)),
      sides_(nodes_count, 0) {
    REEF_ASSERT(nodes_count > 0);
    REEF_ASSERT(options.latency.median > duration::zero());
    check_invariants();
}

std::uint64_t network::link_key(node_index from, node_index to) {
    return (static_cast<std::uint64_t>(from) << 32U) | to;
}

duration network::link_median(node_index from, node_index to) const {
    const std::uint64_t h1 = splitmix64(link_seed_ ^ link_key(from, to));
    const std::uint64_t h2 = splitmix64(h1);
    const double z = normal_of(unit_of(h1), unit_of(h2));
    return options_.latency.median.scaled(std::exp(options_.latency.link_spread * z));
}

duration network::sample_latency(node_index from, node_index to) {
    const latency_options& latency = options_.latency;
    const double z = normal_of(random_.unit(), random_.unit());
    duration sample = link_median(from, to).scaled(std::exp(latency.jitter * z));
    if (random_.chance(latency.tail_probability)) {
        const double exponential = -std::log(1.0 - random_.unit());
        sample += min(latency.tail_mean.scaled(exponential), latency.tail_max);
    }
    if (options_.reorder_probability > 0.0 && random_.chance(options_.reorder_probability)) {
        ++stats_.reordered;
        sample += options_.reorder_max.scaled(random_.unit());
    }
    return max(sample, latency.floor);
}

std::optional<instant> network::send(instant now, node_index from, node_index to) {
    REEF_ASSERT(from < sides_.size());
    REEF_ASSERT(to < sides_.size());
    ++stats_.sent;
    if (options_.loss > 0.0 && random_.chance(options_.loss)) {
        ++stats_.lost;
        return std::nullopt;
    }
    const duration latency = sample_latency(from, to);
    REEF_ASSERT(latency > duration::zero());
    return now + latency;
}

bool network::reachable(node_index from, node_index to) const {
    REEF_ASSERT(from < sides_.size());
    REEF_ASSERT(to < sides_.size());
    if (partitioned_ && sides_[from] != sides_[to]) {
        return false;
    }
    return cuts_.empty() || !cuts_.contains(link_key(from, to));
}

void network::set_side(std::span<const node_index> nodes, std::uint16_t side) {
    for (const node_index node : nodes) {
        REEF_ASSERT(node < sides_.size());
        sides_[node] = side;
    }
    partitioned_ = std::any_of(sides_.begin(), sides_.end(), [](auto s) { return s != 0; });
}

std::uint16_t network::side(node_index node) const {
    REEF_ASSERT(node < sides_.size());
    return sides_[node];
}

bool network::cut(node_index from, node_index to) {
    REEF_ASSERT(from < sides_.size());
    REEF_ASSERT(to < sides_.size());
    if (cuts_.size() >= options_.cuts_max && !cuts_.contains(link_key(from, to))) {
        return false;
    }
    cuts_.insert(link_key(from, to));
    REEF_ASSERT(cuts_.size() <= options_.cuts_max);
    return true;
}

void network::uncut(node_index from, node_index to) { cuts_.erase(link_key(from, to)); }

void network::heal() {
    std::fill(sides_.begin(), sides_.end(), 0);
    partitioned_ = false;
    cuts_.clear();
}

void network::set_loss(double loss) {
    REEF_ASSERT(loss >= 0.0 && loss <= 1.0);
    options_.loss = loss;
}

void network::set_reorder(double probability, duration max_extra) {
    REEF_ASSERT(probability >= 0.0 && probability <= 1.0);
    REEF_ASSERT(max_extra >= duration::zero());
    options_.reorder_probability = probability;
    options_.reorder_max = max_extra;
}

void network::check_invariants() const {
    REEF_ASSERT(options_.loss >= 0.0 && options_.loss <= 1.0);
    REEF_ASSERT(options_.reorder_probability >= 0.0 && options_.reorder_probability <= 1.0);
    REEF_ASSERT(cuts_.size() <= options_.cuts_max);
    REEF_ASSERT(stats_.lost <= stats_.sent);
}

} // namespace reef::sim
