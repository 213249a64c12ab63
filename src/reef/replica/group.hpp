#pragma once
// One member's side of one replica group: Viewstamped-Replication-style consensus with epochs,
// a majority-acknowledged durable log and fenced failover (docs/design/replica.md).
//
// Thread-safety: none; one owner drives it (the node's event loop or the simulator).
// Inputs: submit, on_message, start_epoch_change, on_member_down, compact, on_tick (each with the
// current `instant`).
// Outputs: take_effects() and next_deadline(). An idle group (leader with every entry
// acknowledged, or follower) has no deadline at all: liveness comes from membership
// (on_member_down), never from per-group heartbeats. The exceptions are bounded in time: a
// restarted member waits at most epoch_change_timeout to hear from its leader, and an epoch
// change in progress retries until a leader serves.
//
// Effect order is an obligation: a persist_* effect must be durable (fsynced) before any effect
// after it is executed. A driver may batch: stage every persist of a drain (of many groups), sync
// once, then execute the rest in order.
//
// Protocol in brief: the leader of epoch e is members[(e + s) % R], where s is derived from the
// group id (so that on a small cluster not every group starts led by the same node). It
// appends, sends `append`, and
// commits an index once a majority (itself included) has it durably and the entry at that index
// carries epoch e; committed entries are applied in order at every member. To replace a leader,
// any member starts epoch e+1: members promise it durably and send their logs to its leader,
// which adopts the most up-to-date log of a majority (greatest (last entry epoch, last index)),
// appends a no-op in epoch e+1 and starts appending. A member never accepts a message from an
// epoch older than its promise, so a deposed leader cannot gather a majority: it is fenced.
//
// Member changes (change_members) go through the log one member at a time, as Raft's
// single-server changes: the set in force is the last member change in the log, committed or
// not (else the snapshot's, else the set the group was created with), and any majority of a set
// meets any majority of a set one member apart. A leader proposes a change only once an entry of
// its own epoch is committed and no other change is pending, so two uncommitted sets never
// coexist. Appends are accepted from whichever member sends them for the promised epoch: only one
// member can lead an epoch, because each member promises an epoch to one leader only.
//
// Invariants (check_invariants): the log is dense after the snapshot; applied <= commit <= last
// index; a leader in normal status has an entry of its epoch and is in the set in force; match
// and next indexes are within the log; a leader tracks exactly the other members in force.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/prng.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/replica/messages.hpp"
#include "reef/replica/types.hpp"

namespace reef::replica {

struct group_config {
    /// Largest command accepted by submit() (an actor's entry carries its new state and the
    /// messages it sends).
    std::size_t command_size_max = 16 * 1024;
    /// Entries in one append message, and their command bytes (with a snapshot's state): the
    /// first entry always goes, so a message stays within a transport frame.
    std::size_t append_entries_max = 64;
    std::size_t append_bytes_max = 256 * 1024;
    /// Entries submitted but not yet committed, at the leader; more are refused (backpressure).
    std::size_t uncommitted_max = 1024;
    /// Entries kept after the snapshot before compact() is asked for (compaction_due). With the
    /// command bound it keeps a promise (the whole retained log) within one wire message.
    std::size_t log_retained_max = 32;
    /// An epoch change that fails doubles its timeout, up to this many times, so a group that
    /// cannot reach a majority (or a removed member that has not learned it) backs off.
    std::uint32_t epoch_change_backoff_max = 2;
    /// Unacknowledged appends and unanswered epoch changes are sent again this often.
    duration resend_interval = duration::milliseconds(200);
    /// An epoch change that has not produced a working leader by then moves on to the next epoch
    /// (and so the next leader), after a random extra delay of up to the same length.
    duration epoch_change_timeout = duration::seconds(1);

