// Scenario `membership` (the default): staggered joins through one seed address, then random
// faults under some loss and reordering (crashes, restarts, graceful leaves, partitions, one-way
// link cuts, slow nodes); then a liveness phase that heals everything and requires every member to
// see every member alive and every stopped node dead (or left, or not at all).

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>
#include <cmath>

#include "sim/scenarios/common.hpp"

namespace reef::sim::detail {

namespace {

constexpr duration liveness_limit = duration::seconds(120);
constexpr duration fault_gap_mean = duration::milliseconds(700);

enum class expiry_kind : std::uint8_t { heal_partition, uncut, unslow, stop_leaver };

struct expiry {
    instant at;
    expiry_kind kind = expiry_kind::heal_partition;
    node_index a = 0;
    node_index b = 0;
};

struct fault_counts {
    std::size_t crashes = 0;
    std::size_t restarts = 0;
    std::size_t leaves = 0;
    std::size_t partitions = 0;
    std::size_t cuts = 0;
    std::size_t slowdowns = 0;
};

class fault_driver {
public:
    fault_driver(cluster& nodes, prng& random) : nodes_(nodes), random_(random) {}

    void run(instant until) {
        while (!nodes_.failed() && nodes_.now() < until) {
            const double gap = -std::log(1.0 - random_.unit());
            const instant next = min(until, nodes_.now() + fault_gap_mean.scaled(gap));
            run_expiries(next);
            nodes_.run_until(next);
            if (!nodes_.failed() && nodes_.now() < until) {
                inject();
            }
        }
    }

    /// Liveness: stop the leavers, heal the network, end slowness and loss.
    void heal_all() {
        for (const expiry& pending : expiries_) {
            if (pending.kind == expiry_kind::stop_leaver && nodes_.is_up(pending.a)) {
                nodes_.crash(pending.a);
            }
        }
        expiries_.clear();
        partitioned_ = false;
        nodes_.net().heal();
        nodes_.net().set_loss(0.0);
        nodes_.net().set_reorder(0.0, duration::zero());
        for (node_index node = 0; node < nodes_.size(); ++node) {
            nodes_.set_slow(node, 1.0);
        }
    }

    const fault_counts& counts() const { return counts_; }

private:
    std::vector<node_index> members() const {
        std::vector<node_index> found;
        for (node_index node = 0; node < nodes_.size(); ++node) {
            if (nodes_.is_member(node)) {
                found.push_back(node);
            }
        }
        return found;
    }

    std::vector<node_index> stopped() const {
        std::vector<node_index> found;
        for (node_index node = 0; node < nodes_.size(); ++node) {
            if (!nodes_.is_up(node)) {
                found.push_back(node);
            }
        }
        return found;
    }

    void run_expiries(instant until) {
        while (!nodes_.failed()) {
            auto next = std::min_element(expiries_.begin(), expiries_.end(),
                                         [](const expiry& x, const expiry& y) {
                                             return x.at < y.at;
                                         });
            if (next == expiries_.end() || next->at > until) {
                return;
            }
            const expiry due = *next;
            expiries_.erase(next);
            nodes_.run_until(due.at);
            if (!nodes_.failed()) {
                apply(due);
            }
        }
    }

    void apply(const expiry& due) {
        switch (due.kind) {
        case expiry_kind::heal_partition: {
            nodes_.net().set_side(all_nodes(nodes_), 0);
            partitioned_ = false;
            break;
        }
        case expiry_kind::uncut: nodes_.net().uncut(due.a, due.b); break;
        case expiry_kind::unslow: nodes_.set_slow(due.a, 1.0); break;
        case expiry_kind::stop_leaver:
            if (nodes_.is_up(due.a)) {
                nodes_.crash(due.a);
            }
            break;
        }
    }

    void later(duration low, duration high, expiry_kind kind, node_index a, node_index b) {
        expiries_.push_back(expiry{nodes_.now() + uniform(random_, low, high), kind, a, b});
    }

