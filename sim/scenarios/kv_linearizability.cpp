// Scenario `kv-linearizability`: replicated kv registers (replica::group + replica::kv) on N
// simulated nodes, each key served by the R = 3 nodes closest to it, driven by clients while
// nodes crash (losing every write not yet synced), restart from their storage, get cut off by
// partitions and lose or reorder messages. Every client operation is recorded with its virtual
// invocation and completion times; the history must be linearizable (sim/checkers/
// linearizability.hpp). After the faults stop, every key must serve again (liveness).
// docs/design/replica.md ("Simulation") describes it.
//
// The driver is what reefd's will be: one storage per node, every group's persist effects staged
// and synced once per input before the sends that follow them (group commit), one timer per node
// (the earliest deadline of its groups: idle groups have none), and membership's verdicts
// (on_member_down) after a detection delay.

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "reef/base/assert.hpp"
#include "reef/base/prng.hpp"
#include "reef/replica/group.hpp"
#include "reef/replica/kv.hpp"
#include "sim/checkers/linearizability.hpp"
#include "sim/network.hpp"
#include "sim/replica_storage.hpp"
#include "sim/scenarios/common.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace reef::sim::detail {

namespace {

constexpr std::size_t group_size = 3;
constexpr std::size_t keys_count = 6;
constexpr std::size_t clients_per_key = 3;
constexpr duration client_timeout = duration::seconds(3);
constexpr duration client_think_max = duration::milliseconds(60);
constexpr duration detection_delay = duration::milliseconds(800);
constexpr duration liveness_phase = duration::seconds(20);
constexpr std::size_t events_max = std::size_t{1} << 20U;

/// A message between the members of one group.
struct in_transit {
    node_index from = 0;
    node_index to = 0;
    std::size_t key = 0;
    replica::message body;
};

/// One key's group as seen on one node.
struct replica_slot {
    std::unique_ptr<replica::group> core;
    replica::kv::register_state app;
    std::uint64_t applied_index = 0; // the last entry the app applied (for snapshots)
    std::uint64_t applied_epoch = 0; // and its epoch
};

struct node_state {
    bool up = true;
    replica_storage storage;
    std::map<std::size_t, replica_slot> slots; // key -> this node's replica
};

/// A client's operation in flight.
struct call {
    std::size_t key = 0;
    std::uint64_t client = 0;
    replica::request_id request;
    replica::kv::command body;
    std::int64_t invoked_ns = 0;
    instant give_up;
    node_index target = 0;
    std::optional<std::uint64_t> index; // where the target accepted it
    bool active = false;
};

class kv_run {
public:
    kv_run(const scenario_options& options, std::size_t nodes_count)
        : options_(options), random_(options.seed ^ 0x6b762d6c696eULL),
          network_(nodes_count, options.seed, network_options{}),
          scheduler_(nodes_count + 1, events_max), nodes_(nodes_count) {
        std::vector<node_id> ids;
        for (std::size_t i = 0; i < nodes_count; ++i) {
            ids.push_back(random_id(random_));
        }
        for (std::size_t key = 0; key < keys_count; ++key) {
            const replica::group_id group = random_id(random_);
            std::vector<node_index> order(nodes_count);
            for (std::size_t i = 0; i < nodes_count; ++i) {
                order[i] = static_cast<node_index>(i);
            }
            std::sort(order.begin(), order.end(), [&](node_index a, node_index b) {
                return ids[a].distance_to(group) < ids[b].distance_to(group);
            });
            order.resize(std::min(group_size, nodes_count));
            std::sort(order.begin(), order.end(),
                      [&](node_index a, node_index b) { return ids[a] < ids[b]; });
            groups_.push_back(group);
            members_.push_back(order);
        }
        ids_ = std::move(ids);
        limits_.log_retained_max = 32; // exercise snapshots and catch-up from them
        for (std::size_t i = 0; i < nodes_count; ++i) {
            start_node(static_cast<node_index>(i));
        }
        for (std::size_t key = 0; key < keys_count; ++key) {
            for (std::size_t c = 0; c < clients_per_key; ++c) {
                calls_.push_back(call{key, calls_.size() + 1, {}, {}, 0, {}, 0, {}, false});
            }
        }
    }

