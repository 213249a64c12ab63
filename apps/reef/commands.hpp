#pragma once
// The `reef` commands. main.cpp parses and validates the command line into these option structs
// (usage errors exit 2 there); each run_* function does the work, prints its result (a table, or
// JSON with --json) on stdout and its errors on stderr, and returns the exit code: 0 on success,
// 1 on a runtime error, 2 on a usage error found only at run time.
// Thread-safety: none; the CLI is single-threaded.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "address.hpp"

namespace reef::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

/// Options every command accepts.
struct global_options {
    node_target target;        // --node (default: node 1 of the local cluster)
    bool target_given = false; // --node was on the command line
    std::filesystem::path dir; // --dir, already defaulted
    std::chrono::milliseconds timeout{5000};
    bool json = false;
};

struct init_options {
    std::optional<std::filesystem::path> cluster_key;
    std::optional<host_port> address; // where other machines will reach this one
};

struct up_options {
    std::optional<int> nodes;
    std::optional<int> base_port;
    std::chrono::seconds wait{60};
    bool allow_exec = false; // nodes started now run command jobs (saved in their settings)
};

int run_init(const global_options& global, const init_options& options);
int run_up(const global_options& global, const up_options& options);
int run_down(const global_options& global);
int run_status(const global_options& global);
int run_peers(const global_options& global);
int run_join(const global_options& global, const host_port& address);
int run_leave(const global_options& global);

/// DHT operations wait for the network: they get at least this long whatever --timeout says
/// (reefd ends every operation within 8 s).
inline constexpr std::chrono::seconds dht_timeout_min{20};

struct dht_put_options {
    std::string name;
    std::string value;
    std::uint64_t ttl_seconds = 0; // 0: the node's default lifetime
};

int run_dht_put(const global_options& global, const dht_put_options& options);
/// `ref` is KEY, PUBLISHER/NAME or a bare NAME (see parse_record_ref); validated by main.cpp.
int run_dht_get(const global_options& global, const std::string& ref);
/// `ref` is a 64-hex key or id, or PUBLISHER/NAME (a bare NAME is refused by main.cpp).
int run_dht_closest(const global_options& global, const std::string& ref);
int run_dht_find(const global_options& global, const std::string& node_id_hex);

/// A kv request waits for the key's replica group: at least this long whatever --timeout says
/// (reefd ends every request within 8 s).
inline constexpr std::chrono::seconds kv_timeout_min{20};

struct kv_options {
    std::string op; // "get", "put", "cas" or "incr"
    std::string key;
    std::string value;                   // put, cas: the new value
    std::optional<std::string> expected; // cas: nullopt = the key must be absent
    std::int64_t delta = 1;              // incr
    /// The client's request id (client, sequence); none: the node assigns one.
    std::optional<std::pair<std::uint64_t, std::uint64_t>> request;
};

/// `reef kv OP ...`: prints the value after the command (or "(absent)"); a cas that did not
/// match (or an incr of a non-number) prints why on stderr and exits 1.
int run_kv(const global_options& global, const kv_options& options);
/// `reef kv group KEY`: the node's own view of KEY's replica group (no network round trip).
int run_kv_group(const global_options& global, const std::string& key);

/// The actor commands (`reef run|spawn|send|state|pause|resume|step|mailbox|ps|kill`).
struct actor_options {
    std::string verb;
    std::string name;          // the actor (or process id); run: an optional process id
    std::string program_path;  // run, spawn
    std::string module;        // spawn: the program's actor kind (a global table), if any
    std::vector<std::string> args;  // run: the program's arguments
    std::string body_text;     // send: the message; spawn: --args (JSON)
    std::string set_file;      // state --set FILE
    std::optional<std::pair<std::uint64_t, std::uint64_t>> request;  // send --request-id
};
int run_actor(const global_options& global, const actor_options& options);

/// The job commands (`reef job pi|ls|show|cancel`).
struct job_options {
    std::string verb;
    std::string kernel = "pi";
    std::uint64_t samples = 0;
    std::uint64_t seed = 1;
    std::string program_path;  // run: the Lua job
    std::uint64_t begin = 0;   // run, exec: the range [begin, end) (exec: 0:chunks if empty)
    std::uint64_t end = 0;
    std::uint64_t chunks = 0;  // exec
    std::vector<std::string> command; // exec: the program and its arguments
    std::string job;  // show, cancel
};
int run_job(const global_options& global, const job_options& options);

} // namespace reef::cli
