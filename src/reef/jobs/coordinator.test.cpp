#include "reef/jobs/coordinator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "reef/jobs/kernels.hpp"

namespace reef::jobs {
namespace {

constexpr std::uint64_t seed = 42;

/// One job actor, driven by calling the handler directly on a record the test keeps.
class job_actor {
public:
    explicit job_actor(json args, std::string program = "") {
        record_.name = "job-1";
        record_.module = std::string(coordinator_kind);
        record_.program = std::move(program);
        record_.args = args;
        auto made = coordinate(record_, true, "client:test", args, {now_ms, 1});
        EXPECT_TRUE(made.ok()) << (made.ok() ? "" : made.failure().describe());
        if (made.ok()) {
            record_.state = made->state;
        }
    }

    /// The reply, or the refusal; the state changes only when the message is accepted.
    result<json> send(const json& body) {
        auto out = coordinate(record_, false, "client:test", body, {now_ms, 1});
        if (!out.ok()) {
            return out.failure();
        }
        EXPECT_LE(actors::json_text(out->state).size(), actors::record_limits{}.state_size_max);
        EXPECT_LE(actors::json_text(out->reply).size(), actors::record_limits{}.message_size_max);
        record_.state = out->state;
        return out->reply;
    }
    json ok(const json& body) {
        auto reply = send(body);
        EXPECT_TRUE(reply.ok()) << body.dump() << ": " << reply.failure().describe();
        return reply.ok() ? *reply : json();
    }

    json claim(const std::string& worker, double speed = 0.0) {
        return ok({{"claim", {{"worker", worker}, {"cores", 4}, {"speed", speed}}}});
    }
    json progress(std::uint64_t chunk, const std::string& worker, std::uint64_t through,
                  double partial) {
        return ok({{"progress", {{"chunk", chunk}, {"worker", worker}, {"through", through},
                                 {"partial", partial}}}});
    }
    json done(std::uint64_t chunk, const std::string& worker, std::uint64_t through,
              double partial) {
        return ok({{"done", {{"chunk", chunk}, {"worker", worker}, {"through", through},
                             {"partial", partial}}}});
    }

    const json& state() const { return record_.state; }
    const actors::actor_record& record() const { return record_; }
    actors::actor_record& record() { return record_; }

    std::uint64_t now_ms = 1'000'000;

private:
    actors::actor_record record_;
};

/// The refusal of a job's init, or "" when it is accepted.
std::string init_error(const json& spawn_args, const std::string& program) {
    actors::actor_record record;
    record.name = "job-e";
    record.module = std::string(coordinator_kind);
    record.program = program;
    auto made = coordinate(record, true, "client:test", spawn_args, {1, 1});
    return made.ok() ? "" : made.failure().message;
}

json args(std::uint64_t begin, std::uint64_t end, std::uint64_t chunk_min) {
    return {{"kernel", "pi"}, {"seed", seed}, {"begin", begin}, {"end", end},
            {"chunk_min", chunk_min}};
}

/// A worker as the coordinator sees it: claims, computes `step` samples per round of 100 ms,
/// reports each round, and says done at its chunk's end.
struct sim_worker {
    std::string name;
    std::uint64_t step = 50'000;
    bool alive = true;
    bool holding = false;
    std::uint64_t chunk = 0;
    std::uint64_t run_begin = 0;
    std::uint64_t through = 0;
    std::uint64_t end = 0;
    double base = 0.0;