    instant now() const { return scheduler_.now(); }
    std::size_t nodes_count() const { return nodes_.size(); }
    std::uint64_t events() const { return events_; }
    trace_hasher& trace() { return trace_; }
    prng& random() { return random_; }
    network& net() { return network_; }
    bool up(node_index node) const { return nodes_[node].up; }
    const std::vector<checkers::kv_operation>& history() const { return history_; }
    std::size_t completed_since(std::int64_t ns) const {
        return static_cast<std::size_t>(std::count_if(
            history_.begin(), history_.end(), [&](const checkers::kv_operation& op) {
                return op.status == checkers::kv_status::ok && op.invoked_ns >= ns;
            }));
    }
    /// Keys with at least one ok operation invoked at or after `ns`.
    std::set<std::string> keys_served_since(std::int64_t ns) const {
        std::set<std::string> served;
        for (const auto& op : history_) {
            if (op.status == checkers::kv_status::ok && op.invoked_ns >= ns) {
                served.insert(op.key);
            }
        }
        return served;
    }

    void crash(node_index node) {
        auto& state = nodes_[node];
        if (!state.up) {
            return;
        }
        state.up = false;
        state.storage.crash();
        state.slots.clear();
        scheduler_.cancel_timer(node);
        trace_.add_u64(0xdead0000ULL + node);
        for (node_index other = 0; other < nodes_.size(); ++other) {
            if (other != node) {
                schedule_down_notice(other, node);
            }
        }
    }

    void start_node(node_index node) {
        auto& state = nodes_[node];
        state.up = true;
        for (std::size_t key = 0; key < groups_.size(); ++key) {
            const auto& members = members_[key];
            if (std::find(members.begin(), members.end(), node) == members.end()) {
                continue;
            }
            auto loaded = state.storage.load(groups_[key]);
            REEF_ASSERT(loaded.ok());
            std::vector<node_id> member_ids;
            for (node_index m : members) {
                member_ids.push_back(ids_[m]);
            }
            auto& slot = state.slots[key];
            slot.app = replica::kv::register_state{};
            slot.core = std::make_unique<replica::group>(limits_, groups_[key], ids_[node],
                                                         member_ids, *loaded, random_.next_u64(),
                                                         now());
        }
        for (auto& [key, slot] : state.slots) {
            drain(node, key);
        }
        arm(node);
    }

    /// Membership on `observer` declares `down` dead after the detection delay, if it still is.
    void schedule_down_notice(node_index observer, node_index down) {
        notices_.push_back({now() + detection_delay, observer, down});
    }

    /// Nodes on the other side of a partition look dead to each other after the delay too.
    void notice_partition() {
        for (node_index a = 0; a < nodes_.size(); ++a) {
            for (node_index b = 0; b < nodes_.size(); ++b) {
                if (a != b && !network_.reachable(a, b)) {
                    schedule_down_notice(a, b);
                }
            }
        }
    }

    /// Run the world until `limit`, starting client calls while `clients_on`.
    void run_until(instant limit, bool clients_on) {
        while (true) {
            const instant next_notice = next_notice_at();
            const instant next_client = clients_on ? next_client_at() : instant::never();
            const instant soonest = std::min({next_notice, next_client, limit});
            if (auto next = scheduler_.pop_until(soonest)) {
                ++events_;
                if (next->is_timer) {
                    tick(next->timer.node);
                } else {
                    deliver(next->item.payload);
                }
                continue;
            }
            if (soonest >= limit) {
                scheduler_.advance_to(limit);
                return;
            }
            scheduler_.advance_to(soonest);
            run_notices();
            if (clients_on) {
                run_clients();
            }
        }
    }

    /// Calls still in flight when the run ends are recorded as unknown.
    void close_history() {
        for (auto& open : calls_) {
            if (open.active) {
                record(open, checkers::kv_status::unknown, std::nullopt);
            }
        }
    }

private:
    struct notice {
        instant at;
        node_index observer = 0;
        node_index down = 0;
    };

    instant next_notice_at() const {
        instant earliest = instant::never();
        for (const auto& pending : notices_) {
            earliest = std::min(earliest, pending.at);
        }
        return earliest;
    }

    instant next_client_at() const {
        instant earliest = instant::never();
        for (const auto& client : calls_) {
            earliest = std::min(earliest, client.give_up);
        }
        return earliest;
    }

    void run_notices() {
        std::vector<notice> due;
        std::erase_if(notices_, [&](const notice& pending) {
            if (pending.at <= now()) {
                due.push_back(pending);
                return true;
            }
            return false;
        });
        for (const auto& pending : due) {
            auto& observer = nodes_[pending.observer];
            const bool still_down =
                !nodes_[pending.down].up || !network_.reachable(pending.observer, pending.down);
            if (!observer.up || !still_down) {
                continue;
            }
            for (auto& [key, slot] : observer.slots) {
                slot.core->on_member_down(now(), ids_[pending.down]);
                drain(pending.observer, key);
            }
            arm(pending.observer);
        }
    }