    [[nodiscard]] status validate() const;
};

struct send {
    node_id to;
    message body;
};
struct persist_promise {
    std::uint64_t epoch = 0;
    std::vector<node_id> members;
};
struct persist_entries {
    std::vector<entry> entries;
};
struct persist_commit {
    std::uint64_t commit_index = 0;
};
struct persist_snapshot {
    snapshot base;
};
/// A committed entry, in index order, exactly once per member life. No-op entries (empty
/// request) are included so the application sees a dense sequence.
struct apply {
    entry committed;
};
/// A snapshot adopted from the leader replaces the application's state.
struct install_snapshot {
    snapshot base;
};
/// This member's role changed (for the driver: fail or redirect pending requests).
struct role_changed {
    std::uint64_t epoch = 0;
    node_id leader;
    bool leading = false;
};
/// The retained log exceeds log_retained_max: the driver should call compact().
struct compaction_due {
    std::uint64_t applied_index = 0;
};

using effect = std::variant<send, persist_promise, persist_entries, persist_commit,
                            persist_snapshot, apply, install_snapshot, role_changed,
                            compaction_due>;

enum class role : std::uint8_t { leader, follower, changing };

struct group_stats {
    std::uint64_t submitted = 0;
    std::uint64_t member_changes = 0;    // member-change entries this member appended as leader
    std::uint64_t committed = 0;
    std::uint64_t epoch_changes = 0;
    std::uint64_t stale_messages = 0;    // messages from an older epoch (answered with stale_epoch)
    std::uint64_t rejected_appends = 0;  // log mismatches
    std::uint64_t ignored = 0;           // malformed or out-of-place messages
};

class group {
public:
    /// `members` (the set the group is created with) sorted, unique, containing `self`;
    /// `recovered` is what storage kept (nothing for a new group; its `members` replace
    /// `members`). A member restarted as the leader of its promised epoch starts the next epoch
    /// at once: its volatile leader state is gone.
    /// `joining`: created because another member's traffic named this node (a newcomer to an
    /// existing group, or a follower of a new one), never to lead epoch 0.
    /// `resumed`: `recovered` was evicted from memory by this same process (not a restart):
    /// nothing was lost, so a follower does not ask its leader again.
    group(const group_config& limits, group_id id, node_id self, std::vector<node_id> members,
          std::optional<durable_state> recovered, std::uint64_t seed, instant now,
          bool joining = false, bool resumed = false);

    /// Leader only: append a command. Errors: failed_precondition "not the leader" (with the
    /// leader's id in the message), resource_exhausted (uncommitted_max), invalid_argument
    /// (command too large). Returns the entry's index.
    [[nodiscard]] result<std::uint64_t> submit(instant now, request_id request,
                                               std::string command);
    /// A message from member `from` (anything from a non-member is ignored and counted).
    void on_message(instant now, const node_id& from, const message& incoming);
    /// Replace the leader: start the next epoch.
    void start_epoch_change(instant now);
    /// Membership says `member` is dead: if it leads, start the next epoch.
    void on_member_down(instant now, const node_id& member);
    /// Leader only: move the member set to `target` (sorted, unique, containing this leader),
    /// one member at a time (removals first), each step a log entry committed before the next.
    /// The goal is volatile: a new leader is asked again. Errors: failed_precondition (not the
    /// leader, or `target` would remove it), invalid_argument (empty, unsorted, too large).
    [[nodiscard]] status change_members(instant now, std::vector<node_id> target);
    /// The application's state after applying up to `base.last_index` (<= applied index):
    /// persist it and drop the entries it covers.
    void compact(const snapshot& base);
    void on_tick(instant now);

    [[nodiscard]] std::vector<effect> take_effects();
    /// instant::never() when idle.
    [[nodiscard]] instant next_deadline() const;

    const group_id& id() const { return id_; }
    std::uint64_t epoch() const { return promised_; }
    /// Who leads the promised epoch as far as this member knows: the member whose append it
    /// accepted for that epoch (or itself), else the epoch's designated leader.
    node_id leader() const { return known_leader_.value_or(leader_of(promised_)); }
    role current_role() const { return role_; }
    std::uint64_t commit_index() const { return commit_index_; }
    std::uint64_t applied_index() const { return applied_index_; }
    std::uint64_t last_index() const;
    /// The entries after applied_index(), committed or not (the tail a leader's application has
    /// not applied yet).
    std::span<const entry> unapplied() const;
    /// The member set in force (see "Member changes" above).
    const std::vector<node_id>& members() const { return members_; }
    /// A committed member change removed this node: the group is no longer its business.
    bool removed() const;
    /// A follower resumed from eviction: who led its epoch when it was evicted (a hint for
    /// requests; the next append or epoch change corrects it).
    void assume_leader(const node_id& leader);
    const group_stats& stats() const { return stats_; }
    /// Leader only: what it knows of `member` (match index, next index to send), for inspection.
    std::optional<std::pair<std::uint64_t, std::uint64_t>> progress_of(const node_id& member) const;

