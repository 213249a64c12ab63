// `reef up` and `reef down`: the local cluster's processes.

#include <signal.h>

#include <chrono>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands_internal.hpp"
#include "local_cluster.hpp"
#include "output.hpp"
#include "reef/runtime/identity_store.hpp"

namespace reef::cli {
namespace fs = std::filesystem;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto poll_interval = std::chrono::milliseconds(100);
constexpr auto stop_grace = std::chrono::seconds(10);
constexpr auto kill_grace = std::chrono::seconds(5);

struct node_run {
    int node = 0;
    pid_t pid = 0;
    bool started = false; // spawned by this `reef up` (so it is our child)
    json status;          // the last /v1/status answer
};

struct up_plan {
    int nodes = local_nodes_default;
    std::uint16_t base_port = base_port_default;
};

/// Flags first, then what the last `reef up` saved, then the defaults.
result<up_plan> plan_up(const local_cluster& cluster, const up_options& options) {
    auto saved = cluster.load_settings();
    if (!saved) {
        return saved.failure();
    }
    up_plan plan;
    if (*saved) {
        plan.nodes = (*saved)->nodes;
        plan.base_port = (*saved)->base_port;
    }
    plan.nodes = options.nodes.value_or(plan.nodes);
    if (options.base_port) {
        plan.base_port = static_cast<std::uint16_t>(*options.base_port);
    }
    if (plan.base_port + plan.nodes - 1 > 65535) {
        return make_error(errc::invalid_argument,
                          std::to_string(plan.nodes) + " nodes from base port " +
                              std::to_string(plan.base_port) + " need ports up to " +
                              std::to_string(plan.base_port + plan.nodes - 1) +
                              ", past 65535; choose a lower --base-port");
    }
    return plan;
}

control_client local_client(const local_cluster& cluster, int node,
                            std::chrono::milliseconds timeout) {
    control_client client;
    client.endpoint.socket_path = cluster.socket_path(node).string();
    client.timeout = timeout;
    return client;
}

error start_failure(const local_cluster& cluster, const node_run& run, const std::string& how) {
    std::string tail = tail_file(cluster.log_file(run.node), 8);
    return make_error(errc::failed_precondition,
                      "node " + std::to_string(run.node) + " (reefd pid " +
                          std::to_string(run.pid) + ") " + how + " while starting; see " +
                          cluster.log_file(run.node).string() +
                          (tail.empty() ? std::string(" (empty)")
                                        : ", which ends with:\n" + tail));
}

/// Polls node `run` until it answers /v1/status or the deadline passes.
status wait_until_answers(const local_cluster& cluster, node_run& run, steady::time_point deadline,
                          std::chrono::milliseconds timeout) {
    control_client client = local_client(cluster, run.node, timeout);
    while (true) {
        auto answer = client.status();
        if (answer) {
            run.status = std::move(*answer);
            return {};
        }
        if (answer.failure().code != errc::unavailable) {
            return answer.failure();
        }
        if (run.started) {
            if (auto ended = reap_if_exited(run.pid)) {
                return start_failure(cluster, run, *ended);
            }
        }
        if (steady::now() >= deadline) {
            return make_error(errc::timeout, "node " + std::to_string(run.node) +
                                                 " does not answer on " +
                                                 client.endpoint.text() + "; see " +
                                                 cluster.log_file(run.node).string());
        }
        std::this_thread::sleep_for(poll_interval);
    }
}

result<pid_t> start_node(const local_cluster& cluster, const std::string& reefd, int node,
                         std::uint16_t port, const std::string& join_address, bool allow_exec) {
    auto made = make_private_dirs(cluster.node_dir(node));
    if (!made) {
        return made.failure();
    }
    auto socket_ok = check_socket_path(cluster.socket_path(node).string());
    if (!socket_ok) {
        return socket_ok.failure();
    }
    std::vector<std::string> args = {"--data-dir", cluster.node_dir(node).string(),
                                     "--listen", "127.0.0.1:" + std::to_string(port),
                                     "--cluster-key", cluster.key_file().string()};
    if (!join_address.empty()) {
        args.insert(args.end(), {"--join", join_address});
    }
    if (allow_exec) {
        args.emplace_back("--allow-exec");
    }
    return spawn_detached(reefd, args, cluster.log_file(node));
}

/// Starts node `node` unless it runs already.
result<node_run> ensure_node(const local_cluster& cluster, const std::string& reefd, int node,
                             std::uint16_t port, const std::string& join_address,
                             bool allow_exec) {
    node_run run;
    run.node = node;
    if (auto pid = cluster.running_pid(node)) {
        run.pid = *pid;
        return run;
    }
    auto pid = start_node(cluster, reefd, node, port, join_address, allow_exec);
    if (!pid) {
        return pid.failure();
    }
    run.pid = *pid;
    run.started = true;
    return run;
}

std::string describe_laggards(const local_cluster& cluster, const std::vector<node_run>& runs,
                              std::size_t expected) {
    std::string text;
    for (const auto& run : runs) {
        std::size_t seen = run.status.is_object() ? run.status["cluster_size"].get<std::size_t>()
                                                  : 0;
        if (seen == expected) {
            continue;
        }
        text += "\n  node " + std::to_string(run.node) +
                (run.status.is_object() ? " sees " + std::to_string(seen) + " member(s)"
                                        : std::string(" does not answer")) +
                "; see " + cluster.log_file(run.node).string();
    }
    return text;
}

/// Waits until every node in `runs` reports `expected` members.
status wait_for_cluster(const local_cluster& cluster, std::vector<node_run>& runs,
                        std::size_t expected, steady::time_point deadline,
                        std::chrono::seconds wait, std::chrono::milliseconds timeout) {
    while (true) {
        bool all = true;
        for (auto& run : runs) {
            auto answer = local_client(cluster, run.node, timeout).status();
            if (!answer && run.started) {
                if (auto ended = reap_if_exited(run.pid)) {
                    return start_failure(cluster, run, *ended);
                }
            }
            run.status = answer ? std::move(*answer) : json();
            all = all && answer && run.status["cluster_size"].get<std::size_t>() == expected;
        }
        if (all) {
            return {};
        }
        if (steady::now() >= deadline) {
            return make_error(errc::timeout, "the nodes did not form a cluster of " +
                                                 std::to_string(expected) + " within " +
                                                 std::to_string(wait.count()) + " s:" +
                                                 describe_laggards(cluster, runs, expected));
        }
        std::this_thread::sleep_for(poll_interval);
    }
}

void print_up(const local_cluster& cluster, const std::vector<node_run>& runs,
              const std::string& fingerprint, bool as_json) {
    json nodes = json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& run : runs) {
        const json& s = run.status;
        nodes.push_back({{"node", run.node},
                         {"pid", run.pid},
                         {"started", run.started},
                         {"node_id", s["node_id"]},
                         {"short_id", s["short_id"]},
                         {"address", s["address"]},
                         {"state", s["state"]},
                         {"incarnation", s["incarnation"]},
                         {"cluster_size", s["cluster_size"]},
                         {"control_socket", cluster.socket_path(run.node).string()},
                         {"log", cluster.log_file(run.node).string()}});
        rows.push_back({std::to_string(run.node), std::to_string(run.pid),
                        s["short_id"].get<std::string>(), s["address"].get<std::string>(),
                        s["state"].get<std::string>(), s["incarnation"].dump(),
                        s["cluster_size"].dump(), run.started ? "started" : "already running"});
    }
    if (as_json) {
        print_json({{"dir", cluster.dir().string()},
                    {"cluster_key", cluster.key_file().string()},
                    {"fingerprint", fingerprint},
                    {"nodes", nodes}});
        return;
    }
    std::cout << "local cluster in " << cluster.dir().string() << " (cluster key fingerprint "
              << fingerprint << ")\n"
              << render_table({"NODE", "PID", "ID", "ADDRESS", "STATE", "INCARNATION", "MEMBERS",
                               ""},
                              rows)
              << "logs: " << (cluster.dir() / "node-K" / "reefd.log").string() << "\n";
}

