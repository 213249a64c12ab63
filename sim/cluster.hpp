#pragma once
// A whole cluster of membership state machines (the real reef::membership::swim) on a virtual
// clock and a simulated network, driven the way reefd drives one: deliver a message
// (on_message), fire the one timer when next_deadline() arrives (on_tick), drain the effects
// (sends become network deliveries, member changes are recorded), check invariants, re-arm.
//
// Thread-safety: none; one run is one thread.
//
// Each node has a simulated CPU: every input it handles (a message or a tick) costs
// cpu_cost * slow factor, and inputs queue FIFO behind each other, so a slow node falls behind the
// way a CPU-starved one does. The queue is bounded (inbox_max); a full inbox drops new messages
// the way a full socket buffer does.
//
// Crash: the node stops. Its swim instance is destroyed, its queued inputs and timer are dropped
// and messages that reach it are dropped silently (a dead machine answers nothing). Restart: a new
// swim instance for the same id and address, whose incarnation is the value on the node's
// simulated disk + 1 (written and fsynced before joining, as reefd does; reefd also persists every
// incarnation a refutation raises before sending it, see persist_incarnation_changes).
//
// The cluster mirrors every node's view from its member_changed effects (a dense n x n table) so
// checkers can ask "what does A think of B" in O(1), and cross-checks that mirror against
// swim::members() in verify_views().
//
// Invariants checked after every step (a violation stops the run and is reported with the seed):
//  - swim::check_invariants() of the node that just ran;
//  - a node's own incarnation never decreases within one life;
//  - nobody learns an incarnation for member X higher than any X has used (nobody invents one);
//  - every member a node reports is a node of this cluster;
//  - member_changed.previous matches the state the node reported before (or is_new);
//  - a message never carries more than config::gossip_per_message_max gossip updates, and a sync
//    never more than config::members_max members;
//  - the event queue and the in-flight message table stay within their bounds.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/prng.hpp"
#include "reef/base/time.hpp"
#include "reef/membership/config.hpp"
#include "reef/membership/swim.hpp"
#include "sim/disk.hpp"
#include "sim/network.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace reef::sim {

struct cluster_options {
    std::size_t nodes_count = 0;
    std::uint64_t seed = 0;
    membership::config swim_limits;
    network_options network;
    /// Base processing time of one input (message or tick); a slow node's is this * its factor.
    duration cpu_cost = duration::microseconds(20);
    /// Inputs waiting for one node's CPU; beyond it new messages are dropped.
    std::size_t inbox_max = 4096;
    /// Events queued in the whole simulation (messages in flight + queued inputs).
    std::size_t events_max = std::size_t{1} << 23U;
    /// Run swim::check_invariants() after every input.
    bool check_invariants = true;
    /// Persist every incarnation the node raises (a refutation), as reefd does through
    /// node::persist_incarnation: stored and fsynced before the sends that carry it go out, so
    /// no crash can separate them. When false only the bump at start is persisted, and a restart
    /// may reuse an incarnation a refutation already announced.
    bool persist_incarnation_changes = true;
    /// When set, every event is logged here as one text line.
    std::FILE* event_log = nullptr;
};

struct cluster_stats {
    std::uint64_t events = 0;
    std::uint64_t messages_sent = 0;
    std::uint64_t messages_delivered = 0;
    std::uint64_t messages_to_down_nodes = 0;
    std::uint64_t messages_unroutable = 0; // unknown address or id mismatch at the address
    std::uint64_t messages_to_self = 0;
    std::uint64_t inbox_overflows = 0;
    std::uint64_t ticks = 0;
    std::uint64_t member_changes = 0;
    std::uint64_t crashes = 0;
    std::uint64_t starts = 0;
    std::uint64_t in_flight_max = 0;
};

/// Per-node CPU accounting (for reports about slow nodes).
struct cpu_stats {
    duration busy;
    duration queue_delay_max;
    std::uint64_t inputs = 0;
};

/// What one node currently believes about another, from its member_changed stream.
struct view_entry {
    std::optional<membership::member_state> state; // nothing = not known to the observer
    std::uint64_t incarnation = 0;
};

class cluster {
public:
    /// Called for every member_changed effect, after the mirror is updated.
    using change_observer = std::function<void(instant now, node_index observer,
                                               node_index target,
                                               const membership::member_changed& change)>;

    explicit cluster(const cluster_options& options);
    ~cluster();
    cluster(const cluster&) = delete;
    cluster& operator=(const cluster&) = delete;

