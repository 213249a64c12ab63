#include "reef/control/actors_api.hpp"

#include <cstdio>
#include <optional>
#include <string>
#include <variant>

#include "reef/actors/record.hpp"
#include "reef/control/json_support.hpp"
#include "reef/control/kv_api.hpp"

namespace reef::control {

namespace {

using detail::invalid;
using detail::json;
using detail::ok_json;
using detail::parse_object;
using detail::refuse_unknown_fields;
using detail::string_field;

outcome later(actor_command action) { return outcome{response{0, {}, {}}, std::move(action)}; }

/// The "name" field, validated as an actor name.
std::variant<std::string, outcome> name_of(const json& body) {
    auto name = string_field(body, "name");
    if (auto* text = std::get_if<std::string>(&name)) {
        if (auto valid = actors::validate_name(*text); !valid) {
            return invalid("name: " + valid.failure().message);
        }
    }
    return name;
}

/// A JSON value field limited to `size_max` bytes as text (missing: `fallback`).
std::variant<json, outcome> value_field(const json& body, std::string_view name,
                                        std::size_t size_max, json fallback) {
    const auto found = body.find(name);
    if (found == body.end()) {
        return fallback;
    }
    const std::size_t size = detail::dump(*found).size();
    if (size > size_max) {
        return invalid(std::string(name) + " is " + std::to_string(size) +
                       " bytes as JSON (at most " + std::to_string(size_max) + ")");
    }
    return *found;
}

/// "request": {"client", "sequence"} (as for kv) names the message's sender and sequence, so a
/// retry is applied once; none: the node assigns them.
std::optional<outcome> add_sender(const json& body, json& asked) {
    auto request = detail::request_of(body);
    if (auto* refused = std::get_if<outcome>(&request)) {
        return std::move(*refused);
    }
    if (const auto& id = std::get<std::optional<replica::request_id>>(request)) {
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(id->client));
        asked["from"] = std::string(actors::client_prefix) + hex;
        asked["sequence"] = id->sequence;
    }
    return std::nullopt;
}

outcome spawn(const json& body) {
    if (auto refused = refuse_unknown_fields(
            body, {"name", "program", "module", "args", "owner", "request"})) {
        return std::move(*refused);
    }
    auto name = name_of(body);
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    const actors::record_limits limits;
    auto program = string_field(body, "program");
    if (auto* refused = std::get_if<outcome>(&program)) {
        return std::move(*refused);
    }
    const auto& source = std::get<std::string>(program);
    if (source.empty() || source.size() > limits.program_size_max) {
        return invalid("program must be 1.." + std::to_string(limits.program_size_max) +
                       " bytes of Lua source, got " + std::to_string(source.size()));
    }
    auto args = value_field(body, "args", limits.message_size_max, json::object());
    if (auto* refused = std::get_if<outcome>(&args)) {
        return std::move(*refused);
    }
    json asked{{"op", "spawn"},
               {"name", std::get<std::string>(name)},
               {"program", source},
               {"module", body.value("module", json("")).is_string()
                              ? body.value("module", std::string())
                              : std::string()},
               {"args", std::get<json>(args)},
               {"parent", ""},
               {"owner", body.value("owner", json("")).is_string()
                             ? body.value("owner", std::string())
                             : std::string()}};
    if (auto refused = add_sender(body, asked)) {
        return std::move(*refused);
    }
    return later(actor_command{"spawn", std::get<std::string>(name), detail::dump(asked), true});
}

outcome send(const json& body) {
    if (auto refused = refuse_unknown_fields(body, {"name", "body", "request"})) {
        return std::move(*refused);
    }
    auto name = name_of(body);
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    if (!body.contains("body")) {
        return invalid("missing field \"body\" (the message, any JSON value)");
    }
    auto message = value_field(body, "body", actors::record_limits{}.message_size_max, json());
    if (auto* refused = std::get_if<outcome>(&message)) {
        return std::move(*refused);
    }
    json asked{{"op", "deliver"},
               {"name", std::get<std::string>(name)},
               {"kind", "message"},
               {"body", std::get<json>(message)}};
    if (auto refused = add_sender(body, asked)) {
        return std::move(*refused);
    }
    return later(actor_command{"send", std::get<std::string>(name), detail::dump(asked), false});
}

outcome steer(const json& body) {
    if (auto refused = refuse_unknown_fields(body, {"name", "action", "state"})) {
        return std::move(*refused);
    }
    auto name = name_of(body);
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    auto action = string_field(body, "action");
    if (auto* refused = std::get_if<outcome>(&action)) {
        return std::move(*refused);
    }
    const auto& verb = std::get<std::string>(action);
    if (verb != "pause" && verb != "resume" && verb != "step" && verb != "set_state" &&
        verb != "stop") {
        return invalid("action must be pause, resume, step, set_state or stop, got " +
                       detail::shown(verb));
    }
    json asked{{"op", "steer"}, {"name", std::get<std::string>(name)}, {"action", verb}};
    if (verb == "set_state") {
        if (!body.contains("state")) {
            return invalid("set_state needs field \"state\" (the new state, any JSON value)");
        }
        auto state =
            value_field(body, "state", actors::record_limits{}.state_size_max, json::object());
        if (auto* refused = std::get_if<outcome>(&state)) {
            return std::move(*refused);
        }
        asked["state"] = std::get<json>(state);
    } else if (body.contains("state")) {
        return invalid("field \"state\" goes only with action set_state");
    }
    return later(actor_command{verb, std::get<std::string>(name), detail::dump(asked), false});
}

outcome state(const request& incoming) {
    auto name = actor_name_parameter(incoming, "name",
                                     " (/v1/actors/state?name=NAME, NAME percent-encoded)");
    if (auto* refused = std::get_if<outcome>(&name)) {
        return std::move(*refused);
    }
    const auto& text = std::get<std::string>(name);
    json asked{{"op", "inspect"}, {"name", text}};
    return later(actor_command{"state", text, detail::dump(asked), false});
}

} // namespace