result<crypto::cluster_key> ensure_cluster_key(const local_cluster& cluster) {
    auto made = make_private_dirs(cluster.dir());
    if (!made) {
        return made.failure();
    }
    std::string path = cluster.key_file().string();
    auto key = fs::exists(cluster.key_file()) ? runtime::load_cluster_key(path)
                                              : runtime::create_cluster_key(path);
    if (!key) {
        return make_error(key.failure().code, path + ": " + key.failure().message);
    }
    return key;
}

} // namespace

int run_up(const global_options& global, const up_options& options) {
    local_cluster cluster(global.dir);
    auto plan = plan_up(cluster, options);
    if (!plan) {
        return plan.failure().code == errc::invalid_argument ? report_usage(plan.failure().message)
                                                             : report(plan.failure());
    }
    auto key = ensure_cluster_key(cluster);
    if (!key) {
        return report(key.failure());
    }
    auto reefd = find_reefd();
    if (!reefd) {
        return report(reefd.failure());
    }
    auto saved = cluster.save_settings({plan->nodes, plan->base_port});
    if (!saved) {
        return report(saved.failure());
    }
    auto deadline = steady::now() + options.wait;
    std::vector<node_run> runs;
    std::string join_address;
    for (int node = 1; node <= plan->nodes; ++node) {
        auto port = static_cast<std::uint16_t>(plan->base_port + node - 1);
        auto run = ensure_node(cluster, *reefd, node, port, join_address, options.allow_exec);
        if (!run) {
            return report(run.failure());
        }
        runs.push_back(std::move(*run));
        if (node == 1) {
            // The others join through node 1, so it must listen first.
            auto answered = wait_until_answers(cluster, runs.back(), deadline, global.timeout);
            if (!answered) {
                return report(answered.failure());
            }
            join_address = runs.back().status["address"].get<std::string>();
        }
    }
    // Nodes beyond --nodes left running by an earlier `reef up` are members too.
    for (int node : cluster.known_nodes()) {
        if (node > plan->nodes) {
            if (auto pid = cluster.running_pid(node)) {
                runs.push_back(node_run{node, *pid, false, json()});
            }
        }
    }
    auto formed = wait_for_cluster(cluster, runs, runs.size(), deadline, options.wait,
                                   global.timeout);
    if (!formed) {
        return report(formed.failure());
    }
    print_up(cluster, runs, key->fingerprint(), global.json);
    return exit_ok;
}

