// Scenario `partition`: a converged cluster splits into two sides that cannot reach each other
// (both directions) for a while, then heals. Every view must converge again (every node alive
// everywhere) within a bounded time.

#include "sim/scenarios/scenarios.hpp"

#include "sim/scenarios/common.hpp"

namespace reef::sim::detail {

namespace {

// After the heal, the two sides must find each other again within this long. Members declared
// dead are not probed, so the sides rediscover each other through sync (push-pull), whose period is
// 30 s by default: allow a few of them.
constexpr duration heal_limit = duration::seconds(120);

scenario_result run_partition(const scenario_options& options) {
    const effective values = effective_of(options, partition_scenario());
    report out(options.out);
    cluster nodes(cluster_options_for(options, values.nodes_count, values.loss,
                                      duration::microseconds(20)));
    prng random(options.seed ^ 0x70617274aULL);
    const std::size_t n = nodes.size();
    out.line("scenario partition: {} nodes, seed {}, loss {}, partitioned for {} s", n,
             options.seed, values.loss, values.main_phase.sec());
    if (n < 2) {
        nodes.fail("a partition needs at least 2 nodes");
        return finish(nodes, out);
    }
    if (!join_everyone(nodes, random, out, duration::milliseconds(5), duration::milliseconds(20),
                       duration::milliseconds(250))) {
        return finish(nodes, out);
    }

    // Uneven on purpose: one side between a third and a half of the cluster.
    const std::size_t side_size = std::max<std::size_t>(1, n / 3 + random.below(n / 6 + 1));
    const std::vector<node_index> side = pick(random, all_nodes(nodes), side_size);
    std::vector<bool> on_side(n, false);
    for (const node_index node : side) {
        on_side[node] = true;
    }
    // Count cross-side declarations while split: (observer, target) pairs across the cut.
    std::vector<bool> declared(n * n, false);
    std::size_t cross_declared = 0;
    const std::size_t cross_pairs = 2 * side_size * (n - side_size);
    instant all_declared = instant::never();
    bool split = true;
    nodes.add_observer([&](instant now, node_index observer, node_index target,
                           const membership::member_changed& change) {
        if (!split || on_side[observer] == on_side[target]) {
            return;
        }
        const std::size_t at = static_cast<std::size_t>(observer) * n + target;
        if (is_down(change.update.state) && !declared[at]) {
            declared[at] = true;
            if (++cross_declared == cross_pairs) {
                all_declared = now;
            }
        }
    });

    const instant split_at = nodes.now();
    nodes.net().set_side(side, 1);
    out.line("  split at {:.2f} s: {} nodes | {} nodes", split_at.ns() / 1e9, side_size,
             n - side_size);
    nodes.run_until(split_at + values.main_phase);
    if (nodes.failed()) {
        return finish(nodes, out);
    }
    split = false;
    if (all_declared != instant::never()) {
        out.line("  while split: each side declared the whole other side dead after {:.3f} s",
                 (all_declared - split_at).sec());
    } else {
        out.line("  while split: {} of {} cross-side pairs declared dead", cross_declared,
                 cross_pairs);
    }

    const instant healed_at = nodes.now();
    nodes.net().heal();
    const auto converged = converge_or_fail(nodes, "after the partition healed", heal_limit,
                                            duration::milliseconds(100));
    if (!converged) {
        return finish(nodes, out);
    }
    out.line("  healed at {:.2f} s: every view converged (all {} alive everywhere) after {:.3f} s "
             "(bound {})",
             healed_at.ns() / 1e9, n, (*converged - healed_at).sec(), seconds_text(heal_limit));
    return finish(nodes, out);
}

} // namespace

scenario partition_scenario() {
    return scenario{"partition",
                    "split the cluster in two (both directions) for a while, then heal; every view "
                    "must converge within a bound; prints the convergence time",
                    100, 30.0, 0.0, &run_partition};
}

} // namespace reef::sim::detail
