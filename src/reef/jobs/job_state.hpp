#pragma once
// A job coordinator's state (docs/design/jobs.md, "The coordinator"): the plain data the
// coordinator's messages change, its JSON form (the actor's state) and its validation. The
// state comes back from the actor's record, which an operator may set by hand, so parsing
// validates and refuses; it never asserts.
//
// Thread-safety: plain data and pure functions.
//
// Internal to the coordinator: coordinator.cpp handles the messages, this file the state.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reef/base/result.hpp"
#include "reef/jobs/coordinator.hpp"

namespace reef::jobs::detail {

using json = nlohmann::json;

struct chunk {
    std::uint64_t id = 0;
    std::uint64_t begin = 0;
    std::uint64_t through = 0; // [begin, through) is computed; `partial` holds its result
    std::uint64_t end = 0;
    json partial;               // null: nothing computed yet
    std::string worker;         // "" once released: free for the next claim
    std::uint64_t lease_ms = 0; // the lease's expiry on the leader's clock
    std::uint64_t attempt = 0;  // how often it was handed out again (a command's output names it)
};

struct worker_info {
    double speed = 0.0; // samples per second of one slot; 0 = not measured yet
    std::uint64_t cores = 1;
    std::uint64_t seen_ms = 0;
};

struct job {
    std::string kernel;
    std::uint64_t seed = 0;
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
    double chunk_seconds = coordinator_defaults::chunk_seconds;
    std::uint64_t lease_ms = coordinator_defaults::lease_ms;
    std::uint64_t chunk_min = coordinator_defaults::chunk_min;
    std::uint64_t chunk_size = 0; // fixed chunks ("chunks" given): never sized, never split
    bool guided = true;           // new chunks shrink towards the end (take_new)
    std::string status = "running";
    std::uint64_t next = 0;
    std::uint64_t next_chunk = 0;
    std::vector<chunk> chunks; // ordered by id
    json reduced;              // the finished chunks' partials reduced; null before the first
    json value;                // once done: the job's answer
    std::string error;         // why the job failed
    std::uint64_t samples_done = 0;
    std::map<std::string, worker_info> workers;
    std::uint64_t reassigned = 0;
    std::uint64_t reassigned_samples = 0;
    std::uint64_t split = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t finished_twice = 0;
    std::uint64_t started_ms = 0;
    std::uint64_t finished_ms = 0;

    std::uint64_t samples() const { return end - begin; }
};

/// invalid_argument with `message`: how every malformed message or state is refused.
error refuse(std::string message);

/// Field `key` of `object`, or a refusal naming it and `where`.
result<const json*> member(const json& object, const char* key, std::string_view where);
bool is_u64(const json& value);
result<std::uint64_t> read_u64(const json& object, const char* key, std::string_view where);
result<std::uint64_t> read_u64_or(const json& object, const char* key, std::string_view where,
                                  std::uint64_t fallback);
result<double> read_number(const json& object, const char* key, std::string_view where);
result<std::string> read_name(const json& object, const char* key, std::string_view where,
                              std::size_t size_max);

/// The actor state of `current`, and its size as JSON text.
json to_state(const job& current);
std::size_t state_size(const job& current);

/// The state's invariants, as a refusal saying which one fails.
status check(const job& current);

/// A new job from its spawn args (validated).
result<job> parse_args(const json& args);
/// A job from its actor state (validated, invariants checked).
result<job> parse_state(const json& state);

/// A Lua job's program must load and define map, and its seed must be a Lua integer; a command
/// job's must be a command; other kernels take no program.
status check_program(const job& made, const std::string& program);

} // namespace reef::jobs::detail
