#include "reef/jobs/job_state.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "reef/actors/record.hpp"
#include "reef/jobs/exec_job.hpp"
#include "reef/jobs/kernels.hpp"
#include "reef/jobs/lua_job.hpp"

namespace reef::jobs::detail {

using limits = coordinator_limits;

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
/// A native kernel's result is a number (pi's a whole number of hits, at most the samples
/// done), a command job's the list of outputs; a Lua job's can be anything its reduce made.
status check_reduced(const job& current) {
    const json& reduced = current.reduced;
    if (reduced.is_null() || current.kernel == lua_kernel) {
        return {};
    }
    if (current.kernel == exec_kernel) {
        return reduced.is_object() ? status() : refuse("a command job's result is an object");
    }
    if (!reduced.is_number()) {
        return refuse("kernel " + current.kernel + "'s result is a number");
    }
    const double hits = reduced.get<double>();
    if (current.kernel == pi_kernel &&
        (hits < 0.0 || std::floor(hits) != hits ||
         hits > static_cast<double>(current.samples_done))) {
        return refuse("pi's result is a whole number of hits, at most samples_done");
    }
    return {};
}

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
    if (current.next_chunk > limits::chunk_ids_max) {
        return refuse("next_chunk must be at most " + std::to_string(limits::chunk_ids_max));
    }
    if (auto reduced = check_reduced(current); !reduced) {
        return reduced;
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

namespace {

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
        if (*speed < 0.0 || *cores == 0 || *cores > limits::cores_max) {
            return refuse("state: a worker's speed is at least 0 and its cores 1 to " +
                          std::to_string(limits::cores_max));
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

} // namespace

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

} // namespace reef::jobs::detail
