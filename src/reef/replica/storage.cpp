#include "reef/replica/storage.hpp"

#include <algorithm>

#include "reef/base/assert.hpp"

namespace reef::replica {

std::uint64_t last_index(const durable_state& state) {
    if (!state.log.empty()) {
        return state.log.back().index;
    }
    return state.base ? state.base->last_index : 0;
}

void apply_promise(durable_state& state, std::uint64_t promised_epoch,
                   std::span<const node_id> members) {
    REEF_ASSERT(promised_epoch >= state.promised_epoch);
    REEF_ASSERT(std::is_sorted(members.begin(), members.end()));
    state.promised_epoch = promised_epoch;
    state.members.assign(members.begin(), members.end());
}

void apply_append(durable_state& state, std::span<const entry> entries) {
    if (entries.empty()) {
        return;
    }
    const std::uint64_t first = entries.front().index;
    const std::uint64_t base_index = state.base ? state.base->last_index : 0;
    REEF_ASSERT(first >= 1);
    REEF_ASSERT(first <= last_index(state) + 1);
    for (std::size_t i = 1; i < entries.size(); ++i) {
        REEF_ASSERT(entries[i].index == entries[i - 1].index + 1);
    }
    // Entries inside the snapshot are already applied and final: skip them.
    std::size_t skip = 0;
    while (skip < entries.size() && entries[skip].index <= base_index) {
        ++skip;
    }
    if (skip == entries.size()) {
        return;
    }
    const std::uint64_t from = entries[skip].index;
    // Drop the entry at `from` and everything after it (the log is dense), then append.
    state.log.resize(std::min<std::size_t>(state.log.size(),
                                           static_cast<std::size_t>(from - base_index - 1)));
    state.log.insert(state.log.end(), entries.begin() + static_cast<std::ptrdiff_t>(skip),
                     entries.end());
    REEF_ASSERT(state.log.empty() || state.log.front().index == base_index + 1);
}

void apply_commit(durable_state& state, std::uint64_t commit_index) {
    state.commit_index = std::max(state.commit_index, commit_index);
}

void apply_snapshot(durable_state& state, const snapshot& base) {
    if (state.base && state.base->last_index >= base.last_index) {
        return; // an older snapshot never replaces a newer one
    }
    std::erase_if(state.log, [&](const entry& kept) { return kept.index <= base.last_index; });
    state.base = base;
    state.commit_index = std::max(state.commit_index, base.last_index);
    REEF_ASSERT(state.log.empty() || state.log.front().index == base.last_index + 1);
}

} // namespace reef::replica
