#include "reef/replica/group.hpp"

#include <algorithm>
#include <utility>

#include "reef/base/assert.hpp"
#include "reef/replica/member_set.hpp"

namespace reef::replica {

namespace {

/// (last entry epoch, last index) of a promised log: what logs are compared by.
std::pair<std::uint64_t, std::uint64_t> last_of(const epoch_promise& p) {
    if (!p.log.empty()) {
        return {p.log.back().epoch, p.log.back().index};
    }
    return p.base ? std::make_pair(p.base->last_epoch, p.base->last_index)
                  : std::make_pair(std::uint64_t{0}, std::uint64_t{0});
}

} // namespace

status group_config::validate() const {
    if (command_size_max == 0 || append_entries_max == 0 || uncommitted_max == 0 ||
        log_retained_max == 0 || append_bytes_max < command_size_max) {
        return make_error(errc::invalid_argument,
                          "replica group limits must be > 0, and an append must hold a command");
    }
    if (resend_interval <= duration{} || epoch_change_timeout <= duration{}) {
        return make_error(errc::invalid_argument, "replica group timeouts must be > 0");
    }
    return {};
}

group::group(const group_config& limits, group_id id, node_id self, std::vector<node_id> members,
             std::optional<durable_state> recovered, std::uint64_t seed, instant now,
             bool joining, bool resumed)
    : limits_(limits), id_(id), self_(self), created_members_(std::move(members)), prng_(seed) {
    REEF_ASSERT(limits.validate().ok());
    if (recovered && !recovered->members.empty()) {
        created_members_ = recovered->members;
    }
    REEF_ASSERT(!created_members_.empty());
    REEF_ASSERT(std::is_sorted(created_members_.begin(), created_members_.end()));
    REEF_ASSERT(std::adjacent_find(created_members_.begin(), created_members_.end()) ==
                created_members_.end());
    REEF_ASSERT(std::binary_search(created_members_.begin(), created_members_.end(), self_));
    members_ = created_members_;
    if (recovered) {
        promised_ = recovered->promised_epoch;
        base_ = recovered->base;
        log_ = std::move(recovered->log);
        commit_index_ = std::min(recovered->commit_index, last_index());
        // The application rebuilds its state from the snapshot and the committed entries.
        applied_index_ = base_ ? base_->last_index : 0;
        if (base_) {
            effects_.emplace_back(std::in_place_type<install_snapshot>, *base_);
        }
        for (const auto& kept : log_) {
            if (kept.index <= commit_index_) {
                effects_.emplace_back(std::in_place_type<apply>, kept);
                applied_index_ = kept.index;
            }
        }
    }
    refresh_members();
    // A stored log that shows this member's removal committed is final enough to drop the group
    // (if it was brought back later, traffic creates it anew).
    removal_heard_ = recovered.has_value();
    // Only followers are evicted: one resumed from memory stays a follower.
    role_ = leader_of(promised_) == self_ && !joining && !resumed ? role::leader
                                                                  : role::follower;
    if (removed()) {
        role_ = role::follower; // stays silent: a committed change took it out
    } else if (role_ == role::leader && (recovered || promised_ > 0)) {
        // Volatile leader state was lost with the process: never lead this epoch again (it may
        // have promised things it no longer remembers); hand over to the next epoch at once.
        role_ = role::follower;
        start_epoch_change(now);
    } else if (recovered && role_ == role::follower && !resumed) {
        // Ask the leader for appends; if none comes, that leader is gone: move on.
        awaiting_leader_ = true;
        change_deadline_ = now + limits_.epoch_change_timeout;
        effects_.emplace_back(std::in_place_type<send>, leader_of(promised_),
                              epoch_change{promised_});
    }
    if (role_ == role::leader) {
        known_leader_ = self_;
        for (const auto& member : members_) {
            if (member != self_) {
                progress_[member] = follower_progress{0, last_index() + 1, 0, 0, instant::never()};
            }
        }
    }
}

namespace {
/// The rotation of a group's leaders: its id's first 8 bytes, so that every member agrees.
std::uint64_t leader_shift(const group_id& id) {
    std::uint64_t shift = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        shift = (shift << 8U) | id.bytes()[i];
    }
    return shift;
}
} // namespace

