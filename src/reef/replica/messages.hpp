#pragma once
// Replica-group messages between the members of one group, as plain data (docs/design/replica.md).
// Every message names its group and the sender's epoch; a receiver with a higher promise answers
// with that promise so the sender learns it is stale (fencing).
//
// Thread-safety: plain data.

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "reef/replica/types.hpp"

namespace reef::replica {

/// "I want epoch `epoch` to start; promise it and send your log to its leader."
struct epoch_change {
    std::uint64_t epoch = 0;
    bool operator==(const epoch_change&) const = default;
};

/// A member's promise for `epoch`, sent to that epoch's leader after it is durable: never to
/// accept an older leader again, and everything it holds. The leader adopts the most
/// up-to-date log among a majority of promises.
struct epoch_promise {
    std::uint64_t epoch = 0;
    std::optional<snapshot> base;
    std::vector<entry> log;  // every entry after `base`
    std::uint64_t commit_index = 0;
    bool operator==(const epoch_promise&) const = default;
};

/// Leader -> follower: entries after (prev_index, prev_epoch), and the leader's commit index.
/// `base` is set when the follower is behind the leader's snapshot.
struct append {
    std::uint64_t epoch = 0;
    std::uint64_t prev_index = 0;
    std::uint64_t prev_epoch = 0;
    std::vector<entry> entries;
    std::uint64_t commit_index = 0;
    std::optional<snapshot> base;
    bool operator==(const append&) const = default;
};

/// Follower -> leader, after the entries are durable. `accepted` false: the follower's log does
/// not hold (prev_index, prev_epoch); `last_index` then says where to resume.
struct append_reply {
    std::uint64_t epoch = 0;
    bool accepted = false;
    std::uint64_t last_index = 0;
    /// The follower's commit index after this append (so the leader knows it applied).
    std::uint64_t commit_index = 0;
    bool operator==(const append_reply&) const = default;
};

/// "Your epoch is stale: I promised `promised`." Sent for any message from an older epoch.
struct stale_epoch {
    std::uint64_t promised = 0;
    bool operator==(const stale_epoch&) const = default;
};

using message = std::variant<epoch_change, epoch_promise, append, append_reply, stale_epoch>;

} // namespace reef::replica
