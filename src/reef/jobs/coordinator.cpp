#include "reef/jobs/coordinator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "reef/jobs/exec_job.hpp"
#include "reef/jobs/kernels.hpp"
#include "reef/jobs/lua_job.hpp"
#include "reef/jobs/partials.hpp"

namespace reef::jobs {
namespace {

using limits = coordinator_limits;

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

error refuse(std::string message) { return make_error(errc::invalid_argument, std::move(message)); }

result<const json*> member(const json& object, const char* key, std::string_view where) {
    const auto found = object.find(key);
    if (found == object.end()) {
        return refuse(std::string(where) + " needs \"" + key + "\"");
    }
    return &*found;
}

bool is_u64(const json& value) {
    return value.is_number_unsigned() ||
           (value.is_number_integer() && value.get<std::int64_t>() >= 0);
}

result<std::uint64_t> read_u64(const json& object, const char* key, std::string_view where) {
    auto found = member(object, key, where);
    if (!found) {
        return found.failure();
    }
    if (!is_u64(**found)) {
        return refuse(std::string(where) + ": \"" + key + "\" must be a non-negative integer");
    }
    return (*found)->get<std::uint64_t>();
}

result<std::uint64_t> read_u64_or(const json& object, const char* key, std::string_view where,
                                  std::uint64_t fallback) {
    return object.contains(key) ? read_u64(object, key, where) : result<std::uint64_t>(fallback);
}

result<double> read_number(const json& object, const char* key, std::string_view where) {
    auto found = member(object, key, where);
    if (!found) {
        return found.failure();
    }
    if (!(*found)->is_number() || !std::isfinite((*found)->get<double>())) {
        return refuse(std::string(where) + ": \"" + key + "\" must be a finite number");
    }
    return (*found)->get<double>();
}

result<std::string> read_name(const json& object, const char* key, std::string_view where,
                              std::size_t size_max) {
    auto found = member(object, key, where);
    if (!found) {
        return found.failure();
    }
    if (!(*found)->is_string() || (*found)->get_ref<const std::string&>().empty() ||
        (*found)->get_ref<const std::string&>().size() > size_max) {
        return refuse(std::string(where) + ": \"" + key + "\" must be a string of 1 to " +
                      std::to_string(size_max) + " bytes");
    }
    return (*found)->get<std::string>();
}

json to_state(const job& current) {
    json chunks = json::array();
    for (const auto& part : current.chunks) {
        chunks.push_back({{"id", part.id}, {"begin", part.begin}, {"through", part.through},
                          {"end", part.end}, {"partial", part.partial}, {"worker", part.worker},
                          {"lease_ms", part.lease_ms}, {"attempt", part.attempt}});
    }
    json workers = json::object();
    for (const auto& [name, seen] : current.workers) {
        workers[name] = {{"speed", seen.speed}, {"cores", seen.cores}, {"seen_ms", seen.seen_ms}};
    }
    json state = {{"kernel", current.kernel}, {"seed", current.seed}, {"begin", current.begin},
                  {"end", current.end}, {"status", current.status}, {"next", current.next},
                  {"next_chunk", current.next_chunk}, {"chunks", std::move(chunks)},
                  {"result", current.reduced}, {"samples_done", current.samples_done},
                  {"workers", std::move(workers)}, {"reassigned", current.reassigned},
                  {"reassigned_samples", current.reassigned_samples}, {"split", current.split},
                  {"duplicates", current.duplicates}, {"finished_twice", current.finished_twice},
                  {"started_ms", current.started_ms}, {"finished_ms", current.finished_ms},
                  {"limits", {{"chunk_seconds", current.chunk_seconds},
                              {"lease_ms", current.lease_ms},
                              {"chunk_min", current.chunk_min},
                              {"chunk_size", current.chunk_size},
                              {"guided", current.guided}}}};
    if (current.status == "done") {
        state["value"] = current.value;
    }
    if (!current.error.empty()) {
        state["error"] = current.error;
    }
    return state;
}

std::size_t state_size(const job& current) { return actors::json_text(to_state(current)).size(); }

/// The state's invariants, as a refusal saying which one fails (the state may have been set by
/// hand, so this is validation, not an assertion).
status check(const job& current) {
    if (current.status != "running" && current.status != "done" &&
        current.status != "cancelled" && current.status != "failed") {
        return refuse("status must be running, done, cancelled or failed");
    }
    if (current.begin >= current.end || current.next < current.begin ||
        current.next > current.end) {
        return refuse("begin < end and begin <= next <= end are required");
    }
    if (current.chunks.size() > limits::chunks_max ||
        current.workers.size() > limits::workers_max) {
        return refuse("too many chunks or workers");
    }
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
    std::uint64_t id_last = 0;
    for (std::size_t index = 0; index < current.chunks.size(); ++index) {
        const chunk& part = current.chunks[index];
        if ((index > 0 && part.id <= id_last) || part.id >= current.next_chunk) {
            return refuse("chunk ids must increase and stay below next_chunk");
        }
        id_last = part.id;
        if (part.begin >= part.end || part.through < part.begin || part.through > part.end ||
            part.begin < current.begin || part.end > current.next) {
            return refuse("chunk " + std::to_string(part.id) + " has a bad range");
        }
        ranges.emplace_back(part.begin, part.end);
    }
    std::sort(ranges.begin(), ranges.end());
    std::uint64_t active = 0;
    for (std::size_t index = 0; index < ranges.size(); ++index) {
        if (index > 0 && ranges[index].first < ranges[index - 1].second) {
            return refuse("chunks overlap");
        }
        active += ranges[index].second - ranges[index].first;
    }
    const bool running = current.status == "running";
    if (current.samples_done > current.samples() ||
        (running && current.samples_done + active + (current.end - current.next) !=
                        current.samples()) ||
        (current.status == "done" && current.samples_done != current.samples())) {
        return refuse("finished, active and unassigned samples must add up to the range");
    }
    return {};
}

result<json> parse_chunks(const json& state, job& current) {
    auto list = member(state, "chunks", "state");
    if (!list) {
        return list.failure();
    }
    if (!(*list)->is_array()) {
        return refuse("state: \"chunks\" must be an array");
    }
    for (const auto& item : **list) {
        if (!item.is_object()) {
            return refuse("state: a chunk must be an object");
        }
        chunk part;
        auto id = read_u64(item, "id", "chunk");
        auto begin = read_u64(item, "begin", "chunk");
        auto through = read_u64(item, "through", "chunk");
        auto end = read_u64(item, "end", "chunk");
        auto lease = read_u64(item, "lease_ms", "chunk");
        auto attempt = read_u64_or(item, "attempt", "chunk", 0);
        if (!id || !begin || !through || !end || !item.contains("partial") || !lease ||
            !attempt) {
            return refuse("state: a chunk needs id, begin, through, end, partial and lease_ms");
        }
        const json& partial = item["partial"];
        const auto worker = item.find("worker");
        if (worker == item.end() || !worker->is_string()) {
            return refuse("state: a chunk's worker must be a string");
        }
        current.chunks.push_back(chunk{*id, *begin, *through, *end, partial,
                                       worker->get<std::string>(), *lease, *attempt});
    }
    return json();
}

result<json> parse_workers(const json& state, job& current) {
    auto table = member(state, "workers", "state");
    if (!table) {
        return table.failure();
    }
    if (!(*table)->is_object()) {
        return refuse("state: \"workers\" must be an object");
    }
    for (const auto& [name, item] : (*table)->items()) {
        if (!item.is_object()) {
            return refuse("state: a worker must be an object");
        }
        auto speed = read_number(item, "speed", "worker");
        auto cores = read_u64(item, "cores", "worker");
        auto seen = read_u64(item, "seen_ms", "worker");
        if (!speed || !cores || !seen) {
            return refuse("state: a worker needs speed, cores and seen_ms");
        }
        current.workers[name] = worker_info{*speed, *cores, *seen};
    }
    return json();
}

/// Reads the settings every job has, from spawn args or from the state's "limits".
status parse_settings(const json& object, job& current, std::string_view where) {
    auto kernel = read_name(object, "kernel", where, limits::kernel_name_size_max);
    if (!kernel) {
        return kernel.failure();
    }
    auto seed = read_u64(object, "seed", where);
    auto begin = read_u64(object, "begin", where);
    auto end = read_u64(object, "end", where);
    for (const auto* field : {&seed, &begin, &end}) {
        if (!*field) {
            return field->failure();
        }
    }
    if (*begin >= *end) {
        return refuse(std::string(where) + ": begin must be below end");
    }
    current.kernel = *kernel;
    current.seed = *seed;
    current.begin = *begin;
    current.end = *end;
    current.next = *begin;
    return {};
}

status parse_tuning(const json& object, job& current, std::string_view where) {
    if (object.contains("chunk_seconds")) {
        auto seconds = read_number(object, "chunk_seconds", where);
        if (!seconds) {
            return seconds.failure();
        }
        if (*seconds <= 0.0 || *seconds > 3600.0) {
            return refuse(std::string(where) + ": chunk_seconds must be in (0, 3600]");
        }
        current.chunk_seconds = *seconds;
    }
    auto lease = read_u64_or(object, "lease_ms", where, coordinator_defaults::lease_ms);
    if (!lease) {
        return lease.failure();
    }
    if (*lease < 100 || *lease > 600'000) {
        return refuse(std::string(where) + ": lease_ms must be in [100, 600000]");
    }
    auto chunk_min = read_u64_or(object, "chunk_min", where,
                                 current.kernel == lua_kernel ? coordinator_defaults::lua_chunk_min
                                                              : coordinator_defaults::chunk_min);
    if (!chunk_min) {
        return chunk_min.failure();
    }
    if (*chunk_min == 0) {
        return refuse(std::string(where) + ": chunk_min must be at least 1");
    }
    auto chunk_size = read_u64_or(object, "chunk_size", where, 0);
    if (!chunk_size) {
        return chunk_size.failure();
    }
    current.lease_ms = *lease;
    current.chunk_min = *chunk_min;
    current.chunk_size = *chunk_size;
    if (const auto guided = object.find("guided"); guided != object.end()) {
        if (!guided->is_boolean()) {
            return refuse(std::string(where) + ": guided must be true or false");
        }
        current.guided = guided->get<bool>();
    }
    return {};
}

/// "chunks": N cuts the range into N chunks of equal size (the last may be smaller), which are
/// never split. A command job needs it, since each chunk runs the command once.
status parse_chunk_count(const json& args, job& made) {
    if (!args.contains("chunks")) {
        if (made.kernel == exec_kernel) {
            return refuse("job args: a command job needs \"chunks\"");
        }
        return {};
    }
    auto count = read_u64(args, "chunks", "job args");
    if (!count) {
        return count.failure();
    }
    if (*count == 0 || *count > exec_limits::chunks_max || *count > made.samples()) {
        return refuse("job args: chunks must be in [1, " +
                      std::to_string(exec_limits::chunks_max) + "] and at most the range's size");
    }
    made.chunk_size = (made.samples() + *count - 1) / *count;
    return {};
}

/// A Lua job's program must load and define map, and its seed must be a Lua integer; other
/// kernels take no program.
status check_program(const job& made, const std::string& program) {
    if (made.kernel == exec_kernel) {
        auto command = parse_command(program);
        return command ? status() : refuse(command.failure().message);
    }
    if (made.kernel != lua_kernel) {
        if (!program.empty()) {
            return refuse("only Lua and command jobs (kernel \"lua\", \"exec\") have a program");
        }
        return {};
    }
    if (program.empty()) {
        return refuse("a Lua job needs its program");
    }
    if (made.seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return refuse("a Lua job's seed must be below 2^63");
    }
    auto loaded = lua_job::load(program, made.seed, made.begin, made.end);
    if (!loaded) {
        return refuse(loaded.failure().message);
    }
    return {};
}

result<job> parse_args(const json& args) {
    if (!args.is_object()) {
        return refuse("job args must be an object {kernel, seed, begin, end}");
    }
    job made;
    if (auto read = parse_settings(args, made, "job args"); !read) {
        return read.failure();
    }
    if (auto read = parse_tuning(args, made, "job args"); !read) {
        return read.failure();
    }
    if (auto read = parse_chunk_count(args, made); !read) {
        return read.failure();
    }
    return made;
}

result<job> parse_state_fields(const json& state) {
    job current;
    if (auto read = parse_settings(state, current, "state"); !read) {
        return read.failure();
    }
    auto tuning = member(state, "limits", "state");
    if (!tuning || !(*tuning)->is_object()) {
        return refuse("state: \"limits\" must be an object");
    }
    if (auto read = parse_tuning(**tuning, current, "state"); !read) {
        return read.failure();
    }
    auto status_text = read_name(state, "status", "state", 16);
    auto next = read_u64(state, "next", "state");
    auto next_chunk = read_u64(state, "next_chunk", "state");
    if (!status_text || !next || !next_chunk || !state.contains("result")) {
        return refuse("state: status, next, next_chunk and result are required");
    }
    current.status = *status_text;
    current.next = *next;
    current.next_chunk = *next_chunk;
    current.reduced = state["result"];
    if (const auto error = state.find("error"); error != state.end() && error->is_string()) {
        current.error = error->get<std::string>();
    }
    current.value = state.value("value", json());
    std::uint64_t* counters[] = {&current.samples_done, &current.reassigned,
                                 &current.reassigned_samples, &current.split,
                                 &current.duplicates, &current.finished_twice,
                                 &current.started_ms, &current.finished_ms};
    const char* names[] = {"samples_done", "reassigned", "reassigned_samples", "split",
                           "duplicates", "finished_twice", "started_ms", "finished_ms"};
    for (std::size_t index = 0; index < std::size(names); ++index) {
        auto value = read_u64(state, names[index], "state");
        if (!value) {
            return value.failure();
        }
        *counters[index] = *value;
    }
    return current;
}

result<job> parse_state(const json& state) {
    if (!state.is_object()) {
        return refuse("the state must be an object");
    }
    auto current = parse_state_fields(state);
    if (!current) {
        return current.failure();
    }
    if (auto read = parse_chunks(state, *current); !read) {
        return read.failure();
    }
    if (auto read = parse_workers(state, *current); !read) {
        return read.failure();
    }
    if (auto checked = check(*current); !checked) {
        return checked.failure();
    }
    return current;
}

chunk* find_chunk(job& current, std::uint64_t id) {
    const auto found = std::find_if(current.chunks.begin(), current.chunks.end(),
                                    [id](const chunk& part) { return part.id == id; });
    return found == current.chunks.end() ? nullptr : &*found;
}

json grant(const job& current, const chunk& part) {
    return {{"chunk", part.id}, {"begin", part.through}, {"end", part.end},
            {"partial", part.partial}, {"kernel", current.kernel}, {"seed", current.seed},
            {"lease_ms", current.lease_ms}, {"job_begin", current.begin},
            {"job_end", current.end}, {"attempt", part.attempt}};
}

/// Records a claimer's speed and cores; the least recently seen worker makes room.
void note_worker(job& current, const std::string& name, std::uint64_t cores, double speed,
                 std::uint64_t now_ms) {
    if (!current.workers.contains(name) && current.workers.size() >= limits::workers_max) {
        auto oldest = current.workers.begin();
        for (auto it = current.workers.begin(); it != current.workers.end(); ++it) {
            if (it->second.seen_ms < oldest->second.seen_ms) {
                oldest = it;
            }
        }
        current.workers.erase(oldest);
    }
    worker_info& seen = current.workers[name];
    seen.cores = cores;
    seen.seen_ms = now_ms;
    if (speed > 0.0) {
        seen.speed = speed;
    }
    REEF_ASSERT(current.workers.size() <= limits::workers_max);
}

void note_seen(job& current, const std::string& name, std::uint64_t now_ms) {
    if (const auto found = current.workers.find(name); found != current.workers.end()) {
        found->second.seen_ms = now_ms;
    }
}

/// Step 1 of a claim: the lowest-numbered chunk whose lease expired, continued from its
/// checkpoint. Only its un-checkpointed tail is computed a second time.
chunk* take_expired(job& current, const std::string& worker, std::uint64_t now_ms) {
    for (auto& part : current.chunks) {
        if (part.lease_ms > now_ms) {
            continue;
        }
        ++current.reassigned;
        current.reassigned_samples += part.end - part.through;
        ++part.attempt;
        part.worker = worker;
        part.lease_ms = now_ms + current.lease_ms;
        return &part;
    }
    return nullptr;
}

/// The runner slots of the workers heard from lately (within two leases): those that will
/// share what is left.
std::uint64_t slots_seen(const job& current, std::uint64_t now_ms) {
    std::uint64_t slots = 0;
    for (const auto& [name, seen] : current.workers) {
        if (seen.seen_ms + 2 * current.lease_ms >= now_ms) {
            slots += seen.cores;
        }
    }
    return std::max<std::uint64_t>(slots, 1);
}

/// Step 2: a new chunk from `next`, taking about chunk_seconds on one slot at `speed`, and at
/// most half of an equal share of what is left among the slots seen (guided self-scheduling:
/// chunks shrink towards the end, so workers finish together instead of one computing a last
/// large chunk while the others wait); never smaller than chunk_min and never leaving a tail
/// smaller than half of it.
chunk* take_new(job& current, const std::string& worker, double speed, std::uint64_t now_ms) {
    if (current.next >= current.end) {
        return nullptr;
    }
    const std::uint64_t remaining = current.end - current.next;
    const double share =
        static_cast<double>(remaining) / static_cast<double>(2 * slots_seen(current, now_ms));
    const double sized = speed * current.chunk_seconds;
    const double wanted = current.guided ? std::min(sized, share) : sized;
    std::uint64_t size = current.chunk_min;
    if (wanted >= static_cast<double>(remaining)) {
        size = remaining;
    } else if (wanted > static_cast<double>(size)) {
        size = static_cast<std::uint64_t>(wanted);
    }
    size = std::min(size, remaining);
    if (remaining - size < current.chunk_min / 2) {
        size = remaining;
    }
    if (current.chunk_size > 0) {
        size = std::min(current.chunk_size, remaining);
    }
    REEF_ASSERT(size > 0);
    const chunk made{current.next_chunk++, current.next, current.next, current.next + size,
                     json(), worker, now_ms + current.lease_ms};
    current.next += size;
    current.chunks.push_back(made);
    return &current.chunks.back();
}

/// Step 3: the largest remaining part of a running chunk is cut in two and the claimer gets
/// the far half. The cut is placed beyond where the chunk's worker may have got to since its
/// checkpoint (its speed times the time since then plus a second), because a worker that runs
/// past its lowered end has computed samples that are no longer its own.
chunk* take_split(job& current, const std::string& worker, std::uint64_t now_ms) {
    if (current.chunk_size > 0) {
        return nullptr;
    }
    chunk* largest = nullptr;
    for (auto& part : current.chunks) {
        if (largest == nullptr || part.end - part.through > largest->end - largest->through) {
            largest = &part;
        }
    }
    if (largest == nullptr) {
        return nullptr;
    }
    const std::uint64_t remaining = largest->end - largest->through;
    double ahead = 0.0;
    if (const auto seen = current.workers.find(largest->worker); seen != current.workers.end()) {
        const std::uint64_t checkpoint_ms = largest->lease_ms - current.lease_ms;
        const std::uint64_t elapsed_ms = now_ms > checkpoint_ms ? now_ms - checkpoint_ms : 0;
        ahead = seen->second.speed * static_cast<double>(elapsed_ms + 1000) / 1000.0;
    }
    if (ahead >= static_cast<double>(remaining)) {
        return nullptr;
    }
    const std::uint64_t keep = std::max(remaining / 2, static_cast<std::uint64_t>(ahead));
    const std::uint64_t cut = largest->through + keep;
    if (largest->end - cut < std::max<std::uint64_t>(1, current.chunk_min / 2)) {
        return nullptr;
    }
    const chunk made{current.next_chunk++, cut, cut, largest->end, json(), worker,
                     now_ms + current.lease_ms};
    largest->end = cut;
    ++current.split;
    current.chunks.push_back(made);
    return &current.chunks.back();
}

result<json> on_claim(job& current, const json& claim, std::uint64_t now_ms) {
    if (!claim.is_object()) {
        return refuse("claim must be an object {worker, cores, speed}");
    }
    auto worker = read_name(claim, "worker", "claim", limits::worker_name_size_max);
    auto cores = read_u64_or(claim, "cores", "claim", 1);
    auto speed = claim.contains("speed") ? read_number(claim, "speed", "claim") : result(0.0);
    if (!worker || !cores || !speed) {
        return !worker ? worker.failure() : !cores ? cores.failure() : speed.failure();
    }
    if (*cores == 0 || *cores > limits::cores_max || *speed < 0.0) {
        return refuse("claim: cores must be in [1, " + std::to_string(limits::cores_max) +
                      "] and speed at least 0");
    }
    if (current.status != "running") {
        return json{{"finished", true}, {"status", current.status}};
    }
    const job before = current;
    note_worker(current, *worker, *cores, *speed, now_ms);
    const std::size_t size_before = state_size(before);
    if (state_size(current) > limits::state_budget_bytes && state_size(current) > size_before) {
        current.workers = before.workers;
    }
    // A reassignment adds nothing to the state, so it is never held back by its budget.
    if (const chunk* part = take_expired(current, *worker, now_ms)) {
        return grant(current, *part);
    }
    if (current.chunks.size() >= limits::chunks_max) {
        return json{{"wait", true}};
    }
    const job unchanged = current;
    const chunk* part = take_new(current, *worker, *speed, now_ms);
    if (part == nullptr) {
        part = take_split(current, *worker, now_ms);
    }
    if (part == nullptr) {
        return json{{"wait", true}};
    }
    if (state_size(current) > limits::state_budget_bytes) {
        current = unchanged;
        return json{{"wait", true}};
    }
    return grant(current, *part);
}

struct report {
    std::uint64_t chunk = 0;
    std::string worker;
    std::uint64_t through = 0;
    json partial;
};

/// Whether `partial` can be the result of `samples` samples of `current`'s kernel: a number (or
/// null) for native kernels, a whole number of hits at most `samples` for pi, any small JSON
/// value for a Lua job.
status check_partial(const job& current, const json& partial, std::uint64_t samples,
                     std::string_view what) {
    if (auto sized = check_partial_size(partial); !sized) {
        return refuse(std::string(what) + ": " + sized.failure().message);
    }
    if (current.kernel == lua_kernel || partial.is_null()) {
        return {};
    }
    if (current.kernel == exec_kernel) {
        auto valid = check_output_partial(partial);
        return valid ? valid : refuse(std::string(what) + ": " + valid.failure().message);
    }
    if (!partial.is_number()) {
        return refuse(std::string(what) + ": kernel " + current.kernel +
                      "'s partial results are numbers");
    }
    if (current.kernel == pi_kernel &&
        (partial.get<double>() < 0.0 ||
         std::floor(partial.get<double>()) != partial.get<double>() ||
         partial.get<double>() > static_cast<double>(samples))) {
        return refuse(std::string(what) + ": a pi partial is a whole number of hits, at most "
                                          "the samples");
    }
    return {};
}

result<report> parse_report(const job& current, const json& body, std::string_view what) {
    if (!body.is_object()) {
        return refuse(std::string(what) + " must be an object {chunk, worker, through, partial}");
    }
    auto id = read_u64(body, "chunk", what);
    auto worker = read_name(body, "worker", what, limits::worker_name_size_max);
    auto through = read_u64(body, "through", what);
    auto partial = member(body, "partial", what);
    if (!id || !worker || !through || !partial) {
        return !id ? id.failure()
                   : !worker ? worker.failure()
                             : !through ? through.failure() : partial.failure();
    }
    if (auto valid = check_partial(current, **partial, *through, what); !valid) {
        return valid.failure();
    }
    return report{*id, *worker, *through, **partial};
}

/// Hands `part` back: its lease ends now, so the next claim continues it from its checkpoint.
void release(chunk& part) {
    part.worker.clear();
    part.lease_ms = 0;
}

/// The chunk a report is about when the reporter still holds it (nullptr when it does not: the
/// chunk finished or went to another worker), or a refusal for a report out of range.
result<chunk*> owned_chunk(job& current, std::uint64_t id, const std::string& worker) {
    chunk* part = find_chunk(current, id);
    if (part == nullptr || part->worker != worker) {
        return static_cast<chunk*>(nullptr);
    }
    return part;
}

result<chunk*> reported_chunk(job& current, const report& told, std::string_view what) {
    auto part = owned_chunk(current, told.chunk, told.worker);
    if (!part || *part == nullptr) {
        return part;
    }
    if (told.through < (*part)->begin) {
        return refuse(std::string(what) + ": through " + std::to_string(told.through) +
                      " is before chunk " + std::to_string((*part)->id) + "'s begin");
    }
    if (auto valid = check_partial(current, told.partial, told.through - (*part)->begin, what);
        !valid) {
        return valid.failure();
    }
    return part;
}

result<json> on_progress(job& current, const json& body, std::uint64_t now_ms) {
    auto told = parse_report(current, body, "progress");
    if (!told) {
        return told.failure();
    }
    if (current.status != "running") {
        return json{{"abandon", true}};
    }
    auto part = reported_chunk(current, *told, "progress");
    if (!part) {
        return part.failure();
    }
    if (*part == nullptr) {
        return json{{"abandon", true}};
    }
    chunk& mine = **part;
    note_seen(current, told->worker, now_ms);
    if (told->through > mine.end) {
        // It ran past the end a split gave it: its partial counts samples of another chunk.
        release(mine);
        return json{{"abandon", true}};
    }
    if (told->through >= mine.through) {
        mine.through = told->through;
        mine.partial = told->partial;
    }
    mine.lease_ms = now_ms + current.lease_ms;
    return json{{"end", mine.end}};
}

json rejected(std::string_view reason) { return {{"accepted", false}, {"reason", reason}}; }

/// What a job needs of its record beyond its state: a Lua job's program, which reduces partial
/// results and gives the value.
struct program_text {
    const std::string& source;
};

result<std::unique_ptr<lua_job>> load_program(const job& current, const program_text& program) {
    return lua_job::load(program.source, current.seed, current.begin, current.end);
}

/// The finished job's value: pi's estimate, a Lua job's finish(result, samples), else the
/// reduced result.
result<json> final_value(const job& current, const program_text& program) {
    if (current.kernel == pi_kernel) {
        const std::uint64_t hits =
            current.reduced.is_number() ? current.reduced.get<std::uint64_t>() : 0;
        return json(pi_estimate(hits, current.samples()));
    }
    if (current.kernel == exec_kernel) {
        std::uint64_t bytes = 0;
        const json listed = current.reduced.is_object() ? current.reduced : json::object();
        for (const auto& [chunk_id, stored] : listed.items()) {
            // The state may have been set by hand: count only well-formed entries.
            if (stored.is_array() && stored.size() == 3 && stored[2].is_number_unsigned()) {
                bytes += stored[2].get<std::uint64_t>();
            }
        }
        return json{{"chunks", listed.size()}, {"bytes", bytes}};
    }
    if (current.kernel != lua_kernel) {
        return current.reduced;
    }
    auto loaded = load_program(current, program);
    if (!loaded) {
        return loaded.failure();
    }
    return (*loaded)->finish(current.reduced, current.samples());
}

/// The job ends as failed: its program is wrong (a Lua error), which every worker would hit.
void fail(job& current, std::string why, std::uint64_t now_ms) {
    current.status = "failed";
    current.error = why.substr(0, limits::error_size_max);
    current.chunks.clear();
    current.finished_ms = now_ms;
}

/// A command chunk's stored output joins the result's list: {"<chunk>": [attempt, pages,
/// bytes]}, which names the pages the client reads.
json with_output(const job& current, const chunk& part, const json& partial) {
    json listed = current.reduced.is_object() ? current.reduced : json::object();
    listed[std::to_string(part.id)] = json::array(
        {partial["attempt"], partial["pages"], partial["bytes"]});
    return listed;
}

result<json> reduce_into(job& current, const chunk& part, const json& partial,
                         const program_text& program) {
    if (current.kernel == exec_kernel) {
        return with_output(current, part, partial);
    }
    if (current.kernel != lua_kernel) {
        return add_numbers(current.reduced, partial);
    }
    auto loaded = load_program(current, program);
    if (!loaded) {
        return loaded.failure();
    }
    return (*loaded)->reduce(current.reduced, partial);
}

result<json> on_done(job& current, const json& body, std::uint64_t now_ms,
                     const program_text& program) {
    auto told = parse_report(current, body, "done");
    if (!told) {
        return told.failure();
    }
    if (current.status != "running") {
        return rejected(current.status);
    }
    if (find_chunk(current, told->chunk) == nullptr) {
        if (told->chunk >= current.next_chunk) {
            return refuse("done: there is no chunk " + std::to_string(told->chunk));
        }
        ++current.duplicates;
        return rejected("finished");
    }
    auto part = reported_chunk(current, *told, "done");
    if (!part) {
        return part.failure();
    }
    if (*part == nullptr) {
        return rejected("reassigned");
    }
    chunk& mine = **part;
    note_seen(current, told->worker, now_ms);
    if (told->through != mine.end) {
        // Short of the end (keep what it did) or past a lowered end (unusable): either way the
        // rest goes to the next claim.
        if (told->through < mine.end && told->through >= mine.through) {
            mine.through = told->through;
            mine.partial = told->partial;
        }
        release(mine);
        return rejected(told->through > mine.end ? "overshoot" : "short");
    }
    const std::uint64_t size = mine.end - mine.begin;
    if (current.samples_done + size > current.samples()) {
        // These samples would be counted a second time. The state's invariants rule it out;
        // the counter shows it if they ever fail to.
        ++current.finished_twice;
        return rejected("counted");
    }
    if (current.kernel == exec_kernel &&
        (told->partial.is_null() || told->partial["attempt"] != mine.attempt)) {
        // Pages of an earlier attempt, or none: the chunk's current holder reports its own.
        return rejected("stale");
    }
    auto reduced = reduce_into(current, mine, told->partial, program);
    if (!reduced) {
        fail(current, "reduce: " + reduced.failure().message, now_ms);
        return rejected("failed");
    }
    std::erase_if(current.chunks, [id = told->chunk](const chunk& c) { return c.id == id; });
    current.samples_done += size;
    current.reduced = std::move(*reduced);
    if (current.next == current.end && current.chunks.empty()) {
        REEF_ASSERT(current.samples_done == current.samples());
        auto value = final_value(current, program);
        if (!value) {
            fail(current, "finish: " + value.failure().message, now_ms);
            return rejected("failed");
        }
        current.status = "done";
        current.value = std::move(*value);
        current.finished_ms = now_ms;
    }
    return json{{"accepted", true}, {"status", current.status}};
}

/// A worker's run failed: {"chunk", "worker", "error"}. Only the chunk's holder may fail it.
result<json> on_fail(job& current, const json& body, std::uint64_t now_ms) {
    if (!body.is_object()) {
        return refuse("fail must be an object {chunk, worker, error}");
    }
    auto id = read_u64(body, "chunk", "fail");
    auto worker = read_name(body, "worker", "fail", limits::worker_name_size_max);
    auto why = read_name(body, "error", "fail", limits::error_size_max);
    if (!id || !worker || !why) {
        return !id ? id.failure() : !worker ? worker.failure() : why.failure();
    }
    if (current.status != "running") {
        return rejected(current.status);
    }
    auto part = owned_chunk(current, *id, *worker);
    if (!part) {
        return part.failure();
    }
    if (*part == nullptr) {
        return rejected("reassigned");
    }
    fail(current, "chunk " + std::to_string(*id) + " on worker " + *worker + ": " + *why,
         now_ms);
    return json{{"accepted", true}, {"status", current.status}};
}

json on_cancel(job& current, std::uint64_t now_ms) {
    if (current.status != "running") {
        return {{"cancelled", false}, {"status", current.status}};
    }
    current.status = "cancelled";
    current.chunks.clear();
    current.finished_ms = now_ms;
    return {{"cancelled", true}, {"status", current.status}};
}

result<json> handle(job& current, const json& body, std::uint64_t now_ms,
                    const program_text& program) {
    if (!body.is_object() || body.size() != 1) {
        return refuse("a job message is one object: {\"claim\": ...}, {\"progress\": ...}, "
                      "{\"done\": ...}, {\"fail\": ...} or {\"cancel\": true}");
    }
    const std::string& kind = body.begin().key();
    const json& value = body.begin().value();
    if (kind == "claim") {
        return on_claim(current, value, now_ms);
    }
    if (kind == "progress") {
        return on_progress(current, value, now_ms);
    }
    if (kind == "done") {
        return on_done(current, value, now_ms, program);
    }
    if (kind == "fail") {
        return on_fail(current, value, now_ms);
    }
    if (kind == "cancel") {
        if (value != json(true)) {
            return refuse("cancel must be {\"cancel\": true}");
        }
        return on_cancel(current, now_ms);
    }
    return refuse("unknown job message \"" + kind + "\"");
}

} // namespace

result<actors::run_output> coordinate(const actors::actor_record& record, bool init,
                                      const std::string& from, const json& body,
                                      const actors::run_context& facts) {
    (void)from; // any sender may take part: workers name themselves in the message
    actors::run_output out;
    if (init) {
        auto made = parse_args(body);
        if (!made) {
            return made.failure();
        }
        if (auto valid = check_program(*made, record.program); !valid) {
            return valid.failure();
        }
        made->started_ms = facts.now_ms;
        REEF_ASSERT(check(*made).ok());
        out.state = to_state(*made);
        return out;
    }
    auto current = parse_state(record.state);
    if (!current) {
        return make_error(errc::failed_precondition,
                          "job " + record.name + " has a bad state: " + current.failure().message);
    }
    auto reply = handle(*current, body, facts.now_ms, program_text{record.program});
    if (!reply) {
        return reply.failure();
    }
    REEF_ASSERT(check(*current).ok());
    out.state = to_state(*current);
    out.reply = std::move(*reply);
    REEF_ASSERT(!out.reply.is_null());
    if (actors::json_text(out.state).size() > actors::record_limits{}.state_size_max) {
        return make_error(errc::resource_exhausted, "job " + record.name + " state is full");
    }
    return out;
}

void register_coordinator(actors::actor_table& table) {
    table.register_native(std::string(coordinator_kind), coordinate);
}

} // namespace reef::jobs