node_id group::leader_of(std::uint64_t epoch) const {
    const std::uint64_t turn = (epoch % route_members_.size() +
                                leader_shift(id_) % route_members_.size()) %
                               route_members_.size();
    return route_members_[static_cast<std::size_t>(turn)];
}

node_id group::first_leader(const group_id& id, const std::vector<node_id>& members) {
    REEF_ASSERT(!members.empty());
    return members[static_cast<std::size_t>(leader_shift(id) % members.size())];
}

void group::learn_route(std::pair<std::uint64_t, std::uint64_t> rank,
                        const std::vector<node_id>& members, bool own) {
    if (route_members_.empty() || rank > route_rank_ || (own && rank == route_rank_)) {
        route_rank_ = rank;
        route_members_ = members;
    }
}

bool group::is_member(const node_id& id) const {
    return std::binary_search(members_.begin(), members_.end(), id);
}

void group::assume_leader(const node_id& leader) {
    if (role_ == role::follower && !known_leader_ && leader != self_) {
        known_leader_ = leader;
    }
}

bool group::removed() const {
    return removal_heard_ && !is_member(self_) && change_index_ <= commit_index_;
}

void group::refresh_members() {
    members_ = member_set_after(base_, log_, created_members_);
    learn_route({last_epoch(), last_index()}, members_, true);
    change_index_ = 0;
    for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
        if (is_member_change(*it)) {
            change_index_ = it->index;
            break;
        }
    }
}

std::uint64_t group::last_index() const {
    if (!log_.empty()) {
        return log_.back().index;
    }
    return base_ ? base_->last_index : 0;
}

std::span<const entry> group::unapplied() const {
    const auto first = std::find_if(log_.begin(), log_.end(), [this](const entry& e) {
        return e.index > applied_index_;
    });
    return {first, log_.end()};
}

std::uint64_t group::last_epoch() const {
    if (!log_.empty()) {
        return log_.back().epoch;
    }
    return base_ ? base_->last_epoch : 0;
}

std::optional<std::uint64_t> group::epoch_at(std::uint64_t index) const {
    if (index == 0) {
        return 0;
    }
    const std::uint64_t base_index = base_ ? base_->last_index : 0;
    if (index == base_index) {
        return base_->last_epoch;
    }
    if (index < base_index || index > last_index()) {
        return std::nullopt;
    }
    return log_[static_cast<std::size_t>(index - base_index - 1)].epoch;
}

result<std::uint64_t> group::submit(instant now, request_id request, std::string command) {
    if (role_ != role::leader) {
        return make_error(errc::failed_precondition,
                          "not the leader of this group; epoch " + std::to_string(promised_) +
                              " is led by " + leader().hex());
    }
    if (command.size() > limits_.command_size_max) {
        return make_error(errc::invalid_argument,
                          "command of " + std::to_string(command.size()) + " bytes exceeds " +
                              std::to_string(limits_.command_size_max));
    }
    if (last_index() - commit_index_ >= limits_.uncommitted_max) {
        return make_error(errc::resource_exhausted, "too many uncommitted entries in this group");
    }
    ++stats_.submitted;
    const std::uint64_t index = last_index() + 1;
    append_local({entry{index, promised_, request, std::move(command)}});
    for (const auto& [member, progress] : progress_) {
        if (progress.next == index) {
            send_append(now, member);
        }
    }
    advance_commit(now); // a group of one commits at once
    return index;
}

void group::append_local(std::vector<entry> entries) {
    if (entries.empty()) {
        return;
    }
    REEF_ASSERT(entries.front().index <= last_index() + 1);
    const std::uint64_t from = entries.front().index;
    REEF_ASSERT(from > commit_index_); // committed entries are never overwritten
    // The log is dense: the entry at `from` sits at position from - base - 1.
    const std::uint64_t base_index = base_ ? base_->last_index : 0;
    REEF_ASSERT(from > base_index);
    const auto keep = static_cast<std::size_t>(from - base_index - 1);
    log_.resize(std::min(log_.size(), keep));
    const bool changes_members =
        change_index_ >= from ||
        std::any_of(entries.begin(), entries.end(),
                    [](const entry& e) { return is_member_change(e); });
    log_.insert(log_.end(), entries.begin(), entries.end());
    if (changes_members) {
        refresh_members();
    }
    effects_.emplace_back(std::in_place_type<persist_entries>, std::move(entries));
    if (log_.size() > limits_.log_retained_max && !compaction_requested_) {
        compaction_requested_ = true;
        effects_.emplace_back(std::in_place_type<compaction_due>, applied_index_);
    }
}

