#include "sim/scenarios/actor_cluster.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "reef/base/assert.hpp"

namespace reef::sim::detail {

namespace {

constexpr duration host_request_timeout = duration::seconds(3);
constexpr std::uint64_t unix_epoch_of_run = 1'800'000'000;
constexpr std::size_t events_max = std::size_t{1} << 22U;

crypto::identity identity_of(std::uint64_t seed, std::size_t index) {
    prng draw(seed ^ (0xA5C7012345ULL * (index + 1)));
    return crypto::identity::from_seed(random_id(draw).bytes());
}

std::string address_of(std::size_t index) {
    return fmt::format("10.1.{}.{}:7400", (index >> 8U) & 0xFFU, index & 0xFFU);
}

} // namespace

std::optional<actors::json> parse_object(const std::string& text) {
    auto value = actors::json::parse(text, nullptr, false);
    if (value.is_discarded() || !value.is_object()) {
        return std::nullopt;
    }
    return value;
}

actor_cluster::actor_cluster(const scenario_options& options, std::size_t nodes_count,
                             std::vector<std::string> watched)
    : options_(options), random_(options.seed ^ 0x6163746f72ULL),
      network_(nodes_count, options.seed, network_options{}),
      scheduler_(nodes_count + 1, events_max), nodes_(nodes_count), names_(std::move(watched)) {
    REEF_ASSERT(nodes_count > 0);
    for (std::size_t i = 0; i < nodes_count; ++i) {
        identities_.push_back(identity_of(options.seed, i));
        ids_.push_back(identities_.back().id());
        addresses_.push_back(address_of(i));
    }
    limits_.replica.group.log_retained_max = 32; // snapshots and catch-up from them, often
    limits_.replica.request_timeout = host_request_timeout;
    limits_.replica.retry_interval = duration::milliseconds(300);
    REEF_ASSERT(limits_.validate().ok());
    for (const auto& name : names_) {
        groups_.push_back(node::node::actor_group_of(name));
    }
    split_brain_.resize(names_.size());
    applied_seen_.resize(names_.size());
    applied_checked_.assign(nodes_count, std::vector<std::uint64_t>(names_.size(), 0));
}

void actor_cluster::start_all() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        REEF_ASSERT(!nodes_[i].up);
        start_node(static_cast<node_index>(i));
    }
}

bool actor_cluster::spawn_all(const std::vector<actors::json>& requests, instant limit) {
    std::vector<bool> spawned(requests.size(), false);
    std::vector<actor_attempt> tries(requests.size());
    std::vector<instant> next(requests.size(), now());
    spawning_ = true;
    while (now() < limit) {
        bool all = true;
        for (std::size_t a = 0; a < requests.size(); ++a) {
            if (spawned[a]) {
                continue;
            }
            all = false;
            if (auto answer = take_answer(tries[a])) {
                const auto parsed = parse_object(*answer);
                if (parsed && parsed->value("ok", false)) {
                    spawned[a] = true;
                    continue;
                }
                note_error(*answer);
                next[a] = std::min(next[a], now() + actor_retry_pause_max);
            }
            if (next[a] <= now()) {
                tries[a] = submit(random_node(), requests[a], true);
                next[a] = now() + actor_client_timeout;
            }
        }
        if (all) {
            spawning_ = false;
            answers_.clear();
            return true;
        }
        run_until(std::min(limit, now() + duration::milliseconds(50)));
    }
    spawning_ = false;
    answers_.clear();
    return false;
}

void actor_cluster::crash(node_index node) {
    auto& state = nodes_[node];
    if (!state.up) {
        return;
    }
    state.up = false;
    state.storage.crash();
    state.core.reset();
    scheduler_.cancel_timer(node);
    trace_.add_u64(0xdead0000ULL + node);
}

