#include "reef/replica/host.hpp"

#include <algorithm>
#include <utility>

#include "reef/base/assert.hpp"

namespace reef::replica {

namespace {

/// Adds `id` to the sorted, unique `into` (a set kept as a vector: it holds a few members).
void insert_sorted(std::vector<node_id>& into, const node_id& id) {
    if (auto at = std::lower_bound(into.begin(), into.end(), id); at == into.end() || *at != id) {
        into.insert(at, id);
    }
}

} // namespace

status host_config::validate() const {
    if (auto inner = group.validate(); !inner) {
        return inner;
    }
    if (groups_max == 0 || requests_max == 0 || members_max == 0) {
        return make_error(errc::invalid_argument, "host limits must be > 0");
    }
    if (retry_interval <= duration{} || request_timeout <= retry_interval) {
        return make_error(errc::invalid_argument, "need 0 < retry_interval < request_timeout");
    }
    return {};
}

host::host(const host_config& limits, node_id self, application& app, std::uint64_t seed)
    : limits_(limits), self_(self), app_(app), seed_(seed) {
    REEF_ASSERT(limits.validate().ok());
    REEF_ASSERT(!self.is_zero());
}

bool host::acceptable(const std::vector<node_id>& members) const {
    return !members.empty() && members.size() <= limits_.members_max &&
           std::is_sorted(members.begin(), members.end()) &&
           std::adjacent_find(members.begin(), members.end()) == members.end() &&
           std::none_of(members.begin(), members.end(),
                        [](const node_id& id) { return id.is_zero(); }) &&
           std::binary_search(members.begin(), members.end(), self_);
}

const group* host::find(const group_id& id) const {
    auto found = groups_.find(id);
    return found == groups_.end() ? nullptr : found->second.get();
}

void host::attach_store(storage& store) {
    REEF_ASSERT(store_ == nullptr);
    store_ = &store;
}

group* host::resident(instant now, const group_id& id) {
    if (auto found = groups_.find(id); found != groups_.end()) {
        return found->second.get();
    }
    auto evicted = evicted_.find(id);
    if (evicted == evicted_.end()) {
        return nullptr;
    }
    REEF_ASSERT(store_ != nullptr);
    auto loaded = store_->load(id);
    if (!loaded || !loaded->has_value()) {
        ++stats_.load_failures; // the input is dropped: its sender retries
        return nullptr;
    }
    const node_id leader_known = evicted->second;
    evicted_.erase(evicted);
    ++stats_.groups_loaded;
    auto members = (*loaded)->members;
    auto& core = groups_[id];
    core = std::make_unique<group>(limits_.group, id, self_, std::move(members),
                                   std::move(**loaded), seed_ + stats_.groups_loaded, now,
                                   false, true);
    core->assume_leader(leader_known);
    drain(now, id, *core); // rebuilds the application's state (install, applies)
    return core.get();
}

bool host::evictable(const group_id& id, const group& core) const {
    if (core.current_role() != role::follower || core.next_deadline() != instant::never() ||
        core.applied_index() != core.commit_index()) {
        return false;
    }
    const auto awaited = awaited_.lower_bound({id, 0});
    if (awaited != awaited_.end() && awaited->first.first == id) {
        return false;
    }
    return std::none_of(pending_.begin(), pending_.end(),
                        [&](const auto& held) { return held.second.group == id; });
}

void host::evict_idle() {
    if (store_ == nullptr || groups_.size() <= limits_.groups_resident_max) {
        return;
    }
    // Oldest first; at most a bounded number of candidates looked at per call. One that cannot
    // go (a group this node leads, or a busy one) moves to the back of the order, so that the
    // next call looks at others instead of the same ones again.
    std::size_t looked = 0;
    for (auto it = use_order_.begin();
         it != use_order_.end() && groups_.size() > limits_.groups_resident_max && looked < 64;
         ++looked) {
        const group_id id = it->second;
        const group& core = *groups_.at(id);
        if (!evictable(id, core)) {
            it = use_order_.erase(it);
            used_at_[id] = ++uses_;
            use_order_.emplace(uses_, id);
            continue;
        }
        evicted_.emplace(id, core.leader());
        app_.forget(id);
        applied_.erase(id);
        groups_.erase(id);
        used_at_.erase(id);
        it = use_order_.erase(it);
        ++stats_.groups_evicted;
    }
}

group* host::open(instant now, const group_id& id, const std::vector<node_id>& members,
                  bool joining) {
    if (group* known = resident(now, id)) {
        return known;
    }
    if (evicted_.contains(id)) {
        return nullptr; // on disk, but the store failed: do not create a second copy
    }
    if (!acceptable(members) || groups_count() >= limits_.groups_max) {
        ++stats_.refused;
        return nullptr;
    }
    ++stats_.groups_created;
    auto& core = groups_[id];
    core = std::make_unique<group>(limits_.group, id, self_, members, std::nullopt,
                                   seed_ + stats_.groups_created, now, joining);
    // The member set is durable before anything else about the group, so a restart finds it.
    effects_.emplace_back(std::in_place_type<host_persist>, id, persist_promise{0, members});
    drain(now, id, *core);
    return core.get();
}

void host::recover(instant now, const group_id& id, durable_state state) {
    REEF_ASSERT(!groups_.contains(id));
    if (!acceptable(state.members)) {
        ++stats_.refused; // not a member (any more), or a damaged record: leave it alone
        return;
    }
    auto members = state.members;
    auto& core = groups_[id];
    core = std::make_unique<group>(limits_.group, id, self_, std::move(members),
                                   std::move(state), seed_ + groups_.size(), now);
    drain(now, id, *core);
}

result<std::uint64_t> host::submit(instant now, const group_id& id,
                                   std::vector<node_id> candidates, std::size_t group_size,
                                   request_id request, std::string command, bool may_create) {
    auto sorted = candidates;
    std::sort(sorted.begin(), sorted.end());
    if (candidates.empty() || candidates.size() > limits_.members_max ||
        std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() ||
        std::any_of(sorted.begin(), sorted.end(), [](const node_id& n) { return n.is_zero(); })) {
        return make_error(errc::invalid_argument, "a request needs 1 to " +
                                                      std::to_string(limits_.members_max) +
                                                      " distinct, non-zero candidates");
    }
    if (group_size == 0 || group_size > candidates.size()) {
        return make_error(errc::invalid_argument, "group size must be 1..candidates");
    }
    if (command.size() > limits_.group.command_size_max) {
        return make_error(errc::invalid_argument, "command too large");
    }
    if (pending_.size() >= limits_.requests_max) {
        return make_error(errc::resource_exhausted, "too many requests in flight");
    }
    ++stats_.requests_submitted;
    const std::uint64_t id_of_request = next_id_++;
    auto& waiting = pending_[id_of_request];
    waiting = pending{};
    waiting.group = id;
    waiting.candidates = std::move(candidates);
    waiting.group_size = group_size;
    waiting.may_create = may_create;
    waiting.request = request;
    waiting.command = std::move(command);
    waiting.next_retry = now + limits_.retry_interval;
    waiting.deadline = now + limits_.request_timeout;
    retarget(waiting);
    send_request(now, id_of_request, waiting);
    return id_of_request;
}

std::vector<node_id> host::creation_members(const pending& waiting) const {
    std::vector<node_id> members(waiting.candidates.begin(),
                                 waiting.candidates.begin() +
                                     static_cast<std::ptrdiff_t>(waiting.group_size));
    std::sort(members.begin(), members.end());
    return members;
}

void host::retarget(pending& waiting) const {
    if (const group* known = find(waiting.group)) {
        if (known->current_role() == role::leader) {
            waiting.target = self_;
            return;
        }
        if (waiting.members.empty()) {
            // This node's copy names the members, and perhaps the leader; it may be stale (a
            // member that was cut off or removed), so later retries go round the members.
            waiting.members = known->members();
            if (known->leader() != self_) {
                waiting.target = known->leader();
                return;
            }
        }
    }
    if (waiting.create) {
        // Creating: the first leader of the new group is its first member (epoch 0); if it is
        // silent, any other creation member will do (it creates the group and redirects).
        const auto members = creation_members(waiting);
        if (waiting.target.is_zero()) {
            waiting.target = group::first_leader(waiting.group, members);
            return;
        }
        auto at = std::upper_bound(members.begin(), members.end(), waiting.target);
        waiting.target = at == members.end() ? members.front() : *at;
        return;
    }
    if (!waiting.members.empty()) {
        // The silent target may be down: try the next member that has not refused.
        const auto& members = waiting.members;
        auto at = std::upper_bound(members.begin(), members.end(), waiting.target);
        for (std::size_t step = 0; step < members.size(); ++step, ++at) {
            if (at == members.end()) {
                at = members.begin();
            }
            if (!std::binary_search(waiting.refused_by.begin(), waiting.refused_by.end(), *at) &&
                !std::binary_search(waiting.silent.begin(), waiting.silent.end(), *at)) {
                waiting.target = *at;
                return;
            }
        }
        // Everyone refused or was silent: leaders change; start over.
        waiting.refused_by.clear();
        waiting.silent.clear();
        auto next = std::upper_bound(members.begin(), members.end(), waiting.target);
        waiting.target = next == members.end() ? members.front() : *next;
        return;
    }
    // Locating: the closest candidate that has not answered "unknown" yet, after the target.
    const auto& order = waiting.candidates;
    auto from = std::find(order.begin(), order.end(), waiting.target);
    const std::size_t start = from == order.end() ? 0 : (from - order.begin() + 1) % order.size();
    for (std::size_t step = 0; step < order.size(); ++step) {
        const node_id& next = order[(start + step) % order.size()];
        if (!std::binary_search(waiting.unknown_at.begin(), waiting.unknown_at.end(), next)) {
            waiting.target = next;
            return;
        }
    }
}

void host::send_request(instant now, std::uint64_t id, const pending& waiting) {
    client_request asked{id,
                         waiting.group,
                         waiting.create ? creation_members(waiting) : waiting.members,
                         waiting.request,
                         waiting.command,
                         waiting.create};
    if (waiting.target == self_) {
        accept(now, self_, asked);
        return;
    }
    effects_.emplace_back(std::in_place_type<host_send>, waiting.target, std::move(asked));
}

void host::accept(instant now, const node_id& requester, const client_request& asked) {
    auto reply = [&](client_answer answer) {
        answer.id = asked.id;
        answer.request = asked.request;
        if (requester == self_) {
            on_message(now, self_, answer);
        } else {
            effects_.emplace_back(std::in_place_type<host_send>, requester, std::move(answer));
        }
    };
    group* core = resident(now, asked.group);
    if (core == nullptr && asked.create && !evicted_.contains(asked.group)) {
        core = open(now, asked.group, asked.members, false);
    }
    if (core == nullptr) {
        reply(client_answer{}); // "unknown": this node does not host the group
        return;
    }
    const auto hosted = [&](std::optional<node_id> leader) {
        return client_answer{0, false, {}, leader, core->members(), {}};
    };
    if (core->current_role() != role::leader) {
        const node_id leader = core->leader();
        reply(hosted(leader == self_ ? std::nullopt : std::optional<node_id>(leader)));
        return;
    }
    for (const auto& [where, who] : awaited_) {
        if (where.first == asked.group && who.request == asked.request) {
            return; // a retry of a request already in the log: its apply answers
        }
    }
    if (awaited_.size() >= limits_.requests_max) {
        reply(hosted(std::nullopt));
        return;
    }
    auto prepared = app_.prepare(asked.group, *core, asked.request, asked.command);
    if (auto* now_answer = std::get_if<application::answer_now>(&prepared)) {
        reply(client_answer{0, true, std::move(now_answer->answer), {}, core->members(), {}});
        return;
    }
    auto index = core->submit(now, asked.request,
                              std::move(std::get<application::append_command>(prepared).command));
    if (!index) {
        reply(hosted(std::nullopt));
        return;
    }
    awaited_[{asked.group, *index}] = awaited{requester, asked.id, asked.request};
    drain(now, asked.group, *core);
}

void host::on_message(instant now, const node_id& from, const host_message& incoming) {
    if (const auto* traffic = std::get_if<group_traffic>(&incoming)) {
        if (group* core = open(now, traffic->group, traffic->members, true)) {
            core->on_message(now, from, traffic->body);
            drain(now, traffic->group, *core);
        }
        return;
    }
    if (const auto* asked = std::get_if<client_request>(&incoming)) {
        accept(now, from, *asked);
        return;
    }
    on_answer(now, from, std::get<client_answer>(incoming));
}

void host::on_answer(instant now, const node_id& from, const client_answer& answer) {
    auto found = pending_.find(answer.id);
    if (found == pending_.end() || answer.request != found->second.request) {
        return; // late, duplicate, or meant for another request (or an earlier life)
    }
    if (answer.applied) {
        // Whoever answers: the request id proves it is this request's outcome.
        ++stats_.requests_answered;
        finish(answer.id, answer.answer);
        return;
    }
    auto& waiting = found->second;
    if (from != self_ && from != waiting.target) {
        return; // a refusal from a node no longer asked
    }
    if (answer.members.empty()) {
        on_unknown(now, from, answer.id, waiting);
        return;
    }
    if (!std::binary_search(answer.members.begin(), answer.members.end(), from)) {
        return; // a host always names a set it belongs to
    }
    if (waiting.members != answer.members) {
        ++stats_.groups_located;
        waiting.members = answer.members;
        waiting.create = false;
        waiting.refused_by.clear();
    }
    auto& refused = waiting.refused_by;
    insert_sorted(refused, from);
    std::erase(waiting.silent, from);
    if (answer.leader && *answer.leader != waiting.target &&
        std::binary_search(waiting.members.begin(), waiting.members.end(), *answer.leader) &&
        !std::binary_search(refused.begin(), refused.end(), *answer.leader)) {
        ++stats_.redirects;
        waiting.target = *answer.leader;
        send_request(now, answer.id, waiting);
    }
    // Otherwise: nobody leads yet (or the leader is busy); the retry timer asks again.
}

void host::on_unknown(instant now, const node_id& from, std::uint64_t id, pending& waiting) {
    if (!waiting.members.empty() || waiting.create) {
        return; // a member that has not heard of the group yet: the retry asks another
    }
    insert_sorted(waiting.unknown_at, from);
    if (waiting.unknown_at.size() == waiting.candidates.size()) {
        // No candidate hosts it: this is the group's first use.
        if (!waiting.may_create) {
            finish(id, make_error(errc::not_found, "no node hosts this group"));
            return;
        }
        ++stats_.creations_asked;
        waiting.create = true;
        waiting.target = node_id{};
    }
    retarget(waiting);
    send_request(now, id, waiting);
}

std::vector<group_id> host::on_member_down(instant now, const node_id& member) {
    // An evicted group whose leader died must hear it: load it (a follower starts the next
    // epoch). The others stay on disk.
    std::vector<group_id> led_by_member;
    for (const auto& [id, leader] : evicted_) {
        if (leader == member) {
            led_by_member.push_back(id);
        }
    }
    for (const auto& id : led_by_member) {
        (void)resident(now, id);
    }
    std::vector<group_id> to_repair;
    for (auto& [id, core] : groups_) {
        core->on_member_down(now, member);
        drain(now, id, *core);
        const auto& members = core->members();
        if (core->current_role() == role::leader &&
            std::binary_search(members.begin(), members.end(), member)) {
            to_repair.push_back(id);
        }
    }
    return to_repair;
}

status host::change_members(instant now, const group_id& id, std::vector<node_id> target) {
    group* core = resident(now, id);
    if (core == nullptr) {
        return make_error(errc::not_found, "this node does not host the group");
    }
    auto changed = core->change_members(now, std::move(target));
    drain(now, id, *core);
    return changed;
}

void host::on_tick(instant now) {
    std::vector<group_id> due_groups;
    for (auto it = due_order_.begin(); it != due_order_.end() && it->first <= now; ++it) {
        due_groups.push_back(it->second);
    }
    for (const auto& id : due_groups) {
        auto& core = *groups_.at(id);
        core.on_tick(now);
        drain(now, id, core);
    }
    std::vector<std::uint64_t> due;
    for (const auto& [id, waiting] : pending_) {
        if (waiting.next_retry <= now || waiting.deadline <= now) {
            due.push_back(id);
        }
    }
    for (std::uint64_t id : due) {
        auto found = pending_.find(id);
        if (found == pending_.end()) {
            continue;
        }
        if (found->second.deadline <= now) {
            ++stats_.requests_timed_out;
            finish(id, make_error(errc::timeout, "no answer from the group within the timeout"));
            continue;
        }
        ++stats_.retries;
        auto& waiting = found->second;
        waiting.next_retry = now + limits_.retry_interval;
        // A target that stayed silent (a dead leader) is skipped by the rotation like one that
        // refused: otherwise, once every live member had refused while the new leader was not
        // elected yet, the rotation would keep choosing the one member that never answers until
        // the request timed out. Unlike a refusal it does not block a leader hint naming it (it
        // may only have been slow).
        if (!waiting.members.empty() && !waiting.target.is_zero()) {
            insert_sorted(waiting.silent, waiting.target);
        }
        retarget(waiting);
        send_request(now, id, found->second);
    }
}

void host::drain(instant now, const group_id& id, group& core) {
    bool compact_now = false;
    for (auto& produced : core.take_effects()) {
        if (auto* out = std::get_if<send>(&produced)) {
            effects_.emplace_back(std::in_place_type<host_send>, out->to,
                                  group_traffic{id, core.members(), std::move(out->body)});
        } else if (auto* promised = std::get_if<persist_promise>(&produced)) {
            effects_.emplace_back(std::in_place_type<host_persist>, id, std::move(*promised));
        } else if (auto* entries = std::get_if<persist_entries>(&produced)) {
            effects_.emplace_back(std::in_place_type<host_persist>, id, std::move(*entries));
        } else if (auto* committed = std::get_if<persist_commit>(&produced)) {
            effects_.emplace_back(std::in_place_type<host_persist>, id, *committed);
        } else if (auto* base = std::get_if<persist_snapshot>(&produced)) {
            effects_.emplace_back(std::in_place_type<host_persist>, id, std::move(*base));
        } else if (auto* applied = std::get_if<apply>(&produced)) {
            std::string answer = app_.apply(id, applied->committed);
            applied_[id] = {applied->committed.index, applied->committed.epoch};
            auto waiting = awaited_.find({id, applied->committed.index});
            if (waiting != awaited_.end()) {
                const awaited who = waiting->second;
                awaited_.erase(waiting);
                client_answer reply{who.requester_id, who.request == applied->committed.request,
                                    std::move(answer), std::nullopt, core.members(),
                                    who.request};
                if (!reply.applied) {
                    reply.answer.clear(); // another request took that index: ask again
                }
                if (who.requester == self_) {
                    on_message(now, self_, reply);
                } else {
                    effects_.emplace_back(std::in_place_type<host_send>, who.requester,
                                          std::move(reply));
                }
            }
        } else if (auto* changed = std::get_if<role_changed>(&produced)) {
            if (changed->leading) {
                effects_.emplace_back(std::in_place_type<group_leading>, id, core.members());
            }
        } else if (auto* base = std::get_if<install_snapshot>(&produced)) {
            app_.install(id, base->base);
            applied_[id] = {base->base.last_index, base->base.last_epoch};
        } else if (std::holds_alternative<compaction_due>(produced)) {
            compact_now = true;
        }
    }
    if (compact_now) {
        // After every apply of this batch: the snapshot must describe the state it claims.
        const auto [index, epoch] = applied_[id];
        core.compact(snapshot{index, epoch, app_.snapshot_state(id)});
        drain(now, id, core);
    }
    reschedule(id, core.next_deadline());
    // Last use, for eviction (least recently used first).
    if (auto held = used_at_.find(id); held != used_at_.end()) {
        use_order_.erase({held->second, id});
    }
    used_at_[id] = ++uses_;
    use_order_.emplace(uses_, id);
}

void host::reschedule(const group_id& id, instant due) {
    auto held = due_.find(id);
    if (held != due_.end()) {
        if (held->second == due) {
            return;
        }
        due_order_.erase({held->second, id});
        due_.erase(held);
    }
    if (due != instant::never()) {
        due_.emplace(id, due);
        due_order_.emplace(due, id);
    }
}

void host::finish(std::uint64_t id, result<std::string> answer) {
    pending_.erase(id);
    effects_.emplace_back(std::in_place_type<request_done>, id, std::move(answer));
}

std::vector<host_effect> host::take_effects() {
    // Outside any walk over groups_: whatever the last input did is in effects_ already.
    evict_idle();
    return std::exchange(effects_, {});
}

instant host::next_deadline() const {
    instant earliest = due_order_.empty() ? instant::never() : due_order_.begin()->first;
    for (const auto& [id, waiting] : pending_) {
        earliest = std::min({earliest, waiting.next_retry, waiting.deadline});
    }
    return earliest;
}

void host::check_invariants() const {
    REEF_ASSERT(groups_.size() <= limits_.groups_max);
    REEF_ASSERT(pending_.size() <= limits_.requests_max);
    REEF_ASSERT(awaited_.size() <= limits_.requests_max);
    REEF_ASSERT(due_.size() == due_order_.size());
    REEF_ASSERT(used_at_.size() == use_order_.size());
    REEF_ASSERT(used_at_.size() <= groups_.size());
    REEF_ASSERT(groups_count() <= limits_.groups_max);
    REEF_ASSERT(due_.size() <= groups_.size());
    for (const auto& [id, core] : groups_) {
        core->check_invariants();
        // A group's deadline changes only through its inputs, each followed by a drain.
        const auto held = due_.find(id);
        REEF_ASSERT((held == due_.end() ? instant::never() : held->second) ==
                    core->next_deadline());
    }
}

} // namespace reef::replica
