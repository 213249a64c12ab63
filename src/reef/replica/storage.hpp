#pragma once
// Durable storage of replica groups: the interface the protocol's driver writes through. The
// runtime implements it with SQLite (runtime/replica_storage_sqlite.hpp: WAL, one transaction
// per sync()); the simulator with memory that loses every unsynced write when its node crashes
// (sim/replica_storage.hpp). The protocol core itself never calls it: it emits persist effects,
// the driver stages them here, calls sync() once for a whole batch (group commit) and only then
// tells the core they are durable.
//
// Thread-safety: none; one owner (the node's event loop).
//
// Contract, for every implementation (tests/replica_storage_contract.hpp checks both):
//  - writes are staged; load() sees staged writes (read-your-writes), but only what sync()
//    returned ok for survives a crash;
//  - sync() makes every staged write of every group durable at once, or fails and keeps none of
//    them durable (it is safe to retry);
//  - append() of an entry whose index is already present replaces that entry and drops every
//    later one (a new leader overwriting an uncommitted suffix); its indexes must be dense:
//    the first appended index is at most last index + 1 (asserted: a caller bug);
//  - save_snapshot() drops every entry at or below the snapshot's last_index;
//  - every group is independent: one group's writes never change another's state.

#include <span>
#include <vector>

#include "reef/base/result.hpp"
#include "reef/replica/types.hpp"

namespace reef::replica {

class storage {
public:
    virtual ~storage() = default;

    /// Stage the promise (epoch and the members for it).
    virtual void save_promise(const group_id& group, std::uint64_t promised_epoch,
                              std::span<const node_id> members) = 0;
    /// Stage entries (dense, ascending; see the contract for overwrites).
    virtual void append(const group_id& group, std::span<const entry> entries) = 0;
    /// Stage a new commit index (never lowered: a lower value is ignored).
    virtual void save_commit(const group_id& group, std::uint64_t commit_index) = 0;
    /// Stage a snapshot and drop the entries it covers.
    virtual void save_snapshot(const group_id& group, const snapshot& base) = 0;
    /// Forget a group entirely (this node left it).
    virtual void drop(const group_id& group) = 0;

    /// Make everything staged durable (fsync). io_error on failure.
    [[nodiscard]] virtual status sync() = 0;

    /// The group's state (staged writes included); nothing when the group is unknown.
    [[nodiscard]] virtual result<std::optional<durable_state>> load(const group_id& group) = 0;
    /// Every group with durable or staged state, ascending.
    [[nodiscard]] virtual result<std::vector<group_id>> groups() = 0;
};

/// The contract's state changes on an in-memory durable_state, for implementations (and tests)
/// that keep a copy: append with overwrite-and-truncate, snapshot with log truncation, and the
/// commit index that never goes down. They assert the caller-bug cases named in the contract.
void apply_promise(durable_state& state, std::uint64_t promised_epoch,
                   std::span<const node_id> members);
void apply_append(durable_state& state, std::span<const entry> entries);
void apply_commit(durable_state& state, std::uint64_t commit_index);
void apply_snapshot(durable_state& state, const snapshot& base);

/// The index of the last entry (or of the snapshot when the log is empty; 0 for nothing).
std::uint64_t last_index(const durable_state& state);

} // namespace reef::replica
