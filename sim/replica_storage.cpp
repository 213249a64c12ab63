#include "sim/replica_storage.hpp"

#include <algorithm>
#include <iterator>
#include <type_traits>
#include <utility>
#include <variant>

#include "reef/base/assert.hpp"

namespace reef::sim {

replica::durable_state& replica_storage::staged(const replica::group_id& group) {
    auto found = staged_.find(group);
    if (found == staged_.end()) {
        const auto durable = durable_.find(group);
        std::optional<replica::durable_state> copy =
            durable == durable_.end() ? replica::durable_state{} : durable->second;
        found = staged_.emplace(group, std::move(copy)).first;
    }
    if (!found->second) {
        found->second.emplace(); // dropped earlier in this batch: joined again from scratch
    }
    return *found->second;
}

void replica_storage::save_promise(const replica::group_id& group, std::uint64_t promised_epoch,
                                   std::span<const node_id> members) {
    replica::apply_promise(staged(group), promised_epoch, members);
}

void replica_storage::append(const replica::group_id& group,
                             std::span<const replica::entry> entries) {
    replica::apply_append(staged(group), entries);
}

void replica_storage::save_commit(const replica::group_id& group, std::uint64_t commit_index) {
    replica::apply_commit(staged(group), commit_index);
}

void replica_storage::save_snapshot(const replica::group_id& group,
                                    const replica::snapshot& base) {
    replica::apply_snapshot(staged(group), base);
}

void replica_storage::drop(const replica::group_id& group) {
    staged_.insert_or_assign(group, std::nullopt);
    REEF_ASSERT(staged_.contains(group));
}

status replica_storage::sync() {
    ++syncs_count_;
    if (staged_.empty()) {
        return {};
    }
    if (faults_ != nullptr && faults_->chance(sync_failure_probability_)) {
        ++sync_failures_count_;
        return make_error(errc::io_error, "simulated fsync failure");
    }
    for (auto& [group, state] : staged_) {
        if (state) {
            durable_.insert_or_assign(group, std::move(*state));
        } else {
            durable_.erase(group);
        }
    }
    staged_.clear();
    REEF_ASSERT(!dirty());
    return {};
}

result<std::optional<replica::durable_state>> replica_storage::load(
    const replica::group_id& group) {
    if (const auto found = staged_.find(group); found != staged_.end()) {
        return found->second;
    }
    if (const auto found = durable_.find(group); found != durable_.end()) {
        return std::optional(found->second);
    }
    return std::optional<replica::durable_state>{};
}

result<std::vector<replica::group_id>> replica_storage::groups() {
    std::vector<replica::group_id> listed;
    auto durable = durable_.begin();
    auto staged = staged_.begin();
    // Merge the two ordered maps; a staged entry (kept or dropped) overrides the durable one.
    while (durable != durable_.end() || staged != staged_.end()) {
        const bool durable_first = staged == staged_.end() ||
                                   (durable != durable_.end() && durable->first < staged->first);
        if (durable_first) {
            listed.push_back(durable->first);
            ++durable;
            continue;
        }
        if (durable != durable_.end() && durable->first == staged->first) {
            ++durable;
        }
        if (staged->second) {
            listed.push_back(staged->first);
        }
        ++staged;
    }
    REEF_ASSERT_SLOW(std::is_sorted(listed.begin(), listed.end()));
    REEF_ASSERT_SLOW(std::adjacent_find(listed.begin(), listed.end()) == listed.end());
    return listed;
}

void replica_storage::crash() {
    staged_.clear();
    REEF_ASSERT(!dirty());
}

void replica_storage::fail_syncs(prng& faults, double probability) {
    REEF_ASSERT(probability >= 0.0);
    REEF_ASSERT(probability <= 1.0);
    faults_ = probability > 0.0 ? &faults : nullptr;
    sync_failure_probability_ = probability;
}

void stage_write(replica::storage& storage, const replica::host_persist& write) {
    std::visit(
        [&](const auto& what) {
            using kind = std::decay_t<decltype(what)>;
            if constexpr (std::is_same_v<kind, replica::persist_promise>) {
                storage.save_promise(write.group, what.epoch, what.members);
            } else if constexpr (std::is_same_v<kind, replica::persist_entries>) {
                storage.append(write.group, what.entries);
            } else if constexpr (std::is_same_v<kind, replica::persist_commit>) {
                storage.save_commit(write.group, what.commit_index);
            } else {
                storage.save_snapshot(write.group, what.base);
            }
        },
        write.write);
}

} // namespace reef::sim
