#pragma once
// The jobs part of the control API (docs/formats/control-api.md, "Jobs"). A job is a native
// actor (the coordinator, kind reef.job) and the job table is another (reef.jobs), so every jobs
// route becomes an actor_command; only the answers are reshaped.
//
// Thread-safety: pure functions.
// Bodies and query strings are untrusted: every field is checked and every rejection is a 400
// naming the field.

#include <string_view>

#include "reef/base/result.hpp"
#include "reef/control/api.hpp"

namespace reef::control {

inline constexpr std::string_view jobs_path = "/v1/jobs";
inline constexpr std::string_view jobs_start_path = "/v1/jobs/start";
inline constexpr std::string_view jobs_state_path = "/v1/jobs/state";
inline constexpr std::string_view jobs_cancel_path = "/v1/jobs/cancel";
inline constexpr std::string_view jobs_page_path = "/v1/jobs/page";

bool is_jobs_path(std::string_view path);

/// A request to one of the jobs paths: the command to start, or the 400 to send.
outcome handle_jobs(std::string_view path, const request& incoming);

/// The verbs of the commands handle_jobs returns ("job", "job_state", "jobs", "job_cancel",
/// "job_page").
bool is_job_verb(std::string_view verb);

/// The answer once the node finished `asked` (a command from handle_jobs):
/// start: 200 {"ok": true, "job"}; state: 200 with the job's state plus "job" and "node";
/// list: 200 {"jobs": {...}}; cancel: 200 {"ok": true}; page: 200 {"page": BASE64}; errors as
/// for actors.
response job_reply(const actor_command& asked, const result<std::string>& answer);

} // namespace reef::control
