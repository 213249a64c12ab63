#include "sim/scenarios/common.hpp"

#include <algorithm>
#include <cmath>

#include "reef/base/assert.hpp"

namespace reef::sim::detail {

effective effective_of(const scenario_options& options, const scenario& defaults) {
    effective values;
    values.nodes_count = options.nodes_count != 0 ? options.nodes_count : defaults.default_nodes;
    const double phase = options.duration_seconds.value_or(defaults.default_duration_seconds);
    values.main_phase = duration::nanoseconds(static_cast<std::int64_t>(phase * 1e9));
    values.loss = options.loss.value_or(defaults.default_loss);
    REEF_ASSERT(values.nodes_count > 0);
    REEF_ASSERT(values.loss >= 0.0 && values.loss <= 1.0);
    return values;
}

cluster_options cluster_options_for(const scenario_options& options, std::size_t nodes_count,
                                    double loss, duration cpu_cost) {
    cluster_options result;
    result.nodes_count = nodes_count;
    result.seed = options.seed;
    result.network.loss = loss;
    result.cpu_cost = options.cpu_cost_ms
                          ? duration::nanoseconds(static_cast<std::int64_t>(*options.cpu_cost_ms *
                                                                             1e6))
                          : cpu_cost;
    result.check_invariants = options.check_invariants;
    result.event_log = options.event_log;
    return result;
}

id256 random_id(prng& random) {
    id256::bytes_type bytes{};
    for (std::size_t i = 0; i < bytes.size(); i += 8) {
        const std::uint64_t word = random.next_u64();
        for (std::size_t b = 0; b < 8; ++b) {
            bytes[i + b] = static_cast<std::uint8_t>(word >> (8U * b));
        }
    }
    return id256{bytes};
}

duration uniform(prng& random, duration low, duration high) {
    REEF_ASSERT(high >= low);
    return low + (high - low).scaled(random.unit());
}

bool start_staggered(cluster& nodes, prng& random, duration stagger_min, duration stagger_max) {
    nodes.start(0, {});
    const node_index seeds[] = {0};
    for (node_index node = 1; node < nodes.size() && !nodes.failed(); ++node) {
        nodes.run_until(nodes.now() + uniform(random, stagger_min, stagger_max));
        if (!nodes.failed()) {
            nodes.start(node, seeds);
        }
    }
    return !nodes.failed();
}

std::optional<instant> await_convergence(cluster& nodes, duration limit, duration poll) {
    return nodes.run_until(nodes.now() + limit, poll, [&nodes] { return nodes.converged(); });
}

void fail_not_converged(cluster& nodes, std::string_view phase, duration limit) {
    if (nodes.failed()) {
        return;
    }
    std::string reason = fmt::format("views did not converge within {} {}", seconds_text(limit),
                                     phase);
    for (const std::string& disagreement : nodes.disagreements(5)) {
        reason += "; " + disagreement;
    }
    nodes.fail(std::move(reason));
}

std::optional<instant> converge_or_fail(cluster& nodes, std::string_view phase, duration limit,
                                        duration poll) {
    const auto converged = await_convergence(nodes, limit, poll);
    if (!converged) {
        fail_not_converged(nodes, phase, limit);
    }
    return converged;
}

bool join_everyone(cluster& nodes, prng& random, report& out, duration stagger_min,
                   duration stagger_max, duration poll, std::string_view note) {
    if (!start_staggered(nodes, random, stagger_min, stagger_max)) {
        return false;
    }
    const auto joined = converge_or_fail(nodes, "after the joins", duration::seconds(600), poll);
    if (!joined) {
        return false;
    }
    out.line("  joined: all {} views converged at {:.2f} s{}", nodes.size(), joined->ns() / 1e9,
             note);
    return true;
}

bool is_down(membership::member_state state) {
    return state == membership::member_state::dead || state == membership::member_state::left;
}

void fail_false_death(cluster& nodes, node_index observer, node_index target,
                      const membership::member_update& update, std::string_view note) {
    REEF_ASSERT(is_down(update.state));
    REEF_ASSERT(nodes.is_member(target));
    nodes.fail(fmt::format("false death: node {} declared live node {}{} {} at incarnation {}",
                           observer, target, note, membership::to_string(update.state),
                           update.incarnation));
}

void distribution::seal() {
    std::sort(samples_.begin(), samples_.end());
    sealed_ = true;
}

double distribution::quantile(double q) const {
    REEF_ASSERT(sealed_);
    REEF_ASSERT(!samples_.empty());
    REEF_ASSERT(q >= 0.0 && q <= 1.0);
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples_.size())));
    return samples_[std::clamp<std::size_t>(rank, 1, samples_.size()) - 1];
}

