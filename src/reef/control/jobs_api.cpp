#include "reef/control/jobs_api.hpp"

#include <string>
#include <variant>

#include "reef/actors/record.hpp"
#include "reef/control/actors_api.hpp"
#include "reef/control/json_support.hpp"
#include "reef/control/kv_api.hpp"

namespace reef::control {

namespace {

using detail::invalid;
using detail::json;
using detail::ok_json;
using detail::parse_object;
using detail::refuse_unknown_fields;

constexpr std::string_view table_name = "reef.jobs";
constexpr std::string_view coordinator_kind = "reef.job";
constexpr std::size_t kernel_name_size_max = 64;
constexpr std::string_view lua_kernel = "lua";

outcome later(actor_command action) { return outcome{response{0, {}, {}}, std::move(action)}; }

/// An optional unsigned field (missing: `fallback`).
std::variant<std::uint64_t, outcome> count_field(const json& body, std::string_view name,
                                                 std::uint64_t fallback) {
    const auto found = body.find(name);
    if (found == body.end()) {
        return fallback;
    }
    if (!found->is_number_unsigned()) {
        return invalid("field \"" + std::string(name) + "\" must be an integer in 0..2^64-1");
    }
    return found->get<std::uint64_t>();
}

std::variant<std::string, outcome> job_name(const json& body) {
    const auto found = body.find("job");
    if (found == body.end() || !found->is_string()) {
        return invalid("missing field \"job\" (the job's id, as `reef job ls` shows it)");
    }
    const std::string name = found->get<std::string>();
    if (auto valid = actors::validate_name(name); !valid) {
        return invalid("job: " + valid.failure().message);
    }
    return name;
}

outcome start(const json& body) {
    if (auto refused = refuse_unknown_fields(
            body, {"kernel", "begin", "end", "samples", "seed", "job", "program"})) {
        return std::move(*refused);
    }
    const auto kernel = body.find("kernel");
    if (kernel == body.end() || !kernel->is_string() || kernel->get<std::string>().empty() ||
        kernel->get<std::string>().size() > kernel_name_size_max) {
        return invalid("field \"kernel\" must name a kernel (1..64 bytes), e.g. \"pi\"");
    }
    auto begin = count_field(body, "begin", 0);
    auto samples = count_field(body, "samples", 0);
    auto end = count_field(body, "end", 0);
    auto seed = count_field(body, "seed", 1);
    for (auto* field : {&begin, &samples, &end, &seed}) {
        if (auto* refused = std::get_if<outcome>(field)) {
            return std::move(*refused);
        }
    }
    const std::uint64_t first = std::get<std::uint64_t>(begin);
    std::uint64_t last = std::get<std::uint64_t>(end);
    if (body.contains("samples")) {
        if (body.contains("end")) {
            return invalid("give \"end\" or \"samples\", not both");
        }
        last = first + std::get<std::uint64_t>(samples);
        if (last < first) {
            return invalid("begin + samples is past 2^64");
        }
    }
    if (last <= first) {
        return invalid("the range is empty: give \"samples\" > 0 (or \"end\" > \"begin\")");
    }
    const auto program = body.find("program");
    const bool lua = kernel->get<std::string>() == lua_kernel;
    if (program != body.end() &&
        (!program->is_string() || program->get<std::string>().empty() ||
         program->get<std::string>().size() > actors::record_limits{}.program_size_max)) {
        return invalid("field \"program\" must be a Lua job's source, 1.." +
                       std::to_string(actors::record_limits{}.program_size_max) + " bytes");
    }
    if (lua != (program != body.end())) {
        return invalid(lua ? "a Lua job (kernel \"lua\") needs field \"program\""
                           : "field \"program\" is for Lua jobs (kernel \"lua\") only");
    }
    json asked{{"op", "spawn"},
               {"native", coordinator_kind},
               {"args",
                {{"kernel", kernel->get<std::string>()},
                 {"begin", first},
                 {"end", last},
                 {"seed", std::get<std::uint64_t>(seed)}}}};
    if (lua) {
        asked["program"] = program->get<std::string>();
    }
    std::string name;
    if (body.contains("job")) {
        auto given = job_name(body);
        if (auto* refused = std::get_if<outcome>(&given)) {
            return std::move(*refused);
        }
        name = std::get<std::string>(given);
        asked["name"] = name;
    } else {
        asked["name"] = "";
        asked["name_prefix"] = "job-";
    }
    return later(actor_command{"job", name, detail::dump(asked), true});
}

outcome state(const request& incoming) {
    auto name = query_parameter(incoming.target, "job",
                                " (/v1/jobs/state?job=ID, ID percent-encoded)");
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    const auto& text = std::get<std::string>(name);
    if (auto valid = actors::validate_name(text); !valid) {
        return invalid("job: " + valid.failure().message);
    }
    return later(actor_command{"job_state", text,
                               detail::dump(json{{"op", "inspect"}, {"name", text}}), false});
}

outcome cancel(const json& body) {
    if (auto refused = refuse_unknown_fields(body, {"job"})) {
        return std::move(*refused);
    }
    auto name = job_name(body);
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    const auto& text = std::get<std::string>(name);
    json asked{{"op", "deliver"}, {"name", text}, {"kind", "message"},
               {"body", {{"cancel", true}}}};
    return later(actor_command{"job_cancel", text, detail::dump(asked), false});
}

} // namespace

bool is_job_verb(std::string_view verb) {
    return verb == "job" || verb == "job_state" || verb == "jobs" || verb == "job_cancel";
}

bool is_jobs_path(std::string_view path) {
    return path == jobs_path || path == jobs_start_path || path == jobs_state_path ||
           path == jobs_cancel_path;
}

outcome handle_jobs(std::string_view path, const request& incoming) {
    if (path == jobs_state_path) {
        return state(incoming);
    }
    if (path == jobs_path) {
        const std::string name(table_name);
        return later(actor_command{"jobs", name,
                                   detail::dump(json{{"op", "inspect"}, {"name", name}}), false});
    }
    auto parsed = parse_object(incoming.body);
    if (auto* refused = std::get_if<outcome>(&parsed)) {
        return std::move(*refused);
    }
    const auto& body = std::get<json>(parsed);
    return path == jobs_start_path ? start(body) : cancel(body);
}

response job_reply(const actor_command& asked, const result<std::string>& answer) {
    if (asked.verb == "jobs" && !answer && answer.failure().code == errc::not_found) {
        return ok_json({{"jobs", json::object()}}); // no job has run yet
    }
    response reply = actor_reply(asked, answer);
    if (reply.status != 200) {
        return reply;
    }
    const json body = json::parse(reply.body, nullptr, false);
    if (asked.verb == "job") {
        return ok_json({{"ok", true}, {"job", body.value("name", asked.name)}});
    }
    if (asked.verb == "jobs") {
        const json state = body.value("state", json::object());
        return ok_json({{"jobs", state.value("jobs", json::object())}});
    }
    if (asked.verb == "job_state") {
        json state = body.value("state", json::object());
        state["job"] = asked.name;
        state["node"] = body.value("node", json());
        return ok_json(state);
    }
    return reply;
}

} // namespace reef::control