    void check_invariants() const;

private:
    struct follower_progress {
        std::uint64_t match = 0;  // highest index known durable there
        std::uint64_t next = 1;   // next index to send
        std::uint64_t commit_sent = 0;   // the commit index the last append told it
        std::uint64_t commit_acked = 0;  // the commit index it reported
        instant resend_at = instant::never();
        bool leaving = false;             // removed from the set: told until it knows
        std::uint32_t farewells_left = 0;
    };
    static constexpr std::uint32_t farewell_appends_max = 8;

    /// The member an epoch's promises are addressed to: members[(epoch + s) mod R] of the member
    /// set of the most up-to-date log this member has seen (its own, or one promised to it).
    node_id leader_of(std::uint64_t epoch) const;
public:
    /// The member that leads epoch 0 of a new group `id` with `members` (sorted).
    static node_id first_leader(const group_id& id, const std::vector<node_id>& members);
private:
    void learn_route(std::pair<std::uint64_t, std::uint64_t> rank,
                     const std::vector<node_id>& members, bool own);
    bool is_member(const node_id& id) const;
    void refresh_members();
    void track_members(instant now);
    void advance_member_change(instant now);
    void try_lead(instant now);
    std::uint64_t last_epoch() const;
    std::optional<std::uint64_t> epoch_at(std::uint64_t index) const;
    std::size_t majority() const { return members_.size() / 2 + 1; }

    void promise(instant now, std::uint64_t epoch);
    void on_epoch_change(instant now, const node_id& from, const epoch_change& asked);
    void on_epoch_promise(instant now, const node_id& from, const epoch_promise& promised);
    void become_leader(instant now);
    void on_append(instant now, const node_id& from, const append& incoming);
    void on_append_reply(instant now, const node_id& from, const append_reply& reply);
    void on_stale(instant now, const stale_epoch& stale);
    void send_append(instant now, const node_id& to);
    void advance_commit(instant now);
    void set_commit(std::uint64_t commit_index);
    void append_local(std::vector<entry> entries);
    void adopt_snapshot(const snapshot& base);
    void set_role(role next);

    group_config limits_;
    group_id id_;
    node_id self_;
    std::vector<node_id> created_members_;  // the set the group was created with (durable)
    std::vector<node_id> members_;          // the set in force
    std::uint64_t change_index_ = 0;        // index of the last member change in the log, or 0
    std::optional<std::vector<node_id>> member_target_;  // leader: where change_members goes
    std::uint32_t failed_changes_ = 0;      // epoch changes that timed out in a row
    std::optional<node_id> known_leader_;   // who leads promised_, once known
    bool removal_heard_ = false;  // the last append reached its leader's end (see removed())
    std::vector<node_id> route_members_;                   // see leader_of()
    std::pair<std::uint64_t, std::uint64_t> route_rank_;   // (last epoch, last index) of its log
    node_id promise_target_;                               // who got this member's promise
    prng prng_;
    std::uint64_t promised_ = 0;
    role role_ = role::follower;
    std::optional<snapshot> base_;
    std::vector<entry> log_;
    std::uint64_t commit_index_ = 0;
    std::uint64_t applied_index_ = 0;
    // Leader state.
    std::map<node_id, follower_progress> progress_;
    // Epoch-change state (at the new epoch's leader: the promises gathered so far).
    std::map<node_id, epoch_promise> promises_;
    instant change_deadline_ = instant::never();
    instant change_resend_at_ = instant::never();
    // A restarted follower that has not heard from its leader yet (change_deadline_ applies).
    bool awaiting_leader_ = false;
    bool compaction_requested_ = false;
    std::vector<effect> effects_;
    group_stats stats_;
};

} // namespace reef::replica