    void run_clients() {
        for (auto& client : calls_) {
            if (client.give_up > now()) {
                continue;
            }
            if (client.active) {
                // No answer in time: the outcome is unknown; a new operation follows.
                record(client, checkers::kv_status::unknown, std::nullopt);
            }
            begin_call(client);
        }
    }

    void begin_call(call& client) {
        const std::uint64_t draw = random_.next_u64() % 100;
        const auto number = std::to_string(random_.next_u64() % 20);
        if (draw < 30) {
            client.body = replica::kv::get{};
        } else if (draw < 50) {
            client.body = replica::kv::put{number};
        } else if (draw < 70) {
            client.body = replica::kv::cas{
                random_.next_u64() % 4 == 0 ? std::nullopt : std::optional<std::string>(number),
                std::to_string(random_.next_u64() % 20)};
        } else {
            client.body = replica::kv::incr{1};
        }
        client.request = replica::request_id{client.client, client.request.sequence + 1};
        client.invoked_ns = now().ns();
        client.give_up = now() + client_timeout;
        client.active = true;
        client.target = members_[client.key][random_.next_u64() % members_[client.key].size()];
        client.index.reset();
        submit(client);
    }

    /// Offer the call to its target; a follower names its leader and the call follows it.
    void submit(call& client) {
        for (int hop = 0; hop < 4; ++hop) {
            auto& node = nodes_[client.target];
            if (!node.up) {
                return; // lost; the client waits and gives up
            }
            auto& slot = node.slots.at(client.key);
            auto index = slot.core->submit(now(), client.request,
                                           replica::kv::encode_command(client.body));
            drain(client.target, client.key);
            arm(client.target);
            if (index.ok()) {
                client.index = *index;
                return;
            }
            const node_index leader = index_of(slot.core->leader());
            if (leader == client.target || index.failure().code != errc::failed_precondition) {
                return; // no leader yet (or overloaded): retried when the call times out
            }
            client.target = leader;
        }
    }

    node_index index_of(const node_id& id) const {
        return static_cast<node_index>(std::find(ids_.begin(), ids_.end(), id) - ids_.begin());
    }

    void record(call& client, checkers::kv_status status,
                const std::optional<replica::kv::answer>& reply) {
        checkers::kv_operation op;
        op.client = client.client;
        op.key = fmt::format("k{}", client.key);
        op.invoked_ns = client.invoked_ns;
        op.completed_ns = now().ns();
        op.status = status;
        if (const auto* written = std::get_if<replica::kv::put>(&client.body)) {
            op.kind = checkers::kv_kind::put;
            op.argument = written->value;
        } else if (const auto* swap = std::get_if<replica::kv::cas>(&client.body)) {
            op.kind = checkers::kv_kind::cas;
            op.expected = swap->expected;
            op.argument = swap->value;
            op.cas_succeeded = reply && reply->ok;
        } else if (const auto* add = std::get_if<replica::kv::incr>(&client.body)) {
            op.kind = checkers::kv_kind::incr;
            op.delta = add->delta;
            if (reply) {
                op.output = reply->value;
            }
        } else {
            op.kind = checkers::kv_kind::get;
            if (reply) {
                op.output = reply->value;
            }
        }
        history_.push_back(std::move(op));
        trace_.add_u64(client.client);
        trace_.add_u64(static_cast<std::uint64_t>(status));
        client.active = false;
        client.give_up = now() + client_think_max.scaled(random_.unit());
    }

