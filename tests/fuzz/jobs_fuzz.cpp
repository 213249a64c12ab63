// Fuzz target "jobs": the job subsystem, whose inputs all come from outside (spawn args from
// users, messages from any peer, states set by hand, answers relayed from arbitrary actors, Lua
// programs). Each input is one session, chosen by its first byte:
//  - coordinator: jobs::coordinate spawned with hostile args and programs (kernels pi, lua, exec
//    and unknown), then driven by plausible claim/progress/done/fail/cancel messages, some with a
//    field mutated (wrong type, huge, negative, float, null, nested), and by states set by hand;
//  - worker: one jobs::worker fed ticks, mutated answers to its real asks, and run reports and
//    command outputs for its real and for made-up runs;
//  - command: jobs::parse_command and reef::base64_decode on the input's text;
//  - lua: jobs::lua_job::load on the input's text, then map, reduce and finish on hostile values.
// Properties besides "no crash, no hang, no assert":
//  - a refusal of a message to a valid state is never failed_precondition (that code means the
//    state is bad), and an accepted state re-parses: fed back, it is not refused as bad;
//  - an accepted state fits the actor's state limit, counts at most end - begin samples done,
//    never counts a chunk twice (finished_twice stays 0 unless the state was set by hand), and a
//    job that left "running" stays where it went;
//  - the worker's invariants hold after every input;
//  - what parse_command accepts obeys its limits; base64 round-trips.
// Runner threads are trusted: the harness reports progress only at or after a run's begin, as
// they do (the worker asserts it).

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "fuzz_target.hpp"
#include "reef/base/base64.hpp"
#include "reef/base/prng.hpp"
#include "reef/jobs/coordinator.hpp"
#include "reef/jobs/exec_job.hpp"
#include "reef/jobs/lua_job.hpp"
#include "reef/jobs/partials.hpp"
#include "reef/jobs/worker.hpp"

namespace reef::fuzz {

namespace {

using jobs::json;

/// Reads an input's bytes as the choices of a session. Past the end every read is 0, so every
/// prefix of an input is a complete session of its own.
class reader {
public:
    explicit reader(std::span<const std::uint8_t> data) : data_(data) {}

