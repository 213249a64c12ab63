#pragma once
// Helpers the scenarios share: the report printer, cluster set-up, waiting for convergence,
// distributions and the closing summary. Internal to sim/.
//
// Thread-safety: none.

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "reef/base/ids.hpp"
#include "reef/base/prng.hpp"
#include "reef/base/time.hpp"
#include "sim/cluster.hpp"
#include "sim/scenario.hpp"

namespace reef::sim::detail {

/// The human report; prints nothing when constructed with nullptr (quiet runs).
class report {
public:
    explicit report(std::FILE* out) : out_(out) {}

    template <typename... Args>
    void line(fmt::format_string<Args...> format, Args&&... args) {
        if (out_ != nullptr) {
            fmt::print(out_, format, std::forward<Args>(args)...);
            fmt::print(out_, "\n");
            std::fflush(out_);
        }
    }

private:
    std::FILE* out_;
};

/// The values a run uses: the caller's when given, else the scenario's defaults.
struct effective {
    std::size_t nodes_count = 0;
    duration main_phase;
    double loss = 0.0;
};
effective effective_of(const scenario_options& options, const scenario& defaults);

/// Cluster options for a run: seed, size, loss, LAN latency, CPU cost, invariant checks.
cluster_options cluster_options_for(const scenario_options& options, std::size_t nodes_count,
                                    double loss, duration cpu_cost);

/// Start node 0, then every other node after a uniform [stagger_min, stagger_max] pause, each
/// joining through node 0's address. Returns false when a violation stopped the run.
bool start_staggered(cluster& nodes, prng& random, duration stagger_min, duration stagger_max);

/// Run until every member sees every member alive and everything else dead, left or unknown;
/// the instant it happened, or nothing when `limit` passed first (or a violation stopped the run).
std::optional<instant> await_convergence(cluster& nodes, duration limit, duration poll);

/// Fail the run because the views did not converge, naming a few disagreements.
void fail_not_converged(cluster& nodes, std::string_view phase, duration limit);

/// await_convergence, failing the run (fail_not_converged with `phase`) when it does not happen.
std::optional<instant> converge_or_fail(cluster& nodes, std::string_view phase, duration limit,
                                        duration poll);

/// The opening of most scenarios: start_staggered, then wait up to 600 s for every view to
/// converge and report when (`note` is appended to that line). False when the run failed.
bool join_everyone(cluster& nodes, prng& random, report& out, duration stagger_min,
                   duration stagger_max, duration poll, std::string_view note = {});

/// Dead or left: the states in which a view no longer counts a member as part of the cluster.
bool is_down(membership::member_state state);

/// Fail the run because `observer` declared the live node `target` down (`note` follows the
/// target's number, e.g. " (the slow node)").
void fail_false_death(cluster& nodes, node_index observer, node_index target,
                      const membership::member_update& update, std::string_view note = {});

/// Sorted samples in seconds.
class distribution {
public:
    void add(double seconds) { samples_.push_back(seconds); }
    void seal();
    bool empty() const { return samples_.empty(); }
    std::size_t size() const { return samples_.size(); }
    /// Nearest-rank quantile, q in [0, 1]. Requires seal().
    double quantile(double q) const;
    double max() const;
    double mean() const;
    const std::vector<double>& samples() const { return samples_; }

private:
    std::vector<double> samples_;
    bool sealed_ = false;
};

void print_quantiles(report& out, std::string_view label, const distribution& values);
/// A small text histogram with `buckets` equal-width buckets from 0 to max.
void print_histogram(report& out, const distribution& values, std::size_t buckets);

/// Close a run: cross-check the mirrored views against every swim, check the cluster's own
/// invariants, print traffic totals and fill in the result (ok, failure, hash).
scenario_result finish(cluster& nodes, report& out);

/// Join addresses for a (re)starting node, as an operator would configure them: node 0 (the
/// cluster's usual --join address) when it is a member, plus up to two other random members.
std::vector<node_index> live_seeds(const cluster& nodes, prng& random, node_index joining);

/// Every node of the cluster, 0..size-1.
std::vector<node_index> all_nodes(const cluster& nodes);

/// Distinct nodes drawn uniformly from `candidates` (order of the draw).
std::vector<node_index> pick(prng& random, std::vector<node_index> candidates, std::size_t count);

/// A uniformly random 256-bit id (also usable as a key seed).
id256 random_id(prng& random);

/// Uniform duration in [low, high].
duration uniform(prng& random, duration low, duration high);

std::string seconds_text(duration value);

} // namespace reef::sim::detail
