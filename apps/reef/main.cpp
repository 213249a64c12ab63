// reef: the command-line client of a Reef cluster. This file holds only the command-line
// definition (CLI11 lives in this one translation unit); commands.hpp does the work.

#include <charconv>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "address.hpp"
#include "commands.hpp"
#include "local_cluster.hpp"

namespace {

using namespace reef::cli;

/// A CLI11 validator backed by one of our parse functions, so the message is ours.
template <typename Parse>
CLI::Validator checked_by(Parse parse, std::string description) {
    return CLI::Validator(
        [parse](std::string& text) -> std::string {
            auto parsed = parse(text);
            return parsed ? std::string() : parsed.failure().message;
        },
        std::move(description));
}

auto not_empty(std::string flag) {
    return checked_by(
        [flag](const std::string& text) -> reef::result<bool> {
            if (text.empty()) {
                return reef::make_error(reef::errc::invalid_argument, flag + " must not be empty");
            }
            return true;
        },
        "");
}

auto address_checked() {
    return checked_by([](const std::string& text) { return reef::parse_host_port(text); }, "");
}

auto bounded(int min, int max, std::string what) {
    return checked_by(
        [=](const std::string& text) { return parse_bounded_int(text, min, max, what); }, "");
}

struct command_line {
    std::string node_text;
    std::string dir_text;
    std::string timeout_text = "5";
    bool json = false;
    std::string key_text;
    std::string address_text;
    std::string nodes_text;
    std::string base_port_text;
    bool up_allow_exec = false;
    std::string wait_text = "60";
    std::string join_text;
    std::string dht_name;
    std::string dht_value;
    std::string dht_ttl_text;
    std::string dht_ref;
    std::string kv_key;
    std::string kv_value;
    std::string kv_expected;
    bool kv_absent = false;
    std::vector<std::string> kv_cas_values;
    std::string kv_by_text = "1";
    std::string kv_request_text;
    std::string actor_name;
    std::string actor_program;
    std::string actor_module;
    std::vector<std::string> actor_args;
    std::string actor_body;
    std::string actor_set_file;
    std::string actor_request_text;
    std::string job_samples_text;
    std::string job_seed_text = "1";
    std::string job_id;
    std::string job_program;
    std::string job_range_text;
    std::string job_chunks_text;
    std::vector<std::string> job_command;
};

void add_json_flag(CLI::App* command, command_line& line) {
    command->add_flag("--json", line.json, "Print the result as JSON");
}

auto record_ref_checked() {
    return checked_by([](const std::string& text) { return parse_record_ref(text); }, "");
}

void define_dht_commands(CLI::App& app, command_line& line) {
    auto* dht = app.add_subcommand(
        "dht", "Store and find records and nodes in the cluster's DHT (put, get, closest, find)");
    dht->require_subcommand(1);
    dht->fallthrough();
    auto* put = dht->add_subcommand(
        "put", "Sign VALUE as this node's record NAME and store it on the closest nodes");
    put->add_option("NAME", line.dht_name, "Record name, 1-128 bytes (not starting with reef.)")
        ->required()
        ->check(not_empty("NAME"));
    put->add_option("VALUE", line.dht_value, "Record value, at most 1024 bytes")->required();
    put->add_option("--ttl", line.dht_ttl_text,
                    "Seconds the record lives (1-604800; default: the node's, 24 h)")
        ->type_name("SECONDS")
        ->check(bounded(1, 604800, "--ttl"));
    auto* get = dht->add_subcommand(
        "get", "Print a record's value: KEY (64 hex), PUBLISHER/NAME, or NAME (the node's own)");
    get->add_option("KEY", line.dht_ref, "64-hex record key, PUBLISHER/NAME, or NAME")
        ->required()
        ->check(record_ref_checked());
    auto* closest = dht->add_subcommand("closest", "List the live nodes closest to a key or id");
    closest->add_option("KEY", line.dht_ref, "64-hex key or node id, or PUBLISHER/NAME")
        ->required()
        ->check(checked_by(
            [](const std::string& text) -> reef::result<bool> {
                auto ref = parse_record_ref(text);
                if (!ref) {
                    return ref.failure();
                }
                if (ref->which == record_ref::kind::own) {
                    return reef::make_error(reef::errc::invalid_argument,
                                            "KEY must be 64 hex digits or PUBLISHER/NAME, got \"" +
                                                text + "\"");
                }
                return true;
            },
            ""));
    auto* find = dht->add_subcommand("find", "Print a node's addresses from its address record");
    find->add_option("NODE_ID", line.dht_ref, "The node's 64-hex id")
        ->required()
        ->check(
            checked_by([](const std::string& text) { return parse_id_hex(text, "NODE_ID"); }, ""));
}

int dispatch_dht(const CLI::App& dht, const global_options& global, const command_line& line) {
    const std::string& name = dht.get_subcommands().front()->get_name();
    if (name == "put") {
        dht_put_options options{line.dht_name, line.dht_value, 0};
        if (!line.dht_ttl_text.empty()) {
            options.ttl_seconds = static_cast<std::uint64_t>(std::stoi(line.dht_ttl_text));
        }
        return run_dht_put(global, options);
    }
    if (name == "get") {
        return run_dht_get(global, line.dht_ref);
    }
    if (name == "closest") {
        return run_dht_closest(global, line.dht_ref);
    }
    REEF_ASSERT(name == "find");
    return run_dht_find(global, line.dht_ref);
}

auto integer_checked(std::string what) {
    return checked_by(
        [what](const std::string& text) -> reef::result<std::int64_t> {
            std::int64_t value = 0;
            const char* end = text.data() + text.size();
            auto [stop, failure] = std::from_chars(text.data(), end, value);
            if (text.empty() || failure != std::errc() || stop != end) {
                return reef::make_error(reef::errc::invalid_argument,
                                        what + " must be a signed 64-bit integer, got \"" +
                                            text + "\"");
            }
            return value;
        },
        "");
}

/// An unsigned 64-bit count, digits only (1e9 is refused: write 1000000000).
reef::result<std::uint64_t> parse_count(const std::string& text) {
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    auto [stop, failure] = std::from_chars(text.data(), end, value);
    if (text.empty() || failure != std::errc{} || stop != end) {
        return reef::make_error(reef::errc::invalid_argument,
                                "expected a whole number in 0..2^64-1, got \"" + text + "\"");
    }
    return value;
}

/// BEGIN:END, two unsigned 64-bit integers with BEGIN < END (a job's range).
reef::result<std::pair<std::uint64_t, std::uint64_t>> parse_range(const std::string& text) {
    const auto colon = text.find(':');
    if (colon == std::string::npos) {
        return reef::make_error(reef::errc::invalid_argument,
                                "a range is BEGIN:END, e.g. 0:1000000, got \"" + text + "\"");
    }
    auto first = parse_count(text.substr(0, colon));
    auto last = parse_count(text.substr(colon + 1));
    if (!first || !last) {
        return !first ? first.failure() : last.failure();
    }
    if (*first >= *last) {
        return reef::make_error(reef::errc::invalid_argument,
                                "the range " + text + " is empty: BEGIN must be below END");
    }
    return std::pair{*first, *last};
}

/// CLIENT:SEQUENCE, two non-zero unsigned 64-bit integers (a kv request id).
reef::result<std::pair<std::uint64_t, std::uint64_t>> parse_request_id(const std::string& text) {
    const auto colon = text.find(':');
    std::uint64_t parts[2] = {0, 0};
    const std::string_view pieces[2] = {
        std::string_view(text).substr(0, colon),
        colon == std::string::npos ? std::string_view() : std::string_view(text).substr(colon + 1)};
    for (int i = 0; i < 2; ++i) {
        const char* end = pieces[i].data() + pieces[i].size();
        auto [stop, failure] = std::from_chars(pieces[i].data(), end, parts[i]);
        if (pieces[i].empty() || failure != std::errc{} || stop != end || parts[i] == 0) {
            return reef::make_error(reef::errc::invalid_argument,
                                    "--request-id must be CLIENT:SEQUENCE, two integers in "
                                    "1..2^64-1, got \"" + text + "\"");
        }
    }
    return std::pair{parts[0], parts[1]};
}

void define_kv_commands(CLI::App& app, command_line& line) {
    auto* kv = app.add_subcommand(
        "kv", "Read and write the cluster's replicated registers (get, put, cas, incr; group)");
    kv->require_subcommand(1);
    kv->fallthrough();
    kv->add_option("--request-id", line.kv_request_text,
                   "This request's id, CLIENT:SEQUENCE: retrying with the same id applies the "
                   "command once (use a new SEQUENCE for each new command)")
        ->type_name("CLIENT:SEQ")
        ->check(checked_by(parse_request_id, ""));
    const std::string key_help = "The register's key, 1-256 bytes";
    auto* get = kv->add_subcommand("get", "Print KEY's value, or (absent)");
    get->add_option("KEY", line.kv_key, key_help)->required()->check(not_empty("KEY"));
    auto* put = kv->add_subcommand("put", "Set KEY to VALUE");
    put->add_option("KEY", line.kv_key, key_help)->required()->check(not_empty("KEY"));
    put->add_option("VALUE", line.kv_value, "The new value, at most 1024 bytes")->required();
    auto* cas = kv->add_subcommand(
        "cas", "Set KEY to NEW only if its value is EXPECTED (or, with --absent, if it has none); "
               "exit 1 when it is not");
    cas->add_option("KEY", line.kv_key, key_help)->required()->check(not_empty("KEY"));
    cas->add_option("VALUES", line.kv_cas_values, "EXPECTED NEW (or only NEW with --absent)")
        ->required()
        ->expected(1, 2);
    cas->add_flag("--absent", line.kv_absent, "KEY must have no value (instead of EXPECTED)");
    auto* incr = kv->add_subcommand("incr", "Add to KEY's number (absent counts as 0); print it");
    incr->add_option("KEY", line.kv_key, key_help)->required()->check(not_empty("KEY"));
    incr->add_option("--by", line.kv_by_text, "How much to add (may be negative; default 1)")
        ->type_name("N")
        ->check(integer_checked("--by"));
    auto* group = kv->add_subcommand(
        "group", "Show this node's view of KEY's replica group: members, leader, epoch, role");
    group->add_option("KEY", line.kv_key, key_help)->required()->check(not_empty("KEY"));
}

int dispatch_kv(const CLI::App& kv, const global_options& global, const command_line& line) {
    kv_options options;
    options.op = kv.get_subcommands().front()->get_name();
    options.key = line.kv_key;
    if (options.op == "group") {
        if (!line.kv_request_text.empty()) {
            std::cerr << "reef: --request-id applies to get, put, cas and incr, not to group\n";
            return exit_usage;
        }
        return run_kv_group(global, options.key);
    }
    if (options.op == "put") {
        options.value = line.kv_value;
    } else if (options.op == "cas") {
        const auto& values = line.kv_cas_values;
        if (line.kv_absent && values.size() != 1) {
            std::cerr << "reef: with --absent, give only KEY NEW\n";
            return exit_usage;
        }
        if (!line.kv_absent && values.size() != 2) {
            std::cerr << "reef: give KEY EXPECTED NEW (or KEY NEW --absent)\n";
            return exit_usage;
        }
        if (!line.kv_absent) {
            options.expected = values[0];
        }
        options.value = values.back();
    } else if (options.op == "incr") {
        std::from_chars(line.kv_by_text.data(), line.kv_by_text.data() + line.kv_by_text.size(),
                        options.delta);
    }
    if (!line.kv_request_text.empty()) {
        options.request = *parse_request_id(line.kv_request_text);
    }
    return run_kv(global, options);
}

void define_actor_commands(CLI::App& app, command_line& line) {
    const std::string actor_help = "The actor's name (a process id for a process's root)";
    auto* run = app.add_subcommand(
        "run", "Start a process: PROGRAM's init(args, ctx) runs as its root actor; print its id");
    run->add_option("PROGRAM", line.actor_program, "A Lua program file")->required();
    run->add_option("ARGS", line.actor_args, "Arguments, given to init as args.argv");
    run->add_option("--id", line.actor_name, "The process id (default: a new random one)")
        ->check(not_empty("--id"));
    auto* spawn = app.add_subcommand("spawn", "Start one actor NAME running PROGRAM");
    spawn->add_option("NAME", line.actor_name, actor_help)->required();
    spawn->add_option("PROGRAM", line.actor_program, "A Lua program file")->required();
    spawn->add_option("--args", line.actor_body, "init's args, as JSON (default {})")
        ->type_name("JSON");
    spawn->add_option("--kind", line.actor_module,
                      "The program's actor kind to run (a global table with init and handle)");
    auto* send = app.add_subcommand("send", "Send the JSON message to ACTOR (exactly once)");
    send->add_option("ACTOR", line.actor_name, actor_help)->required();
    send->add_option("MESSAGE", line.actor_body, "The message, as JSON")->required();
    send->add_option("--request-id", line.actor_request_text,
                     "This message's id, CLIENT:SEQUENCE: retrying with the same id delivers it "
                     "once (use a growing SEQUENCE for each new message)")
        ->type_name("CLIENT:SEQ")
        ->check(checked_by(parse_request_id, ""));
    auto* state = app.add_subcommand("state", "Print ACTOR's state, or replace it (--set)");
    state->add_option("ACTOR", line.actor_name, actor_help)->required();
    state->add_option("--set", line.actor_set_file,
                      "Replace the state with this JSON file's (the actor must be paused)")
        ->type_name("FILE");
    for (const auto& [verb, help] :
         {std::pair{"pause", "Pause ACTOR: messages wait in its mailbox"},
          std::pair{"resume", "Resume ACTOR: its mailbox is delivered in order"},
          std::pair{"step", "Deliver exactly one message to a paused ACTOR"},
          std::pair{"mailbox", "List the messages waiting for ACTOR"},
          std::pair{"kill", "Stop a process (or any actor) and every actor under it"}}) {
        app.add_subcommand(verb, help)
            ->add_option("ACTOR", line.actor_name, actor_help)
            ->required();
    }
    app.add_subcommand("ps", "List processes and their actors: status, node, mailbox, state size");
}

void define_job_commands(CLI::App& app, command_line& line) {
    auto* job = app.add_subcommand(
        "job", "Parallel jobs over the cluster's nodes (pi, run, exec; ls, show, cancel)");
    job->require_subcommand(1);
    auto* pi = job->add_subcommand(
        "pi", "Estimate pi from N Monte Carlo samples spread over every node; print it");
    pi->add_option("N", line.job_samples_text, "How many samples")
        ->required()
        ->check(checked_by(parse_count, ""));
    pi->add_option("--seed", line.job_seed_text, "The seed: the same seed, the same answer")
        ->check(checked_by(parse_count, ""));
    auto* run = job->add_subcommand(
        "run", "Run a Lua map/reduce job (map(first, last, job), reduce(a, b)) over a range");
    run->add_option("JOB", line.job_program, "The Lua job program")->required();
    run->add_option("--range", line.job_range_text, "The indices BEGIN:END (END excluded)")
        ->required()
        ->check(checked_by(parse_range, ""));
    run->add_option("--seed", line.job_seed_text, "The seed map sees as job.seed")
        ->check(checked_by(parse_count, ""));
    auto* exec = job->add_subcommand(
        "exec", "Run a command once per chunk on the nodes that allow it (reefd --allow-exec); "
                "print the outputs in chunk order");
    exec->add_option("--chunks", line.job_chunks_text, "How many chunks (1..64)")
        ->required()
        ->check(checked_by(parse_count, ""));
    exec->add_option("--range", line.job_range_text,
                     "The range BEGIN:END cut into the chunks (default 0:CHUNKS)")
        ->check(checked_by(parse_range, ""));
    exec->add_option("COMMAND", line.job_command,
                     "After --: the program and its arguments; {start} and {end} become each "
                     "chunk's range")
        ->required()
        ->expected(-1);
    job->add_subcommand("ls", "List the cluster's jobs");
    job->add_subcommand("show", "Show a job: its chunks, who runs what, progress")
        ->add_option("ID", line.job_id, "The job's id")
        ->required();
    job->add_subcommand("cancel", "Cancel a job")->add_option("ID", line.job_id, "The job's id")
        ->required();
}

int dispatch_job(const CLI::App& job, const global_options& global, const command_line& line) {
    job_options options;
    options.verb = job.get_subcommands().front()->get_name();
    options.job = line.job_id;
    if (options.verb == "pi") {
        options.samples = parse_count(line.job_samples_text).value();
        options.seed = parse_count(line.job_seed_text).value();
    }
    if (options.verb == "exec") {
        options.kernel = "exec";
        options.chunks = parse_count(line.job_chunks_text).value();
        options.command = line.job_command;
        if (!line.job_range_text.empty()) {
            std::tie(options.begin, options.end) = parse_range(line.job_range_text).value();
        }
    }
    if (options.verb == "run") {
        options.kernel = "lua";
        options.program_path = line.job_program;
        std::tie(options.begin, options.end) = parse_range(line.job_range_text).value();
        options.seed = parse_count(line.job_seed_text).value();
    }
    return run_job(global, options);
}

int dispatch_actor(const CLI::App& command, const global_options& global,
                   const command_line& line) {
    actor_options options;
    options.verb = command.get_name();
    options.name = line.actor_name;
    options.program_path = line.actor_program;
    options.module = line.actor_module;
    options.args = line.actor_args;
    options.body_text = line.actor_body;
    options.set_file = line.actor_set_file;
    if (!line.actor_request_text.empty()) {
        options.request = *parse_request_id(line.actor_request_text);
    }
    return run_actor(global, options);
}

void define_commands(CLI::App& app, command_line& line) {
    auto* init = app.add_subcommand("init", "Create the cluster key and print how machines join");
    init->add_option("--cluster-key", line.key_text,
                     "Where to write the key (default: DIR/cluster.key)")
        ->check(not_empty("--cluster-key"))
        ->type_name("FILE");
    init->add_option("--address", line.address_text,
                     "HOST:PORT where other machines will reach this one (default: this "
                     "machine's first IPv4 address, port 7400)")
        ->type_name("HOST:PORT")
        ->check(address_checked());
    auto* up =
        app.add_subcommand("up", "Start a local cluster on 127.0.0.1 (or its missing nodes)");
    up->add_option("--nodes", line.nodes_text,
                   "How many nodes (1-" + std::to_string(local_nodes_max) +
                       "; default 4, or what the last `reef up` used)")
        ->type_name("N")
        ->check(bounded(1, local_nodes_max, "--nodes"));
    up->add_option("--base-port", line.base_port_text,
                   "Node K listens on 127.0.0.1:BASE+K-1 (default 7401, or the last one used)")
        ->type_name("PORT")
        ->check(bounded(base_port_min, 65535, "--base-port"));
    up->add_flag("--allow-exec", line.up_allow_exec,
                 "Let the nodes started now run command jobs (`reef job exec`); they keep it");
    up->add_option("--wait", line.wait_text,
                   "Seconds to wait for the cluster to form (1-3600, default 60)")
        ->type_name("SECONDS")
        ->check(bounded(1, 3600, "--wait"));
    app.add_subcommand("down", "Stop the local cluster's nodes (graceful leave; --node N: one)");
    app.add_subcommand("status", "Show one node: id, address, state, uptime, cluster size");
    app.add_subcommand("peers", "List every member as one node sees it");
    auto* join = app.add_subcommand("join", "Ask the node to join the cluster of HOST:PORT");
    join->add_option("ADDR", line.join_text, "HOST:PORT of any member")
        ->required()
        ->type_name("HOST:PORT")
        ->check(address_checked());
    app.add_subcommand("leave", "Ask the node to leave the cluster gracefully and stop");
    define_dht_commands(app, line);
    define_kv_commands(app, line);
    define_actor_commands(app, line);
    define_job_commands(app, line);
    std::vector<CLI::App*> commands = app.get_subcommands({});
    for (const char* group : {"dht", "kv", "job"}) {
        for (auto* nested : app.get_subcommand(group)->get_subcommands({})) {
            commands.push_back(nested);
        }
    }
    for (auto* command : commands) {
        add_json_flag(command, line);
        command->footer("Global options (before or after the command): --node N|SOCKET|HOST:PORT, "
                        "--dir DIR, --timeout SECONDS; see `reef --help`.\n");
    }
}

std::chrono::milliseconds parse_timeout(const std::string& text) {
    return std::chrono::milliseconds(static_cast<long>(std::stod(text) * 1000));
}

reef::result<bool> check_timeout(const std::string& text) {
    char* end = nullptr;
    double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(value >= 0.1) || value > 600) {
        return reef::make_error(reef::errc::invalid_argument,
                                "--timeout must be a number of seconds from 0.1 to 600, got \"" +
                                    text + "\"");
    }
    return true;
}

