// Scenario `crash`: a converged cluster loses 10 % of its nodes at once. Every survivor must mark
// every crashed node dead (and no survivor dead); the detection time distribution is printed.

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>

#include "reef/base/assert.hpp"
#include "sim/scenarios/common.hpp"

namespace reef::sim::detail {

namespace {

using membership::member_state;

struct detection {
    std::vector<node_index> crashed;
    std::vector<std::uint32_t> crashed_slot; // node -> index in `crashed`, or none
    std::vector<instant> dead_marks;         // [crashed slot * n + survivor]
    std::vector<instant> first_suspicion;    // per crashed slot, by any survivor
    std::size_t missing = 0;
    instant crash_at;
    static constexpr std::uint32_t none = 0xffffffffU;
};

scenario_result run_crash(const scenario_options& options) {
    const effective values = effective_of(options, crash_scenario());
    report out(options.out);
    cluster nodes(cluster_options_for(options, values.nodes_count, values.loss,
                                      duration::microseconds(20)));
    prng random(options.seed ^ 0x63726173680aULL);
    const std::size_t n = nodes.size();
    out.line("scenario crash: {} nodes, seed {}, loss {}", n, options.seed, values.loss);

    if (!join_everyone(nodes, random, out, duration::milliseconds(2), duration::milliseconds(8),
                       duration::milliseconds(250))) {
        return finish(nodes, out);
    }

    detection seen;
    const std::size_t crash_count = std::max<std::size_t>(1, n / 10);
    REEF_ASSERT(crash_count < n);
    seen.crashed = pick(random, all_nodes(nodes), crash_count);
    std::sort(seen.crashed.begin(), seen.crashed.end());
    seen.crashed_slot.assign(n, detection::none);
    for (std::uint32_t slot = 0; slot < seen.crashed.size(); ++slot) {
        seen.crashed_slot[seen.crashed[slot]] = slot;
    }
    seen.dead_marks.assign(crash_count * n, instant::never());
    seen.first_suspicion.assign(crash_count, instant::never());
    seen.missing = crash_count * (n - crash_count);
    seen.crash_at = nodes.now();

    std::size_t false_deaths = 0;
    nodes.add_observer([&](instant now, node_index observer, node_index target,
                           const membership::member_changed& change) {
        const std::uint32_t slot = seen.crashed_slot[target];
        if (slot == detection::none) {
            if (is_down(change.update.state) && nodes.is_member(target)) {
                ++false_deaths;
                fail_false_death(nodes, observer, target, change.update);
            }
            return;
        }
        if (seen.crashed_slot[observer] != detection::none) {
            return; // a crashed node's last words (it cannot be up, but be exact)
        }
        if (change.update.state == member_state::suspect) {
            seen.first_suspicion[slot] = min(seen.first_suspicion[slot], now);
        }
        instant& mark = seen.dead_marks[static_cast<std::size_t>(slot) * n + observer];
        if (is_down(change.update.state) && mark == instant::never()) {
            mark = now;
            --seen.missing;
        }
    });
    for (const node_index node : seen.crashed) {
        nodes.crash(node);
    }
    out.line("  crashed {} nodes at once at {:.2f} s", crash_count, seen.crash_at.ns() / 1e9);

    const auto all_marked = nodes.run_until(seen.crash_at + values.main_phase,
                                            duration::milliseconds(50),
                                            [&seen] { return seen.missing == 0; });
    if (!all_marked && !nodes.failed()) {
        std::string reason = fmt::format("{} (survivor, crashed) pairs still not marked dead {} "
                                         "after the crash",
                                         seen.missing, seconds_text(values.main_phase));
        std::size_t named = 0;
        for (std::size_t slot = 0; slot < crash_count && named < 5; ++slot) {
            for (node_index observer = 0; observer < n && named < 5; ++observer) {
                if (nodes.is_member(observer) &&
                    seen.dead_marks[slot * n + observer] == instant::never()) {
                    const view_entry view = nodes.view(observer, seen.crashed[slot]);
                    reason += fmt::format("; node {} sees crashed node {} {}", observer,
                                          seen.crashed[slot],
                                          view.state ? membership::to_string(*view.state)
                                                     : "unknown");
                    ++named;
                }
            }
        }
        nodes.fail(std::move(reason));
    }
    if (nodes.failed()) {
        return finish(nodes, out);
    }

    distribution per_pair;
    distribution first_dead;
    distribution first_suspect;
    for (std::size_t slot = 0; slot < crash_count; ++slot) {
        instant earliest = instant::never();
        for (node_index observer = 0; observer < n; ++observer) {
            const instant mark = seen.dead_marks[slot * n + observer];
            if (mark != instant::never()) {
                per_pair.add((mark - seen.crash_at).sec());
                earliest = min(earliest, mark);
            }
        }
        first_dead.add((earliest - seen.crash_at).sec());
        if (seen.first_suspicion[slot] != instant::never()) {
            first_suspect.add((seen.first_suspicion[slot] - seen.crash_at).sec());
        }
    }
    per_pair.seal();
    first_dead.seal();
    first_suspect.seal();
    out.line("  detection, from the crash to each survivor's dead mark:");
    print_quantiles(out, "every (survivor, crashed) pair", per_pair);
    print_quantiles(out, "first suspicion of each crashed node", first_suspect);
    print_quantiles(out, "first dead mark of each crashed node", first_dead);
    out.line("  all {} survivors agree on all {} deaths after {:.3f} s", n - crash_count,
             crash_count, (*all_marked - seen.crash_at).sec());
    print_histogram(out, per_pair, 12);

    const auto settled = converge_or_fail(nodes, "after every death was marked",
                                          duration::seconds(60), duration::milliseconds(100));
    if (settled) {
        out.line("  views converged (survivors alive everywhere) at {:.2f} s; false deaths: {}",
                 settled->ns() / 1e9, false_deaths);
    }
    return finish(nodes, out);
}

} // namespace

scenario crash_scenario() {
    return scenario{"crash",
                    "a converged cluster loses 10% of its nodes at once; every survivor must mark "
                    "each dead; prints detection time p50/p90/p99/max",
                    1000, 60.0, 0.0, &run_crash};
}

} // namespace reef::sim::detail
