// `reef run|spawn|send|state|pause|resume|step|mailbox|ps|kill`: durable actors and processes
// through the control API's actor routes (docs/formats/control-api.md, "Actors").
//
// A process is a root actor named after its id ("p" and 12 hex digits) running the program's
// init(args, ctx) (its start event; a program may call it main). Its children are the actors it
// spawns. The processes of the cluster are listed in the actor "reef.processes", which `reef run`
// and `reef kill` update, so `reef ps` works from any node.

#include <pwd.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands_internal.hpp"
#include "reef/runtime/entropy.hpp"

namespace reef::cli {
namespace {

using json = nlohmann::json;

constexpr std::string_view registry_name = "reef.processes";

// The registry of processes: a plain actor. It keeps at most 48 processes (its state must stay
// small), dropping the oldest finished ones first.
constexpr std::string_view registry_program = R"lua(
function init() return { processes = {}, count = 0 } end
function handle(state, msg)
  if msg.add then
    if state.processes[msg.add] == nil then state.count = state.count + 1 end
    state.processes[msg.add] = { program = msg.program, owner = msg.owner,
                                 started_ms = msg.started_ms, status = "running" }
  elseif msg.exit and state.processes[msg.exit] then
    state.processes[msg.exit].status = msg.status
  end
  while state.count > 48 do
    local oldest, oldest_at = nil, nil
    for id, p in pairs(state.processes) do
      if p.status ~= "running" and (oldest_at == nil or p.started_ms < oldest_at) then
        oldest, oldest_at = id, p.started_ms
      end
    end
    if oldest == nil then break end
    state.processes[oldest] = nil
    state.count = state.count - 1
  end
  return state
end
)lua";

control_client actor_client(const global_options& global) {
    control_client client = client_for(global);
    client.timeout = std::max<std::chrono::milliseconds>(client.timeout, kv_timeout_min);
    return client;
}

result<json> post(const global_options& global, std::string_view path, const json& body) {
    return actor_client(global).call("POST", path, body);
}

result<json> inspect(const control_client& client, const std::string& name) {
    return client.call("GET", "/v1/actors/state?name=" + percent_encoded(name), json());
}

result<json> parse_json_argument(const std::string& text, const std::string& what) {
    json value = json::parse(text, nullptr, false);
    if (value.is_discarded()) {
        return make_error(errc::invalid_argument, what + " is not valid JSON: " + text);
    }
    return value;
}

std::string basename_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string new_process_id() {
    std::uint8_t bytes[6];
    runtime::fill_random(bytes);
    std::ostringstream text;
    text << 'p';
    for (const auto byte : bytes) {
        text << std::hex << std::setw(2) << std::setfill('0') << static_cast<int>(byte);
    }
    return text.str();
}

/// Spawns the registry if no node hosts it yet; "already exists" is the usual answer.
status ensure_registry(const global_options& global) {
    auto made = post(global, "/v1/actors/spawn",
                     {{"name", registry_name}, {"program", registry_program}, {"owner", "reef"}});
    if (!made && made.failure().message.find("already exists") == std::string::npos) {
        return made.failure();
    }
    return {};
}

/// The user running this command: $USER, else the name of the effective uid.
std::string current_user() {
    if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') {
        return user;
    }
    const passwd* entry = ::getpwuid(::geteuid());
    return entry != nullptr ? entry->pw_name : "";
}

std::uint64_t unix_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

int run_process(const global_options& global, const actor_options& options) {
    auto program = read_program(options.program_path);
    if (!program) {
        return report(program.failure());
    }
    const std::string id = options.name.empty() ? new_process_id() : options.name;
    const std::string owner = current_user();
    auto started = post(global, "/v1/actors/spawn",
                        {{"name", id},
                         {"program", *program},
                         {"args", {{"argv", options.args}}},
                         {"owner", owner}});
    if (!started) {
        return report(started.failure());
    }
    if (auto ready = ensure_registry(global); !ready) {
        return report(ready.failure());
    }
    auto listed = post(global, "/v1/actors/send",
                       {{"name", registry_name},
                        {"body",
                         {{"add", id},
                          {"program", basename_of(options.program_path)},
                          {"owner", owner},
                          {"started_ms", unix_ms()}}}});
    if (!listed) {
        return report(listed.failure());
    }
    if (global.json) {
        print_json({{"ok", true}, {"process", id}});
    } else {
        std::cout << id << "\n";
    }
    return exit_ok;
}

