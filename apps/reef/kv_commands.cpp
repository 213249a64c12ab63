// `reef kv get|put|cas|incr`: the replicated registers of the control API (POST /v1/kv), and
// `reef kv group`, a node's view of a key's replica group (GET /v1/kv/group).

#include <iostream>

#include <nlohmann/json.hpp>

#include "commands_internal.hpp"
#include "output.hpp"

namespace reef::cli {
namespace {

using json = nlohmann::json;

json body_of(const kv_options& options) {
    json body{{"op", options.op}, {"key", options.key}};
    if (options.op == "put") {
        body["value"] = options.value;
    } else if (options.op == "cas") {
        body["expected"] = options.expected ? json(*options.expected) : json(nullptr);
        body["value"] = options.value;
    } else if (options.op == "incr") {
        body["delta"] = options.delta;
    }
    if (options.request) {
        body["request"] = json{{"client", options.request->first},
                               {"sequence", options.request->second}};
    }
    return body;
}

/// `value` quoted for a message, or "absent".
std::string described(const json& value) {
    return value.is_string() ? json(value.get<std::string>()).dump() : std::string("absent");
}

} // namespace

int run_kv(const global_options& global, const kv_options& options) {
    control_client client = client_for(global);
    client.timeout = std::max<std::chrono::milliseconds>(client.timeout, kv_timeout_min);
    auto answer = client.kv(body_of(options));
    if (!answer) {
        return report(answer.failure());
    }
    if (global.json) {
        print_json(*answer);
    }
    if (!(*answer)["ok"].get<bool>()) {
        const json& value = (*answer)["value"];
        if (options.op == "cas") {
            std::cerr << "reef: cas failed: the value is " << described(value) << "\n";
        } else {
            std::cerr << "reef: " << options.op << " failed: "
                      << (*answer)["error"].get<std::string>() << " (the value is "
                      << described(value) << ")\n";
        }
        return exit_failure;
    }
    if (!global.json) {
        std::cout << render_kv(*answer);
    }
    return exit_ok;
}

int run_kv_group(const global_options& global, const std::string& key) {
    return show(global, client_for(global).kv_group(key), render_kv_group);
}

} // namespace reef::cli