void actor_cluster::start_node(node_index node) {
    auto& state = nodes_[node];
    REEF_ASSERT(!state.up);
    state.up = true;
    state.life += 1;
    state.incarnation += 1; // higher than any this node used (persisted before announced)
    const std::uint64_t unix_seconds =
        unix_epoch_of_run + static_cast<std::uint64_t>(now().ns() / 1'000'000'000);
    node::config limits = limits_;
    limits.allow_exec = node < exec_nodes_count_;
    state.core =
        std::make_unique<node::node>(limits, identities_[node], addresses_[node],
                                     state.incarnation, random_.next_u64(), now(), unix_seconds);
    auto stored = state.storage.groups();
    REEF_ASSERT(stored.ok());
    for (const auto& group : *stored) {
        auto loaded = state.storage.load(group);
        REEF_ASSERT(loaded.ok() && loaded->has_value());
        state.core->replica_recover(now(), group, std::move(**loaded));
    }
    state.core->attach_replica_store(state.storage);
    // Join through node 0 (the usual --join address) and two others, as an operator would.
    std::vector<std::string> seeds;
    for (std::size_t draw = 0; draw < 3 && nodes_.size() > 1; ++draw) {
        const auto other = draw == 0 ? node_index{0}
                                     : static_cast<node_index>(random_.next_u64() %
                                                               nodes_.size());
        if (other != node &&
            std::find(seeds.begin(), seeds.end(), addresses_[other]) == seeds.end()) {
            seeds.push_back(addresses_[other]);
        }
    }
    state.core->join(now(), seeds);
    trace_.add_u64(0x5eed0000ULL + node);
    drain(node);
}

void actor_cluster::run_until(instant limit) {
    while (!violation_) {
        const instant soonest = std::min(next_work_at(), limit);
        if (auto next = scheduler_.pop_until(soonest)) {
            ++events_;
            if (next->is_timer) {
                tick(next->timer.node);
            } else {
                deliver(next->item);
            }
            continue;
        }
        if (soonest >= limit) {
            scheduler_.advance_to(limit);
            return;
        }
        scheduler_.advance_to(soonest);
        wake_at_ = instant::never();
        if (workload_ != nullptr) {
            workload_->work();
        }
    }
}

std::string actor_cluster::describe_group(std::size_t watched_index) const {
    REEF_ASSERT(watched_index < groups_.size());
    const auto& group = groups_[watched_index];
    std::string out;
    for (node_index node = 0; node < nodes_.size(); ++node) {
        const auto& state = nodes_[node];
        out += fmt::format("\n    node {} {}", node, state.up ? "up" : "down");
        const replica::group* core = state.core ? state.core->replicas().find(group) : nullptr;
        if (core == nullptr) {
            continue;
        }
        std::string set;
        for (const auto& member : core->members()) {
            set += fmt::format("{} ", index_of(member));
        }
        out += fmt::format(" role {} epoch {} leader {} members [ {}] last {} commit {} "
                           "applied {}",
                           static_cast<int>(core->current_role()), core->epoch(),
                           index_of(core->leader()), set, core->last_index(),
                           core->commit_index(), core->applied_index());
        if (const auto* record = state.core->actors().find(group)) {
            out += fmt::format(" state {} status {} outbox {} timers {}", record->state.dump(),
                               record->status, record->outbox.size(), record->timers.size());
        }
    }
    return out;
}

void actor_cluster::watch(std::string name) {
    groups_.push_back(node::node::actor_group_of(name));
    names_.push_back(std::move(name));
    split_brain_.emplace_back();
    applied_seen_.emplace_back();
    for (auto& checked : applied_checked_) {
        checked.push_back(0);
    }
}

std::optional<node_index> actor_cluster::leader_of(std::string_view name) const {
    const auto group = node::node::actor_group_of(name);
    std::optional<node_index> found;
    std::uint64_t epoch = 0;
    for (node_index node = 0; node < nodes_.size(); ++node) {
        const auto& state = nodes_[node];
        const replica::group* core = state.core ? state.core->replicas().find(group) : nullptr;
        if (core != nullptr && core->current_role() == replica::role::leader &&
            (!found || core->epoch() > epoch)) {
            found = node;
            epoch = core->epoch();
        }
    }
    return found;
}

void actor_cluster::job_progress(node_index node, std::uint64_t run, std::uint64_t through,
                                 const nlohmann::json& partial) {
    auto& state = nodes_[node];
    REEF_ASSERT(state.up);
    state.core->job_progress(now(), run, through, partial);
    drain(node);
}

void actor_cluster::job_finished(node_index node, std::uint64_t run, std::uint64_t through,
                                 const nlohmann::json& partial) {
    auto& state = nodes_[node];
    REEF_ASSERT(state.up);
    state.core->job_finished(now(), run, through, partial);
    drain(node);
}

void actor_cluster::job_output(node_index node, std::uint64_t run, std::string_view output) {
    auto& state = nodes_[node];
    REEF_ASSERT(state.up);
    state.core->job_output(now(), run, output);
    drain(node);
}

void actor_cluster::job_failed(node_index node, std::uint64_t run, const std::string& why) {
    auto& state = nodes_[node];
    REEF_ASSERT(state.up);
    state.core->job_failed(now(), run, why);
    drain(node);
}

node_index actor_cluster::random_node() {
    return static_cast<node_index>(random_.next_u64() % nodes_.size());
}

node_index actor_cluster::index_of(const node_id& id) const {
    return static_cast<node_index>(std::find(ids_.begin(), ids_.end(), id) - ids_.begin());
}

void actor_cluster::fail(std::string why) {
    if (!violation_) {
        violation_ = std::move(why);
    }
}

actor_attempt actor_cluster::submit(node_index via, const actors::json& request,
                                    bool may_create) {
    auto& state = nodes_[via];
    if (!state.up) {
        return actor_attempt{}; // the client's node is down: no answer, it times out
    }
    auto id = state.core->actor_submit(now(), request, may_create);
    drain(via);
    if (!id) {
        errors_[fmt::format("submit: {}", id.failure().message)] += 1;
        return actor_attempt{};
    }
    return actor_attempt{via, state.life, *id, true};
}

std::optional<std::string> actor_cluster::take_answer(actor_attempt& pending) {
    if (!pending.live) {
        return std::nullopt;
    }
    const auto found = answers_.find({pending.via, pending.life, pending.id});
    if (found == answers_.end()) {
        return std::nullopt;
    }
    std::string answer = std::move(found->second);
    answers_.erase(found);
    pending.live = false;
    return answer;
}

void actor_cluster::note_error(const std::string& answer) {
    auto text = answer;
    if (const auto parsed = parse_object(answer)) {
        text = parsed->value("error", answer);
    }
    // Group errors by their opening words, not by the actor names they carry.
    const auto cut = text.find_first_of(":\"");
    errors_[text.substr(0, std::min<std::size_t>(cut, 60))] += 1;
}

instant actor_cluster::next_work_at() const {
    const instant wanted = workload_ != nullptr ? workload_->next_work_at() : instant::never();
    return std::min(wanted, wake_at_);
}

void actor_cluster::answered(node_index via, const node::actor_done& done) {
    // A request the node could not carry out (timeout, unavailable, not_found) is retried.
    std::string text;
    if (done.answer) {
        text = *done.answer;
    } else {
        auto refused = actors::failure(done.answer.failure().message);
        refused["retry"] = true;
        text = refused.dump();
    }
    const std::uint32_t life = nodes_[via].life;
    if (workload_ != nullptr && workload_->answered(via, life, done.id, text)) {
        return;
    }
    if (spawning_) {
        answers_[{via, life, done.id}] = text; // a spawn's (or a stale attempt's)
    }
}

void actor_cluster::drain(node_index node) {
    auto& state = nodes_[node];
    if (!state.core) {
        return;
    }
    auto produced = state.core->take_effects();
    bool wrote = false;
    for (const auto& one : produced) {
        if (const auto* write = std::get_if<node::replica_write>(&one)) {
            stage_write(state.storage, *write);
            wrote = true;
        } else if (const auto* persisted = std::get_if<node::persist_incarnation>(&one)) {
            state.incarnation = std::max(state.incarnation, persisted->incarnation);
        }
    }
    if (wrote) {
        REEF_ASSERT(state.storage.sync().ok());
    }
    std::vector<node::actor_done> done;
    std::vector<node::job_run> runs;
    for (auto& one : produced) {
        if (auto* out = std::get_if<node::send_payload>(&one)) {
            send_payload(node, *out);
        } else if (auto* finished = std::get_if<node::actor_done>(&one)) {
            done.push_back(std::move(*finished));
        } else if (std::holds_alternative<node::actor_log>(one)) {
            ++logs_;
        } else if (std::holds_alternative<node::payload_rejected>(one)) {
            ++rejected_;
        } else if (auto* run = std::get_if<node::job_run>(&one)) {
            runs.push_back(std::move(*run));
        }
    }
    if (options_.check_invariants) {
        state.core->check_invariants();
    }
    check_groups(node);
    arm(node);
    const std::uint32_t life = state.life;
    for (const auto& run : runs) {
        if (workload_ != nullptr) {
            workload_->job_run(node, life, run);
        }
    }
    for (const auto& finished : done) {
        answered(node, finished);
    }
    wake_at_ = now(); // answers may let a client or an inspector go on
}

void actor_cluster::check_groups(node_index node) {
    const auto& core = *nodes_[node].core;
    for (std::size_t a = 0; a < groups_.size(); ++a) {
        const replica::group* group = core.replicas().find(groups_[a]);
        if (group == nullptr) {
            continue;
        }
        if (group->current_role() == replica::role::leader) {
            auto [at, fresh] = split_brain_[a].emplace(group->epoch(), ids_[node]);
            leaders_seen_ += fresh ? 1 : 0;
            if (at->second != ids_[node]) {
                fail(fmt::format("{}: nodes {} and {} both lead epoch {} of its group", names_[a],
                                 index_of(at->second), node, group->epoch()));
                return;
            }
        }
        const std::uint64_t applied = group->applied_index();
        const auto* record = core.actors().find(groups_[a]);
        if (record == nullptr || applied == applied_checked_[node][a]) {
            continue;
        }
        applied_checked_[node][a] = applied;
        std::string text = actors::to_json(*record).dump();
        ++records_compared_;
        auto [at, fresh] = applied_seen_[a].emplace(applied, std::make_pair(node, text));
        if (!fresh && at->second.second != text) {
            fail(fmt::format("{}: nodes {} and {} applied through index {} but hold "
                             "different records:\n    {}\n    {}",
                             names_[a], at->second.first, node, applied, at->second.second,
                             text));
            return;
        }
    }
}

void actor_cluster::send_payload(node_index from, node::send_payload& out) {
    const auto to = std::find(addresses_.begin(), addresses_.end(), out.address);
    if (to == addresses_.end()) {
        return;
    }
    const auto target = static_cast<node_index>(to - addresses_.begin());
    const auto arrival = network_.send(now(), from, target);
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
    wire_[slot_index] = in_transit{from, target, std::move(out.bytes)};
    // A message belongs to the receiver's current life: a restart ends its sessions.
    const bool queued = scheduler_.schedule(*arrival, event_kind::arrive, target,
                                            nodes_[target].life, slot_index);
    REEF_ASSERT(queued);
}

void actor_cluster::deliver(const event& arrived) {
    in_transit item = std::move(wire_[arrived.payload]);
    free_.push_back(arrived.payload);
    trace_.add_u64((static_cast<std::uint64_t>(item.from) << 32U) | item.to);
    trace_.add_u64(static_cast<std::uint64_t>(now().ns()));
    auto& state = nodes_[item.to];
    if (!state.up || state.life != arrived.life || !network_.reachable(item.from, item.to)) {
        return;
    }
    state.core->on_payload(now(), ids_[item.from], addresses_[item.from], item.bytes);
    drain(item.to);
}

void actor_cluster::tick(node_index node) {
    auto& state = nodes_[node];
    if (!state.up) {
        return;
    }
    state.core->on_tick(now());
    ticked_ = true;
    drain(node);
    ticked_ = false;
}

/// One timer per node at its deadline. A deadline that a tick left in the past would make a
/// runtime fire its timer again at once, forever; the driver counts it and waits a millisecond
/// (a timer's granularity) so the run goes on.
void actor_cluster::arm(node_index node) {
    const auto& core = *nodes_[node].core;
    const instant deadline = core.next_deadline();
    if (deadline == instant::never()) {
        scheduler_.cancel_timer(node);
        return;
    }
    if (ticked_ && deadline <= now()) {
        if (stale_deadlines_ == 0) {
            first_stale_ = fmt::format(
                "node {} at {:.3f} s: deadline {:.3f} s (replicas {:.3f}, dht {:.3f}, "
                "actors {:.3f})",
                node, now().ns() / 1e9, deadline.ns() / 1e9,
                core.replicas().next_deadline().ns() / 1e9,
                core.dht().next_deadline().ns() / 1e9, core.actors_next_due().ns() / 1e9);
        }
        ++stale_deadlines_;
        stale_by_.replicas += core.replicas().next_deadline() <= now() ? 1 : 0;
        stale_by_.dht += core.dht().next_deadline() <= now() ? 1 : 0;
        stale_by_.actors += core.actors_next_due() <= now() ? 1 : 0;
        scheduler_.arm_timer(node, now() + duration::milliseconds(1));
        return;
    }
    scheduler_.arm_timer(node, std::max(deadline, now()));
}

fault_counts inject_faults(actor_cluster& run, prng& faults, instant end,
                           const std::function<void(instant)>& run_to) {
    fault_counts counts;
    while (run.now() < end && !run.violation()) {
        run_to(std::min(end, run.now() + uniform(faults, duration::milliseconds(500),
                                                 duration::seconds(2))));
        const auto draw = faults.next_u64() % 4;
        const auto victim = static_cast<node_index>(faults.next_u64() % run.nodes_count());
        if (draw == 0 && run.up(victim)) {
            run.crash(victim);
            ++counts.crashes;
        } else if (draw == 1) {
            for (node_index node = 0; node < run.nodes_count(); ++node) {
                if (!run.up(node)) {
                    run.start_node(node);
                }
            }
        } else if (draw == 2) {
            std::vector<node_index> side = {victim};
            if (run.nodes_count() > 4 && faults.next_u64() % 2 == 0) {
                side.push_back(static_cast<node_index>((victim + 1) % run.nodes_count()));
            }
            run.net().heal();
            run.net().set_side(side, 1);
            ++counts.partitions;
        } else {
            run.net().heal();
        }
    }
    return counts;
}

void heal_everything(actor_cluster& run) {
    run.net().heal();
    run.net().set_loss(0.0);
    for (node_index node = 0; node < run.nodes_count(); ++node) {
        if (!run.up(node)) {
            run.start_node(node);
        }
    }
}

void print_driver_report(report& out, const actor_cluster& run) {
    std::string errors;
    for (const auto& [text, count] : run.errors()) {
        errors += fmt::format(" [{} x{}]", text, count);
    }
    out.line("  answers not ok (retried):{}", errors.empty() ? " none" : errors);
    if (run.stale_deadlines() > 0) {
        out.line("  stale deadlines: {} ticks left a node's deadline in the past (replicas {}, "
                 "dht {}, actors {}); first: {}",
                 run.stale_deadlines(), run.stale_by().replicas, run.stale_by().dht,
                 run.stale_by().actors, run.first_stale());
    }
    out.line("  safety: {} (epoch, leader) pairs, {} committed records compared across members",
             run.leaders_seen(), run.records_compared());
}

} // namespace reef::sim::detail