double distribution::max() const {
    REEF_ASSERT(sealed_);
    REEF_ASSERT(!samples_.empty());
    return samples_.back();
}

double distribution::mean() const {
    REEF_ASSERT(!samples_.empty());
    double sum = 0.0;
    for (const double value : samples_) {
        sum += value;
    }
    return sum / static_cast<double>(samples_.size());
}

void print_quantiles(report& out, std::string_view label, const distribution& values) {
    if (values.empty()) {
        out.line("  {}: no samples", label);
        return;
    }
    out.line("  {} ({} samples): p50 {:.3f} s  p90 {:.3f} s  p99 {:.3f} s  max {:.3f} s", label,
             values.size(), values.quantile(0.5), values.quantile(0.9), values.quantile(0.99),
             values.max());
}

void print_histogram(report& out, const distribution& values, std::size_t buckets) {
    REEF_ASSERT(buckets > 0);
    if (values.empty()) {
        return;
    }
    const double top = std::max(values.max(), 1e-9);
    const double width = top / static_cast<double>(buckets);
    std::vector<std::size_t> counts(buckets, 0);
    for (const double value : values.samples()) {
        const auto bucket = static_cast<std::size_t>(value / width);
        ++counts[std::min(bucket, buckets - 1)];
    }
    const std::size_t most = *std::max_element(counts.begin(), counts.end());
    constexpr std::size_t bar_max = 40;
    for (std::size_t bucket = 0; bucket < buckets; ++bucket) {
        const std::size_t bar = most == 0 ? 0 : (counts[bucket] * bar_max + most - 1) / most;
        out.line("    {:6.2f}-{:6.2f} s {:>7} {}", width * static_cast<double>(bucket),
                 width * static_cast<double>(bucket + 1), counts[bucket], std::string(bar, '#'));
    }
}

scenario_result finish(cluster& nodes, report& out) {
    if (!nodes.failed()) {
        nodes.verify_views();
    }
    nodes.check_invariants();
    const cluster_stats& stats = nodes.stats();
    const network_stats& traffic = nodes.net().stats();
    const membership::swim_stats totals = nodes.swim_totals();
    out.line("  traffic: {} messages sent, {} lost, {} blocked by partitions/cuts, {} to down "
             "nodes, {} inbox overflows",
             stats.messages_sent, traffic.lost, traffic.blocked, stats.messages_to_down_nodes,
             stats.inbox_overflows);
    out.line("  swim: {} probes, {} indirect, {} suspicions raised, {} refutations, {} messages "
             "rejected, {} member changes",
             totals.probes_sent, totals.indirect_probes_sent, totals.suspicions_raised,
             totals.refutations, totals.messages_rejected, stats.member_changes);
    out.line("  simulated {:.1f} s, {} events", nodes.now().ns() / 1e9, stats.events);
    scenario_result result;
    result.ok = !nodes.failed();
    if (!result.ok) {
        result.failure = nodes.failure();
    }
    result.trace_hash = nodes.trace_hash();
    result.events = stats.events;
    result.simulated_seconds = nodes.now().ns() / 1e9;
    return result;
}

std::vector<node_index> live_seeds(const cluster& nodes, prng& random, node_index joining) {
    std::vector<node_index> members;
    for (node_index node = 1; node < nodes.size(); ++node) {
        if (node != joining && nodes.is_member(node)) {
            members.push_back(node);
        }
    }
    const std::size_t extra = std::min<std::size_t>(2, members.size());
    std::vector<node_index> seeds = pick(random, members, extra);
    if (joining != 0 && nodes.is_member(0)) {
        seeds.insert(seeds.begin(), 0);
    }
    return seeds;
}

std::vector<node_index> all_nodes(const cluster& nodes) {
    std::vector<node_index> everyone(nodes.size());
    for (node_index node = 0; node < nodes.size(); ++node) {
        everyone[node] = node;
    }
    return everyone;
}

std::vector<node_index> pick(prng& random, std::vector<node_index> candidates, std::size_t count) {
    REEF_ASSERT(count <= candidates.size());
    // Partial Fisher-Yates: the first `count` slots become the draw.
    for (std::size_t index = 0; index < count; ++index) {
        const std::size_t other = index + random.below(candidates.size() - index);
        std::swap(candidates[index], candidates[other]);
    }
    candidates.resize(count);
    return candidates;
}

std::string seconds_text(duration value) { return fmt::format("{:.3f} s", value.sec()); }

} // namespace reef::sim::detail