void group::on_message(instant now, const node_id& from, const message& incoming) {
    if (from == self_) {
        ++stats_.ignored;
        return;
    }
    const bool member = is_member(from);
    std::uint64_t epoch = 0;
    if (const auto* stale = std::get_if<stale_epoch>(&incoming)) {
        if (member) {
            on_stale(now, *stale);
        } else {
            ++stats_.ignored;
        }
        return;
    }
    std::visit(
        [&](const auto& body) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(body)>, stale_epoch>) {
                epoch = body.epoch;
            }
        },
        incoming);
    // A node outside this member's set may be a member whose set this member has not learned
    // yet (or the reverse): its appends (only an epoch's leader sends them) and its promises and
    // replies for this member's epoch are taken, as Raft servers take messages from outside
    // their configuration. It cannot start an epoch here: a removed member cannot disturb.
    if (!member && (std::holds_alternative<epoch_change>(incoming) ||
                    (!std::holds_alternative<append>(incoming) && epoch > promised_))) {
        ++stats_.ignored;
        return;
    }
    if (epoch < promised_) {
        ++stats_.stale_messages;
        effects_.emplace_back(std::in_place_type<send>, from, stale_epoch{promised_});
        return;
    }
    if (const auto* asked = std::get_if<epoch_change>(&incoming)) {
        on_epoch_change(now, from, *asked);
    } else if (const auto* promised = std::get_if<epoch_promise>(&incoming)) {
        on_epoch_promise(now, from, *promised);
    } else if (const auto* appended = std::get_if<append>(&incoming)) {
        on_append(now, from, *appended);
    } else {
        on_append_reply(now, from, std::get<append_reply>(incoming));
    }
}

void group::start_epoch_change(instant now) { promise(now, promised_ + 1); }

void group::on_member_down(instant now, const node_id& member) {
    if (member == leader() && member != self_ && role_ != role::changing) {
        start_epoch_change(now);
    }
}

void group::promise(instant now, std::uint64_t epoch) {
    REEF_ASSERT(epoch > promised_);
    ++stats_.epoch_changes;
    promised_ = epoch;
    known_leader_.reset();
    awaiting_leader_ = false;
    progress_.clear();
    promises_.clear();
    set_role(role::changing);
    effects_.emplace_back(std::in_place_type<persist_promise>, promised_, created_members_);
    // Everyone learns of the epoch; the new leader gets this member's log.
    for (const auto& member : members_) {
        if (member != self_) {
            effects_.emplace_back(std::in_place_type<send>, member, epoch_change{promised_});
        }
    }
    // This member's promise for the epoch goes to one member only, chosen once: that is what
    // makes a leader per epoch unique.
    promise_target_ = leader_of(promised_);
    epoch_promise mine{promised_, base_, log_, commit_index_};
    if (promise_target_ == self_) {
        promises_[self_] = std::move(mine);
    } else {
        effects_.emplace_back(std::in_place_type<send>, promise_target_, std::move(mine));
    }
    change_resend_at_ = now + limits_.resend_interval;
    const auto span = limits_.epoch_change_timeout.scaled(
        static_cast<double>(1U << std::min(failed_changes_, limits_.epoch_change_backoff_max)));
    change_deadline_ = now + span + span.scaled(prng_.unit());
    try_lead(now); // a group of one
}