namespace {

struct stop_outcome {
    int node = 0;
    pid_t pid = 0;
    std::string result; // "stopped", "killed", "still running"
};

stop_outcome stop_one(int node, pid_t pid, steady::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (wait_for_exit(pid, std::max(left, std::chrono::milliseconds(1)))) {
        return {node, pid, "stopped"};
    }
    std::cerr << "reef: node " << node << " (pid " << pid << ") did not stop within "
              << stop_grace.count() << " s of SIGTERM; sending SIGKILL\n";
    ::kill(pid, SIGKILL);
    if (wait_for_exit(pid, kill_grace)) {
        return {node, pid, "killed"};
    }
    std::cerr << "reef: node " << node << " (pid " << pid << ") survived SIGKILL\n";
    return {node, pid, "still running"};
}

} // namespace

int run_down(const global_options& global) {
    if (global.target_given && global.target.which != node_target::kind::local_node) {
        return report_usage("`reef down` stops nodes of the local cluster: --node must be a node "
                            "number");
    }
    local_cluster cluster(global.dir);
    std::vector<int> nodes = global.target_given ? std::vector<int>{global.target.node_number}
                                                 : cluster.known_nodes();
    std::vector<std::pair<int, pid_t>> signalled;
    for (int node : nodes) {
        if (auto pid = cluster.running_pid(node)) {
            if (::kill(*pid, SIGTERM) == 0) {
                signalled.emplace_back(node, *pid);
            }
        }
    }
    auto deadline = steady::now() + stop_grace;
    std::vector<stop_outcome> outcomes;
    bool all_stopped = true;
    for (const auto& [node, pid] : signalled) {
        outcomes.push_back(stop_one(node, pid, deadline));
        all_stopped = all_stopped && outcomes.back().result != "still running";
    }
    if (global.json) {
        json list = json::array();
        for (const auto& outcome : outcomes) {
            list.push_back({{"node", outcome.node}, {"pid", outcome.pid},
                            {"result", outcome.result}});
        }
        print_json({{"dir", cluster.dir().string()}, {"nodes", list}});
    } else if (outcomes.empty()) {
        std::cout << "no local node is running in " << cluster.dir().string() << "\n";
    }
    for (const auto& outcome : outcomes) {
        if (!global.json) {
            std::cout << "node " << outcome.node << " (pid " << outcome.pid << "): "
                      << outcome.result << "\n";
        }
    }
    return all_stopped ? exit_ok : exit_failure;
}

} // namespace reef::cli
