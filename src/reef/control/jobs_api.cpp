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
constexpr std::string_view exec_kernel = "exec";
constexpr std::string_view blob_kind = "reef.blob";

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

/// The program a job's coordinator keeps: a Lua job's source ("program"), a command job's
/// command as JSON ("command", an array of strings), or "" for a native kernel.
std::variant<std::string, outcome> program_of(const json& kernel, const json& body) {
    const std::size_t size_max = actors::record_limits{}.program_size_max;
    const auto program = body.find("program");
    const auto command = body.find("command");
    const bool lua = kernel == lua_kernel;
    const bool exec = kernel == exec_kernel;
    if (lua != (program != body.end())) {
        return invalid(lua ? "a Lua job (kernel \"lua\") needs field \"program\""
                           : "field \"program\" is for Lua jobs (kernel \"lua\") only");
    }
    if (exec != (command != body.end())) {
        return invalid(exec ? "a command job (kernel \"exec\") needs field \"command\""
                            : "field \"command\" is for command jobs (kernel \"exec\") only");
    }
    if (lua) {
        if (!program->is_string() || program->get<std::string>().empty() ||
            program->get<std::string>().size() > size_max) {
            return invalid("field \"program\" must be a Lua job's source, 1.." +
                           std::to_string(size_max) + " bytes");
        }
        return program->get<std::string>();
    }
    if (exec) {
        const bool strings = command->is_array() && !command->empty() &&
                             std::all_of(command->begin(), command->end(),
                                         [](const json& part) { return part.is_string(); });
        if (!strings || detail::dump(*command).size() > size_max) {
            return invalid("field \"command\" must be an array of strings (the program and its "
                           "arguments, {start} and {end} replaced per chunk), at most " +
                           std::to_string(size_max) + " bytes as JSON");
        }
        if (!body.contains("chunks")) {
            return invalid("a command job needs field \"chunks\"");
        }
        return detail::dump(*command);
    }
    return std::string();
}

outcome start(const json& body) {
    if (auto refused = refuse_unknown_fields(body, {"kernel", "begin", "end", "samples", "seed",
                                                    "job", "program", "command", "chunks"})) {
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
    auto chunks = count_field(body, "chunks", 0);
    for (auto* field : {&begin, &samples, &end, &seed, &chunks}) {
        if (auto* refused = std::get_if<outcome>(field)) {
            return std::move(*refused);
        }
    }
    const std::uint64_t first = std::get<std::uint64_t>(begin);
    std::uint64_t last = std::get<std::uint64_t>(end);
    if (body.contains("chunks") && std::get<std::uint64_t>(chunks) == 0) {
        return invalid("field \"chunks\" must be at least 1");
    }
    if (body.contains("chunks") && !body.contains("samples") && !body.contains("end")) {
        last = first + std::get<std::uint64_t>(chunks); // a command job's default: one per chunk
    }
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
    auto program_text = program_of(*kernel, body);
    if (auto* refused = std::get_if<outcome>(&program_text)) {
        return std::move(*refused);
    }
    const auto& program = std::get<std::string>(program_text);
    json asked{{"op", "spawn"},
               {"native", coordinator_kind},
               {"args",
                {{"kernel", kernel->get<std::string>()},
                 {"begin", first},
                 {"end", last},
                 {"seed", std::get<std::uint64_t>(seed)}}}};
    if (body.contains("chunks")) {
        asked["args"]["chunks"] = std::get<std::uint64_t>(chunks);
    }
    if (!program.empty()) {
        asked["program"] = program;
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
    auto name = actor_name_parameter(incoming, "job",
                                     " (/v1/jobs/state?job=ID, ID percent-encoded)");
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    const auto& text = std::get<std::string>(name);
    return later(actor_command{"job_state", text,
                               detail::dump(json{{"op", "inspect"}, {"name", text}}), false});
}

/// GET /v1/jobs/page?name=PAGE: one page of a command job's output (its blob actor's program).
outcome page(const request& incoming) {
    auto name = actor_name_parameter(incoming, "name",
                                     " (/v1/jobs/page?name=JOB/out/CHUNK.ATTEMPT.PAGE)");
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    const auto& text = std::get<std::string>(name);
    if (text.find("/out/") == std::string::npos) {
        return invalid("name: a page is named JOB/out/CHUNK.ATTEMPT.PAGE");
    }
    return later(actor_command{
        "job_page", text, detail::dump(json{{"op", "inspect"}, {"name", text}, {"program", true}}),
        false});
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
    return verb == "job" || verb == "job_state" || verb == "jobs" || verb == "job_cancel" ||
           verb == "job_page";
}

bool is_jobs_path(std::string_view path) {
    return path == jobs_path || path == jobs_start_path || path == jobs_state_path ||
           path == jobs_cancel_path || path == jobs_page_path;
}

outcome handle_jobs(std::string_view path, const request& incoming) {
    if (path == jobs_state_path) {
        return state(incoming);
    }
    if (path == jobs_page_path) {
        return page(incoming);
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
    if (asked.verb == "job_page") {
        // Only a command job's output page: any other actor's program is not this route's.
        if (body.value("module", json()) != json(blob_kind) || !body.contains("program") ||
            !body["program"].is_string()) {
            return error_response(404, errc::not_found, asked.name + " is not an output page");
        }
        return ok_json({{"page", body["program"]}});
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
