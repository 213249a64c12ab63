#include "reef/jobs/coordinator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "reef/jobs/exec_job.hpp"
#include "reef/jobs/job_state.hpp"
#include "reef/jobs/kernels.hpp"
#include "reef/jobs/lua_job.hpp"
#include "reef/jobs/partials.hpp"

namespace reef::jobs {
namespace {

using limits = coordinator_limits;
using detail::check;
using detail::check_program;
using detail::chunk;
using detail::job;
using detail::member;
using detail::parse_args;
using detail::parse_state;
using detail::read_name;
using detail::read_number;
using detail::read_u64;
using detail::read_u64_or;
using detail::refuse;
using detail::state_size;
using detail::to_state;
using detail::worker_info;

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
    if (current.next >= current.end || current.next_chunk >= limits::chunk_ids_max) {
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
    if (current.chunk_size > 0 || current.next_chunk >= limits::chunk_ids_max) {
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
    // The holder keeps at least one sample: a chunk is never left empty.
    const std::uint64_t keep =
        std::max({remaining / 2, static_cast<std::uint64_t>(ahead), std::uint64_t{1}});
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

/// The holder's speed from its checkpoints: what it computed since the last one (or since the
/// grant) over the time between. It replaces the speed of its claim, which early in a job comes
/// from tiny runs timed coarsely; a split's cut is placed by it (take_split), and a cut placed
/// behind the holder makes it compute samples that are no longer its own.
void note_speed(job& current, const chunk& part, std::uint64_t through, std::uint64_t now_ms) {
    const auto seen = current.workers.find(part.worker);
    if (seen == current.workers.end() || through <= part.through ||
        part.lease_ms < current.lease_ms) {
        return;
    }
    const std::uint64_t since_ms = part.lease_ms - current.lease_ms;
    if (now_ms <= since_ms) {
        return;
    }
    seen->second.speed = static_cast<double>(through - part.through) * 1000.0 /
                         static_cast<double>(now_ms - since_ms);
    REEF_ASSERT(seen->second.speed >= 0.0);
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
        note_speed(current, mine, told->through, now_ms);
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
        fail(current, reduced.failure().message, now_ms);
        return rejected("failed");
    }
    std::erase_if(current.chunks, [id = told->chunk](const chunk& c) { return c.id == id; });
    current.samples_done += size;
    current.reduced = std::move(*reduced);
    if (current.next == current.end && current.chunks.empty()) {
        REEF_ASSERT(current.samples_done == current.samples());
        auto value = final_value(current, program);
        if (!value) {
            fail(current, value.failure().message, now_ms);
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