    void inject() {
        const std::vector<node_index> live = members();
        const std::vector<node_index> down = stopped();
        const std::size_t n = nodes_.size();
        const bool may_stop = live.size() > 2 && (n - live.size()) + 1 <= n / 3;
        switch (random_.below(8)) {
        case 0:
        case 1:
            if (may_stop) {
                nodes_.crash(live[random_.below(live.size())]);
                ++counts_.crashes;
            }
            break;
        case 2:
        case 3:
            if (!down.empty()) {
                restart(down[random_.below(down.size())]);
            }
            break;
        case 4:
            if (may_stop) {
                const node_index node = live[random_.below(live.size())];
                nodes_.leave(node);
                later(duration::milliseconds(500), duration::milliseconds(1500),
                      expiry_kind::stop_leaver, node, node);
                ++counts_.leaves;
            }
            break;
        case 5:
            if (!partitioned_ && live.size() >= 2) {
                const std::size_t size = 1 + random_.below(live.size() / 2);
                nodes_.net().set_side(pick(random_, live, size), 1);
                partitioned_ = true;
                later(duration::seconds(1), duration::seconds(10), expiry_kind::heal_partition, 0,
                      0);
                ++counts_.partitions;
            }
            break;
        case 6: {
            const auto from = static_cast<node_index>(random_.below(n));
            const auto to = static_cast<node_index>(random_.below(n));
            if (from != to && nodes_.net().cut(from, to)) {
                later(duration::seconds(1), duration::seconds(10), expiry_kind::uncut, from, to);
                ++counts_.cuts;
            }
            break;
        }
        default: {
            const auto node = static_cast<node_index>(random_.below(n));
            nodes_.set_slow(node, 10.0 + 240.0 * random_.unit());
            later(duration::seconds(2), duration::seconds(15), expiry_kind::unslow, node, node);
            ++counts_.slowdowns;
            break;
        }
        }
    }

    void restart(node_index node) {
        const std::vector<node_index> seeds = live_seeds(nodes_, random_, node);
        nodes_.start(node, seeds);
        ++counts_.restarts;
    }

    cluster& nodes_;
    prng& random_;
    std::vector<expiry> expiries_;
    bool partitioned_ = false;
    fault_counts counts_;
};

scenario_result run_membership(const scenario_options& options) {
    const effective values = effective_of(options, membership_scenario());
    report out(options.out);
    cluster_options setup =
        cluster_options_for(options, values.nodes_count, values.loss, duration::microseconds(20));
    setup.network.reorder_probability = 0.02;
    cluster nodes(setup);
    prng random(options.seed ^ 0x6d656d62657273ULL);
    const std::size_t n = nodes.size();
    out.line("scenario membership: {} nodes, seed {}, loss {}, faults for {} s", n, options.seed,
             values.loss, values.main_phase.sec());
    if (!start_staggered(nodes, random, duration::milliseconds(10), duration::milliseconds(100))) {
        return finish(nodes, out);
    }
    out.line("  {} nodes started by {:.2f} s, each joining through node 0", n,
             nodes.now().ns() / 1e9);

    fault_driver faults(nodes, random);
    faults.run(nodes.now() + values.main_phase);
    if (nodes.failed()) {
        return finish(nodes, out);
    }
    const fault_counts& counts = faults.counts();
    out.line("  faults: {} crashes, {} restarts, {} graceful leaves, {} partitions, {} one-way "
             "cuts, {} slowdowns",
             counts.crashes, counts.restarts, counts.leaves, counts.partitions, counts.cuts,
             counts.slowdowns);

    faults.heal_all();
    const instant healed_at = nodes.now();
    const auto converged = converge_or_fail(nodes, "after the faults stopped", liveness_limit,
                                            duration::milliseconds(100));
    if (!converged) {
        return finish(nodes, out);
    }
    std::size_t up = 0;
    for (node_index node = 0; node < n; ++node) {
        up += nodes.is_member(node) ? 1 : 0;
    }
    out.line("  liveness: healed at {:.2f} s; {} members see each other alive and the {} stopped "
             "nodes dead after {:.3f} s",
             healed_at.ns() / 1e9, up, n - up, (*converged - healed_at).sec());
    return finish(nodes, out);
}

} // namespace

scenario membership_scenario() {
    return scenario{"membership",
                    "(default) staggered joins through one seed, random crashes, restarts, leaves, "
                    "partitions, cuts and slow nodes under loss; then heal and require convergence",
                    50, 60.0, 0.01, &run_membership};
}

} // namespace reef::sim::detail