void group::try_lead(instant now) {
    // Any member that holds promises from a majority may lead, also one the others address by
    // a member set it has not learned yet; its own promise counts only if it made it to itself.
    if (role_ != role::changing || promises_.empty()) {
        return;
    }
    const auto count_in = [&](const std::vector<node_id>& set) {
        return static_cast<std::size_t>(
            std::count_if(promises_.begin(), promises_.end(), [&](const auto& held) {
                return std::binary_search(set.begin(), set.end(), held.first);
            }));
    };
    if (count_in(members_) < majority()) {
        return;
    }
    // The log this member will adopt may put another member set in force: the promises must be
    // a majority of that one too, and this member must belong to it.
    const epoch_promise* best = nullptr;
    for (const auto& [member, promised] : promises_) {
        if (best == nullptr || last_of(*best) < last_of(promised)) {
            best = &promised;
        }
    }
    std::vector<node_id> after = members_;
    if (std::make_pair(last_epoch(), last_index()) < last_of(*best)) {
        after = member_set_after(best->base, best->log, created_members_);
    }
    if (!std::binary_search(after.begin(), after.end(), self_) ||
        count_in(after) < after.size() / 2 + 1) {
        return; // wait for more promises; the deadline moves on to the next epoch otherwise
    }
    become_leader(now);
}

void group::on_epoch_change(instant now, const node_id& from, const epoch_change& asked) {
    if (asked.epoch > promised_) {
        promise(now, asked.epoch);
        return;
    }
    // The same epoch again (a resend, or a member that missed our promise).
    if (role_ == role::changing && promise_target_ != self_) {
        effects_.emplace_back(std::in_place_type<send>, promise_target_,
                              epoch_promise{promised_, base_, log_, commit_index_});
    } else if (role_ == role::leader) {
        send_append(now, from);
    }
}

void group::on_epoch_promise(instant now, const node_id& from, const epoch_promise& promised) {
    if (promised.epoch > promised_) {
        promise(now, promised.epoch);
    }
    if (role_ == role::leader) {
        send_append(now, from); // a late promise: bring that member up to date
        return;
    }
    if (role_ != role::changing || promised.epoch != promised_) {
        ++stats_.ignored;
        return;
    }
    // A more up-to-date log may have moved to another member set: address the next epoch by it,
    // so members that lag behind and members that do not agree on who leads the next epoch.
    learn_route(last_of(promised),
                member_set_after(promised.base, promised.log, created_members_), false);
    promises_[from] = promised;
    try_lead(now);
}

void group::become_leader(instant now) {
    // The most up-to-date log among the promises: greatest (last entry epoch, last index). Every
    // committed entry is durable on a majority, which meets this majority, and a log holding a
    // later epoch's entries holds every entry committed before that epoch.
    const epoch_promise* best = nullptr;
    std::uint64_t known_commit = commit_index_;
    for (const auto& [member, promised] : promises_) {
        if (best == nullptr || last_of(*best) < last_of(promised)) {
            best = &promised;
        }
        known_commit = std::max(known_commit, promised.commit_index);
    }
    REEF_ASSERT(best != nullptr);
    if (std::make_pair(last_epoch(), last_index()) < last_of(*best)) {
        const epoch_promise adopted = *best; // copy: promises_ is cleared below
        if (adopted.base && (!base_ || base_->last_index < adopted.base->last_index)) {
            adopt_snapshot(*adopted.base);
        }
        // Committed entries are the same everywhere: take the adopted log after our commit.
        std::vector<entry> suffix;
        for (const auto& kept : adopted.log) {
            if (kept.index > commit_index_) {
                suffix.push_back(kept);
            }
        }
        append_local(std::move(suffix));
    }
    std::map<node_id, std::uint64_t> promised_last;
    for (const auto& [member, promised] : promises_) {
        promised_last[member] = last_of(promised).second;
    }
    promises_.clear();
    failed_changes_ = 0;
    known_leader_ = self_;
    set_role(role::leader);
    change_deadline_ = instant::never();
    change_resend_at_ = instant::never();
    // A no-op in the new epoch: committing it commits everything before it.
    append_local({entry{last_index() + 1, promised_, request_id{}, std::string{}}});
    for (const auto& member : members_) {
        if (member == self_) {
            continue;
        }
        // Resume after the follower's last entry (or at the no-op); a mismatch walks back.
        auto& progress = progress_[member];
        progress.match = 0;
        const auto known = promised_last.find(member);
        progress.next = known != promised_last.end() ? std::min(known->second + 1, last_index())
                                                     : last_index();
        progress.next = std::max<std::uint64_t>(progress.next, 1);
        send_append(now, member);
    }
    set_commit(std::min(known_commit, last_index()));
    advance_commit(now);
}

