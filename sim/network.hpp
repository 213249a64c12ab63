#pragma once
// The simulated network: per-message latency, loss, reordering, partitions and one-way link cuts.
//
// Thread-safety: none. Deterministic: every random choice comes from the network's own prng
// (seeded by the run) or from a hash of the run seed and the link, so the same sequence of calls
// gives the same fates.
//
// Fault model (docs/design/simulation.md):
//  - latency: every directed link has its own median, drawn once from the link's hash around the
//    network median (LAN: ~0.3 ms); each message then draws a log-normal jitter around it, and
//    with a small probability a long-tail extra delay (exponential, capped at tens of ms);
//  - loss: each message is lost independently with probability `loss`;
//  - reorder: with probability `reorder_probability` a message gets an extra uniform delay in
//    [0, reorder_max], so it overtakes or is overtaken by its neighbours;
//  - partition: every node has a side (0 by default); nodes on different sides cannot exchange
//    messages in either direction, including messages already in flight;
//  - cut: a one-way link from -> to drops everything in that direction only.
// Invariants: loss and reorder probabilities are in [0, 1]; at most cuts_max cuts exist.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "reef/base/prng.hpp"
#include "reef/base/time.hpp"
#include "sim/scheduler.hpp"

namespace reef::sim {

struct latency_options {
    /// Median one-way latency across all links (LAN).
    duration median = duration::microseconds(300);
    /// Spread of the per-link medians: sigma of ln(link median / median).
    double link_spread = 0.3;
    /// Per-message jitter: sigma of ln(latency / link median).
    double jitter = 0.35;
    /// Probability that a message also gets a long-tail delay.
    double tail_probability = 0.01;
    /// Mean of the (exponential) long-tail delay.
    duration tail_mean = duration::milliseconds(4);
    /// The long-tail delay never exceeds this.
    duration tail_max = duration::milliseconds(40);
    /// No message is faster than this.
    duration floor = duration::microseconds(30);
};

struct network_options {
    latency_options latency;
    double loss = 0.0;
    double reorder_probability = 0.0;
    duration reorder_max = duration::milliseconds(10);
    std::size_t cuts_max = 1U << 16U;
};

struct network_stats {
    std::uint64_t sent = 0;
    std::uint64_t lost = 0;
    std::uint64_t reordered = 0;
    std::uint64_t blocked = 0; // dropped by a partition or a cut
};

class network {
public:
    network(std::size_t nodes_count, std::uint64_t seed, const network_options& options);

    /// The fate of one message sent at `now` from `from` to `to`: nothing when it is lost, else
    /// the instant it reaches `to` (partitions and cuts are checked at arrival, see reachable()).
    std::optional<instant> send(instant now, node_index from, node_index to);
    /// False while a partition or a cut stops messages from `from` to `to`.
    bool reachable(node_index from, node_index to) const;
    /// Record a message that arrived but was stopped by a partition or a cut.
    void count_blocked() { ++stats_.blocked; }

    /// The median latency of the directed link (fixed for the run).
    duration link_median(node_index from, node_index to) const;

    /// Put `nodes` on side `side`; nodes on different sides cannot talk. Side 0 is the default.
    void set_side(std::span<const node_index> nodes, std::uint16_t side);
    std::uint16_t side(node_index node) const;
    /// Cut the one-way link from -> to. False when cuts_max cuts already exist.
    [[nodiscard]] bool cut(node_index from, node_index to);
    void uncut(node_index from, node_index to);
    std::size_t cuts_count() const { return cuts_.size(); }
    /// Remove every partition and cut (loss and latency stay).
    void heal();

    void set_loss(double loss);
    double loss() const { return options_.loss; }
    void set_reorder(double probability, duration max_extra);

    const network_stats& stats() const { return stats_; }
    std::size_t nodes_count() const { return sides_.size(); }

    void check_invariants() const;

private:
    duration sample_latency(node_index from, node_index to);
    static std::uint64_t link_key(node_index from, node_index to);

    network_options options_;
    prng random_;
    std::uint64_t link_seed_;
    std::vector<std::uint16_t> sides_;
    bool partitioned_ = false;
    std::set<std::uint64_t> cuts_;
    network_stats stats_;
};

} // namespace reef::sim
