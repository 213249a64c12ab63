#pragma once
// Member changes as log entries: a group's member set changes by one member at a time through
// an entry with the zero request id whose command is the new set (docs/design/replica.md,
// "Member changes"). Pure functions; plain data.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/replica/types.hpp"

namespace reef::replica {

/// Largest member set a change may name.
inline constexpr std::size_t member_set_size_max = 16;

/// The command of a member-change entry: the ids, sorted, 32 bytes each.
std::string encode_member_set(std::span<const node_id> members);
/// The set a member-change command names: 1..member_set_size_max non-zero ids, strictly
/// ascending. invalid_argument (naming what is wrong) otherwise.
result<std::vector<node_id>> decode_member_set(std::string_view command);

/// True for an entry that changes the member set (zero request id, non-empty command).
bool is_member_change(const entry& item);

/// The member set in force after the last of `log`: its last member change, else the
/// snapshot's set, else `created` (the set the group was created with).
std::vector<node_id> member_set_after(const std::optional<snapshot>& base,
                                      std::span<const entry> log,
                                      const std::vector<node_id>& created);

/// True when `next` differs from `current` by exactly one member added or removed.
bool one_member_apart(const std::vector<node_id>& current, const std::vector<node_id>& next);

} // namespace reef::replica