void group::send_append(instant now, const node_id& to) {
    auto found = progress_.find(to);
    if (found == progress_.end()) {
        return;
    }
    auto& progress = found->second;
    const std::uint64_t base_index = base_ ? base_->last_index : 0;
    append out;
    out.epoch = promised_;
    out.commit_index = commit_index_;
    if (progress.next <= base_index) {
        out.base = base_;
        progress.next = base_index + 1;
    }
    out.prev_index = progress.next - 1;
    const auto prev_epoch = epoch_at(out.prev_index);
    REEF_ASSERT(prev_epoch.has_value());
    out.prev_epoch = *prev_epoch;
    // Bounded by count and by bytes (with a snapshot's state), so the message fits a frame;
    // the first entry always goes.
    std::size_t bytes = out.base ? out.base->state.size() : 0;
    for (std::uint64_t i = progress.next; i <= last_index(); ++i) {
        const auto& next = log_[static_cast<std::size_t>(i - base_index - 1)];
        if (out.entries.size() >= limits_.append_entries_max ||
            (!out.entries.empty() && bytes + next.command.size() > limits_.append_bytes_max)) {
            break;
        }
        bytes += next.command.size();
        out.entries.push_back(next);
    }
    progress.resend_at = now + limits_.resend_interval;
    progress.commit_sent = commit_index_;
    if (progress.leaving) {
        --progress.farewells_left;
    }
    effects_.emplace_back(std::in_place_type<send>, to, std::move(out));
}

void group::on_append(instant now, const node_id& from, const append& incoming) {
    // Whoever sends an append for an epoch leads it (one leader per epoch, see the header); this
    // member's own view of who leads may differ while member sets change. A second leader of
    // this member's own epoch cannot exist: ignore it rather than obey it.
    if (role_ == role::leader && incoming.epoch == promised_) {
        ++stats_.ignored;
        return;
    }
    if (incoming.epoch > promised_) {
        promised_ = incoming.epoch;
        effects_.emplace_back(std::in_place_type<persist_promise>, promised_, created_members_);
    }
    known_leader_ = from;
    if (role_ != role::follower) {
        set_role(role::follower);
        progress_.clear();
        promises_.clear();
    }
    awaiting_leader_ = false;
    failed_changes_ = 0;
    change_deadline_ = instant::never();
    change_resend_at_ = instant::never();
    if (incoming.base && (!base_ || base_->last_index < incoming.base->last_index)) {
        adopt_snapshot(*incoming.base);
    }
    const auto local_prev = epoch_at(incoming.prev_index);
    if (!local_prev || *local_prev != incoming.prev_epoch) {
        ++stats_.rejected_appends;
        const std::uint64_t hint =
            std::max(commit_index_, std::min(last_index(), incoming.prev_index - 1));
        effects_.emplace_back(std::in_place_type<send>, from,
                              append_reply{promised_, false, hint, commit_index_});
        return;
    }
    // Skip entries already held with the same epoch; overwrite from the first conflict.
    std::vector<entry> fresh;
    for (const auto& offered : incoming.entries) {
        if (!fresh.empty()) {
            fresh.push_back(offered);
            continue;
        }
        const auto held = epoch_at(offered.index);
        if (offered.index <= (base_ ? base_->last_index : 0) || (held && *held == offered.epoch)) {
            continue;
        }
        fresh.push_back(offered);
    }
    if (!fresh.empty() && fresh.front().index <= commit_index_) {
        // A leader contradicting a committed entry: impossible between correct members.
        ++stats_.ignored;
        return;
    }
    append_local(std::move(fresh));
    const std::uint64_t matched = incoming.prev_index + incoming.entries.size();
    set_commit(std::min(incoming.commit_index, matched));
    // A log caught up to its leader's end (a full append may be followed by more, which may
    // bring this member back) that shows this member's removal committed: it is out.
    removal_heard_ = incoming.entries.size() < limits_.append_entries_max &&
                     matched >= incoming.commit_index;
    effects_.emplace_back(std::in_place_type<send>, from,
                          append_reply{promised_, true, matched, commit_index_});
    (void)now;
}