    /// Execute a group's effects: stage persists, sync once, then sends and applies in order.
    void drain(node_index node, std::size_t key) {
        auto& state = nodes_[node];
        auto found = state.slots.find(key);
        if (found == state.slots.end()) {
            return;
        }
        auto& slot = found->second;
        const replica::group_id& group = groups_[key];
        auto produced = slot.core->take_effects();
        for (const auto& one : produced) {
            if (const auto* promised = std::get_if<replica::persist_promise>(&one)) {
                state.storage.save_promise(group, promised->epoch, promised->members);
            } else if (const auto* entries = std::get_if<replica::persist_entries>(&one)) {
                state.storage.append(group, entries->entries);
            } else if (const auto* committed = std::get_if<replica::persist_commit>(&one)) {
                state.storage.save_commit(group, committed->commit_index);
            } else if (const auto* base = std::get_if<replica::persist_snapshot>(&one)) {
                state.storage.save_snapshot(group, base->base);
            }
        }
        REEF_ASSERT(state.storage.sync().ok());
        bool compaction_due = false;
        for (auto& one : produced) {
            if (auto* out = std::get_if<replica::send>(&one)) {
                send_message(node, index_of(out->to), key, std::move(out->body));
            } else if (const auto* applied = std::get_if<replica::apply>(&one)) {
                const auto reply = slot.app.apply(applied->committed);
                slot.applied_index = applied->committed.index;
                slot.applied_epoch = applied->committed.epoch;
                answer_clients(node, key, applied->committed, reply);
            } else if (const auto* base = std::get_if<replica::install_snapshot>(&one)) {
                auto restored = replica::kv::register_state::deserialize(base->base.state);
                REEF_ASSERT(restored.ok());
                slot.app = std::move(*restored);
                slot.applied_index = base->base.last_index;
                slot.applied_epoch = base->base.last_epoch;
            } else if (std::holds_alternative<replica::compaction_due>(one)) {
                compaction_due = true;
            }
        }
        if (compaction_due) {
            // The snapshot is the app's state after everything this batch applied; its persist
            // effect is drained with the next input.
            slot.core->compact(replica::snapshot{slot.applied_index, slot.applied_epoch,
                                                 slot.app.serialize()});
        }
    }

    void answer_clients(node_index node, std::size_t key, const replica::entry& applied,
                        const replica::kv::answer& reply) {
        for (auto& client : calls_) {
            if (client.active && client.key == key && client.target == node && client.index &&
                *client.index == applied.index) {
                if (applied.request == client.request) {
                    record(client, checkers::kv_status::ok, reply);
                } else {
                    client.index.reset(); // overwritten by a new leader: try again
                    client.target = index_of(nodes_[node].slots.at(key).core->leader());
                    submit(client);
                }
            }
        }
    }

    void send_message(node_index from, node_index to, std::size_t key, replica::message body) {
        const auto arrival = network_.send(now(), from, to);
        if (!arrival) {
            return;
        }
        std::uint32_t slot_index = 0;
        if (!free_.empty()) {
            slot_index = free_.back();
            free_.pop_back();
        } else {
            slot_index = static_cast<std::uint32_t>(wire_.size());
            wire_.emplace_back();
        }
        wire_[slot_index] = in_transit{from, to, key, std::move(body)};
        const bool queued =
            scheduler_.schedule(*arrival, event_kind::arrive, to, 0, slot_index);
        REEF_ASSERT(queued);
    }

    void deliver(std::uint32_t slot_index) {
        in_transit item = std::move(wire_[slot_index]);
        free_.push_back(slot_index);
        trace_.add_u64((static_cast<std::uint64_t>(item.from) << 32U) | item.to);
        trace_.add_u64(static_cast<std::uint64_t>(now().ns()));
        auto& state = nodes_[item.to];
        if (!state.up || !network_.reachable(item.from, item.to)) {
            return;
        }
        auto found = state.slots.find(item.key);
        if (found == state.slots.end()) {
            return;
        }
        found->second.core->on_message(now(), ids_[item.from], item.body);
        drain(item.to, item.key);
        if (options_.check_invariants) {
            found->second.core->check_invariants();
        }
        arm(item.to);
    }

    void tick(node_index node) {
        auto& state = nodes_[node];
        if (!state.up) {
            return;
        }
        for (auto& [key, slot] : state.slots) {
            if (slot.core->next_deadline() <= now()) {
                slot.core->on_tick(now());
                drain(node, key);
            }
        }
        arm(node);
    }

    /// One timer per node: the earliest deadline of its groups (idle groups have none).
    void arm(node_index node) {
        instant earliest = instant::never();
        for (const auto& [key, slot] : nodes_[node].slots) {
            earliest = std::min(earliest, slot.core->next_deadline());
        }
        if (earliest == instant::never()) {
            scheduler_.cancel_timer(node);
        } else {
            scheduler_.arm_timer(node, std::max(earliest, now()));
        }
    }

