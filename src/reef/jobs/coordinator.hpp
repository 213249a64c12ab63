#pragma once
// The job coordinator: the native actor kind "reef.job" (docs/design/jobs.md, "The coordinator").
// One actor per job hands chunks of the job's range [begin, end) to workers, keeps each active
// chunk's checkpoint and lease, splits stragglers and reduces finished chunks into the result.
//
// Thread-safety: pure functions of (record, message, facts).
//
// Invariants of the state (checked on every message, asserted after every change):
// - chunks are disjoint, ordered by id, inside [begin, next), begin <= through <= end each;
// - samples_done + the sizes of the active chunks + (end - next) == end - begin while running;
// - a chunk's hits are reduced once: it leaves the list when it is, and a later `done` for it
//   is ignored;
// - at most chunks_max active chunks and workers_max workers, and the state fits its budget.
//
// Every decision is a function of the state, the message and the leader's clock (facts.now_ms),
// so every replica that replays the step agrees. Leases are checked when a claim arrives, so an
// idle job needs no timers. Malformed messages are refused with invalid_argument and change
// nothing; a state that does not validate (set by hand) is refused with failed_precondition.
//
// A chunk runs on one runner slot, so a claim's `speed` is samples per second of one slot and a
// new chunk is sized to take chunk_seconds on it; `cores` is recorded for people.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reef/actors/actor_table.hpp"
#include "reef/actors/record.hpp"
#include "reef/actors/runner.hpp"
#include "reef/base/result.hpp"

namespace reef::jobs {

using json = nlohmann::json;

inline constexpr std::string_view coordinator_kind = "reef.job";

/// Bounds on one job's state, which must stay within an actor's state (8 KiB as JSON).
struct coordinator_limits {
    /// Active chunks; a claim beyond this waits (no new chunk, no split).
    static constexpr std::size_t chunks_max = 32;
    /// Workers remembered (speed, cores, last seen); the least recently seen is forgotten.
    static constexpr std::size_t workers_max = 16;
    static constexpr std::size_t worker_name_size_max = 64;
    static constexpr std::size_t kernel_name_size_max = 64;
    static constexpr std::uint64_t cores_max = 4096;
    /// Chunk ids made over a job's life (far beyond what any job makes, so ids never wrap).
    static constexpr std::uint64_t chunk_ids_max = std::uint64_t{1} << 62U;
    /// A failed job's reason, as kept in its state.
    static constexpr std::size_t error_size_max = 512;
    /// A claim that would grow the state beyond this waits instead, leaving room for the numbers
    /// of active chunks to grow as they progress.
    static constexpr std::size_t state_budget_bytes = 7 * 1024;
};
static_assert(coordinator_limits::state_budget_bytes < actors::record_limits{}.state_size_max);
static_assert(coordinator_limits::workers_max <= coordinator_limits::chunks_max);

/// Defaults of the spawn args (docs/design/jobs.md).
struct coordinator_defaults {
    static constexpr double chunk_seconds = 2.0;
    static constexpr std::uint64_t lease_ms = 3000;
    static constexpr std::uint64_t chunk_min = 1'000'000;
    /// A Lua job's samples may each take long: its first chunk is one sample, and the next are
    /// sized from the speed that run measured.
    static constexpr std::uint64_t lua_chunk_min = 1;
};

/// The handler of kind "reef.job". On init, `body` is the spawn args {"kernel", "seed", "begin",
/// "end", optional "chunk_seconds", "lease_ms", "chunk_min"} and the record's program is a Lua
/// job's source (kernel "lua", lua_job.hpp), empty for a native kernel. Later `body` is one of
/// {"claim": {"worker", "cores", "speed"}}, {"progress": {"chunk", "worker", "through",
/// "partial"}}, {"done": {...same}}, {"fail": {"chunk", "worker", "error"}}, {"cancel": true}.
/// Partial results are JSON (partials.hpp); null is "no samples". Replies:
/// - claim: {"chunk", "begin", "end", "partial", "kernel", "seed", "lease_ms", "job_begin",
///   "job_end"} (compute [begin, end) and report partials that fold in `partial`, the chunk's
///   result before `begin`), or {"wait": true}, or {"finished": true, "status"} once the job is
///   over;
/// - progress: {"end"} (the chunk's end, which a split may have lowered) or {"abandon": true};
/// - done: {"accepted": true} or {"accepted": false, "reason"};
/// - fail: the job ends as "failed" with the error (a Lua job's program raised it);
/// - cancel: {"cancelled": true|false, "status"}.
/// A finished job's state holds "value": pi's estimate, a Lua job's finish(result, samples), or
/// the reduced "result".
[[nodiscard]] result<actors::run_output> coordinate(const actors::actor_record& record, bool init,
                                                    const std::string& from, const json& body,
                                                    const actors::run_context& facts);

/// Registers kind "reef.job" with `table`.
void register_coordinator(actors::actor_table& table);

} // namespace reef::jobs