void group::on_append_reply(instant now, const node_id& from, const append_reply& reply) {
    if (reply.epoch > promised_) {
        promise(now, reply.epoch);
        return;
    }
    if (role_ != role::leader || reply.epoch != promised_) {
        ++stats_.ignored;
        return;
    }
    auto found = progress_.find(from);
    if (found == progress_.end()) {
        ++stats_.ignored; // a member this leader no longer tracks (the set changed)
        return;
    }
    auto& progress = found->second;
    progress.commit_acked = std::max(progress.commit_acked, reply.commit_index);
    if (progress.leaving && (progress.commit_acked >= change_index_ ||
                             progress.farewells_left == 0)) {
        progress_.erase(found); // it knows it is out (or has had its last chance)
        return;
    }
    if (reply.accepted) {
        progress.match = std::max(progress.match, std::min(reply.last_index, last_index()));
        progress.next = std::max(progress.next, progress.match + 1);
        advance_commit(now);
    } else {
        // Walk back, but never below what it is known to hold (a late refusal, overtaken by an
        // acceptance, must not leave `next` at an entry it already has, or the next submission
        // would skip it).
        progress.next = std::max<std::uint64_t>(
            progress.match + 1, std::min(progress.next - 1, reply.last_index + 1));
    }
    if (progress.next <= last_index() || progress.commit_sent < commit_index_) {
        send_append(now, from);
    } else if (progress.commit_acked >= commit_index_) {
        progress.resend_at = instant::never(); // caught up: idle until the next submission
    }
}

void group::on_stale(instant now, const stale_epoch& stale) {
    if (stale.promised > promised_) {
        promise(now, stale.promised);
    }
}

void group::advance_commit(instant now) {
    if (role_ != role::leader) {
        return;
    }
    // The highest index a majority holds durably (this leader holds its whole log: its appends
    // were persisted before anything it sent after them).
    std::vector<std::uint64_t> matches{last_index()};
    for (const auto& [member, progress] : progress_) {
        if (!progress.leaving) {
            matches.push_back(progress.match);
        }
    }
    std::sort(matches.begin(), matches.end(), std::greater<>());
    const std::uint64_t candidate = matches[majority() - 1];
    if (candidate > commit_index_ && epoch_at(candidate) == promised_) {
        set_commit(candidate);
        advance_member_change(now);
        // Followers learn the commit from the next append; tell the ones that are up to date
        // now, so they apply (and could take over) without waiting for more traffic.
        for (const auto& [member, progress] : progress_) {
            if (progress.next > last_index() && progress.commit_sent < commit_index_) {
                send_append(now, member);
            }
        }
    }
}

status group::change_members(instant now, std::vector<node_id> target) {
    if (role_ != role::leader) {
        return make_error(errc::failed_precondition, "not the leader of this group");
    }
    if (target.empty() || target.size() > member_set_size_max ||
        !std::is_sorted(target.begin(), target.end()) ||
        std::adjacent_find(target.begin(), target.end()) != target.end() ||
        std::any_of(target.begin(), target.end(), [](const node_id& n) { return n.is_zero(); })) {
        return make_error(errc::invalid_argument,
                          "a member set is 1.." + std::to_string(member_set_size_max) +
                              " distinct non-zero ids, sorted");
    }
    if (!std::binary_search(target.begin(), target.end(), self_)) {
        return make_error(errc::failed_precondition, "a leader does not remove itself");
    }
    member_target_ = std::move(target);
    advance_member_change(now);
    return {};
}

