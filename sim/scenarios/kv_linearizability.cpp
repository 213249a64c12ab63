// Scenario `kv-linearizability`: replicated kv registers on N simulated nodes, each node running
// the replica::host reefd runs (groups, request forwarding, retries, kv::registers), every
// message through the host codec; each key is served by the R = 3 nodes closest to it, driven by
// clients while
// nodes crash (losing every write not yet synced), restart from their storage, get cut off by
// partitions and lose or reorder messages. Every client operation is recorded with its virtual
// invocation and completion times; the history must be linearizable (sim/checkers/
// linearizability.hpp). After the faults stop, every key must serve again (liveness).
// docs/design/replica.md ("Simulation") describes it.
//
// The driver is what reefd's is: one storage per node, every persist staged and synced once per
// input before the sends that follow them (group commit), one timer per node (the host's
// deadline: idle groups have none), and membership's verdicts (on_member_down) after a detection
// delay. A client submits through a random node; that node's host finds the leader.

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
#include "reef/replica/host.hpp"
#include "reef/replica/host_codec.hpp"
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
/// A client gives up (outcome unknown) a little after the host's own request timeout.
constexpr duration host_request_timeout = duration::seconds(3);
constexpr duration client_timeout = duration::seconds(4);
constexpr duration client_think_max = duration::milliseconds(60);
constexpr duration detection_delay = duration::milliseconds(800);
constexpr duration liveness_phase = duration::seconds(20);
constexpr std::size_t events_max = std::size_t{1} << 20U;

/// Encoded host messages in flight.
struct in_transit {
    node_index from = 0;
    node_index to = 0;
    std::string bytes;
};

struct node_state {
    bool up = true;
    replica_storage storage;
    std::unique_ptr<replica::kv::registers> app;
    std::unique_ptr<replica::host> core;
};

/// A client's operation in flight: submitted through node `via` as that host's request `id`.
struct call {
    std::size_t key = 0;
    std::uint64_t client = 0;
    replica::request_id request;
    replica::kv::command body;
    std::int64_t invoked_ns = 0;
    instant give_up;
    node_index via = 0;
    std::uint64_t id = 0;
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
        limits_.group.log_retained_max = 32; // exercise snapshots and catch-up from them
        limits_.groups_resident_max = 2;     // and eviction, and loading groups back
        limits_.request_timeout = host_request_timeout;
        limits_.retry_interval = duration::milliseconds(300);
        for (std::size_t i = 0; i < nodes_count; ++i) {
            start_node(static_cast<node_index>(i));
        }
        for (std::size_t key = 0; key < keys_count; ++key) {
            for (std::size_t c = 0; c < clients_per_key; ++c) {
                calls_.push_back(call{key, calls_.size() + 1, {}, {}, 0, {}, 0, 0, false});
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
    std::size_t member_changes() const { return member_changes_; }
    /// Groups evicted and loaded back, summed over the nodes' current lives.
    std::pair<std::uint64_t, std::uint64_t> evictions() const {
        std::pair<std::uint64_t, std::uint64_t> total{0, 0};
        for (const auto& state : nodes_) {
            if (state.core) {
                total.first += state.core->stats().groups_evicted;
                total.second += state.core->stats().groups_loaded;
            }
        }
        return total;
    }
    const std::vector<checkers::kv_operation>& history() const { return history_; }
    std::size_t completed_since(std::int64_t ns) const {
        return static_cast<std::size_t>(std::count_if(
            history_.begin(), history_.end(), [&](const checkers::kv_operation& op) {
                return op.status == checkers::kv_status::ok && op.invoked_ns >= ns;
            }));
    }
    /// Keys with at least one ok operation invoked at or after `ns`.
    /// Every node's view of `key`'s group, for a failure message.
    std::string describe_group(std::size_t key) const {
        std::string out;
        for (node_index node = 0; node < nodes_.size(); ++node) {
            const auto& state = nodes_[node];
            out += fmt::format("\n    node {} {}", node, state.up ? "up" : "down");
            const replica::group* core = state.core ? state.core->find(groups_[key]) : nullptr;
            if (core == nullptr) {
                continue;
            }
            std::string set;
            for (const auto& member : core->members()) {
                set += fmt::format("{} ", index_of(member));
            }
            out += fmt::format(" role {} epoch {} leader {} members [ {}] last {} commit {} "
                               "deadline {}",
                               static_cast<int>(core->current_role()), core->epoch(),
                               index_of(core->leader()), set, core->last_index(),
                               core->commit_index(), core->next_deadline().ns());
            for (const auto& member : core->members()) {
                if (auto progress = core->progress_of(member)) {
                    out += fmt::format(" [{}: match {} next {}]", index_of(member),
                                       progress->first, progress->second);
                }
            }
        }
        return out;
    }

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
        state.core.reset();
        state.app.reset();
        for (auto& client : calls_) {
            if (client.active && client.via == node) {
                client.id = 0; // its answer died with the host; ids restart with the next one
            }
        }
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
        state.app = std::make_unique<replica::kv::registers>();
        state.core = std::make_unique<replica::host>(limits_, ids_[node], *state.app,
                                                     random_.next_u64());
        auto stored = state.storage.groups();
        REEF_ASSERT(stored.ok());
        for (const auto& group : *stored) {
            auto loaded = state.storage.load(group);
            REEF_ASSERT(loaded.ok() && loaded->has_value());
            state.core->recover(now(), group, std::move(**loaded));
        }
        state.core->attach_store(state.storage);
        drain(node);
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
            for (const auto& group : observer.core->on_member_down(now(), ids_[pending.down])) {
                replace_member(pending.observer, group, pending.down);
            }
            drain(pending.observer);
        }
    }