int run_spawn(const global_options& global, const actor_options& options) {
    auto program = read_program(options.program_path);
    if (!program) {
        return report(program.failure());
    }
    json args = json::object();
    if (!options.body_text.empty()) {
        auto parsed = parse_json_argument(options.body_text, "--args");
        if (!parsed) {
            return report_usage(parsed.failure().message);
        }
        args = *parsed;
    }
    json body{{"name", options.name}, {"program", *program}, {"args", args},
              {"owner", current_user()}};
    if (!options.module.empty()) {
        body["module"] = options.module;
    }
    auto answer = post(global, "/v1/actors/spawn", body);
    if (!answer) {
        return report(answer.failure());
    }
    global.json ? print_json(*answer) : void(std::cout << options.name << "\n");
    return exit_ok;
}

int run_send(const global_options& global, const actor_options& options) {
    auto message = parse_json_argument(options.body_text, "the message");
    if (!message) {
        return report_usage(message.failure().message);
    }
    json body{{"name", options.name}, {"body", *message}};
    if (options.request) {
        body["request"] = {{"client", options.request->first},
                           {"sequence", options.request->second}};
    }
    auto answer = post(global, "/v1/actors/send", body);
    if (!answer) {
        return report(answer.failure());
    }
    if (global.json) {
        print_json(*answer);
    } else {
        std::cout << (answer->value("queued", false) ? "queued (the actor is paused)" : "ok")
                  << "\n";
    }
    return exit_ok;
}

int run_state(const global_options& global, const actor_options& options) {
    if (!options.set_file.empty()) {
        auto text = read_program(options.set_file);
        if (!text) {
            return report(text.failure());
        }
        auto state = parse_json_argument(*text, options.set_file);
        if (!state) {
            return report_usage(state.failure().message);
        }
        auto answer = post(global, "/v1/actors/steer",
                           {{"name", options.name}, {"action", "set_state"}, {"state", *state}});
        if (!answer) {
            return report(answer.failure());
        }
        global.json ? print_json(*answer) : void(std::cout << "state replaced\n");
        return exit_ok;
    }
    auto answer = inspect(actor_client(global), options.name);
    if (!answer) {
        return report(answer.failure());
    }
    print_json(global.json ? *answer : answer->value("state", json()));
    return exit_ok;
}

int run_steer(const global_options& global, const actor_options& options) {
    auto answer =
        post(global, "/v1/actors/steer", {{"name", options.name}, {"action", options.verb}});
    if (!answer) {
        return report(answer.failure());
    }
    if (global.json) {
        print_json(*answer);
    } else if (options.verb == "step") {
        std::cout << "delivered one message\n";
    } else {
        std::cout << options.name << (options.verb == "pause" ? " paused" : " ")
                  << (options.verb == "resume" ? "resumed" : "") << "\n";
    }
    return exit_ok;
}

int run_mailbox(const global_options& global, const actor_options& options) {
    auto answer = inspect(actor_client(global), options.name);
    if (!answer) {
        return report(answer.failure());
    }
    const json mailbox = answer->value("mailbox", json::array());
    if (global.json) {
        print_json(mailbox);
        return exit_ok;
    }
    std::cout << options.name << (answer->value("paused", false) ? " (paused): " : ": ")
              << mailbox.size() << " pending\n";
    for (const auto& waiting : mailbox) {
        std::cout << "  " << waiting.value("from", "") << " #" << waiting.value("sequence", 0)
                  << "  " << waiting.value("body", json()).dump() << "\n";
    }
    return exit_ok;
}

/// One line per actor of the tree under `name`, depth-first; errors become a line too.
void list_tree(const control_client& client, const std::string& name, int depth, json& rows) {
    auto answer = inspect(client, name);
    json row{{"name", name}, {"depth", depth}};
    if (!answer) {
        row["error"] = answer.failure().message;
        rows.push_back(row);
        return;
    }
    for (const char* field : {"status", "paused", "node", "handled", "failures",
                              "state_size_bytes", "last_error"}) {
        row[field] = answer->value(field, json());
    }
    row["mailbox"] = answer->value("mailbox", json::array()).size();
    rows.push_back(row);
    for (const auto& child : answer->value("children", json::array())) {
        if (child.is_string() && depth < 16) {
            list_tree(client, child.get<std::string>(), depth + 1, rows);
        }
    }
}