void group::advance_member_change(instant now) {
    if (role_ != role::leader || !member_target_) {
        return;
    }
    if (members_ == *member_target_) {
        member_target_.reset();
        return;
    }
    // One change at a time, and only once this epoch's own entry is committed: otherwise two
    // uncommitted sets could coexist in different logs (the known flaw of single-server changes
    // without that rule).
    if (change_index_ > commit_index_ || epoch_at(commit_index_) != promised_ ||
        last_index() - commit_index_ >= limits_.uncommitted_max) {
        return;
    }
    std::vector<node_id> next = members_;
    auto leaving = std::find_if(next.begin(), next.end(), [&](const node_id& m) {
        return !std::binary_search(member_target_->begin(), member_target_->end(), m);
    });
    if (leaving != next.end()) {
        next.erase(leaving);
    } else {
        auto joining = std::find_if(member_target_->begin(), member_target_->end(),
                                    [&](const node_id& m) { return !is_member(m); });
        REEF_ASSERT(joining != member_target_->end());
        next.insert(std::upper_bound(next.begin(), next.end(), *joining), *joining);
    }
    REEF_ASSERT(one_member_apart(members_, next));
    ++stats_.member_changes;
    const std::uint64_t index = last_index() + 1;
    append_local({entry{index, promised_, request_id{}, encode_member_set(next)}});
    REEF_ASSERT(members_ == next);
    track_members(now);
    for (const auto& [member, progress] : progress_) {
        if (progress.next == index) {
            send_append(now, member);
        }
    }
    advance_commit(now); // a group of one commits at once
}

void group::track_members(instant now) {
    // A member taken out keeps receiving appends until it knows its removal is committed (so it
    // drops the group), at most farewell_appends_max times (it is usually dead).
    for (auto& [member, progress] : progress_) {
        if (!is_member(member) && !progress.leaving) {
            progress.leaving = true;
            progress.farewells_left = farewell_appends_max;
        }
    }
    std::erase_if(progress_, [&](const auto& held) {
        return held.second.leaving && is_member(held.first) == false &&
               held.second.farewells_left == 0;
    });
    for (auto& [member, progress] : progress_) {
        if (progress.leaving && is_member(member)) {
            progress = follower_progress{}; // back before it left: start over
            progress.next = std::max<std::uint64_t>(last_index(), 1);
            send_append(now, member);
        }
    }
    for (const auto& member : members_) {
        if (member != self_ && !progress_.contains(member)) {
            // A newcomer: start at the last entry; a mismatch walks back to what it holds (or
            // to the snapshot).
            progress_[member] = follower_progress{0, std::max<std::uint64_t>(last_index(), 1),
                                                  0, 0, instant::never()};
            send_append(now, member);
        }
    }
}

void group::set_commit(std::uint64_t commit_index) {
    if (commit_index <= commit_index_) {
        return;
    }
    REEF_ASSERT(commit_index <= last_index());
    stats_.committed += commit_index - commit_index_;
    commit_index_ = commit_index;
    const std::uint64_t base_index = base_ ? base_->last_index : 0;
    while (applied_index_ < commit_index_) {
        ++applied_index_;
        effects_.emplace_back(std::in_place_type<apply>,
                              log_[static_cast<std::size_t>(applied_index_ - base_index - 1)]);
    }
    // After the applies: the entries are already durable on a majority, which is what makes them
    // committed; the stored commit index is only a lower bound for a restart, so applying (and
    // answering clients) need not wait for its fsync.
    effects_.emplace_back(std::in_place_type<persist_commit>, commit_index_);
}

void group::adopt_snapshot(const snapshot& base) {
    std::erase_if(log_, [&](const entry& kept) { return kept.index <= base.last_index; });
    // Entries after the snapshot that do not follow it are dropped with it.
    if (!log_.empty() && log_.front().index != base.last_index + 1) {
        log_.clear();
    }
    base_ = base;
    refresh_members();
    effects_.emplace_back(std::in_place_type<persist_snapshot>, base);
    if (applied_index_ < base.last_index) {
        applied_index_ = base.last_index;
        effects_.emplace_back(std::in_place_type<install_snapshot>, base);
    }
    commit_index_ = std::max(commit_index_, base.last_index);
}