    std::uint8_t byte() { return at_ < data_.size() ? data_[at_++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>((byte() << 8U) | byte()); }
    bool done() const { return at_ >= data_.size(); }
    /// The bytes not read yet, as text (none are read after this).
    std::string rest() {
        std::string text;
        if (at_ < data_.size()) {
            text.assign(reinterpret_cast<const char*>(data_.data()) + at_, data_.size() - at_);
        }
        at_ = data_.size();
        return text;
    }

private:
    std::span<const std::uint8_t> data_;
    std::size_t at_ = 0;
};

enum class session : std::uint8_t { coordinator, worker, command, lua, count };

struct counters {
    std::uint64_t spawned[4] = {};  // by kernel index
    std::uint64_t spawns_refused = 0;
    std::uint64_t accepted = 0;
    std::uint64_t refused = 0;
    std::uint64_t hostile_accepted = 0;
    std::uint64_t finished[4] = {}; // jobs reaching "done", by kernel index
    std::uint64_t failed = 0;
    std::uint64_t hand_set_refused = 0;
    std::uint64_t hand_set_accepted = 0;
    std::uint64_t worker_inputs = 0;
    std::uint64_t grants = 0;
    std::uint64_t runs_started = 0;
    std::uint64_t pages_stored = 0;
    std::uint64_t dones_accepted = 0;
    std::uint64_t commands_parsed = 0;
    std::uint64_t base64_decoded = 0;
    std::uint64_t lua_loaded = 0;
    std::uint64_t lua_calls_ok = 0;
    std::uint64_t lua_calls_refused = 0;
};

counters& stats() {
    static counters instance;
    return instance;
}

/// Exceptions that escaped the code under test, by entry point: the first message and a count.
std::map<std::string, std::pair<std::string, std::uint64_t>>& escapes() {
    static std::map<std::string, std::pair<std::string, std::uint64_t>> instance;
    return instance;
}

/// Runs `call`; true when a JSON exception escaped it, which is recorded.
template <typename Call>
bool escaped(const char* where, Call&& call) {
    try {
        call();
        return false;
    } catch (const json::exception& failure) {
        auto& seen = escapes()[where];
        if (seen.second++ == 0) {
            seen.first = failure.what();
        }
        REEF_FUZZ_CHECK(false); // no input may make the code under test throw
        return true;
    }
}

// -- Hostile values -------------------------------------------------------------------------------

/// `depth` nested arrays around a number: deep values must be refused, not recursed into blindly.
json nested(std::size_t depth) {
    json value = 1;
    for (std::size_t level = 0; level < depth; ++level) {
        value = json::array({std::move(value)});
    }
    return value;
}

json hostile(reader& in) {
    switch (in.byte() % 18) {
    case 0: return nullptr;
    case 1: return -1;
    case 2: return std::numeric_limits<std::int64_t>::min();
    case 3: return std::numeric_limits<std::uint64_t>::max();
    case 4: return 1e300;
    case 5: return -0.5;
    case 6: return 2.5;
    case 7: return "text";
    case 8: return true;
    case 9: return json::array({1, "x", nullptr});
    case 10: return {{"nested", {{"deeper", json::array({json::object()})}}}};
    case 11: return std::string(3000, 'x');
    case 12: return 9007199254740993ULL; // 2^53 + 1: not exact as a double
    case 13: return nested(300);
    case 14: return json::object();
    case 15: return "";
    case 16: return std::numeric_limits<std::uint64_t>::max() / 2 + 1; // 2^63
    default: return in.u16();
    }
}

/// Changes one place of `value`: a member or element is mutated in turn, replaced by a hostile
/// value, removed, or joined by an unexpected one; a scalar becomes a hostile value.
void mutate(json& value, reader& in, int depth = 0) {
    const std::uint8_t choice = in.byte();
    if (!(value.is_object() || value.is_array()) || value.empty() || depth >= 4) {
        value = hostile(in);
        return;
    }
    const std::size_t index = in.byte() % value.size();
    auto item = value.begin();
    std::advance(item, static_cast<std::ptrdiff_t>(index));
    switch (choice % 5) {
    case 0:
    case 1: mutate(*item, in, depth + 1); break;
    case 2: *item = hostile(in); break;
    case 3:
        if (value.is_object()) {
            value.erase(item.key());
        } else {
            value.erase(index);
        }
        break;
    default:
        if (value.is_object()) {
            value["unexpected"] = hostile(in);
        } else {
            value.push_back(hostile(in));
        }
        break;
    }
}

// -- Coordinator ----------------------------------------------------------------------------------

constexpr const char* kernel_names[] = {"pi", "lua", "exec", "other"};
constexpr std::size_t kernel_lua = 1;
constexpr std::size_t kernel_exec = 2;

/// A Lua job whose partials are {n, s}: reduce and finish fail on any other shape, which fails
/// the job rather than crashing the coordinator.
constexpr const char* lua_program =
    "function map(first, last, job) return {n = last - first, s = first % 7} end\n"
    "function reduce(a, b) return {n = a.n + b.n, s = a.s + b.s} end\n"
    "function finish(r, count) return r.n / count end\n";
constexpr const char* exec_program = R"(["printf","%s\n","{start}"])";

json spawn_args(std::size_t kernel) {
    json args = {{"kernel", kernel_names[kernel]}, {"seed", 7}, {"begin", 0}, {"end", 5'000'000}};
    if (kernel == kernel_lua) {
        args["end"] = 6; // its first chunks are a sample each
    } else if (kernel == kernel_exec) {
        args["end"] = 40;
        args["chunks"] = 4;
    }
    return args;
}

std::string program_of(std::size_t kernel) {
    return kernel == kernel_lua ? lua_program : kernel == kernel_exec ? exec_program : "";
}

struct job_under_test {
    actors::actor_record record;
    std::size_t kernel = 0;
    std::uint64_t now_ms = 1'000'000;
    bool hand_set = false; // its state was set by hand: its counters may be anything
};

std::uint64_t number_in(const json& state, const char* key) {
    return state.value(key, json(0)).get<std::uint64_t>();
}

/// The properties of a state the coordinator accepted, which must hold however hostile the
/// message was; `before` is the state it replaced (null after a spawn).
void check_state(const job_under_test& job, const json& before, const actors::run_output& out) {
    const json& state = out.state;
    REEF_FUZZ_CHECK(state.is_object());
    REEF_FUZZ_CHECK(actors::json_text(state).size() <= actors::record_limits{}.state_size_max);
    const std::uint64_t samples = number_in(state, "end") - number_in(state, "begin");
    REEF_FUZZ_CHECK(number_in(state, "begin") < number_in(state, "end"));
    REEF_FUZZ_CHECK(number_in(state, "samples_done") <= samples);
    REEF_FUZZ_CHECK(job.hand_set || number_in(state, "finished_twice") == 0);
    if (before.is_object() && before["status"] != "running") {
        REEF_FUZZ_CHECK(state["status"] == before["status"]);
    }
    if (before.is_object() && !job.hand_set) {
        REEF_FUZZ_CHECK(number_in(state, "samples_done") >= number_in(before, "samples_done"));
    }
    // Fed back, the state parses: a harmless (malformed) message is refused for itself.
    actors::actor_record again = job.record;
    again.state = state;
    auto harmless = jobs::coordinate(again, false, "client:check", {{"cancel", false}},
                                     {job.now_ms, 1});
    REEF_FUZZ_CHECK(!harmless.ok());
    REEF_FUZZ_CHECK(harmless.failure().code == errc::invalid_argument);
}

/// A chunk of the state to report about (an object, or null when there is none).
json pick_chunk(const json& state, reader& in) {
    const json chunks = state.is_object() ? state.value("chunks", json()) : json();
    if (!chunks.is_array() || chunks.empty()) {
        return nullptr;
    }
    return chunks[in.byte() % chunks.size()];
}

/// A partial result for `samples` samples that the job's kernel would accept.
json plausible_partial(std::size_t kernel, std::uint64_t samples, std::uint64_t attempt,
                       reader& in) {
    const std::uint8_t scale = in.byte();
    if (kernel == kernel_lua) {
        return {{"n", samples}, {"s", scale % 7}};
    }
    if (kernel == kernel_exec) {
        const std::uint64_t bytes = scale * 97ULL;
        return jobs::output_partial(attempt, (bytes + jobs::exec_limits::page_size_bytes - 1) /
                                                 jobs::exec_limits::page_size_bytes,
                                    bytes);
    }
    return samples / 2 + samples * (scale % 16) / 64; // about pi/4 of the samples are hits
}

json plausible_report(const job_under_test& job, reader& in, bool done) {
    const json part = pick_chunk(job.record.state, in);
    const std::string worker = "w" + std::to_string(in.byte() % 5);
    if (part.is_null()) {
        return {{"chunk", in.byte() % 4}, {"worker", worker}, {"through", in.u16()},
                {"partial", nullptr}};
    }
    const auto begin = part["begin"].get<std::uint64_t>();
    const auto through = part["through"].get<std::uint64_t>();
    const auto end = part["end"].get<std::uint64_t>();
    std::uint64_t reached = end;
    if (!done || in.byte() % 8 == 0) {
        reached = through + (end - through) * in.byte() / 255;
    }
    const std::string holder = in.byte() % 8 == 0 ? worker : part["worker"].get<std::string>();
    return {{"chunk", part["id"]}, {"worker", holder.empty() ? worker : holder},
            {"through", reached},
            {"partial", plausible_partial(job.kernel, reached - begin,
                                          part.value("attempt", json(0)).get<std::uint64_t>(),
                                          in)}};
}

json plausible_message(const job_under_test& job, reader& in) {
    switch (in.byte() % 10) {
    case 0:
    case 1:
    case 2: {
        constexpr double speeds[] = {0.0, 1.0, 1e3, 1e6, 3e8};
        // Up to 20 names, beyond workers_max, so the least recently seen is forgotten.
        return {{"claim", {{"worker", "w" + std::to_string(in.byte() % 20)},
                           {"cores", 1 + in.byte() % 8}, {"speed", speeds[in.byte() % 5]}}}};
    }
    case 3:
    case 4: return {{"progress", plausible_report(job, in, false)}};
    case 5:
    case 6:
    case 7:
    case 8: return {{"done", plausible_report(job, in, true)}};
    default: break;
    }
    // Rarely a failure or a cancel, which end the job: most sessions should get to the end.
    const std::uint8_t ending = in.byte();
    if (ending % 32 == 0) {
        json report = plausible_report(job, in, false);
        return {{"fail", {{"chunk", report["chunk"]}, {"worker", report["worker"]},
                          {"error", "exit status 1"}}}};
    }
    return ending % 32 == 1 ? json{{"cancel", true}} : json{{"cancel", false}};
}

/// Sends `body` to the job; an accepted state replaces the job's.
void deliver(job_under_test& job, const json& body, bool hostile_body) {
    job.now_ms += 1 + 40ULL * (job.now_ms % 7);
    auto out = jobs::coordinate(job.record, false, "w", body, {job.now_ms, 1});
    if (!out.ok()) {
        ++stats().refused;
        // The state was valid: only the message can be wrong, or the state full.
        REEF_FUZZ_CHECK(out.failure().code == errc::invalid_argument ||
                        out.failure().code == errc::resource_exhausted);
        REEF_FUZZ_CHECK(!out.failure().message.empty());
        return;
    }
    ++stats().accepted;
    stats().hostile_accepted += hostile_body ? 1 : 0;
    REEF_FUZZ_CHECK(!out->reply.is_null());
    const json before = job.record.state;
    check_state(job, before, *out);
    job.record.state = std::move(out->state);
    const std::string status = job.record.state["status"].get<std::string>();
    if (status != "running" && before["status"] == "running") {
        stats().finished[job.kernel] += status == "done" ? 1 : 0;
        stats().failed += status == "failed" ? 1 : 0;
    }
}

/// A state set by hand: the coordinator refuses it with failed_precondition or, when it is
/// valid after all, handles the message as for any state.
void deliver_hand_set(job_under_test& job, reader& in) {
    json state = job.record.state;
    mutate(state, in);
    if (in.byte() % 2 == 0) {
        mutate(state, in);
    }
    actors::actor_record changed = job.record;
    changed.state = state;
    const json body = plausible_message(job, in);
    auto out = jobs::coordinate(changed, false, "w", body, {job.now_ms, 1});
    if (!out.ok()) {
        ++stats().hand_set_refused;
        REEF_FUZZ_CHECK(!out.failure().message.empty());
        return;
    }
    ++stats().hand_set_accepted;
    job.record.state = state;
    job.hand_set = true;
    check_state(job, state, *out);
    job.record.state = std::move(out->state);
}

/// Spawn args and program, mutated when the input says so. Whatever is refused is refused with
/// an error; a state that is not an object is refused as a bad state.
bool spawn(job_under_test& job, reader& in) {
    const std::uint8_t how = in.byte();
    job.kernel = how % 4;
    job.record.name = "job-1";
    job.record.module = std::string(jobs::coordinator_kind);
    job.record.program = program_of(job.kernel);
    json args = spawn_args(job.kernel);
    const bool hostile_args = how / 4 % 4 == 0;
    if (hostile_args) {
        mutate(args, in);
    }
    if (how / 16 % 8 == 0) {
        json program = json::parse(job.record.program, nullptr, false);
        mutate(program, in);
        job.record.program = in.byte() % 2 == 0 ? actors::json_text(program) : "function map(";
    }
    auto made = jobs::coordinate(job.record, true, "client:01", args, {job.now_ms, 1});
    if (!made.ok()) {
        ++stats().spawns_refused;
        REEF_FUZZ_CHECK(!made.failure().message.empty());
        job.record.state = hostile(in);
        auto bad = jobs::coordinate(job.record, false, "w", plausible_message(job, in),
                                    {job.now_ms, 1});
        REEF_FUZZ_CHECK(!bad.ok() && bad.failure().code == errc::failed_precondition);
        return false;
    }
    ++stats().spawned[job.kernel];
    check_state(job, json(), *made);
    REEF_FUZZ_CHECK(number_in(made->state, "samples_done") == 0);
    job.record.state = std::move(made->state);
    return true;
}

void coordinator_session(reader& in) {
    job_under_test job;
    if (!spawn(job, in)) {
        return;
    }
    for (std::size_t step = 0; step < 96 && !in.done(); ++step) {
        const std::uint8_t how = in.byte();
        if (how % 16 == 0) {
            deliver_hand_set(job, in);
            continue;
        }
        json body = plausible_message(job, in);
        const bool hostile_body = how % 16 < 4;
        if (hostile_body) {
            mutate(body, in);
        }
        deliver(job, body, hostile_body);
    }
}

// -- Worker ---------------------------------------------------------------------------------------

constexpr const char* job_names[] = {"job-pi", "job-lua", "job-exec", "job-other"};

std::size_t kernel_of_job(const std::string& actor) {
    for (std::size_t index = 0; index < std::size(job_names); ++index) {
        if (actor == job_names[index]) {
            return index;
        }
    }
    return 0;
}

struct worker_under_test {
    jobs::kernel_registry kernels;
    std::unique_ptr<jobs::worker> core;
    jobs::worker_config limits;
    instant now = instant::from_ns(1'000'000'000);
    std::vector<jobs::ask> asks;        // asked and not answered yet
    std::vector<jobs::start_run> runs; // started and not stopped (end lowered when shortened)
};

json table_answer(reader& in) {
    const std::uint8_t listed = in.byte();
    json jobs_listed = json::object();
    for (std::size_t index = 0; index < std::size(job_names); ++index) {
        if ((listed >> index) & 1U) {
            jobs_listed[job_names[index]] = {{"kernel", kernel_names[index]},
                                             {"status", (listed >> 5U) != 0 ? "running" : "done"}};
        }
    }
    return {{"ok", true}, {"state", {{"jobs", std::move(jobs_listed)}}}};
}

json grant_answer(const jobs::ask& asked, reader& in) {
    const std::size_t kernel = kernel_of_job(asked.actor);
    switch (in.byte() % 8) {
    case 0: return {{"ok", true}, {"reply", {{"wait", true}}}};
    case 1: return {{"ok", true}, {"reply", {{"finished", true}, {"status", "done"}}}};
    default: break;
    }
    const std::uint64_t begin = in.byte() % 32;
    const std::uint64_t end = begin + in.byte() % 16;
    return {{"ok", true},
            {"reply", {{"chunk", in.byte() % 4}, {"begin", begin}, {"end", end},
                       {"partial", in.byte() % 2 == 0 ? json() : json(begin / 2)},
                       {"kernel", kernel_names[kernel]}, {"seed", 7}, {"lease_ms", 3000},
                       {"job_begin", 0}, {"job_end", 64}, {"attempt", in.byte() % 3}}}};
}

/// An answer the worker could get to `asked`, from the job table, a job or a page's actor.
json plausible_answer(const jobs::ask& asked, reader& in) {
    if (asked.actor == jobs::job_table_name) {
        return table_answer(in);
    }
    const json& message = asked.message;
    if (message.contains("program")) {
        const std::size_t kernel = kernel_of_job(asked.actor);
        return {{"ok", true}, {"program", in.byte() % 8 == 0 ? "" : program_of(kernel)}};
    }
    if (message.contains("spawn_blob")) {
        switch (in.byte() % 4) {
        case 0: return {{"ok", false}, {"error", "actor already exists"}};
        case 1: return {{"ok", false}, {"error", "unavailable"}};
        default: return {{"ok", true}};
        }
    }
    if (message.contains("claim")) {
        return grant_answer(asked, in);
    }
    if (message.contains("progress")) {
        return in.byte() % 4 == 0 ? json{{"ok", true}, {"reply", {{"abandon", true}}}}
                                  : json{{"ok", true}, {"reply", {{"end", in.byte() % 40}}}};
    }
    return {{"ok", true}, {"reply", {{"accepted", in.byte() % 4 != 0}, {"status", "running"}}}};
}

void collect(worker_under_test& tested) {
    tested.core->check_invariants();
    REEF_FUZZ_CHECK(tested.core->asks_in_flight() <= tested.limits.asks_max);
    (void)tested.core->next_deadline();
    for (auto& produced : tested.core->take_effects()) {
        if (auto* asked = std::get_if<jobs::ask>(&produced)) {
            REEF_FUZZ_CHECK(asked->token != 0);
            tested.asks.push_back(std::move(*asked));
        } else if (auto* started = std::get_if<jobs::start_run>(&produced)) {
            REEF_FUZZ_CHECK(started->begin < started->end);
            ++stats().runs_started;
            tested.runs.push_back(std::move(*started));
        } else if (auto* stopped = std::get_if<jobs::stop_run>(&produced)) {
            std::erase_if(tested.runs, [id = stopped->run_id](const jobs::start_run& run) {
                return run.run_id == id;
            });
        } else {
            const auto& shortened = std::get<jobs::shorten_run>(produced);
            for (auto& run : tested.runs) {
                if (run.run_id == shortened.run_id) {
                    REEF_FUZZ_CHECK(shortened.end <= run.end);
                    run.end = std::max(shortened.end, run.begin);
                }
            }
        }
    }
}

void answer_one(worker_under_test& tested, reader& in) {
    if (tested.asks.empty() || in.byte() % 16 == 0) {
        tested.core->on_answer(tested.now, in.u16(), json{{"ok", true}});
        return;
    }
    const std::size_t index = in.byte() % tested.asks.size();
    const jobs::ask asked = tested.asks[index];
    tested.asks.erase(tested.asks.begin() + static_cast<std::ptrdiff_t>(index));
    const std::uint8_t how = in.byte();
    if (how % 8 == 0) {
        tested.core->on_answer(tested.now, asked.token, make_error(errc::unavailable, "lost"));
        return;
    }
    json answer = plausible_answer(asked, in);
    if (how % 8 < 3) {
        mutate(answer, in);
    }
    tested.core->on_answer(tested.now, asked.token, answer);
}

/// A run the runtime reports about: a started one mostly, sometimes one that never was.
jobs::start_run pick_run(const worker_under_test& tested, reader& in) {
    if (tested.runs.empty() || in.byte() % 8 == 0) {
        jobs::start_run made_up;
        made_up.run_id = (std::uint64_t{1} << 40U) + in.u16(); // never issued
        return made_up;
    }
    return tested.runs[in.byte() % tested.runs.size()];
}

std::string command_output(reader& in) {
    constexpr std::size_t sizes[] = {0, 1, jobs::exec_limits::page_size_bytes,
                                     jobs::exec_limits::page_size_bytes + 1, 40'000,
                                     jobs::exec_limits::output_size_max,
                                     jobs::exec_limits::output_size_max + 1};
    std::string output(sizes[in.byte() % std::size(sizes)], '\0');
    for (std::size_t at = 0; at < output.size(); at += 997) {
        output[at] = static_cast<char>(in.byte());
    }
    return output;
}

void run_report(worker_under_test& tested, reader& in, std::uint8_t how) {
    const jobs::start_run run = pick_run(tested, in);
    const std::uint64_t through = run.begin + (run.end - run.begin) * in.byte() / 255;
    const json partial = in.byte() % 4 == 0 ? hostile(in) : json(through - run.begin);
    switch (how) {
    case 0: tested.core->on_progress(tested.now, run.run_id, through, partial); break;
    case 1:
        tested.core->on_finished(tested.now, run.run_id, through, partial);
        std::erase_if(tested.runs, [&](const auto& r) { return r.run_id == run.run_id; });
        break;
    case 2:
        tested.core->on_failed(tested.now, run.run_id, in.byte() % 2 == 0 ? "" : "exit 3");
        std::erase_if(tested.runs, [&](const auto& r) { return r.run_id == run.run_id; });
        break;
    default:
        tested.core->on_output(tested.now, run.run_id, command_output(in));
        std::erase_if(tested.runs, [&](const auto& r) { return r.run_id == run.run_id; });
        break;
    }
}

void worker_session(reader& in) {
    worker_under_test tested;
    const std::uint8_t setup = in.byte();
    tested.limits.name = "w0";
    tested.limits.slots = 1 + setup % 3;
    tested.limits.allow_exec = (setup & 4U) != 0;
    tested.limits.asks_max = 2 + setup / 8 % 8;
    tested.limits.jobs_max = 1 + setup / 64;
    tested.limits.pages_in_flight_max = 2;
    tested.limits.page_attempts_max = 3;
    tested.core = std::make_unique<jobs::worker>(tested.limits, tested.kernels);
    for (std::size_t step = 0; step < 128 && !in.done(); ++step) {
        ++stats().worker_inputs;
        const std::uint8_t how = in.byte();
        constexpr const char* entries[] = {"worker::on_tick", "worker::on_answer",
                                           "worker::on_progress", "worker::on_finished",
                                           "worker::on_failed", "worker::on_output"};
        const std::size_t entry = how % 10 < 2 ? 0 : how % 10 < 6 ? 1 : how % 10 - 4;
        const bool thrown = escaped(entries[entry], [&] {
            if (entry == 0) {
                tested.now = tested.now + duration::milliseconds(in.byte() * 20);
                tested.core->on_tick(tested.now);
            } else if (entry == 1) {
                answer_one(tested, in);
            } else {
                run_report(tested, in, static_cast<std::uint8_t>(entry - 2));
            }
        });
        if (thrown) {
            return; // the worker may be half-way through an update: this session is over
        }
        collect(tested);
    }
    const auto& seen = tested.core->stats();
    stats().grants += seen.granted;
    stats().pages_stored += seen.pages_stored;
    stats().dones_accepted += seen.dones_accepted;
}

// -- Commands and base64 --------------------------------------------------------------------------

void command_session(reader& in) {
    const std::string text = in.rest();
    if (auto command = jobs::parse_command(text)) {
        ++stats().commands_parsed;
        REEF_FUZZ_CHECK(!command->empty());
        REEF_FUZZ_CHECK(command->size() <= jobs::exec_limits::arguments_max);
        REEF_FUZZ_CHECK(!command->front().empty());
        for (const auto& argument : *command) {
            REEF_FUZZ_CHECK(argument.size() <= jobs::exec_limits::argument_size_max);
            REEF_FUZZ_CHECK(argument.find('\0') == std::string::npos);
        }
        REEF_FUZZ_CHECK(jobs::substitute(*command, 3, 1'000'000).size() == command->size());
    }
    if (auto decoded = base64_decode(text)) {
        ++stats().base64_decoded;
        REEF_FUZZ_CHECK(decoded->size() <= text.size() / 4 * 3);
        REEF_FUZZ_CHECK(decoded->size() + 2 >= text.size() / 4 * 3);
        auto again = base64_decode(base64_encode(*decoded));
        REEF_FUZZ_CHECK(again.ok() && *again == *decoded);
    }
    const std::string encoded = base64_encode(text);
    REEF_FUZZ_CHECK(encoded.size() == (text.size() + 2) / 3 * 4);
    auto back = base64_decode(encoded);
    REEF_FUZZ_CHECK(back.ok() && *back == text);
}

// -- Lua jobs -------------------------------------------------------------------------------------

void lua_calls(jobs::lua_job& job, reader& choices) {
    for (std::size_t call = 0; call < 6; ++call) {
        const std::uint8_t how = choices.byte();
        result<json> out = json();
        if (how % 3 == 0) {
            const std::uint64_t first = choices.byte() % 80;
            out = job.map(first, first + choices.byte() % 24);
            if (out.ok()) {
                REEF_FUZZ_CHECK(jobs::check_partial_size(*out).ok());
            }
        } else if (how % 3 == 1) {
            const json a = choices.byte() % 2 == 0 ? json{{"n", 1}, {"s", 2}} : hostile(choices);
            out = job.reduce(a, hostile(choices));
        } else {
            out = job.finish(hostile(choices), choices.u16());
        }
        ++(out.ok() ? stats().lua_calls_ok : stats().lua_calls_refused);
        REEF_FUZZ_CHECK(out.ok() || !out.failure().message.empty());
    }
}

void lua_session(reader& in) {
    // The calls' choices come first, so mutations of the program's text keep them.
    std::uint8_t choice_bytes[24];
    for (auto& b : choice_bytes) {
        b = in.byte();
    }
    const std::string program = in.rest();
    jobs::lua_job_limits limits;
    // Calls run inside the fuzz loop: keep a runaway short.
    limits.memory_limit_bytes = std::size_t{4} << 20U;
    limits.map_instructions_max = 200'000;
    limits.other_instructions_max = 200'000;
    auto loaded = jobs::lua_job::load(program, 11, 0, 100, limits);
    if (!loaded) {
        REEF_FUZZ_CHECK(!loaded.failure().message.empty());
        return;
    }
    ++stats().lua_loaded;
    reader choices{choice_bytes};
    lua_calls(**loaded, choices);
}

bytes as_bytes(session kind, std::string_view head, std::string_view text) {
    bytes out{static_cast<std::uint8_t>(kind)};
    out.insert(out.end(), head.begin(), head.end());
    out.insert(out.end(), text.begin(), text.end());
    return out;
}

} // namespace

void one_input(std::span<const std::uint8_t> data) {
    reader in{data};
    switch (static_cast<session>(in.byte() % static_cast<std::uint8_t>(session::count))) {
    case session::coordinator: escaped("jobs::coordinate", [&] { coordinator_session(in); }); break;
    case session::worker: worker_session(in); break;
    case session::command: escaped("parse_command, base64", [&] { command_session(in); }); break;
    default: escaped("jobs::lua_job", [&] { lua_session(in); }); break;
    }
}

namespace {

/// Sessions of random choices, for the driver to mutate: most of their messages and answers are
/// plausible, so the flows get far (chunks granted, reported, reduced and finished).
std::vector<bytes> session_seeds(session kind, std::size_t count, std::size_t size) {
    std::vector<bytes> seeds;
    prng random(0x10b5 + static_cast<std::uint64_t>(kind));
    for (std::size_t seed = 0; seed < count; ++seed) {
        bytes made{static_cast<std::uint8_t>(kind)};
        // A coordinator session's first choice with its hostile bits off: plain spawn args,
        // each kernel in turn. A worker's is its configuration.
        made.push_back(kind == session::coordinator ? static_cast<std::uint8_t>(seed % 4 + 4 + 16)
                                                    : static_cast<std::uint8_t>(random.below(256)));
        for (std::size_t at = 0; at < size; ++at) {
            made.push_back(static_cast<std::uint8_t>(random.below(256)));
        }
        seeds.push_back(std::move(made));
    }
    return seeds;
}

/// The description of the program's functions goes through the program's own _G (bug 4).
constexpr const char* lua_hijacking_program =
    "function map() return 1 end\nsetmetatable(_G, {__newindex = function(t, k, v)\n"
    "  rawset(t, k, function() return {map = 'yes'} end) end})\n";

std::vector<std::string> lua_seed_programs() {
    return {
        lua_program,
        "function map(first, last) return last - first end\n",
        "function map(a, b) while true do end end\n",
        "function map(a, b) return string.rep('x', 1000) end\n",
        "function map() return 1 end\nfunction reduce(a, b) error('no') end\n"
        "function finish(r, c) return setmetatable({}, {__index = function() return 1 end}) "
        "end\n",
        "function map() local t = {} t[1] = t return t end\n",
        "function map() return 0/0 end\nfunction finish(r, c) return 1/0 end\n",
        "function map() return {[1] = 1, [3] = 3} end\nfunction reduce(a, b) return {a, b} end\n",
        "map = 5\n",
        "function map() return function() end end\nfunction reduce(a, b) return a.x.y end\n",
        "local s = '' for i = 1, 1e9 do s = s .. i end\nfunction map() return 1 end\n",
        lua_hijacking_program,
        "function map(a, b, job) return job.seed + job.first + job.last end\n"
        "function reduce(a, b) return #a + #b end\nfunction finish(r, c) return r[1][2] end\n",
    };
}

} // namespace

namespace {

jobs::worker_config reproducer_worker() {
    jobs::worker_config limits;
    limits.name = "w0";
    return limits;
}

/// Inputs that once stopped a node, checked on every run: a split of a chunk with one sample
/// left (it was cut empty), a hand-set next_chunk of 2^64 - 1 (ids wrapped), an answer with a
/// field of the wrong type (nlohmann threw), and a program that makes the loader's description
/// of it lie (nlohmann threw).
void check_regressions() {
    actors::actor_record record;
    record.name = "job-1";
    record.module = "reef.job";
    const json args = {{"kernel", "pi"}, {"seed", 1}, {"begin", 0}, {"end", 1}, {"chunk_min", 1}};
    const json fresh = jobs::coordinate(record, true, "client:01", args, {1000, 1})->state;
    for (const bool wrapped : {false, true}) {
        record.state = fresh;
        if (wrapped) {
            record.state["next_chunk"] = std::numeric_limits<std::uint64_t>::max();
        }
        for (const char* worker : {"a", "b"}) {
            const json claim = {{"claim", {{"worker", worker}}}};
            auto out = jobs::coordinate(record, false, worker, claim, {1000, 1});
            REEF_FUZZ_CHECK(out.ok() == !wrapped); // a wrapped state is refused
            if (out.ok()) {
                record.state = out->state;
            }
        }
    }
    const jobs::kernel_registry kernels;
    jobs::worker core(reproducer_worker(), kernels);
    core.on_tick(instant::from_ns(0));
    const auto asked = std::get<jobs::ask>(core.take_effects().front());
    core.on_answer(instant::from_ns(0), asked.token, json{{"ok", json::array({1})}});
    core.check_invariants();
    auto hijacked = jobs::lua_job::load(lua_hijacking_program, 1, 0, 1);
    REEF_FUZZ_CHECK(!hijacked.ok());
}

} // namespace

std::vector<bytes> seed_corpus() {
    check_regressions();
    std::vector<bytes> corpus = session_seeds(session::coordinator, 16, 320);
    for (auto& seed : session_seeds(session::worker, 12, 200)) {
        corpus.push_back(std::move(seed));
    }
    for (const auto* text : {exec_program, R"(["sh","-c","echo {start} {end}"])", "[\"\"]",
                             "[1]", "[]", "\"printf\"", "aGVsbG8gd29ybGQ=", "YQ==", "YWI=",
                             "Y=Q=", "====", "A"}) {
        corpus.push_back(as_bytes(session::command, "", text));
    }
    const std::string calls(24, '\x05');
    for (const auto& program : lua_seed_programs()) {
        corpus.push_back(as_bytes(session::lua, calls, program));
    }
    return corpus;
}

namespace {

std::string describe(const counters& seen) {
    auto n = [](std::uint64_t value) { return std::to_string(value); };
    return "jobs: spawned pi/lua/exec/other " + n(seen.spawned[0]) + "/" + n(seen.spawned[1]) +
           "/" + n(seen.spawned[2]) + "/" + n(seen.spawned[3]) + " (" + n(seen.spawns_refused) +
           " refused); messages " + n(seen.accepted) + " accepted (" +
           n(seen.hostile_accepted) + " mutated), " + n(seen.refused) +
           " refused; done pi/lua/exec " + n(seen.finished[0]) + "/" + n(seen.finished[1]) + "/" +
           n(seen.finished[2]) + ", " + n(seen.failed) + " failed; hand-set states " +
           n(seen.hand_set_accepted) + " accepted, " + n(seen.hand_set_refused) + " refused; worker " +
           n(seen.worker_inputs) + " inputs, " + n(seen.grants) + " grants, " +
           n(seen.runs_started) + " runs, " + n(seen.pages_stored) + " pages, " +
           n(seen.dones_accepted) + " dones; " + n(seen.commands_parsed) + " commands and " +
           n(seen.base64_decoded) + " base64 texts decoded; Lua " + n(seen.lua_loaded) +
           " loaded, calls " + n(seen.lua_calls_ok) + " ok, " + n(seen.lua_calls_refused) +
           " refused";
}

std::string escapes_text() {
    std::string text;
    for (const auto& [where, seen] : escapes()) {
        text += "\n  exceptions escaping " + where + ": " + std::to_string(seen.second) +
                " (first: " + seen.first + ")";
    }
    return text;
}

} // namespace

std::size_t default_iterations() { return 10000; }

std::string summary(std::uint64_t iterations) {
    const counters& seen = stats();
    const std::string text = describe(seen) + escapes_text();
    // A harness whose jobs never spawn or never finish, or whose workers never run anything,
    // tests only the refusals.
    const bool reached = seen.accepted > iterations && seen.hostile_accepted > 0 &&
                         seen.hand_set_accepted > 0 && seen.finished[0] > 0 &&
                         seen.finished[kernel_lua] > 0 && seen.finished[kernel_exec] > 0 &&
                         seen.runs_started > 0 && seen.dones_accepted > 0 &&
                         seen.pages_stored > 0 && seen.lua_loaded > 0 && seen.lua_calls_ok > 0;
    if (iterations >= 5000 && !reached) {
        std::fprintf(stderr, "%s\n", text.c_str());
    }
    REEF_FUZZ_CHECK(iterations < 5000 || reached);
    return text;
}

} // namespace reef::fuzz