/// CLI11 prefixes a validator's message with the option name ("--node: --node must be ...");
/// our messages already name it.
std::string usage_message(const std::string& what) {
    std::size_t colon = what.find(": ");
    if (colon != std::string::npos && what.compare(colon + 2, colon, what, 0, colon) == 0) {
        return what.substr(colon + 2);
    }
    return what;
}

int dispatch(const CLI::App& app, const command_line& line) {
    global_options global;
    global.json = line.json;
    global.timeout = parse_timeout(line.timeout_text);
    global.target_given = !line.node_text.empty();
    if (global.target_given) {
        global.target = parse_node_target(line.node_text).value();
    }
    if (!line.dir_text.empty()) {
        global.dir = std::filesystem::absolute(line.dir_text);
    } else {
        auto dir = default_local_dir();
        if (!dir) {
            std::cerr << "reef: " << dir.failure().message << "\n";
            return exit_failure;
        }
        global.dir = *dir;
    }
    const CLI::App* command = app.get_subcommands().front();
    const std::string& name = command->get_name();
    if (name == "init") {
        init_options options;
        if (!line.key_text.empty()) {
            options.cluster_key = std::filesystem::absolute(line.key_text);
        }
        if (!line.address_text.empty()) {
            options.address = reef::parse_host_port(line.address_text).value();
        }
        return run_init(global, options);
    }
    if (name == "up") {
        up_options options;
        if (!line.nodes_text.empty()) {
            options.nodes = std::stoi(line.nodes_text);
        }
        if (!line.base_port_text.empty()) {
            options.base_port = std::stoi(line.base_port_text);
        }
        options.wait = std::chrono::seconds(std::stoi(line.wait_text));
        options.allow_exec = line.up_allow_exec;
        return run_up(global, options);
    }
    if (name == "down") {
        return run_down(global);
    }
    if (name == "status") {
        return run_status(global);
    }
    if (name == "peers") {
        return run_peers(global);
    }
    if (name == "join") {
        return run_join(global, reef::parse_host_port(line.join_text).value());
    }
    if (name == "dht") {
        return dispatch_dht(*command, global, line);
    }
    if (name == "kv") {
        return dispatch_kv(*command, global, line);
    }
    if (name == "job") {
        return dispatch_job(*command, global, line);
    }
    for (const char* verb : {"run", "spawn", "send", "state", "pause", "resume", "step", "mailbox",
                             "ps", "kill"}) {
        if (name == verb) {
            return dispatch_actor(*command, global, line);
        }
    }
    REEF_ASSERT(name == "leave");
    return run_leave(global);
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app("reef: control a Reef cluster (one `reefd` per machine; all nodes are equal)",
                 "reef");
    app.require_subcommand(1);
    app.fallthrough();
    command_line line;
    app.add_option("--node", line.node_text,
                   "Which node to talk to: N (node N of the local cluster, default 1), the path "
                   "of a control socket, or HOST:PORT of a TCP control address")
        ->type_name("N|SOCKET|HOST:PORT")
        ->check(checked_by(parse_node_target, ""));
    app.add_option("--dir", line.dir_text,
                   "The local cluster directory (default $XDG_DATA_HOME/reef/local, "
                   "XDG_DATA_HOME defaulting to ~/.local/share)")
        ->check(not_empty("--dir"))
        ->type_name("DIR");
    app.add_option("--timeout", line.timeout_text,
                   "Seconds to wait for each answer from a node (default 5)")
        ->type_name("SECONDS")
        ->check(checked_by(check_timeout, ""));
    define_commands(app, line);
    if (argc <= 1) {
        std::cerr << app.help() << "\nreef: a command is required\n";
        return exit_usage;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "reef: " << usage_message(e.what()) << "\n"
                  << "Run `reef --help` or `reef COMMAND --help` for usage.\n";
        return exit_usage;
    }
    return dispatch(app, line);
}
