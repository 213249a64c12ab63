#pragma once
// The simulator's replica::storage: memory that behaves like a disk with a volatile cache. Every
// write is staged; sync() makes all staged writes durable at once; crash() drops whatever was
// not synced, as a node that loses power before its fsync would. An optional fault switch makes
// sync() fail (io_error, nothing made durable, everything kept staged for a retry) with a given
// probability drawn from a generator the owner passes in, so a run stays reproducible from its
// seed.
//
// Thread-safety: none; the simulator is single-threaded.
// Invariants:
//  - staged_ holds, per group written since the last sync, the group's whole state as load()
//    reports it (nothing = dropped); durable_ only changes in a successful sync();
//  - both maps are ordered by group id, so groups() and every iteration are deterministic.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "reef/base/prng.hpp"
#include "reef/base/result.hpp"
#include "reef/replica/host.hpp"
#include "reef/replica/storage.hpp"
#include "reef/replica/types.hpp"

namespace reef::sim {

class replica_storage final : public replica::storage {
public:
    void save_promise(const replica::group_id& group, std::uint64_t promised_epoch,
                      std::span<const node_id> members) override;
    void append(const replica::group_id& group, std::span<const replica::entry> entries) override;
    void save_commit(const replica::group_id& group, std::uint64_t commit_index) override;
    void save_snapshot(const replica::group_id& group, const replica::snapshot& base) override;
    void drop(const replica::group_id& group) override;

    [[nodiscard]] status sync() override;

    [[nodiscard]] result<std::optional<replica::durable_state>> load(
        const replica::group_id& group) override;
    [[nodiscard]] result<std::vector<replica::group_id>> groups() override;

    /// The node crashed before its next fsync: every staged write is gone.
    void crash();

    /// From now on each sync() fails with `probability`, drawn from `faults` (owned by the
    /// caller, who keeps it alive while the switch is on). A probability of 0 turns it off.
    void fail_syncs(prng& faults, double probability);

    std::uint64_t syncs_count() const { return syncs_count_; }
    std::uint64_t sync_failures_count() const { return sync_failures_count_; }
    /// Whether anything is staged and not yet durable.
    bool dirty() const { return !staged_.empty(); }

private:
    /// The staged state of `group` (a copy of its durable state, or a fresh one), for writing.
    replica::durable_state& staged(const replica::group_id& group);

    std::map<replica::group_id, replica::durable_state> durable_;
    std::map<replica::group_id, std::optional<replica::durable_state>> staged_;
    prng* faults_ = nullptr;
    double sync_failure_probability_ = 0.0;
    std::uint64_t syncs_count_ = 0;
    std::uint64_t sync_failures_count_ = 0;
};

/// Stage one of a host's persist effects in `storage`, as every driver of a replica::host does
/// before it syncs the batch.
void stage_write(replica::storage& storage, const replica::host_persist& write);

} // namespace reef::sim