    const scenario_options& options_;
    prng random_;
    network network_;
    scheduler scheduler_;
    std::vector<node_state> nodes_;
    std::vector<node_id> ids_;
    std::vector<replica::group_id> groups_;
    std::vector<std::vector<node_index>> members_;
    replica::group_config limits_;
    std::vector<call> calls_;
    std::vector<notice> notices_;
    std::vector<in_transit> wire_;
    std::vector<std::uint32_t> free_;
    std::vector<checkers::kv_operation> history_;
    trace_hasher trace_;
    std::uint64_t events_ = 0;
};

scenario_result run_kv_linearizability(const scenario_options& options) {
    scenario_result outcome;
    const auto chosen = effective_of(options, kv_linearizability_scenario());
    report out(options.out);
    kv_run run(options, chosen.nodes_count);
    prng faults(options.seed ^ 0x6661756c7473ULL);
    run.net().set_loss(chosen.loss);
    run.net().set_reorder(0.1, duration::milliseconds(5));
    out.line("kv-linearizability: {} nodes, {} keys x {} clients, seed {}, {:.0f} s of faults, "
             "loss {:.3f}",
             chosen.nodes_count, keys_count, clients_per_key, options.seed,
             chosen.main_phase.sec(), chosen.loss);

    // Faults: every 0.5-2 s one of crash, restart, partition (one node alone), heal.
    const instant faults_end = run.now() + chosen.main_phase;
    std::size_t crashes = 0;
    std::size_t partitions = 0;
    while (run.now() < faults_end) {
        run.run_until(std::min(faults_end, run.now() + uniform(faults, duration::milliseconds(500),
                                                              duration::seconds(2))),
                      true);
        const auto draw = faults.next_u64() % 4;
        const auto victim = static_cast<node_index>(faults.next_u64() % run.nodes_count());
        if (draw == 0 && run.up(victim)) {
            run.crash(victim);
            ++crashes;
        } else if (draw == 1) {
            for (node_index node = 0; node < run.nodes_count(); ++node) {
                if (!run.up(node)) {
                    run.start_node(node);
                }
            }
        } else if (draw == 2) {
            const node_index alone[] = {victim};
            run.net().heal();
            run.net().set_side(alone, 1);
            run.notice_partition();
            ++partitions;
        } else {
            run.net().heal();
        }
    }

    // Liveness: heal everything; every key must serve again.
    run.net().heal();
    run.net().set_loss(0.0);
    for (node_index node = 0; node < run.nodes_count(); ++node) {
        if (!run.up(node)) {
            run.start_node(node);
        }
    }
    const std::int64_t healed_ns = run.now().ns();
    run.run_until(run.now() + liveness_phase, true);
    run.run_until(run.now() + duration::seconds(5), false);
    run.close_history();

    const auto served = run.keys_served_since(healed_ns + duration::seconds(10).ns());
    std::size_t ok = 0;
    std::size_t unknown = 0;
    for (const auto& op : run.history()) {
        ok += op.status == checkers::kv_status::ok ? 1 : 0;
        unknown += op.status == checkers::kv_status::unknown ? 1 : 0;
    }
    out.line("  {} crashes, {} partitions; {} operations: {} ok, {} unknown", crashes, partitions,
             run.history().size(), ok, unknown);
    out.line("  liveness: {} of {} keys served operations after healing", served.size(),
             keys_count);
    const auto verdict = checkers::check_kv_history(run.history());
    out.line("  linearizability: {} ({} states explored{})",
             verdict.linearizable ? "ok" : "VIOLATED", verdict.states_explored,
             verdict.exhausted ? ", budget exhausted for key " + verdict.key : "");
    if (!verdict.linearizable) {
        outcome.ok = false;
        outcome.failure = "history of key " + verdict.key + " is not linearizable: " +
                          verdict.explanation;
    } else if (verdict.exhausted) {
        outcome.ok = false;
        outcome.failure = "the checker ran out of budget on key " + verdict.key;
    } else if (served.size() != keys_count) {
        outcome.ok = false;
        outcome.failure = fmt::format("only {} of {} keys served after healing", served.size(),
                                      keys_count);
    }
    outcome.trace_hash = run.trace().value();
    outcome.events = run.events();
    outcome.simulated_seconds = run.now().ns() / 1e9;
    return outcome;
}

} // namespace

scenario kv_linearizability_scenario() {
    return scenario{"kv-linearizability",
                    "replicated kv registers on N nodes under crashes (losing unsynced writes), "
                    "restarts, partitions, loss and reordering; the client history must be "
                    "linearizable and every key must serve again after healing",
                    5, 30.0, 0.02, &run_kv_linearizability};
}

} // namespace reef::sim::detail
