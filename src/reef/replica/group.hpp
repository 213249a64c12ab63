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
// Protocol in brief: the leader of epoch e is members[e % R]. It appends, sends `append`, and
// commits an index once a majority (itself included) has it durably and the entry at that index
// carries epoch e; committed entries are applied in order at every member. To replace a leader,
// any member starts epoch e+1: members promise it durably and send their logs to its leader,
// which adopts the most up-to-date log of a majority (greatest (last entry epoch, last index)),
// appends a no-op in epoch e+1 and starts appending. A member never accepts a message from an
// epoch older than its promise, so a deposed leader cannot gather a majority: it is fenced.
//
// Invariants (check_invariants): the log is dense after the snapshot; applied <= commit <= last
// index; a leader in normal status has an entry of its epoch; match and next indexes are within
// the log.

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
    /// Largest command accepted by submit().
    std::size_t command_size_max = 4096;
    /// Entries in one append message.
    std::size_t append_entries_max = 64;
    /// Entries submitted but not yet committed, at the leader; more are refused (backpressure).
    std::size_t uncommitted_max = 1024;
    /// Entries kept after the snapshot before compact() is asked for (compaction_due). With the
    /// command bound it keeps a promise (the whole retained log) within one wire message.
    std::size_t log_retained_max = 128;
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
    std::uint64_t committed = 0;
    std::uint64_t epoch_changes = 0;
    std::uint64_t stale_messages = 0;    // messages from an older epoch (answered with stale_epoch)
    std::uint64_t rejected_appends = 0;  // log mismatches
    std::uint64_t ignored = 0;           // malformed or out-of-place messages
};

class group {
public:
    /// `members` sorted, unique, containing `self`; `recovered` is what storage kept (nothing for
    /// a new group). A member restarted as the leader of its promised epoch starts the next epoch
    /// at once: its volatile leader state is gone.
    group(const group_config& limits, group_id id, node_id self, std::vector<node_id> members,
          std::optional<durable_state> recovered, std::uint64_t seed, instant now);

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
    /// The application's state after applying up to `base.last_index` (<= applied index):
    /// persist it and drop the entries it covers.
    void compact(const snapshot& base);
    void on_tick(instant now);

    [[nodiscard]] std::vector<effect> take_effects();
    /// instant::never() when idle.
    [[nodiscard]] instant next_deadline() const;

    const group_id& id() const { return id_; }
    std::uint64_t epoch() const { return promised_; }
    node_id leader() const { return leader_of(promised_); }
    role current_role() const { return role_; }
    std::uint64_t commit_index() const { return commit_index_; }
    std::uint64_t applied_index() const { return applied_index_; }
    std::uint64_t last_index() const;
    const std::vector<node_id>& members() const { return members_; }
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
    };

    node_id leader_of(std::uint64_t epoch) const;
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
    std::vector<node_id> members_;
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