std::variant<std::string, outcome> actor_name_parameter(const request& incoming,
                                                        std::string_view parameter,
                                                        std::string_view usage) {
    auto name = query_parameter(incoming.target, parameter, usage);
    if (const auto* text = std::get_if<std::string>(&name)) {
        if (auto valid = actors::validate_name(*text); !valid) {
            return invalid(std::string(parameter) + ": " + valid.failure().message);
        }
    }
    return name;
}

bool is_actors_path(std::string_view path) {
    return path == actors_spawn_path || path == actors_send_path || path == actors_steer_path ||
           path == actors_state_path;
}

outcome handle_actors(std::string_view path, const request& incoming) {
    if (path == actors_state_path) {
        return state(incoming);
    }
    auto parsed = parse_object(incoming.body);
    if (auto* refused = std::get_if<outcome>(&parsed)) {
        return std::move(*refused);
    }
    const auto& body = std::get<json>(parsed);
    if (path == actors_spawn_path) {
        return spawn(body);
    }
    if (path == actors_send_path) {
        return send(body);
    }
    return steer(body);
}

response actor_reply(const actor_command& asked, const result<std::string>& answer) {
    if (!answer) {
        const errc code = answer.failure().code;
        std::string message = answer.failure().message;
        if (code == errc::not_found) {
            message = "no such actor " + detail::shown(asked.name);
        }
        return error_response(http_status_of(code), code, asked.verb + " " + asked.name + ": " +
                                                              message);
    }
    json body = json::parse(*answer, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        return error_response(500, errc::internal, "the actor's answer is not a JSON object");
    }
    if (body.value("ok", false)) {
        return ok_json(body);
    }
    const std::string why = body.value("error", std::string("refused"));
    if (body.value("retry", false)) {
        return error_response(429, errc::resource_exhausted, asked.name + ": " + why);
    }
    if (why.starts_with("no such actor")) {
        return error_response(404, errc::not_found, why);
    }
    return error_response(409, errc::failed_precondition, asked.name + ": " + why);
}

} // namespace reef::control
