// Scenario `restart`: nodes crash and come back, some before the cluster noticed (short downtime)
// and some after it declared them dead (long downtime). A restarted node must end up seen alive by
// every member at an incarnation higher than the one it had before the crash.

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>

#include "sim/scenarios/common.hpp"

namespace reef::sim::detail {

namespace {

using membership::member_state;

constexpr duration liveness_limit = duration::seconds(120);

struct pending_restart {
    instant at;
    node_index node = 0;
};

struct restart_book {
    std::vector<std::uint64_t> incarnation_before; // of the last crash
    std::vector<bool> restarted;
    std::vector<bool> pending;
    std::vector<pending_restart> queue; // in scheduling order; due ones run in time order
    std::size_t short_downtimes = 0;
    std::size_t long_downtimes = 0;
};

void run_due_restarts(cluster& nodes, prng& random, restart_book& book, instant until) {
    while (!nodes.failed()) {
        auto next = std::min_element(book.queue.begin(), book.queue.end(),
                                     [](const pending_restart& a, const pending_restart& b) {
                                         return a.at < b.at;
                                     });
        if (next == book.queue.end() || next->at > until) {
            break;
        }
        const pending_restart due = *next;
        book.queue.erase(next);
        nodes.run_until(due.at);
        if (nodes.failed()) {
            break;
        }
        book.pending[due.node] = false;
        book.restarted[due.node] = true;
        const std::vector<node_index> seeds = live_seeds(nodes, random, due.node);
        nodes.start(due.node, seeds);
    }
    if (!nodes.failed()) {
        nodes.run_until(max(until, nodes.now()));
    }
}

void crash_some(cluster& nodes, prng& random, restart_book& book) {
    std::vector<node_index> candidates;
    for (node_index node = 0; node < nodes.size(); ++node) {
        if (nodes.is_member(node) && !book.pending[node]) {
            candidates.push_back(node);
        }
    }
    if (candidates.size() < 3) {
        return; // keep a quorum of the living to rejoin through
    }
    const std::size_t most = std::max<std::size_t>(1, nodes.size() / 10);
    const std::size_t count = std::min(candidates.size() - 1, 1 + random.below(most));
    for (const node_index node : pick(random, candidates, count)) {
        book.incarnation_before[node] = nodes.swim_of(node)->incarnation();
        nodes.crash(node);
        book.pending[node] = true;
        const bool quick = random.chance(0.5);
        const duration downtime = quick ? uniform(random, duration::milliseconds(200),
                                                  duration::milliseconds(1500))
                                        : uniform(random, duration::seconds(8),
                                                  duration::seconds(20));
        (quick ? book.short_downtimes : book.long_downtimes) += 1;
        book.queue.push_back(pending_restart{nodes.now() + downtime, node});
    }
}

// Every member sees every restarted node alive at a higher incarnation than before its crash.
std::optional<std::string> incarnation_lag(const cluster& nodes, const restart_book& book) {
    for (node_index target = 0; target < nodes.size(); ++target) {
        if (!book.restarted[target]) {
            continue;
        }
        for (node_index observer = 0; observer < nodes.size(); ++observer) {
            if (observer == target || !nodes.is_member(observer)) {
                continue;
            }
            const auto view = nodes.swim_of(observer)->member(nodes.id(target));
            if (!view || view->update.state != member_state::alive ||
                view->update.incarnation <= book.incarnation_before[target]) {
                return fmt::format("node {} sees restarted node {} {} at incarnation {} (before "
                                   "its crash: {}; now it runs at {})",
                                   observer, target,
                                   view ? membership::to_string(view->update.state) : "unknown",
                                   view ? view->update.incarnation : 0,
                                   book.incarnation_before[target],
                                   nodes.swim_of(target)->incarnation());
            }
        }
    }
    return std::nullopt;
}

scenario_result run_restart(const scenario_options& options) {
    const effective values = effective_of(options, restart_scenario());
    report out(options.out);
    cluster nodes(cluster_options_for(options, values.nodes_count, values.loss,
                                      duration::microseconds(20)));
    prng random(options.seed ^ 0x7265737461727400ULL);
    const std::size_t n = nodes.size();
    out.line("scenario restart: {} nodes, seed {}, loss {}, crashes and restarts for {} s", n,
             options.seed, values.loss, values.main_phase.sec());
    if (n < 3) {
        nodes.fail("restart needs at least 3 nodes");
        return finish(nodes, out);
    }
    if (!join_everyone(nodes, random, out, duration::milliseconds(5), duration::milliseconds(20),
                       duration::seconds(1))) {
        return finish(nodes, out);
    }

    restart_book book;
    book.incarnation_before.assign(n, 0);
    book.restarted.assign(n, false);
    book.pending.assign(n, false);
    const instant faults_end = nodes.now() + values.main_phase;
    while (!nodes.failed() && nodes.now() < faults_end) {
        crash_some(nodes, random, book);
        const instant next_round = min(
            faults_end, nodes.now() + uniform(random, duration::seconds(3), duration::seconds(8)));
        run_due_restarts(nodes, random, book, next_round);
    }
    while (!nodes.failed() && !book.queue.empty()) {
        run_due_restarts(nodes, random, book, nodes.now() + duration::seconds(1));
    }
    if (nodes.failed()) {
        return finish(nodes, out);
    }
    const std::size_t restarts = book.short_downtimes + book.long_downtimes;
    out.line("  {} crash-restarts ({} back within 1.5 s, {} after 8-20 s down); all up again at "
             "{:.2f} s",
             restarts, book.short_downtimes, book.long_downtimes, nodes.now().ns() / 1e9);

    const instant liveness_at = nodes.now();
    const auto settled = nodes.run_until(liveness_at + liveness_limit, duration::milliseconds(100),
                                         [&] {
                                             return nodes.converged() &&
                                                    !incarnation_lag(nodes, book);
                                         });
    if (!settled) {
        if (!nodes.converged()) {
            fail_not_converged(nodes, "after the last restart", liveness_limit);
        } else if (!nodes.failed()) {
            nodes.fail("a restarted node is not seen at a higher incarnation " +
                       seconds_text(liveness_limit) + " after the last restart: " +
                       incarnation_lag(nodes, book).value_or(""));
        }
        return finish(nodes, out);
    }
    std::size_t shown = 0;
    for (node_index node = 0; node < n && shown < 5; ++node) {
        if (book.restarted[node]) {
            out.line("    node {}: incarnation {} before its last crash, {} now ({} lives)", node,
                     book.incarnation_before[node], nodes.swim_of(node)->incarnation(),
                     nodes.lives(node));
            ++shown;
        }
    }
    out.line("  every restarted node is seen alive at a higher incarnation by every member, and "
             "every view converged, {:.3f} s after the last restart",
             (*settled - liveness_at).sec());
    return finish(nodes, out);
}

} // namespace

scenario restart_scenario() {
    return scenario{"restart",
                    "nodes crash and restart (some before detection, some after); each must be "
                    "seen alive again at a higher incarnation by every member",
                    50, 60.0, 0.0, &run_restart};
}

} // namespace reef::sim::detail