    /// As node::node does when a leader learns a member died, or starts to lead: the dead member
    /// (if any) goes, and nodes outside the group that this leader can reach fill the set up to
    /// the group size (the first ones after the observer, in index order).
    void replace_member(node_index observer, const replica::group_id& group,
                        std::optional<node_index> down) {
        const auto* core = nodes_[observer].core->find(group);
        REEF_ASSERT(core != nullptr);
        auto target = core->members();
        if (down) {
            std::erase(target, ids_[*down]);
        }
        for (std::size_t step = 1; step < ids_.size() && target.size() < group_size; ++step) {
            const auto spare = static_cast<node_index>((observer + step) % ids_.size());
            if (nodes_[spare].up && network_.reachable(observer, spare) &&
                std::find(target.begin(), target.end(), ids_[spare]) == target.end()) {
                target.push_back(ids_[spare]);
            }
        }
        if (down && target.size() < core->members().size()) {
            return; // no spare: keep the dead member rather than shrink
        }
        std::sort(target.begin(), target.end());
        if (target != core->members() &&
            nodes_[observer].core->change_members(now(), group, std::move(target)).ok()) {
            ++member_changes_;
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
        client.via = static_cast<node_index>(random_.next_u64() % nodes_.size());
        client.id = 0; // host ids are per host life: never match an earlier call's
        auto& entry = nodes_[client.via];
        if (!entry.up) {
            return; // the client's node is down: no answer, unknown after give_up
        }
        // Candidates as a node would name them: the key's members (the closest), then every
        // other node, so a first use locates (everyone answers "unknown") before creating.
        std::vector<node_id> candidates;
        for (node_index m : members_[client.key]) {
            candidates.push_back(ids_[m]);
        }
        const std::size_t group_size = candidates.size();
        for (node_index other = 0; other < ids_.size(); ++other) {
            if (std::find(candidates.begin(), candidates.end(), ids_[other]) ==
                candidates.end()) {
                candidates.push_back(ids_[other]);
            }
        }
        auto id = entry.core->submit(now(), groups_[client.key], std::move(candidates),
                                     group_size, client.request,
                                     replica::kv::encode_command(client.body));
        REEF_ASSERT(id.ok());
        client.id = *id;
        drain(client.via);
    }

    node_index index_of(const node_id& id) const {
        return static_cast<node_index>(std::find(ids_.begin(), ids_.end(), id) - ids_.begin());
    }

    void answered(node_index via, const replica::request_done& done) {
        for (auto& client : calls_) {
            if (!client.active || client.via != via || client.id == 0 || client.id != done.id) {
                continue;
            }
            if (!done.answer) {
                record(client, checkers::kv_status::unknown, std::nullopt); // host timed out
                return;
            }
            auto reply = replica::kv::decode_answer(*done.answer);
            REEF_ASSERT(reply.ok());
            record(client, checkers::kv_status::ok, *reply);
            return;
        }
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

    /// Execute a node's effects: stage persists, sync once, then the sends and answers in order.
    void drain(node_index node) {
        auto& state = nodes_[node];
        if (!state.core) {
            return;
        }
        auto produced = state.core->take_effects();
        std::vector<replica::group_id> repairs;
        for (const auto& one : produced) {
            if (const auto* write = std::get_if<replica::host_persist>(&one)) {
                stage_write(state.storage, *write);
            }
        }
        REEF_ASSERT(state.storage.sync().ok());
        for (auto& one : produced) {
            if (auto* out = std::get_if<replica::host_send>(&one)) {
                if (replica::validate_host(out->body).ok()) {
                    send_message(node, index_of(out->to), replica::encode(out->body));
                }
            } else if (const auto* done = std::get_if<replica::request_done>(&one)) {
                answered(node, *done);
            } else if (const auto* leading = std::get_if<replica::group_leading>(&one)) {
                repairs.push_back(leading->group);
            }
        }
        for (const auto& group : repairs) {
            if (nodes_[node].core && nodes_[node].core->find(group) != nullptr) {
                replace_member(node, group, std::nullopt);
            }
        }
        if (!repairs.empty()) {
            drain(node);
            return;
        }
        if (options_.check_invariants) {
            state.core->check_invariants();
        }
        arm(node);
    }

    void send_message(node_index from, node_index to, std::string bytes) {
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
        wire_[slot_index] = in_transit{from, to, std::move(bytes)};
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
        auto decoded = replica::decode_host(item.bytes);
        REEF_ASSERT(decoded.ok()); // encoded by a correct node
        state.core->on_message(now(), ids_[item.from], *decoded);
        drain(item.to);
    }

    void tick(node_index node) {
        auto& state = nodes_[node];
        if (!state.up) {
            return;
        }
        state.core->on_tick(now());
        drain(node);
    }

    /// One timer per node, at its host's deadline (idle groups have none).
    void arm(node_index node) {
        const instant deadline = nodes_[node].core->next_deadline();
        if (deadline == instant::never()) {
            scheduler_.cancel_timer(node);
        } else {
            scheduler_.arm_timer(node, std::max(deadline, now()));
        }
    }

    const scenario_options& options_;
    prng random_;
    network network_;
    scheduler scheduler_;
    std::vector<node_state> nodes_;
    std::vector<node_id> ids_;
    std::size_t member_changes_ = 0;
    std::vector<replica::group_id> groups_;
    std::vector<std::vector<node_index>> members_;
    replica::host_config limits_;
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
    out.line("  {} crashes, {} partitions, {} member changes asked; {} operations: {} ok, "
             "{} unknown",
             crashes, partitions, run.member_changes(), run.history().size(), ok, unknown);
    out.line("  liveness: {} of {} keys served operations after healing", served.size(),
             keys_count);
    out.line("  eviction: {} groups evicted from memory, {} loaded back", run.evictions().first,
             run.evictions().second);
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
        for (std::size_t k = 0; k < keys_count; ++k) {
            const std::string key = fmt::format("k{}", k);
            if (!served.contains(key)) {
                outcome.failure += "; key " + key + ":" + run.describe_group(k);
            }
        }
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