int run_ps(const global_options& global) {
    const control_client client = actor_client(global);
    auto registry = inspect(client, std::string(registry_name));
    if (!registry) {
        if (registry.failure().code == errc::not_found) {
            global.json ? print_json(json::array()) : void(std::cout << "no processes\n");
            return exit_ok;
        }
        return report(registry.failure());
    }
    const json processes =
        registry->value("state", json::object()).value("processes", json::object());
    json listing = json::array();
    for (const auto& [id, info] : processes.items()) {
        json rows = json::array();
        list_tree(client, id, 0, rows);
        // The exit status: "killed" when `reef kill` ended it, else its root actor's status
        // (a root that stopped itself, or failed and was not restarted, has ended).
        json listed = info;
        const json root_status = rows.at(0).value("status", json());
        if (listed.value("status", "") == "running" && root_status.is_string()) {
            listed["status"] = root_status;
        }
        listing.push_back({{"process", id}, {"info", listed}, {"actors", rows}});
    }
    if (global.json) {
        print_json(listing);
        return exit_ok;
    }
    if (listing.empty()) {
        std::cout << "no processes\n";
    }
    for (const auto& process : listing) {
        const json& info = process["info"];
        std::cout << process["process"].get<std::string>() << "  " << info.value("program", "")
                  << "  owner " << info.value("owner", "") << "  "
                  << info.value("status", "") << "\n";
        std::cout << "  " << std::left << std::setw(36) << "ACTOR" << std::setw(9) << "STATUS"
                  << std::setw(18) << "NODE" << std::setw(8) << "MAILBOX" << std::setw(8)
                  << "STATE" << "HANDLED\n";
        for (const auto& row : process["actors"]) {
            const std::string indent(static_cast<std::size_t>(row.value("depth", 0)) * 2, ' ');
            std::cout << "  " << std::left << std::setw(36) << indent + row.value("name", "");
            if (row.contains("error")) {
                std::cout << row.value("error", "") << "\n";
                continue;
            }
            std::string status = row.value("status", "");
            if (row.value("paused", false)) {
                status += "*";
            }
            const json node = row.value("node", json());
            std::cout << std::setw(9) << status << std::setw(18)
                      << (node.is_string() ? node.get<std::string>() : "?") << std::setw(8)
                      << row.value("mailbox", 0) << std::setw(8)
                      << row.value("state_size_bytes", 0) << row.value("handled", 0) << "\n";
        }
    }
    return exit_ok;
}

int run_kill(const global_options& global, const actor_options& options) {
    auto stopped = post(global, "/v1/actors/steer", {{"name", options.name}, {"action", "stop"}});
    if (!stopped) {
        return report(stopped.failure());
    }
    auto listed = post(global, "/v1/actors/send",
                       {{"name", registry_name},
                        {"body", {{"exit", options.name}, {"status", "killed"}}}});
    if (!listed && listed.failure().code != errc::not_found) {
        return report(listed.failure());
    }
    global.json ? print_json(*stopped) : void(std::cout << options.name << " stopped\n");
    return exit_ok;
}

} // namespace

result<std::string> read_program(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return make_error(errc::not_found, "cannot read program " + path);
    }
    std::ostringstream text;
    text << file.rdbuf();
    if (text.str().empty()) {
        return make_error(errc::invalid_argument, "program " + path + " is empty");
    }
    return text.str();
}

int run_actor(const global_options& global, const actor_options& options) {
    const std::string& verb = options.verb;
    if (verb == "run") {
        return run_process(global, options);
    }
    if (verb == "spawn") {
        return run_spawn(global, options);
    }
    if (verb == "send") {
        return run_send(global, options);
    }
    if (verb == "state") {
        return run_state(global, options);
    }
    if (verb == "mailbox") {
        return run_mailbox(global, options);
    }
    if (verb == "ps") {
        return run_ps(global);
    }
    if (verb == "kill") {
        return run_kill(global, options);
    }
    return run_steer(global, options);
}

} // namespace reef::cli
