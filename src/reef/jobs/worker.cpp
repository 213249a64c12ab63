#include "reef/jobs/worker.hpp"

#include <algorithm>

#include "reef/base/base64.hpp"
#include "reef/jobs/exec_job.hpp"
#include "reef/jobs/json_fields.hpp"
#include "reef/jobs/lua_job.hpp"
#include <cmath>
#include <utility>

namespace reef::jobs {
namespace {

/// The reply inside a message's answer, or why there is none.
result<json> reply_of(const result<json>& answer) {
    if (!answer.ok()) {
        return answer.failure();
    }
    if (!answer->is_object() || !is_true(*answer, "ok")) {
        const std::string why = answer->is_object() && answer->contains("error") &&
                                        (*answer)["error"].is_string()
                                    ? (*answer)["error"].get<std::string>()
                                    : std::string("refused");
        return make_error(errc::unavailable, why);
    }
    return answer->value("reply", json());
}

bool is_u64(const json& value) {
    return value.is_number_unsigned() ||
           (value.is_number_integer() && value.get<std::int64_t>() >= 0);
}

/// Lua and command jobs carry a program the worker fetches before its first claim.
bool needs_program(std::string_view kernel) {
    return kernel == lua_kernel || kernel == exec_kernel;
}

/// An answer that says the page is stored: created now, or by an earlier try whose answer was
/// lost (the name is unique to this chunk's attempt, so nobody else made it).
bool page_stored(const result<json>& answer) {
    if (!answer.ok() || !answer->is_object()) {
        return false;
    }
    if (is_true(*answer, "ok")) {
        return true;
    }
    const json& why = answer->value("error", json());
    return why.is_string() && why.get<std::string>().find("already exists") != std::string::npos;
}

} // namespace

std::pair<json, bool> actor_request(const ask& asked) {
    if (asked.message == json{{"inspect", true}}) {
        return {{{"op", "inspect"}, {"name", asked.actor}}, false};
    }
    if (asked.message == json{{"inspect", true}, {"program", true}}) {
        return {{{"op", "inspect"}, {"name", asked.actor}, {"program", true}}, false};
    }
    if (asked.message.size() == 1 && asked.message.contains("spawn_blob")) {
        return {{{"op", "spawn"}, {"name", asked.actor}, {"native", blob_kind},
                 {"program", asked.message["spawn_blob"]}},
                true};
    }
    return {{{"op", "deliver"}, {"name", asked.actor}, {"kind", "message"},
             {"body", asked.message}},
            false};
}

status worker_config::validate() const {
    if (name.empty()) {
        return make_error(errc::invalid_argument, "a worker needs a name");
    }
    if (slots == 0 || slots > slots_max) {
        return make_error(errc::invalid_argument,
                          "slots must be in [1, " + std::to_string(slots_max) + "]");
    }
    if (poll_interval <= duration::zero() || progress_interval <= duration::zero() ||
        ask_timeout <= duration::zero()) {
        return make_error(errc::invalid_argument, "intervals and timeouts must be positive");
    }
    if (jobs_max == 0 || asks_max == 0 || done_attempts_max == 0 || pages_in_flight_max == 0 ||
        page_attempts_max == 0) {
        return make_error(errc::invalid_argument, "jobs_max, asks_max, done_attempts_max, "
                                                  "pages_in_flight_max and page_attempts_max "
                                                  "must be positive");
    }
    return {};
}

worker::worker(const worker_config& limits, const kernel_registry& kernels)
    : limits_(limits), kernels_(&kernels) {
    REEF_ASSERT(limits_.validate().ok());
}

void worker::on_tick(instant now) { pump(now); }

std::vector<effect> worker::take_effects() {
    std::vector<effect> out;
    out.swap(effects_);
    return out;
}

std::size_t worker::busy_slots() const {
    return static_cast<std::size_t>(std::count_if(
        runs_.begin(), runs_.end(), [](const auto& entry) { return !entry.second.finished; }));
}

std::size_t worker::claims_in_flight() const {
    return static_cast<std::size_t>(std::count_if(
        jobs_.begin(), jobs_.end(), [](const auto& entry) { return entry.second.claim_token; }));
}

std::size_t worker::claim_capacity() const {
    const std::size_t claims = claims_in_flight();
    const std::size_t busy = busy_slots() + claims;
    const std::size_t tracked = runs_.size() + claims;
    if (busy >= limits_.slots || tracked >= 2 * limits_.slots) {
        return 0;
    }
    return std::min(limits_.slots - busy, 2 * limits_.slots - tracked);
}

std::uint64_t worker::send(instant now, ask_kind kind, const std::string& actor, json message,
                           const std::string& job, std::uint64_t run_id) {
    REEF_ASSERT(can_ask());
    const std::uint64_t token = next_token_++;
    asks_[token] = pending{kind, job, run_id, now + limits_.ask_timeout};
    effects_.emplace_back(ask{token, actor, std::move(message)});
    REEF_ASSERT(asks_.size() <= limits_.asks_max);
    return token;
}

void worker::pump(instant now) {
    expire_asks(now);
    if (table_token_ == 0 && now >= next_poll_ && claim_capacity() > 0 && can_ask()) {
        ++stats_.polls;
        table_token_ = send(now, ask_kind::inspect, std::string(job_table_name),
                            {{"inspect", true}}, "", 0);
        next_poll_ = now + limits_.poll_interval;
    }
    send_claims(now);
    send_pages(now);
    send_reports(now);
#if REEF_SLOW_CHECKS
    check_invariants();
#endif
}

void worker::expire_asks(instant now) {
    std::vector<std::uint64_t> expired;
    for (const auto& [token, waiting] : asks_) {
        if (waiting.deadline <= now) {
            expired.push_back(token);
        }
    }
    for (const std::uint64_t token : expired) {
        take_answer(now, token, make_error(errc::timeout, "no answer"));
    }
}

void worker::send_claims(instant now) {
    for (auto& [name, job] : jobs_) {
        if (claim_capacity() == 0 || !can_ask()) {
            return;
        }
        if (!job.running || job.finished || job.claim_token != 0 || job.program_token != 0 ||
            now < job.claim_after) {
            continue;
        }
        if (needs_program(job.kernel) && job.program.empty()) {
            // The program first (once per job), from the coordinator's record.
            job.program_token = send(now, ask_kind::program, name,
                                     {{"inspect", true}, {"program", true}}, name, 0);
            continue;
        }
        ++stats_.claims;
        json claim = {{"worker", limits_.name}, {"cores", limits_.slots}, {"speed", job.speed}};
        job.claim_token = send(now, ask_kind::claim, name, {{"claim", std::move(claim)}}, name, 0);
    }
}

json worker::report_body(const run_entry& run) const {
    if (!run.failure.empty()) {
        return {{"chunk", run.chunk}, {"worker", limits_.name}, {"error", run.failure}};
    }
    return {{"chunk", run.chunk}, {"worker", limits_.name}, {"through", run.through},
            {"partial", run.partial}};
}

void worker::send_reports(instant now) {
    for (auto& [run_id, run] : runs_) {
        if (!can_ask()) {
            return;
        }
        if (run.report_token != 0 || now < run.report_after) {
            continue;
        }
        const char* kind = !run.failure.empty() ? "fail" : run.finished ? "done" : "progress";
        run.report_token = send(now, run.finished ? ask_kind::done : ask_kind::progress, run.job,
                                {{kind, report_body(run)}}, run.job, run_id);
        run.report_after = now + limits_.progress_interval;
    }
}

void worker::on_answer(instant now, std::uint64_t token, const result<json>& answer) {
    take_answer(now, token, answer);
    pump(now);
}

void worker::take_answer(instant now, std::uint64_t token, const result<json>& answer) {
    const auto found = asks_.find(token);
    if (found == asks_.end()) {
        return; // timed out before, or never ours
    }
    const pending waiting = std::move(found->second);
    asks_.erase(found);
    if (!answer.ok()) {
        ++stats_.ask_failures;
    }
    switch (waiting.kind) {
    case ask_kind::inspect:
        REEF_ASSERT(table_token_ == token);
        table_token_ = 0;
        if (answer.ok()) {
            on_table(*answer);
        }
        break;
    case ask_kind::program:
        on_program_answer(now, waiting.job, answer);
        break;
    case ask_kind::claim:
        on_claim_answer(now, waiting.job, reply_of(answer));
        break;
    case ask_kind::progress:
        on_progress_answer(now, waiting.run_id, reply_of(answer));
        break;
    case ask_kind::done:
        on_done_answer(now, waiting.run_id, reply_of(answer));
        break;
    case ask_kind::store:
        on_store_answer(now, waiting, answer);
        break;
    }
}

void worker::on_table(const json& answer) {
    const json none = json::object();
    const json* listed = &none;
    if (is_true(answer, "ok") && answer.contains("state") &&
        answer["state"].is_object() && answer["state"].contains("jobs") &&
        answer["state"]["jobs"].is_object()) {
        listed = &answer["state"]["jobs"];
    }
    std::map<std::string, job_entry> kept;
    // A job whose claim is in flight stays until its answer, but claims nothing more unless the
    // table lists it again.
    for (auto& [name, job] : jobs_) {
        if (job.claim_token != 0 || job.program_token != 0) {
            job.running = false;
            kept.emplace(name, std::move(job));
        }
    }
    for (auto item = listed->begin(); item != listed->end(); ++item) {
        const std::string& name = item.key();
        const json& info = item.value();
        if (kept.size() >= limits_.jobs_max && !kept.contains(name)) {
            break;
        }
        if (!info.is_object() || !info.contains("kernel") || !info["kernel"].is_string()) {
            continue;
        }
        const auto old = jobs_.find(name);
        const bool idle = old != jobs_.end() && old->second.claim_token == 0 &&
                          old->second.program_token == 0;
        job_entry& job =
            kept.try_emplace(name, idle ? std::move(old->second) : job_entry{}).first->second;
        job.kernel = info["kernel"].get<std::string>();
        job.running = text_of(info, "status") == "running" &&
                      (job.kernel == lua_kernel ||
                       (job.kernel == exec_kernel && limits_.allow_exec) ||
                       kernels_->has(job.kernel));
    }
    jobs_ = std::move(kept);
    REEF_ASSERT(jobs_.size() <= limits_.jobs_max);
}

worker::job_entry& worker::answered_job(instant now, const std::string& job_name,
                                        std::uint64_t job_entry::*token) {
    const auto found = jobs_.find(job_name);
    REEF_ASSERT(found != jobs_.end()); // kept while an ask about it is in flight
    REEF_ASSERT(found->second.*token != 0);
    found->second.*token = 0;
    found->second.claim_after = now + limits_.poll_interval;
    return found->second;
}

void worker::on_program_answer(instant now, const std::string& job_name,
                               const result<json>& answer) {
    job_entry& job = answered_job(now, job_name, &job_entry::program_token);
    if (!answer.ok() || !answer->is_object() || !is_true(*answer, "ok") ||
        !answer->contains("program") || !(*answer)["program"].is_string() ||
        (*answer)["program"].get_ref<const std::string&>().empty() ||
        (*answer)["program"].get_ref<const std::string&>().size() > program_size_max) {
        return; // tried again after poll_interval
    }
    ++stats_.programs_fetched;
    job.program = (*answer)["program"].get<std::string>();
    job.claim_after = now;
}

void worker::on_claim_answer(instant now, const std::string& job_name,
                             const result<json>& reply) {
    job_entry& job = answered_job(now, job_name, &job_entry::claim_token);
    if (!reply.ok() || !reply->is_object()) {
        return;
    }
    if (is_true(*reply, "finished")) {
        job.finished = true;
        return;
    }
    if (reply->contains("chunk")) {
        on_grant(now, job_name, *reply);
        job.claim_after = now; // more idle slots may claim at once
        return;
    }
    ++stats_.waits;
}

void worker::on_grant(instant now, const std::string& job_name, const json& grant) {
    const json& chunk = grant["chunk"];
    const json& begin = grant.value("begin", json());
    const json& end = grant.value("end", json());
    const std::string kernel = text_of(grant, "kernel");
    const json& seed = grant.value("seed", json());
    const json base = grant.value("partial", json());
    const json& job_first = grant.value("job_begin", json());
    const json& job_last = grant.value("job_end", json());
    const json& attempt = grant.value("attempt", json(0));
    const auto listed = jobs_.find(job_name);
    const bool runnable = listed != jobs_.end() && can_run(kernel, listed->second);
    if (!is_u64(chunk) || !is_u64(begin) || !is_u64(end) || !is_u64(seed) ||
        !is_u64(job_first) || !is_u64(job_last) || !is_u64(attempt) ||
        begin.get<std::uint64_t>() > end.get<std::uint64_t>() ||
        job_first.get<std::uint64_t>() > job_last.get<std::uint64_t>() || !runnable) {
        // Nothing to run: the chunk's lease expires and someone else takes it.
        ++stats_.ask_failures;
        return;
    }
    ++stats_.granted;
    for (auto it = runs_.begin(); it != runs_.end(); ++it) {
        if (it->second.job == job_name && it->second.chunk == chunk.get<std::uint64_t>()) {
            // Given back to us after its lease expired: the new grant supersedes the old run.
            drop_run(it->first, true);
            break;
        }
    }
    REEF_ASSERT(busy_slots() < limits_.slots);
    const std::uint64_t run_id = next_run_++;
    run_entry run;
    run.job = job_name;
    run.chunk = chunk.get<std::uint64_t>();
    run.begin = begin.get<std::uint64_t>();
    run.end = end.get<std::uint64_t>();
    run.partial = base;
    run.attempt = attempt.get<std::uint64_t>();
    run.through = run.begin;
    run.started = now;
    run.report_after = now + limits_.progress_interval;
    if (run.begin == run.end) {
        // Computed to its end already by a worker that did not report done: report it.
        run.finished = true;
        run.report_after = now;
    } else {
        effects_.emplace_back(start_run{
            run_id, kernel, seed.get<std::uint64_t>(), run.begin, run.end, base,
            needs_program(kernel) ? listed->second.program : std::string(),
            job_first.get<std::uint64_t>(), job_last.get<std::uint64_t>(), run.attempt});
    }
    runs_.emplace(run_id, std::move(run));
}

void worker::drop_run(std::uint64_t run_id, bool stop) {
    const auto found = runs_.find(run_id);
    REEF_ASSERT(found != runs_.end());
    if (stop && !found->second.finished) {
        effects_.emplace_back(stop_run{run_id});
    }
    if (found->second.report_token != 0) {
        asks_.erase(found->second.report_token);
    }
    std::erase_if(asks_, [run_id](const auto& entry) {
        return entry.second.kind == ask_kind::store && entry.second.run_id == run_id;
    });
    runs_.erase(found);
}

void worker::on_progress_answer(instant now, std::uint64_t run_id, const result<json>& reply) {
    const auto found = runs_.find(run_id);
    if (found == runs_.end()) {
        return;
    }
    run_entry& run = found->second;
    run.report_token = 0;
    if (!reply.ok() || !reply->is_object()) {
        return; // the next report tries again, within the lease
    }
    if (is_true(*reply, "abandon")) {
        ++stats_.abandoned;
        drop_run(run_id, true);
        return;
    }
    const json end = reply->value("end", json());
    if (!is_u64(end) || end.get<std::uint64_t>() >= run.end || run.finished) {
        return;
    }
    const std::uint64_t lowered = std::max(end.get<std::uint64_t>(), run.begin);
    ++stats_.shortened;
    run.end = lowered;
    if (run.through > lowered) {
        // Already past the new end: its result now overlaps another chunk. Stop, and let the
        // done report hand the chunk back at once.
        ++stats_.overshot;
        effects_.emplace_back(stop_run{run_id});
        run.finished = true;
        run.report_after = now;
        return;
    }
    effects_.emplace_back(shorten_run{run_id, lowered});
}

void worker::on_done_answer(instant now, std::uint64_t run_id, const result<json>& reply) {
    const auto found = runs_.find(run_id);
    if (found == runs_.end()) {
        return;
    }
    run_entry& run = found->second;
    run.report_token = 0;
    if (!reply.ok()) {
        if (++run.done_attempts >= limits_.done_attempts_max) {
            ++stats_.dones_given_up;
            drop_run(run_id, false);
            return;
        }
        run.report_after = now + limits_.progress_interval;
        return;
    }
    ++(is_true(*reply, "accepted") ? stats_.dones_accepted
                                                             : stats_.dones_rejected);
    drop_run(run_id, false);
}

void worker::on_progress(instant now, std::uint64_t run_id, std::uint64_t through,
                         const json& partial) {
    (void)now;
    const auto found = runs_.find(run_id);
    if (found == runs_.end() || found->second.finished) {
        return; // stopped: its late reports mean nothing
    }
    run_entry& run = found->second;
    REEF_ASSERT(through >= run.begin);
    if (through >= run.through) {
        run.through = through;
        run.partial = partial;
    }
}

void worker::on_failed(instant now, std::uint64_t run_id, const std::string& why) {
    const auto found = runs_.find(run_id);
    if (found == runs_.end() || found->second.finished) {
        return;
    }
    run_entry& run = found->second;
    run.failure = why.empty() ? std::string("the run failed") : why.substr(0, failure_size_max);
    run.finished = true;
    run.report_after = now;
    ++stats_.runs_failed;
    pump(now);
}

bool worker::can_run(const std::string& kernel, const job_entry& job) const {
    if (needs_program(kernel)) {
        return !job.program.empty() && (kernel == lua_kernel || limits_.allow_exec);
    }
    return kernels_->has(kernel);
}

void worker::on_output(instant now, std::uint64_t run_id, std::string_view output) {
    const auto found = runs_.find(run_id);
    if (found == runs_.end() || found->second.finished || found->second.storing) {
        return;
    }
    if (output.size() > exec_limits::output_size_max) {
        on_failed(now, run_id, "the command wrote " + std::to_string(output.size()) +
                                   " bytes, more than " +
                                   std::to_string(exec_limits::output_size_max));
        return;
    }
    run_entry& run = found->second;
    // `through` stays at the chunk's begin until every page is stored: progress reports keep
    // the lease, but a checkpoint must never claim output that is not in the cluster.
    run.output_bytes = output.size();
    for (std::size_t at = 0; at < output.size(); at += exec_limits::page_size_bytes) {
        run.pages.push_back(base64_encode(output.substr(at, exec_limits::page_size_bytes)));
    }
    REEF_ASSERT(run.pages.size() <= exec_limits::pages_max);
    run.pages_stored.assign(run.pages.size(), false);
    run.storing = true;
    pump(now);
}

void worker::send_pages(instant now) {
    for (auto& [run_id, run] : runs_) {
        if (!run.storing) {
            continue;
        }
        const auto stored = static_cast<std::size_t>(
            std::count(run.pages_stored.begin(), run.pages_stored.end(), true));
        if (stored == run.pages.size() && run.pages_in_flight == 0) {
            // Every page is in the cluster: the chunk is done, its partial names the pages.
            run.storing = false;
            run.pages.clear();
            run.through = run.end;
            run.finished = true;
            run.partial = output_partial(run.attempt, run.pages_stored.size(), run.output_bytes);
            run.report_after = now;
            ++stats_.runs_finished;
            continue;
        }
        for (std::size_t page = 0; page < run.pages.size(); ++page) {
            if (run.pages_in_flight >= limits_.pages_in_flight_max || !can_ask()) {
                break;
            }
            const bool asked = std::any_of(asks_.begin(), asks_.end(), [&](const auto& entry) {
                return entry.second.kind == ask_kind::store &&
                       entry.second.run_id == run_id && entry.second.page == page;
            });
            if (run.pages_stored[page] || asked) {
                continue;
            }
            const std::uint64_t token =
                send(now, ask_kind::store, output_page_name(run.job, run.chunk, run.attempt, page),
                     {{"spawn_blob", run.pages[page]}}, run.job, run_id);
            asks_[token].page = page;
            ++run.pages_in_flight;
        }
    }
}

void worker::on_store_answer(instant now, const pending& asked, const result<json>& answer) {
    (void)now;
    const auto found = runs_.find(asked.run_id);
    if (found == runs_.end() || !found->second.storing) {
        return;
    }
    run_entry& run = found->second;
    REEF_ASSERT(run.pages_in_flight > 0);
    --run.pages_in_flight;
    if (page_stored(answer)) {
        ++stats_.pages_stored;
        run.pages_stored[asked.page] = true;
        return;
    }
    if (++run.page_failures >= limits_.page_attempts_max) {
        // The chunk's lease expires without our reports, and its next attempt runs it again.
        drop_run(asked.run_id, false);
    }
}

void worker::on_finished(instant now, std::uint64_t run_id, std::uint64_t through,
                         const json& partial) {
    const auto found = runs_.find(run_id);
    if (found == runs_.end() || found->second.finished) {
        return;
    }
    run_entry& run = found->second;
    REEF_ASSERT(through >= run.begin);
    run.through = through;
    run.partial = partial;
    run.finished = true;
    run.report_after = now;
    ++stats_.runs_finished;
    // Even a short run measures: the first chunks are small, and the coordinator sizes the
    // next ones from this speed. A run quicker than a millisecond counts as one, so its speed is
    // rather over- than underestimated and the next chunk is large enough to measure.
    const duration elapsed = std::max(now - run.started, duration::milliseconds(1));
    if (through > run.begin) {
        const double measured = static_cast<double>(through - run.begin) / elapsed.sec();
        speed_ = measured;
        if (const auto job = jobs_.find(run.job); job != jobs_.end()) {
            double& speed = job->second.speed;
            speed = speed == 0.0 ? measured : (speed + measured) / 2.0;
        }
    }
    pump(now);
}

instant worker::next_deadline() const {
    instant next = instant::never();
    for (const auto& [token, waiting] : asks_) {
        next = min(next, waiting.deadline);
    }
    if (!can_ask()) {
        return next;
    }
    const bool may_claim = claim_capacity() > 0;
    if (may_claim && table_token_ == 0) {
        next = min(next, next_poll_);
    }
    for (const auto& [name, job] : jobs_) {
        if (may_claim && job.running && !job.finished && job.claim_token == 0 &&
            job.program_token == 0) {
            next = min(next, job.claim_after);
        }
    }
    for (const auto& [run_id, run] : runs_) {
        if (run.report_token == 0) {
            next = min(next, run.report_after);
        }
    }
    return next;
}

void worker::check_invariants() const {
    REEF_ASSERT(busy_slots() + claims_in_flight() <= limits_.slots);
    REEF_ASSERT(runs_.size() + claims_in_flight() <= 2 * limits_.slots);
    REEF_ASSERT(asks_.size() <= limits_.asks_max);
    REEF_ASSERT(jobs_.size() <= limits_.jobs_max);
    for (const auto& [run_id, run] : runs_) {
        REEF_ASSERT(run.begin <= run.through);
        REEF_ASSERT(run.pages_in_flight <= limits_.pages_in_flight_max);
        REEF_ASSERT(run.pages.size() == run.pages_stored.size() || !run.storing);
        REEF_ASSERT(run.report_token == 0 || asks_.contains(run.report_token));
    }
    for (const auto& [name, job] : jobs_) {
        REEF_ASSERT(job.claim_token == 0 || asks_.contains(job.claim_token));
        REEF_ASSERT(job.program_token == 0 || asks_.contains(job.program_token));
        REEF_ASSERT(job.program.size() <= program_size_max);
    }
    REEF_ASSERT(table_token_ == 0 || asks_.contains(table_token_));
}

} // namespace reef::jobs
