#pragma once
// The cluster's job table: the native actor kind `reef.job_table`, one actor named
// jobs::job_table_name, "reef.jobs" (worker.hpp; docs/design/jobs.md). Job coordinators add
// themselves when they start and update their status when they end; every node's worker reads
// the table to find running jobs.
//
// Thread-safety: a pure function over the actor's record, like every actor handler.
// State: {"jobs": {NAME: {"kernel", "status", "samples", "started_ms"}}}, at most jobs_max
// entries: beyond it the oldest finished jobs are dropped, and while every entry is running a new
// one is refused (the coordinator's message is retried by its courier).

#include <cstddef>
#include <string>
#include <string_view>

#include "reef/actors/actor_table.hpp"

namespace reef::jobs {

inline constexpr std::string_view job_table_kind = "reef.job_table";
inline constexpr std::size_t job_table_jobs_max = 64;

/// The handler of `reef.job_table` (an actors::native_handler).
result<actors::run_output> job_table(const actors::actor_record& record, bool init,
                                     const std::string& from, const actors::json& body,
                                     const actors::run_context& facts);

/// Registers `reef.job_table` and the job coordinator `reef.job` with `table`. The coordinator
/// is wrapped so that the job table follows it: a job that starts adds itself, and a job whose
/// status leaves "running" updates its entry (both as durable messages, in the same step). Also
/// registers `reef.blob`, the pages of command jobs' outputs (exec_job.hpp).
void register_jobs(actors::actor_table& table);

} // namespace reef::jobs
