#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

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

int report(const error& failure) {
    std::cerr << "reef: " << failure.message << "\n";
    return exit_failure;
}

int report_usage(const std::string& message) {
    std::cerr << "reef: " << message << "\n";
    return exit_usage;
}

control_client client_for(const global_options& global) {
    control_client client;
    client.timeout = global.timeout;
    switch (global.target.which) {
    case node_target::kind::local_node: {
        local_cluster cluster(global.dir);
        int node = global.target.node_number;
        client.endpoint.socket_path = cluster.socket_path(node).string();
        client.start_hint = node == 1 ? "start one with `reef up`"
                                      : "start it with `reef up --nodes " + std::to_string(node) +
                                            "` (or more)";
        break;
    }
    case node_target::kind::socket_path:
        client.endpoint.socket_path = global.target.socket_path;
        client.start_hint = "start reefd with --data-dir set to the directory of that socket";
        break;
    case node_target::kind::tcp:
        client.endpoint.is_unix = false;
        client.endpoint.tcp = global.target.tcp;
        client.start_hint = "check the address and that reefd runs with --control " +
                            global.target.tcp.text();
        break;
    }
    return client;
}

void print_json(const json& value) { std::cout << value.dump(2) << "\n"; }

int show(const global_options& global, const result<json>& answer,
         std::string (*render)(const json&)) {
    if (!answer) {
        return report(answer.failure());
    }
    if (global.json) {
        print_json(*answer);
    } else {
        std::cout << render(*answer);
    }
    return exit_ok;
}

namespace {

/// A usable address of this machine for other machines: the first up, non-loopback IPv4 address.
std::string guess_public_ipv4() {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) {
        return "127.0.0.1";
    }
    std::string found = "127.0.0.1";
    for (ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
        if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET ||
            (entry->ifa_flags & IFF_UP) == 0 || (entry->ifa_flags & IFF_LOOPBACK) != 0) {
            continue;
        }
        char text[INET_ADDRSTRLEN] = {};
        const auto* addr = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
        if (::inet_ntop(AF_INET, &addr->sin_addr, text, sizeof(text)) != nullptr) {
            found = text;
            break;
        }
    }
    ::freeifaddrs(list);
    return found;
}


} // namespace

status make_private_dirs(const fs::path& dir) {
    std::error_code code;
    bool created = fs::create_directories(dir, code);
    if (code) {
        return make_error(errc::io_error, "cannot create " + dir.string() + ": " + code.message());
    }
    if (created) {
        fs::permissions(dir, fs::perms::owner_all, code);
    }
    return {};
}

int run_init(const global_options& global, const init_options& options) {
    local_cluster cluster(global.dir);
    fs::path key_path = options.cluster_key.value_or(cluster.key_file());
    bool exists = fs::exists(key_path);
    if (!exists) {
        auto made = make_private_dirs(key_path.parent_path());
        if (!made) {
            return report(made.failure());
        }
    }
    auto key = exists ? runtime::load_cluster_key(key_path.string())
                      : runtime::create_cluster_key(key_path.string());
    if (!key) {
        return report(make_error(key.failure().code, key_path.string() + ": " +
                                                         key.failure().message));
    }
    std::string address = options.address ? options.address->text() : guess_public_ipv4() + ":7400";
    std::string key_text = fs::absolute(key_path).string();
    std::string first = "reefd --data-dir /var/lib/reef --listen " + address +
                        " --cluster-key " + key_text;
    std::string other = "reefd --data-dir /var/lib/reef --listen THAT_MACHINE:7400 --join " +
                        address + " --cluster-key /path/to/cluster.key";
    if (global.json) {
        print_json({{"cluster_key", key_text},
                    {"fingerprint", key->fingerprint()},
                    {"created", !exists},
                    {"join_address", address},
                    {"first_node_command", first},
                    {"join_command", other}});
        return exit_ok;
    }
    std::cout << (exists ? "the cluster key already exists: " : "created the cluster key ")
              << key_text << " (mode 0600; keep it secret)\n"
              << "fingerprint " << key->fingerprint() << "\n\n"
              << "A local cluster on this machine:   reef up\n"
              << "A node on this machine that others can join:\n  " << first << "\n"
              << "Another machine joins: copy the key file there (mode 0600), then run\n  "
              << other << "\n";
    return exit_ok;
}

int run_status(const global_options& global) {
    return show(global, client_for(global).status(), render_status);
}

int run_peers(const global_options& global) {
    return show(global, client_for(global).peers(), render_peers);
}

int run_join(const global_options& global, const host_port& address) {
    control_client client = client_for(global);
    auto answer = client.join(address);
    if (!answer) {
        return report(answer.failure());
    }
    if (global.json) {
        print_json(*answer);
    } else {
        std::cout << "asked the node at " << client.endpoint.text() << " to join "
                  << address.text() << "; joining is asynchronous, watch it with `reef peers`\n";
    }
    return exit_ok;
}

int run_leave(const global_options& global) {
    control_client client = client_for(global);
    auto before = client.status();
    if (!before) {
        return report(before.failure());
    }
    auto answer = client.leave();
    if (!answer) {
        return report(answer.failure());
    }
    // The daemon answers before it exits; wait (bounded) until it stops answering.
    auto wait = std::max<std::chrono::milliseconds>(global.timeout, std::chrono::seconds(15));
    auto deadline = std::chrono::steady_clock::now() + wait;
    bool stopped = false;
    while (std::chrono::steady_clock::now() < deadline) {
        auto probe = client.status();
        if (!probe && probe.failure().code == errc::unavailable) {
            stopped = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::string who = (*before)["short_id"].get<std::string>();
    if (global.json) {
        print_json({{"ok", true}, {"node_id", (*before)["node_id"]}, {"stopped", stopped}});
    } else if (stopped) {
        std::cout << "node " << who << " announced its leave and stopped\n";
    } else {
        std::cout << "node " << who << " announced its leave but still answers after "
                  << std::chrono::duration_cast<std::chrono::seconds>(wait).count() << " s\n";
    }
    return exit_ok;
}

} // namespace reef::cli
