// Scenario `loss-slow`: 5 % loss on every link and one node whose processing is 10x slower, for
// 10 simulated minutes. Nobody may ever declare a live node dead (false suspicions are allowed, and
// counted: the suspected node must refute them in time).

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>

#include "sim/scenarios/common.hpp"

namespace reef::sim::detail {

namespace {

using membership::member_state;

// A busy cluster: every input costs 1 ms of CPU, the slow node's 10 ms. At the rates SWIM runs
// (a few inputs per node per probe period) that keeps the slow node's CPU well loaded without
// saturating it, which is what "CPU-starved but alive" means.
constexpr duration busy_cpu_cost = duration::milliseconds(1);
constexpr double slow_factor_default = 10.0;

struct counters {
    std::uint64_t false_suspicions = 0;
    std::uint64_t false_suspicions_of_slow = 0;
    std::uint64_t suspicions_by_slow = 0;
    std::uint64_t false_deaths = 0;
};

scenario_result run_loss_slow(const scenario_options& options) {
    const effective values = effective_of(options, loss_slow_scenario());
    const double factor = options.slow_factor.value_or(slow_factor_default);
    report out(options.out);
    cluster nodes(cluster_options_for(options, values.nodes_count, 0.0, busy_cpu_cost));
    prng random(options.seed ^ 0x6c6f73730aULL);
    const std::size_t n = nodes.size();
    out.line("scenario loss-slow: {} nodes, seed {}, loss {}, one node {}x slower, {} s", n,
             options.seed, values.loss, factor, values.main_phase.sec());

    if (!join_everyone(nodes, random, out, duration::milliseconds(2), duration::milliseconds(8),
                       duration::milliseconds(250), " (no loss yet)")) {
        return finish(nodes, out);
    }

    const auto slow = static_cast<node_index>(random.below(n));
    nodes.set_slow(slow, factor);
    nodes.net().set_loss(values.loss);
    const instant faults_at = nodes.now();
    const cpu_stats slow_cpu_before = nodes.cpu(slow);
    out.line("  node {} is now {}x slower ({:.1f} ms per input); loss {} on every link", slow,
             factor, nodes.input_cost(slow).ms(), values.loss);

    counters seen;
    nodes.add_observer([&](instant /*now*/, node_index observer, node_index target,
                           const membership::member_changed& change) {
        if (observer == slow && change.update.state == member_state::suspect) {
            ++seen.suspicions_by_slow;
        }
        if (!nodes.is_member(target)) {
            return;
        }
        if (change.update.state == member_state::suspect) {
            ++seen.false_suspicions;
            seen.false_suspicions_of_slow += target == slow ? 1 : 0;
        } else if (is_down(change.update.state)) {
            ++seen.false_deaths;
            fail_false_death(nodes, observer, target, change.update,
                             target == slow ? " (the slow node)" : "");
        }
    });
    const membership::swim_stats totals_before = nodes.swim_totals();
    nodes.run_until(faults_at + values.main_phase);

    // The counters are printed whether or not the run failed: they are the evidence.
    const membership::swim_stats totals = nodes.swim_totals();
    const duration faulty = nodes.now() - faults_at;
    out.line("  after {:.1f} s of loss and slowness: false deaths {}, false suspicions raised {}, "
             "refutations {}",
             faulty.sec(), seen.false_deaths,
             totals.suspicions_raised - totals_before.suspicions_raised,
             totals.refutations - totals_before.refutations);
    out.line("  suspect marks of live nodes across all views: {} ({} of the slow node; {} in the "
             "slow node's own view)",
             seen.false_suspicions, seen.false_suspicions_of_slow, seen.suspicions_by_slow);
    const cpu_stats& slow_cpu = nodes.cpu(slow);
    const duration busy = slow_cpu.busy - slow_cpu_before.busy;
    out.line("  slow node {}: CPU busy {:.0f}%, worst queueing delay {:.1f} ms, incarnation {}, "
             "local health {}",
             slow, 100.0 * busy.sec() / std::max(faulty.sec(), 1e-9),
             slow_cpu.queue_delay_max.ms(), nodes.swim_of(slow)->incarnation(),
             nodes.swim_of(slow)->stats().local_health);
    if (nodes.failed()) {
        return finish(nodes, out);
    }

    // With the faults gone, every view must settle back to "everyone alive".
    nodes.net().set_loss(0.0);
    nodes.set_slow(slow, 1.0);
    const auto settled = converge_or_fail(nodes, "after the loss and the slowness ended",
                                          duration::seconds(60), duration::milliseconds(100));
    if (settled) {
        out.line("  loss and slowness removed: views converged {:.2f} s later",
                 (*settled - (faults_at + values.main_phase)).sec());
    }
    return finish(nodes, out);
}

} // namespace

scenario loss_slow_scenario() {
    return scenario{"loss-slow",
                    "5% loss on every link and one node 10x slower for 10 simulated minutes; zero "
                    "false deaths; prints false suspicions and refutations",
                    500, 600.0, 0.05, &run_loss_slow};
}

} // namespace reef::sim::detail