    double partial() const {
        return base + static_cast<double>(pi_hits(seed, run_begin, through));
    }
};

struct sim_result {
    std::set<std::uint64_t> accepted; // chunks whose done was accepted
    std::size_t rounds = 0;
};

/// Runs rounds until the job is done (or `rounds_max`), every live worker taking one action.
sim_result simulate(job_actor& job, std::vector<sim_worker>& workers,
                    std::size_t rounds_max = 10'000) {
    sim_result out;
    for (; out.rounds < rounds_max && job.state()["status"] == "running"; ++out.rounds) {
        job.now_ms += 100;
        for (auto& w : workers) {
            if (!w.alive) {
                continue;
            }
            if (!w.holding) {
                const json reply = job.claim(w.name, static_cast<double>(w.step) * 10.0);
                if (reply.contains("chunk")) {
                    w.holding = true;
                    w.chunk = reply["chunk"];
                    w.run_begin = reply["begin"];
                    w.through = w.run_begin;
                    w.end = reply["end"];
                    w.base = reply["partial"].is_null() ? 0.0 : reply["partial"].get<double>();
                }
                continue;
            }
            w.through = std::min(w.end, w.through + w.step);
            if (w.through < w.end) {
                const json reply = job.progress(w.chunk, w.name, w.through, w.partial());
                if (reply.value("abandon", false)) {
                    w.holding = false;
                } else {
                    w.end = std::min<std::uint64_t>(w.end, reply["end"]);
                    EXPECT_LE(w.through, w.end);
                }
                continue;
            }
            const json reply = job.done(w.chunk, w.name, w.through, w.partial());
            if (reply.value("accepted", false)) {
                EXPECT_TRUE(out.accepted.insert(w.chunk).second) << "chunk counted twice";
            }
            w.holding = false;
        }
    }
    return out;
}

void expect_exact(const json& state, std::uint64_t begin, std::uint64_t end) {
    const std::uint64_t hits = pi_hits(seed, begin, end);
    EXPECT_EQ(state["status"], "done");
    EXPECT_EQ(state["result"].get<double>(), static_cast<double>(hits));
    EXPECT_EQ(state["samples_done"], end - begin);
    EXPECT_EQ(state["value"].get<double>(), pi_estimate(hits, end - begin));
    EXPECT_EQ(state["finished_twice"], 0);
    EXPECT_TRUE(state["chunks"].empty());
}

TEST(coordinator, init_takes_args_and_defaults) {
    job_actor job({{"kernel", "pi"}, {"seed", 7}, {"begin", 10}, {"end", 5'000'000}});
    const json& state = job.state();
    EXPECT_EQ(state["status"], "running");
    EXPECT_EQ(state["next"], 10);
    EXPECT_EQ(state["result"], json());
    EXPECT_EQ(state["limits"]["chunk_seconds"].get<double>(), 2.0);
    EXPECT_EQ(state["limits"]["lease_ms"], 3000);
    EXPECT_EQ(state["limits"]["chunk_min"], 1'000'000);
    EXPECT_EQ(state["started_ms"], job.now_ms);
    EXPECT_FALSE(state.contains("value"));
}

TEST(coordinator, new_chunks_shrink_towards_the_end) {
    job_actor job(args(0, 100'000'000, 1'000));
    // Two workers of 4 slots each, fast enough for the whole range in one chunk: each chunk is
    // at most half of an equal share of what is left.
    const json first = job.claim("a", 1e9);
    EXPECT_EQ(first["end"].get<std::uint64_t>(), 100'000'000 / 8);
    const json second = job.claim("b", 1e9);
    const std::uint64_t left = 100'000'000 - first["end"].get<std::uint64_t>();
    EXPECT_EQ(second["end"].get<std::uint64_t>() - second["begin"].get<std::uint64_t>(),
              left / 16);
    EXPECT_EQ(job.state()["limits"]["guided"], true);
    EXPECT_NE(init_error({{"kernel", "pi"}, {"seed", 1}, {"begin", 0}, {"end", 9},
                          {"guided", 1}},
                         "")
                  .find("guided must be"),
              std::string::npos);
}

TEST(coordinator, checkpoints_measure_the_holders_speed) {
    job_actor job(args(0, 10'000'000, 1'000'000));
    ASSERT_EQ(job.claim("a", 1'000.0)["end"], 1'000'000); // a speed from tiny runs: too low
    job.now_ms += 500;
    job.progress(0, "a", 50'000, pi_hits(seed, 0, 50'000));
    EXPECT_EQ(job.state()["workers"]["a"]["speed"].get<double>(), 100'000.0);
    job.now_ms += 1'000;
    job.progress(0, "a", 250'000, pi_hits(seed, 0, 250'000));
    EXPECT_EQ(job.state()["workers"]["a"]["speed"].get<double>(), 200'000.0);
}

class lifecycle : public testing::TestWithParam<int> {};

TEST_P(lifecycle, any_number_of_workers_gives_the_exact_hits) {
    constexpr std::uint64_t begin = 1'000;
    constexpr std::uint64_t end = 3'001'000;
    json spec = args(begin, end, 100'000);
    spec["chunk_seconds"] = 10.0; // long chunks, so the idle ones split the last of them
    spec["guided"] = false;
    job_actor job(spec);
    std::vector<sim_worker> workers;
    for (int index = 0; index < GetParam(); ++index) {
        // Different speeds, so chunks differ in size and the tail gets split.
        workers.push_back(sim_worker{"w" + std::to_string(index),
                                     20'000 + 15'000 * static_cast<std::uint64_t>(index)});
    }
    const sim_result ran = simulate(job, workers);
    EXPECT_EQ(ran.accepted.size(), job.state()["next_chunk"]);
    expect_exact(job.state(), begin, end);
    EXPECT_EQ(job.state()["reassigned"], 0);
    EXPECT_EQ(job.state()["reassigned_samples"], 0);
    EXPECT_EQ(job.state()["finished_ms"], job.now_ms);
    if (GetParam() > 1) {
        EXPECT_GT(job.state()["workers"].size(), 1U);
        EXPECT_GT(job.state()["split"], 0); // idle workers took halves of the last chunks
    }
    // Once over, claims are told so.
    EXPECT_EQ(job.claim("late"), (json{{"finished", true}, {"status", "done"}}));
}

INSTANTIATE_TEST_SUITE_P(workers, lifecycle, testing::Values(1, 2, 4));

TEST(coordinator, a_dead_worker_loses_only_its_unsaved_tail) {
    constexpr std::uint64_t end = 2'000'000;
    job_actor job(args(0, end, 100'000));
    // "dead" takes the first chunk, checkpoints 40,000 samples once and is never heard again.
    const json first = job.claim("dead");
    ASSERT_EQ(first["chunk"], 0);
    ASSERT_EQ(first["end"], 100'000);
    job.now_ms += 100;
    EXPECT_EQ(job.progress(0, "dead", 40'000, pi_hits(seed, 0, 40'000))["end"], 100'000);

    std::vector<sim_worker> workers{sim_worker{"alive", 30'000}};
    bool took_over = false;
    for (int round = 0; round < 10'000 && job.state()["status"] == "running"; ++round) {
        const json before = job.state();
        simulate(job, workers, 1);
        if (!took_over && workers[0].holding && workers[0].chunk == 0) {
            took_over = true;
            // Taken over from the checkpoint, with the checkpoint's hits, after the lease.
            EXPECT_EQ(workers[0].run_begin, 40'000U);
            EXPECT_EQ(workers[0].base, static_cast<double>(pi_hits(seed, 0, 40'000)));
            EXPECT_GE(job.now_ms, 1'000'100U + 3'000U);
            const json& lost = before["chunks"][0];
            EXPECT_EQ(job.state()["reassigned"], 1);
            EXPECT_EQ(job.state()["reassigned_samples"],
                      lost["end"].get<std::uint64_t>() - 40'000U);
            EXPECT_LE(job.state()["reassigned_samples"], 60'000U);
        }
    }
    EXPECT_TRUE(took_over);
    expect_exact(job.state(), 0, end);
}

TEST(coordinator, a_stalled_worker_that_returns_is_told_to_abandon) {
    job_actor job(args(0, 1'000'000, 100'000));
    ASSERT_EQ(job.claim("slow")["chunk"], 0);
    job.now_ms += 500;
    job.progress(0, "slow", 30'000, pi_hits(seed, 0, 30'000));
    job.now_ms += 3'001;
    const json taken = job.claim("fast");
    ASSERT_EQ(taken["chunk"], 0);
    EXPECT_EQ(taken["begin"], 30'000);
    EXPECT_EQ(job.state()["reassigned_samples"], 70'000);
    EXPECT_EQ(job.progress(0, "slow", 60'000, pi_hits(seed, 0, 60'000)),
              (json{{"abandon", true}}));
    EXPECT_EQ(job.done(0, "slow", 100'000, pi_hits(seed, 0, 100'000)),
              (json{{"accepted", false}, {"reason", "reassigned"}}));
    EXPECT_EQ(job.done(0, "fast", 100'000, pi_hits(seed, 0, 100'000))["accepted"], true);
    EXPECT_EQ(job.state()["result"].get<double>(),
              static_cast<double>(pi_hits(seed, 0, 100'000)));
}

TEST(coordinator, a_second_done_is_ignored) {
    job_actor job(args(0, 200'000, 100'000));
    ASSERT_EQ(job.claim("a")["chunk"], 0);
    const double hits = static_cast<double>(pi_hits(seed, 0, 100'000));
    EXPECT_EQ(job.done(0, "a", 100'000, hits)["accepted"], true);
    EXPECT_EQ(job.done(0, "a", 100'000, hits),
              (json{{"accepted", false}, {"reason", "finished"}}));
    EXPECT_EQ(job.state()["result"].get<double>(), hits);
    EXPECT_EQ(job.state()["samples_done"], 100'000);
    EXPECT_EQ(job.state()["duplicates"], 1);
    EXPECT_EQ(job.state()["finished_twice"], 0);
    // A progress report for it is answered with abandon, and changes nothing.
    EXPECT_EQ(job.progress(0, "a", 50'000, 1.0), (json{{"abandon", true}}));
    EXPECT_EQ(job.state()["samples_done"], 100'000);
}

TEST(coordinator, a_straggler_is_split_and_told_its_new_end) {
    json spec = args(0, 1'000'000, 100'000);
    spec["chunk_seconds"] = 20.0;
    spec["guided"] = false; // one large chunk, to split
    job_actor job(spec);
    const json whole = job.claim("big", 100'000.0); // 20 s at 100k/s covers the whole range
    ASSERT_EQ(whole["end"], 1'000'000);
    job.now_ms += 1'000;
    job.progress(0, "big", 100'000, pi_hits(seed, 0, 100'000));
    // Right after a checkpoint "big" may be up to a second (100k) further; half of the rest
    // is further still, so that is where the cut goes.
    const json half = job.claim("idle");
    EXPECT_EQ(half["chunk"], 1);
    EXPECT_EQ(half["begin"], 550'000);
    EXPECT_EQ(half["end"], 1'000'000);
    EXPECT_EQ(half["partial"], json());
    EXPECT_EQ(job.state()["split"], 1);
    job.now_ms += 500;
    EXPECT_EQ(job.progress(0, "big", 150'000, pi_hits(seed, 0, 150'000)),
              (json{{"end", 550'000}}));
    EXPECT_EQ(job.done(0, "big", 550'000, pi_hits(seed, 0, 550'000))["accepted"], true);
    EXPECT_EQ(job.done(1, "idle", 1'000'000, pi_hits(seed, 550'000, 1'000'000))["accepted"],
              true);
    expect_exact(job.state(), 0, 1'000'000);
}

TEST(coordinator, a_worker_past_its_lowered_end_hands_the_chunk_back) {
    json spec = args(0, 1'000'000, 100'000);
    spec["chunk_seconds"] = 20.0;
    spec["guided"] = false; // one large chunk, to split
    job_actor job(spec);
    job.claim("big", 100'000.0);
    job.now_ms += 1'000;
    job.progress(0, "big", 100'000, pi_hits(seed, 0, 100'000));
    ASSERT_EQ(job.claim("idle")["begin"], 550'000);
    // "big" was faster than it said and is already past the cut.
    EXPECT_EQ(job.progress(0, "big", 600'000, pi_hits(seed, 0, 600'000)),
              (json{{"abandon", true}}));
    // The chunk goes to the next claim from its last usable checkpoint.
    const json again = job.claim("other");
    EXPECT_EQ(again["chunk"], 0);
    EXPECT_EQ(again["begin"], 100'000);
    EXPECT_EQ(again["end"], 550'000);
    EXPECT_EQ(again["partial"].get<double>(), static_cast<double>(pi_hits(seed, 0, 100'000)));
    EXPECT_EQ(job.state()["reassigned_samples"], 450'000);
    EXPECT_EQ(job.done(0, "other", 550'000, pi_hits(seed, 0, 550'000))["accepted"], true);
    EXPECT_EQ(job.done(1, "idle", 1'000'000, pi_hits(seed, 550'000, 1'000'000))["accepted"],
              true);
    expect_exact(job.state(), 0, 1'000'000);
}

TEST(coordinator, an_early_done_keeps_its_checkpoint_and_frees_the_rest) {
    job_actor job(args(0, 300'000, 100'000));
    job.claim("a");
    EXPECT_EQ(job.done(0, "a", 70'000, pi_hits(seed, 0, 70'000)),
              (json{{"accepted", false}, {"reason", "short"}}));
    const json rest = job.claim("b");
    EXPECT_EQ(rest["chunk"], 0);
    EXPECT_EQ(rest["begin"], 70'000);
}

TEST(coordinator, claims_wait_when_nothing_is_left_to_give) {
    job_actor job(args(0, 100'000, 200'000));
    EXPECT_EQ(job.claim("a")["end"], 100'000);
    EXPECT_EQ(job.claim("b"), (json{{"wait", true}})); // too small to split
}

TEST(coordinator, cancel_ends_the_job) {
    job_actor job(args(0, 1'000'000, 100'000));
    job.claim("a");
    EXPECT_EQ(job.ok({{"cancel", true}}), (json{{"cancelled", true}, {"status", "cancelled"}}));
    EXPECT_EQ(job.state()["status"], "cancelled");
    EXPECT_TRUE(job.state()["chunks"].empty());
    EXPECT_EQ(job.state()["finished_ms"], job.now_ms);
    EXPECT_EQ(job.claim("b"), (json{{"finished", true}, {"status", "cancelled"}}));
    EXPECT_EQ(job.progress(0, "a", 10, 5.0), (json{{"abandon", true}}));
    EXPECT_EQ(job.done(0, "a", 100'000, 5.0),
              (json{{"accepted", false}, {"reason", "cancelled"}}));
    EXPECT_EQ(job.ok({{"cancel", true}}), (json{{"cancelled", false}, {"status", "cancelled"}}));
    EXPECT_FALSE(job.state().contains("value"));
}

TEST(coordinator, bad_args_are_refused_with_reasons) {
    const actors::actor_record record;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"([])", "object"},
        {R"({"seed": 1, "begin": 0, "end": 10})", "kernel"},
        {R"({"kernel": "", "seed": 1, "begin": 0, "end": 10})", "kernel"},
        {R"({"kernel": "pi", "seed": -1, "begin": 0, "end": 10})", "seed"},
        {R"({"kernel": "pi", "seed": "1", "begin": 0, "end": 10})", "seed"},
        {R"({"kernel": "pi", "seed": 1, "begin": 10, "end": 10})", "begin must be below"},
        {R"({"kernel": "pi", "seed": 1, "begin": 0, "end": 1.5})", "end"},
        {R"({"kernel": "pi", "seed": 1, "begin": 0, "end": 10, "lease_ms": 0})", "lease_ms"},
        {R"({"kernel": "pi", "seed": 1, "begin": 0, "end": 10, "chunk_seconds": 0})",
         "chunk_seconds"},
        {R"({"kernel": "pi", "seed": 1, "begin": 0, "end": 10, "chunk_min": 0})", "chunk_min"},
    };
    for (const auto& [text, mentions] : cases) {
        const json bad = json::parse(text);
        auto made = coordinate(record, true, "client:x", bad, {});
        ASSERT_FALSE(made.ok()) << bad.dump();
        EXPECT_EQ(made.failure().code, errc::invalid_argument);
        EXPECT_NE(made.failure().message.find(mentions), std::string::npos)
            << made.failure().message;
    }
}

TEST(coordinator, malformed_messages_are_refused_and_change_nothing) {
    job_actor job(args(0, 1'000'000, 100'000));
    job.claim("a");
    const json before = job.state();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"("claim")", "one object"},
        {R"({})", "one object"},
        {R"({"claim": {"worker": "a"}, "cancel": true})", "one object"},
        {R"({"steal": true})", "unknown job message \"steal\""},
        {R"({"claim": {"cores": 2}})", "worker"},
        {R"({"claim": {"worker": "a", "cores": 0}})", "cores"},
        {R"({"claim": {"worker": "a", "speed": -1.0}})", "speed"},
        {R"({"claim": {"worker": ")" + std::string(65, 'a') + R"("}})", "worker"},
        {R"({"progress": {"chunk": 0, "worker": "a", "through": "5", "partial": 1}})",
         "through"},
        {R"({"progress": {"chunk": 0, "worker": "a", "through": 5}})", "partial"},
        {R"({"progress": {"chunk": 0, "worker": "a", "through": 50, "partial": 1.5}})",
         "whole number"},
        {R"({"progress": {"chunk": 0, "worker": "a", "through": 50, "partial": 51}})",
         "whole number"},
        {R"({"progress": {"chunk": 0, "worker": "a", "through": 50, "partial": -1}})",
         "whole number"},
        {R"({"done": {"chunk": 9, "worker": "a", "through": 50, "partial": 1}})", "no chunk 9"},
        {R"({"cancel": false})", "cancel"},
    };
    for (const auto& [text, mentions] : cases) {
        const json bad = json::parse(text);
        auto reply = job.send(bad);
        ASSERT_FALSE(reply.ok()) << bad.dump();
        EXPECT_EQ(reply.failure().code, errc::invalid_argument);
        EXPECT_NE(reply.failure().message.find(mentions), std::string::npos)
            << bad.dump() << " -> " << reply.failure().message;
    }
    EXPECT_EQ(job.state(), before);
}

TEST(coordinator, a_state_broken_by_hand_is_refused) {
    job_actor job(args(0, 1'000'000, 100'000));
    job.claim("a");
    job.record().state["next"] = 50'000; // the chunk [0, 100000) now reaches past next
    auto reply = job.send({{"claim", {{"worker", "b"}}}});
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.failure().code, errc::failed_precondition);
    job.record().state = json::array();
    EXPECT_EQ(job.send({{"cancel", true}}).failure().code, errc::failed_precondition);
}

TEST(coordinator, the_state_stays_bounded_when_chunks_fill_up) {
    // Huge numbers and the longest worker names: the worst case for the state's size.
    constexpr std::uint64_t begin = 1ULL << 62U;
    job_actor job(args(begin, begin + (1ULL << 61U), 1));
    std::size_t granted = 0;
    std::size_t waited = 0;
    for (std::size_t index = 0; index < 3 * coordinator_limits::chunks_max; ++index) {
        std::string name(64, 'f');
        name.replace(0, std::to_string(index).size(), std::to_string(index));
        // A huge speed makes every chunk's end a long number too.
        const json reply = job.claim(name, 1e12 + static_cast<double>(index));
        reply.contains("chunk") ? ++granted : ++waited;
        if (reply.contains("chunk")) {
            const std::uint64_t id = reply["chunk"];
            const std::uint64_t from = reply["begin"];
            // Big checkpoints make the numbers as long as they get.
            job.progress(id, name, from + 999'999'999'999ULL, 987'654'321'098.0);
        }
    }
    EXPECT_GT(granted, 0U);
    EXPECT_GT(waited, 0U);
    EXPECT_LE(job.state()["chunks"].size(), coordinator_limits::chunks_max);
    EXPECT_LE(job.state()["workers"].size(), coordinator_limits::workers_max);
    EXPECT_LE(actors::json_text(job.state()).size(), actors::record_limits{}.state_size_max);
}

TEST(coordinator, at_most_chunks_max_chunks_are_active) {
    job_actor job(args(0, 1'000'000'000, 1'000));
    for (std::size_t index = 0; index < coordinator_limits::chunks_max; ++index) {
        ASSERT_TRUE(job.claim("w" + std::to_string(index % 8)).contains("chunk")) << index;
    }
    EXPECT_EQ(job.state()["chunks"].size(), coordinator_limits::chunks_max);
    EXPECT_EQ(job.claim("more"), (json{{"wait", true}}));
    EXPECT_LE(actors::json_text(job.state()).size(), coordinator_limits::state_budget_bytes);
    // An expired chunk is still handed out when the list is full.
    job.now_ms += 3'001;
    EXPECT_EQ(job.claim("more")["chunk"], 0);
}

TEST(coordinator, registers_as_a_native_kind) {
    actors::actor_table table({}, [](const std::string&, std::string_view) {});
    register_coordinator(table);
    SUCCEED();
}

json lua_args(std::uint64_t begin, std::uint64_t end, std::uint64_t job_seed = 1) {
    return {{"kernel", "lua"}, {"seed", job_seed}, {"begin", begin}, {"end", end}};
}

constexpr const char* best_of = R"lua(
function map(first, last) return { n = last - 1, score = (last - 1) % 7 } end
function reduce(a, b)
  if a.score > b.score or (a.score == b.score and a.n < b.n) then return a end
  return b
end
function finish(best, count) return { best = best, count = count } end
)lua";

TEST(coordinator, a_lua_job_needs_a_program_that_loads) {
    EXPECT_EQ(init_error(lua_args(0, 10), best_of), "");
    EXPECT_NE(init_error(lua_args(0, 10), "").find("needs its program"), std::string::npos);
    EXPECT_NE(init_error(lua_args(0, 10), "function map(").find("does not load"),
              std::string::npos);
    EXPECT_NE(init_error(lua_args(0, 10), "y = 2").find("defines no function map"),
              std::string::npos);
    EXPECT_NE(init_error(lua_args(0, 10, ~std::uint64_t{0}), best_of).find("below 2^63"),
              std::string::npos);
    EXPECT_NE(init_error(args(0, 10, 1), best_of).find("only Lua and command jobs"),
              std::string::npos);
}

TEST(coordinator, a_lua_job_reduces_table_partials_and_finishes) {
    json spec = lua_args(0, 20);
    spec["guided"] = false;
    job_actor job(spec, best_of);
    EXPECT_EQ(job.state()["limits"]["chunk_min"], 1); // a Lua sample may take long
    const json first = job.claim("a");
    EXPECT_EQ(first["end"], 1);
    EXPECT_EQ(first["job_begin"], 0);
    EXPECT_EQ(first["job_end"], 20);
    // Speed 5/s: chunks of 10 samples; the partials are what map would give.
    const json second = job.claim("b", 5.0);
    ASSERT_EQ(second["begin"], 1);
    ASSERT_EQ(second["end"], 11);
    const json third = job.claim("c", 5.0);
    ASSERT_EQ(third["end"], 20);
    const auto partial_of = [](std::uint64_t last) {
        return json{{"n", last - 1}, {"score", (last - 1) % 7}};
    };
    auto report = [&](std::uint64_t chunk, const char* worker, std::uint64_t through,
                      const json& partial) {
        return job.ok({{"done", {{"chunk", chunk}, {"worker", worker}, {"through", through},
                                 {"partial", partial}}}});
    };
    EXPECT_EQ(report(2, "c", 20, partial_of(20))["accepted"], true);
    EXPECT_EQ(job.state()["result"], partial_of(20)); // 19 % 7 == 5
    EXPECT_EQ(report(0, "a", 1, partial_of(1))["accepted"], true);
    EXPECT_EQ(report(1, "b", 11, partial_of(11))["accepted"], true); // 10 % 7 == 3
    EXPECT_EQ(job.state()["status"], "done");
    EXPECT_EQ(job.state()["value"], (json{{"best", partial_of(20)}, {"count", 20}}));
    // A partial that is not small is refused, whatever its kernel.
    job_actor big(lua_args(0, 20), best_of);
    ASSERT_EQ(big.claim("a")["chunk"], 0);
    EXPECT_FALSE(big.send({{"done", {{"chunk", 0}, {"worker", "a"}, {"through", 1},
                                     {"partial", std::string(400, 'x')}}}})
                     .ok());
}

TEST(coordinator, a_failing_program_fails_the_job_with_its_error) {
    job_actor job(lua_args(0, 100), best_of);
    ASSERT_EQ(job.claim("a")["chunk"], 0);
    // Only the chunk's holder may fail it.
    EXPECT_EQ(job.ok({{"fail", {{"chunk", 0}, {"worker", "b"}, {"error", "x"}}}}),
              (json{{"accepted", false}, {"reason", "reassigned"}}));
    EXPECT_FALSE(job.send({{"fail", {{"chunk", 0}, {"worker", "a"}}}}).ok());
    EXPECT_EQ(job.ok({{"fail", {{"chunk", 0}, {"worker", "a"}, {"error", "map: boom"}}}})
                  ["accepted"],
              true);
    EXPECT_EQ(job.state()["status"], "failed");
    EXPECT_NE(job.state()["error"].get<std::string>().find("map: boom"), std::string::npos);
    EXPECT_EQ(job.claim("b"), (json{{"finished", true}, {"status", "failed"}}));
    // A reduce that raises fails the job too.
    job_actor broken(lua_args(0, 2), "function map() return 1 end\n"
                                     "function reduce(a, b) error('no reduce today') end");
    ASSERT_EQ(broken.claim("a")["chunk"], 0);
    ASSERT_EQ(broken.claim("b", 1.0)["chunk"], 1);
    EXPECT_EQ(broken.done(0, "a", 1, 1)["accepted"], true);
    EXPECT_EQ(broken.done(1, "b", 2, 1), (json{{"accepted", false}, {"reason", "failed"}}));
    EXPECT_EQ(broken.state()["status"], "failed");
    EXPECT_NE(broken.state()["error"].get<std::string>().find("no reduce today"),
              std::string::npos);
}

json exec_args(std::uint64_t begin, std::uint64_t end, std::uint64_t chunks) {
    return {{"kernel", "exec"}, {"seed", 1}, {"begin", begin}, {"end", end}, {"chunks", chunks}};
}

constexpr const char* printf_command = R"(["printf", "%s-%s\n", "{start}", "{end}"])";

TEST(coordinator, a_command_job_needs_a_command_and_a_chunk_count) {
    EXPECT_EQ(init_error(exec_args(0, 10, 5), printf_command), "");
    EXPECT_NE(init_error(exec_args(0, 10, 5), "printf").find("JSON array"), std::string::npos);
    EXPECT_NE(init_error(exec_args(0, 10, 5), "[]").find("JSON array"), std::string::npos);
    EXPECT_NE(init_error(exec_args(0, 10, 5), R"([""])").find("empty"), std::string::npos);
    EXPECT_NE(init_error(exec_args(0, 10, 5), R"(["a", 1])").find("string"), std::string::npos);
    json no_chunks = exec_args(0, 10, 5);
    no_chunks.erase("chunks");
    EXPECT_NE(init_error(no_chunks, printf_command).find("needs \"chunks\""),
              std::string::npos);
    EXPECT_NE(init_error(exec_args(0, 10, 11), printf_command).find("chunks must be"),
              std::string::npos);
    EXPECT_NE(init_error(exec_args(0, 1000, 65), printf_command).find("chunks must be"),
              std::string::npos);
}

TEST(coordinator, command_chunks_are_fixed_and_each_attempt_names_its_pages) {
    job_actor job(exec_args(0, 10, 4), printf_command);
    // Four chunks of ceil(10 / 4) = 3, whatever the speed, in range order; never split.
    std::vector<json> grants;
    for (const char* worker : {"a", "b", "c", "d"}) {
        grants.push_back(job.claim(worker, 1e9));
    }
    EXPECT_EQ(grants[0]["begin"], 0);
    EXPECT_EQ(grants[0]["end"], 3);
    EXPECT_EQ(grants[3]["begin"], 9);
    EXPECT_EQ(grants[3]["end"], 10);
    EXPECT_EQ(job.claim("e"), (json{{"wait", true}}));
    EXPECT_EQ(grants[1]["attempt"], 0);
    // "b" goes silent: its chunk goes to "e" as attempt 1, and b's pages no longer count.
    job.now_ms += 10'000;
    const json again = job.claim("e");
    ASSERT_EQ(again["chunk"], 0); // the lowest expired first
    EXPECT_EQ(again["attempt"], 1);
    const auto output = [](std::uint64_t attempt, std::uint64_t bytes) {
        return json{{"attempt", attempt}, {"pages", bytes > 0 ? 1 : 0}, {"bytes", bytes}};
    };
    const auto done = [&](std::uint64_t chunk, const char* worker, std::uint64_t through,
                          const json& partial) {
        return job.ok({{"done", {{"chunk", chunk}, {"worker", worker}, {"through", through},
                                 {"partial", partial}}}});
    };
    EXPECT_EQ(done(0, "e", 3, output(0, 4)), (json{{"accepted", false}, {"reason", "stale"}}));
    EXPECT_EQ(done(0, "e", 3, output(1, 4))["accepted"], true);
    for (std::uint64_t chunk = 1; chunk < 4; ++chunk) {
        const json taken = job.claim("f");
        ASSERT_EQ(taken["chunk"], chunk);
        EXPECT_EQ(done(chunk, "f", taken["end"], output(1, 5))["accepted"], true);
    }
    EXPECT_EQ(job.state()["status"], "done");
    EXPECT_EQ(job.state()["result"]["0"], (json{1, 1, 4}));
    EXPECT_EQ(job.state()["value"], (json{{"chunks", 4}, {"bytes", 19}}));
    // An output that does not fit its pages is refused.
    job_actor other(exec_args(0, 10, 2), printf_command);
    ASSERT_EQ(other.claim("a")["chunk"], 0);
    EXPECT_FALSE(other.send({{"done", {{"chunk", 0}, {"worker", "a"}, {"through", 5},
                                       {"partial", {{"attempt", 0}, {"pages", 0},
                                                    {"bytes", 10}}}}}})
                     .ok());
}

} // namespace
} // namespace reef::jobs