void group::compact(const snapshot& base) {
    REEF_ASSERT(base.last_index <= applied_index_);
    compaction_requested_ = false;
    if (base_ && base_->last_index >= base.last_index) {
        return;
    }
    // The snapshot carries the member set in force at its index: the entries it replaces may
    // hold the last member change.
    snapshot kept_base = base;
    const std::uint64_t base_index = base_ ? base_->last_index : 0;
    const auto covered = static_cast<std::size_t>(base.last_index - base_index);
    REEF_ASSERT(covered <= log_.size());
    kept_base.members = member_set_after(
        base_, std::span<const entry>(log_.data(), covered), created_members_);
    std::erase_if(log_, [&](const entry& kept) { return kept.index <= base.last_index; });
    base_ = std::move(kept_base);
    effects_.emplace_back(std::in_place_type<persist_snapshot>, *base_);
}

void group::set_role(role next) {
    if (role_ == next && next != role::changing) {
        return;
    }
    role_ = next;
    effects_.emplace_back(std::in_place_type<role_changed>, promised_, leader(),
                          next == role::leader);
}

void group::on_tick(instant now) {
    if (removed()) {
        return; // out of the group for good: nothing to time out
    }
    if (awaiting_leader_ && now >= change_deadline_) {
        awaiting_leader_ = false;
        start_epoch_change(now);
        return;
    }
    if (role_ == role::changing) {
        if (now >= change_deadline_) {
            ++failed_changes_;
            start_epoch_change(now); // that leader never came: try the next one
            return;
        }
        if (now >= change_resend_at_) {
            change_resend_at_ = now + limits_.resend_interval;
            for (const auto& member : members_) {
                if (member != self_) {
                    effects_.emplace_back(std::in_place_type<send>, member,
                                          epoch_change{promised_});
                }
            }
            if (promise_target_ != self_) {
                effects_.emplace_back(std::in_place_type<send>, promise_target_,
                                      epoch_promise{promised_, base_, log_, commit_index_});
            }
        }
        return;
    }
    if (role_ == role::leader) {
        for (auto& [member, progress] : progress_) {
            if (now >= progress.resend_at) {
                if (progress.leaving && progress.farewells_left == 0) {
                    progress.resend_at = instant::never(); // gone for good: erased below
                } else if (progress.match < last_index() ||
                           progress.commit_acked < commit_index_) {
                    send_append(now, member);
                } else {
                    progress.resend_at = instant::never();
                }
            }
        }
        std::erase_if(progress_, [](const auto& held) {
            return held.second.leaving && held.second.resend_at == instant::never();
        });
    }
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> group::progress_of(
    const node_id& member) const {
    auto found = progress_.find(member);
    if (found == progress_.end()) {
        return std::nullopt;
    }
    return std::make_pair(found->second.match, found->second.next);
}

std::vector<effect> group::take_effects() { return std::exchange(effects_, {}); }

instant group::next_deadline() const {
    if (removed()) {
        return instant::never();
    }
    if (awaiting_leader_) {
        return change_deadline_;
    }
    if (role_ == role::changing) {
        return std::min(change_deadline_, change_resend_at_);
    }
    instant earliest = instant::never();
    if (role_ == role::leader) {
        for (const auto& [member, progress] : progress_) {
            earliest = std::min(earliest, progress.resend_at);
        }
    }
    return earliest;
}

void group::check_invariants() const {
    const std::uint64_t base_index = base_ ? base_->last_index : 0;
    for (std::size_t i = 0; i < log_.size(); ++i) {
        REEF_ASSERT(log_[i].index == base_index + 1 + i);
    }
    REEF_ASSERT(applied_index_ <= commit_index_);
    REEF_ASSERT(commit_index_ <= last_index());
    REEF_ASSERT(change_index_ <= last_index());
    if (role_ == role::leader) {
        REEF_ASSERT(is_member(self_));
        REEF_ASSERT(last_epoch() == promised_);
        std::size_t tracked = 0;
        for (const auto& [member, progress] : progress_) {
            REEF_ASSERT(is_member(member) != progress.leaving);
            tracked += progress.leaving ? 0 : 1;
            REEF_ASSERT(progress.match <= last_index());
            REEF_ASSERT(progress.next >= 1);
            REEF_ASSERT(progress.next > progress.match);
            // A follower that lacks entries is always due a (re)send: none is forgotten.
            REEF_ASSERT(progress.leaving || progress.match >= last_index() ||
                        progress.resend_at != instant::never());
        }
        REEF_ASSERT(tracked + 1 == members_.size());
    }
}

} // namespace reef::replica
