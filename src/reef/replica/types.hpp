#pragma once
// Replica-group vocabulary shared by the protocol core, its storage and the simulator.
// Thread-safety: plain data.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reef/base/ids.hpp"

namespace reef::replica {

/// A replica group is named by the key it serves (an actor, a file, a kv key ...): its members
/// are the R closest live nodes to that key.
using group_id = id256;

/// Identifies one client request so a retried command is applied once: `client` is chosen at
/// random by the submitting process, `sequence` grows with each of its requests.
struct request_id {
    std::uint64_t client = 0;
    std::uint64_t sequence = 0;
    auto operator<=>(const request_id&) const = default;
};

/// One log entry. `index` starts at 1 and is dense; `epoch` is the epoch of the leader that
/// appended it. With the zero request id it is the protocol's own: a leader's no-op (empty
/// command) or a member change (the new member set, member_set.hpp).
struct entry {
    std::uint64_t index = 0;
    std::uint64_t epoch = 0;
    request_id request;
    std::string command;
    bool operator==(const entry&) const = default;
};

/// The state machine's state after applying every entry up to `last_index` (opaque bytes the
/// application produces), replacing those entries.
struct snapshot {
    std::uint64_t last_index = 0;
    std::uint64_t last_epoch = 0;
    std::string state;
    /// The member set in force after `last_index` (sorted); empty: the set the group was created
    /// with (no member change before it).
    std::vector<node_id> members = {};
    bool operator==(const snapshot&) const = default;
};

/// What a member keeps durably for one group. Written only through storage (storage.hpp) and
/// read back after a restart.
struct durable_state {
    /// Highest epoch this member promised to (it never accepts an older leader again).
    std::uint64_t promised_epoch = 0;
    /// The member set the group was created with, sorted by id. Later sets are entries of the
    /// log (or the snapshot's): the set in force is the last one there.
    std::vector<node_id> members;
    std::optional<snapshot> base;
    /// Entries after the snapshot (or from index 1), dense and ascending.
    std::vector<entry> log;
    /// Highest index known committed (a lower bound; may lag behind the truth).
    std::uint64_t commit_index = 0;
    bool operator==(const durable_state&) const = default;
};

} // namespace reef::replica
