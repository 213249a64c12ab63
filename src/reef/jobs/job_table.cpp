#include "reef/jobs/job_table.hpp"

#include "reef/jobs/coordinator.hpp"
#include "reef/jobs/exec_job.hpp"
#include "reef/jobs/json_fields.hpp"
#include "reef/jobs/worker.hpp"

#include <limits>

namespace reef::jobs {

using actors::json;

namespace {

/// The oldest job that is not running, or "" when every one runs.
std::string oldest_finished(const json& jobs) {
    std::string oldest;
    std::uint64_t oldest_at = std::numeric_limits<std::uint64_t>::max();
    for (const auto& [name, job] : jobs.items()) {
        const auto started = job.is_object() ? job.find("started_ms") : job.end();
        const std::uint64_t at = started != job.end() && started->is_number_unsigned()
                                     ? started->get<std::uint64_t>()
                                     : 0;
        if (text_of(job, "status") != "running" && at < oldest_at) {
            oldest = name;
            oldest_at = at;
        }
    }
    return oldest;
}

} // namespace

result<actors::run_output> job_table(const actors::actor_record& record, bool init,
                                     const std::string& from, const json& body,
                                     const actors::run_context& facts) {
    (void)from;
    actors::run_output out;
    if (init) {
        out.state = {{"jobs", json::object()}};
        return out;
    }
    out.state = record.state.is_object() ? record.state : json{{"jobs", json::object()}};
    json& jobs = out.state["jobs"];
    if (!jobs.is_object()) {
        jobs = json::object();
    }
    if (!body.is_object()) {
        return make_error(errc::invalid_argument, "a job table message must be an object");
    }
    if (const auto added = body.find("add"); added != body.end()) {
        if (!added->is_string() || !actors::validate_name(added->get<std::string>()).ok()) {
            return make_error(errc::invalid_argument, "add: a job actor's name");
        }
        const std::string name = added->get<std::string>();
        if (!jobs.contains(name) && jobs.size() >= job_table_jobs_max) {
            const std::string dropped = oldest_finished(jobs);
            if (dropped.empty()) {
                return make_error(errc::resource_exhausted,
                                  "the job table is full of running jobs (" +
                                      std::to_string(job_table_jobs_max) + ")");
            }
            jobs.erase(dropped);
        }
        jobs[name] = {{"kernel", body.value("kernel", json("")).is_string()
                                     ? body.value("kernel", std::string())
                                     : std::string()},
                      {"status", "running"},
                      {"samples", body.value("samples", json(0)).is_number_unsigned()
                                      ? body.value("samples", std::uint64_t{0})
                                      : std::uint64_t{0}},
                      {"started_ms", facts.now_ms}};
        return out;
    }
    if (const auto updated = body.find("update"); updated != body.end()) {
        const auto status = body.find("status");
        if (!updated->is_string() || status == body.end() || !status->is_string()) {
            return make_error(errc::invalid_argument, "update: a job name and a status");
        }
        if (auto job = jobs.find(updated->get<std::string>()); job != jobs.end()) {
            (*job)["status"] = *status;
        }
        return out;
    }
    return make_error(errc::invalid_argument, "a job table message is {\"add\"} or {\"update\"}");
}

namespace {

json to_table(json body) {
    return {{"to", job_table_name}, {"kind", "message"}, {"body", std::move(body)}};
}

/// The coordinator, and the messages that keep the job table in step with it.
result<actors::run_output> coordinator_in_table(const actors::actor_record& record, bool init,
                                                const std::string& from, const json& body,
                                                const actors::run_context& facts) {
    auto out = coordinate(record, init, from, body, facts);
    if (!out) {
        return out;
    }
    const std::string before = init ? "" : record.state.value("status", "");
    const std::string after = out->state.value("status", "");
    if (init) {
        // The table is created by the first job that needs it: a spawn that finds it there
        // already is answered "already exists" and changes nothing. Detached: the table is
        // nobody's child, so no job's end or failure stops or restarts it.
        out->sends.push_back({{"to", job_table_name},
                              {"kind", "spawn"},
                              {"body", {{"native", job_table_kind}, {"detached", true}}}});
        const auto samples =
            out->state.value("end", std::uint64_t{0}) - out->state.value("begin", std::uint64_t{0});
        out->sends.push_back(to_table({{"add", record.name},
                                       {"kernel", out->state.value("kernel", "")},
                                       {"samples", samples}}));
    }
    if (after != "running" && (init || before == "running")) {
        out->sends.push_back(to_table({{"update", record.name}, {"status", after}}));
    }
    return out;
}

} // namespace

void register_jobs(actors::actor_table& table) {
    table.register_native(std::string(job_table_kind), job_table);
    table.register_native(std::string(coordinator_kind), coordinator_in_table);
    register_blob(table);
}

} // namespace reef::jobs