    std::size_t size() const { return nodes_.size(); }
    instant now() const { return scheduler_.now(); }
    const node_id& id(node_index node) const;
    const std::string& address(node_index node) const;
    std::optional<node_index> index_of(const node_id& id) const;
    bool is_up(node_index node) const;
    /// Up and has not announced a graceful leave.
    bool is_member(node_index node) const;
    std::size_t up_count() const { return up_count_; }
    /// The node's current swim instance; null while it is down.
    const membership::swim* swim_of(node_index node) const;
    std::uint64_t lives(node_index node) const;
    /// The highest incarnation any life of `node` has used.
    std::uint64_t incarnation_max(node_index node) const;
    network& net() { return network_; }
    const network& net() const { return network_; }
    const cpu_stats& cpu(node_index node) const;
    /// Processing time of one input on `node` (cpu_cost * its slow factor).
    duration input_cost(node_index node) const;
    const sim_disk& disk(node_index node) const;

    /// Start `node` (first start or restart after a crash) and join through the addresses of
    /// `seeds` (none: it is the first node).
    void start(node_index node, std::span<const node_index> seeds);
    /// Kill the machine: no more ticks, inbound messages are dropped silently.
    void crash(node_index node);
    /// Graceful leave: swim::leave now; the node keeps running until it is crashed (stopped).
    void leave(node_index node);
    /// Every input of `node` costs cpu_cost * factor from now on.
    void set_slow(node_index node, double factor);
    double slow_factor(node_index node) const;

    /// Process every event due at or before `end`; the clock ends at `end` (unless a violation
    /// stopped the run).
    void run_until(instant end);
    /// Like run_until(end), but evaluates `done` every `poll` and stops at the first poll instant
    /// where it holds; returns that instant, or nothing when `end` came first.
    std::optional<instant> run_until(instant end, duration poll, const std::function<bool()>& done);

    /// What `observer` believes about `target` (from its member_changed stream).
    view_entry view(node_index observer, node_index target) const;
    /// Every member node sees every member node alive, and every other node (down or left) as
    /// dead, left or not at all.
    bool converged() const;
    /// Up to `limit` human-readable disagreements that stop converged() ("A sees B suspect").
    std::vector<std::string> disagreements(std::size_t limit) const;
    /// O(n^2): compare the mirrored views with swim::members() of every up node; a difference is a
    /// violation (the member_changed stream and the table disagree).
    void verify_views();

    void add_observer(change_observer observer);

    /// A checker found a violation: the run stops at the next step and the reason is kept.
    void fail(std::string reason);
    bool failed() const { return failure_.has_value(); }
    const std::string& failure() const;

    std::uint64_t trace_hash() const { return trace_.value(); }
    const cluster_stats& stats() const { return stats_; }
    /// Sum of swim_stats over the current lives of all up nodes, plus every crashed life's.
    membership::swim_stats swim_totals() const;

    void check_invariants() const;

private:
    static constexpr std::uint32_t payload_tick = 0xffffffffU;

    struct node_slot {
        node_id id;
        std::string address;
        std::unique_ptr<membership::swim> swim;
        std::uint32_t life = 0;
        bool up = false;
        bool left = false;
        double slow_factor = 1.0;
        instant cpu_free;
        std::size_t queued = 0;
        bool tick_queued = false;
        instant last_tick;
        std::uint32_t ticks_at_last_tick = 0;
        std::uint64_t incarnation_now = 0;
        std::uint64_t incarnation_max = 0;
        std::uint64_t lives = 0;
        sim_disk disk;
        cpu_stats cpu;
    };

    struct in_flight {
        node_index from = 0;
        node_index to = 0;
        membership::message body;
    };

    void make_identities();
    void handle_arrive(const event& item);
    void handle_process(const event& item);
    void handle_timer(node_index node);
    bool enqueue_input(node_index node, std::uint32_t payload);
    void after_input(node_index node);
    void route(node_index from, membership::send_effect&& send);
    void record_change(node_index observer, const membership::member_changed& change);
    void note_incarnation(node_index node);
    void rearm(node_index node);
    bool check_message_bounds(node_index from, const membership::message& body);
    std::optional<node_index> resolve(const membership::send_effect& send);
    std::uint32_t store(in_flight&& message);
    in_flight release(std::uint32_t payload);
    void reset_view_row(node_index observer);
    void log_event(const char* what, node_index from, node_index to, std::uint8_t kind);
    void log_delivery(const in_flight& message);
    std::size_t cell(node_index observer, node_index target) const;

    cluster_options options_;
    prng random_;
    scheduler scheduler_;
    network network_;
    std::vector<node_slot> nodes_;
    std::unordered_map<node_id, node_index, id256_hash> index_by_id_;
    std::unordered_map<std::string, node_index> index_by_address_;
    std::vector<in_flight> payloads_;
    std::vector<std::uint32_t> payloads_free_;
    std::size_t in_flight_count_ = 0;
    // Mirrored views: view_state_[observer * n + target] (view_unknown = not known).
    std::vector<std::uint8_t> view_state_;
    std::vector<std::uint64_t> view_incarnation_;
    std::vector<change_observer> observers_;
    std::size_t up_count_ = 0;
    membership::swim_stats retired_stats_; // summed stats of lives that ended
    trace_hasher trace_;
    cluster_stats stats_;
    std::optional<std::string> failure_;
};

} // namespace reef::sim
