#include "reef/jobs/worker.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "reef/base/base64.hpp"
#include "reef/jobs/coordinator.hpp"
#include "reef/jobs/exec_job.hpp"

namespace reef::jobs {
namespace {

constexpr std::uint64_t seed = 5;

/// A run on a fake runner thread: computes `rate` samples per 100 ms step.
struct fake_run {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
    std::uint64_t through = 0;
    std::uint64_t base = 0; // the chunk's hits before `begin`
    bool stopped = false;
    bool finished = false;
};

/// One job actor (the coordinator called directly on a record kept here), a job table listing
/// it, and workers whose effects are executed at once.
class harness {
public:
    harness(json spec, std::size_t workers_count, std::size_t slots) {
        record_.name = "job-1";
        auto made = coordinate(record_, true, "client:x", spec, {now_ms(), 1});
        REEF_ASSERT(made.ok());
        record_.state = made->state;
        for (std::size_t index = 0; index < workers_count; ++index) {
            worker_config limits;
            limits.name = "w" + std::to_string(index);
            limits.slots = slots;
            auto& node = nodes_.emplace_back();
            node.core = std::make_unique<worker>(limits, kernels_);
        }
    }

    std::uint64_t now_ms() const {
        return 1'000'000 + static_cast<std::uint64_t>(now_.ns() / 1'000'000);
    }

    /// The job actor's reply to `body`, as a message from outside.
    json tell(const json& body) {
        auto out = coordinate(record_, false, "client:test", body, {now_ms(), 1});
        REEF_ASSERT(out.ok());
        record_.state = out->state;
        return out->reply;
    }

    /// Advances 100 ms: every unpaused run computes `rate` samples, then every worker ticks.
    void step(std::uint64_t rate = 20'000) {
        now_ = now_ + duration::milliseconds(100);
        for (std::size_t index = 0; index < nodes_.size(); ++index) {
            auto& node = nodes_[index];
            if (node.paused) {
                continue;
            }
            for (auto& [run_id, run] : node.runs) {
                if (run.stopped || run.finished) {
                    continue;
                }
                run.through = std::min(run.end, run.through + rate);
                const json partial = run.base + pi_hits(seed, run.begin, run.through);
                if (run.through == run.end) {
                    run.finished = true;
                    node.core->on_finished(now_, run_id, run.through, partial);
                } else {
                    node.core->on_progress(now_, run_id, run.through, partial);
                }
            }
            node.core->on_tick(now_);
            drain(index);
        }
    }

    void drain(std::size_t index) {
        auto& node = nodes_[index];
        for (std::size_t rounds = 0; rounds < 1000; ++rounds) {
            auto effects = node.core->take_effects();
            if (effects.empty()) {
                return;
            }
            for (auto& done : effects) {
                execute(index, done);
            }
        }
        FAIL() << "effects never stop";
    }

    void execute(std::size_t index, effect& done) {
        auto& node = nodes_[index];
        if (auto* started = std::get_if<start_run>(&done)) {
            EXPECT_EQ(started->kernel, "pi");
            EXPECT_EQ(started->seed, seed);
            const std::uint64_t base =
                started->base.is_null() ? 0 : started->base.get<std::uint64_t>();
            node.runs[started->run_id] =
                fake_run{started->begin, started->end, started->begin, base};
            ++node.started;
        } else if (auto* stopped = std::get_if<stop_run>(&done)) {
            node.runs.at(stopped->run_id).stopped = true;
            ++node.stopped;
        } else if (auto* shortened = std::get_if<shorten_run>(&done)) {
            auto& run = node.runs.at(shortened->run_id);
            EXPECT_LE(shortened->end, run.end);
            if (run.through <= shortened->end) {
                run.end = shortened->end;
            }
            ++node.shortened;
        } else {
            auto& asked = std::get<ask>(done);
            if (node.paused) {
                return; // lost: the worker times it out
            }
            json answer;
            if (asked.actor == job_table_name) {
                EXPECT_EQ(asked.message, (json{{"inspect", true}}));
                answer = {{"ok", true},
                          {"state", {{"jobs", {{"job-1", {{"kernel", "pi"},
                                                          {"status", record_.state["status"]}}},
                                               {"job-2", {{"kernel", "unknown"},
                                                          {"status", "running"}}}}}}}};
            } else {
                EXPECT_EQ(asked.actor, "job-1");
                answer = {{"ok", true}, {"reply", tell(asked.message)}};
            }
            node.core->on_answer(now_, asked.token, answer);
        }
    }

    struct node_state {
        std::unique_ptr<worker> core;
        std::map<std::uint64_t, fake_run> runs;
        bool paused = false;
        std::size_t started = 0;
        std::size_t stopped = 0;
        std::size_t shortened = 0;
    };

    kernel_registry kernels_;
    actors::actor_record record_;
    std::vector<node_state> nodes_;
    instant now_ = instant::from_ns(0);
};

json job_spec(std::uint64_t end, std::uint64_t chunk_min) {
    return {{"kernel", "pi"}, {"seed", seed}, {"begin", 0}, {"end", end},
            {"chunk_min", chunk_min}};
}

void expect_exact(const json& state, std::uint64_t end) {
    EXPECT_EQ(state["status"], "done");
    EXPECT_EQ(state["result"].get<double>(), static_cast<double>(pi_hits(seed, 0, end)));
    EXPECT_EQ(state["finished_twice"], 0);
}

TEST(worker, claims_runs_reports_and_finishes_a_job) {
    harness sim(job_spec(2'000'000, 100'000), 1, 2);
    for (int round = 0; round < 2000 && sim.record_.state["status"] == "running"; ++round) {
        sim.step();
        EXPECT_LE(sim.nodes_[0].core->busy_slots(), 2U);
    }
    expect_exact(sim.record_.state, 2'000'000);
    const auto& core = *sim.nodes_[0].core;
    EXPECT_GT(core.stats().granted, 1U);
    EXPECT_EQ(core.stats().dones_accepted, core.stats().granted);
    EXPECT_GT(core.speed(), 0.0); // 20,000 samples per 100 ms, measured from whole runs
    EXPECT_NEAR(core.speed(), 200'000.0, 100'000.0);
    // The unknown kernel's job is never claimed; with the job over, nothing is in flight.
    for (int round = 0; round < 20; ++round) {
        sim.step();
    }
    EXPECT_EQ(core.runs_tracked(), 0U);
    EXPECT_EQ(core.busy_slots(), 0U);
    EXPECT_EQ(sim.record_.state["workers"].size(), 1U);
    core.check_invariants();
}

TEST(worker, several_workers_share_a_job_exactly) {
    json spec = job_spec(3'000'000, 100'000);
    spec["chunk_seconds"] = 4.0;
    harness sim(spec, 3, 2);
    for (int round = 0; round < 3000 && sim.record_.state["status"] == "running"; ++round) {
        sim.step();
    }
    expect_exact(sim.record_.state, 3'000'000);
    for (const auto& node : sim.nodes_) {
        EXPECT_GT(node.started, 0U);
        node.core->check_invariants();
    }
}

TEST(worker, a_saturated_worker_claims_nothing) {
    json spec = job_spec(10'000'000, 1'000'000);
    harness sim(spec, 1, 1);
    sim.step(1'000);
    sim.step(1'000);
    ASSERT_EQ(sim.nodes_[0].started, 1U);
    const auto claims = sim.nodes_[0].core->stats().claims;
    const auto polls = sim.nodes_[0].core->stats().polls;
    for (int round = 0; round < 30; ++round) {
        sim.step(1'000);
    }
    EXPECT_EQ(sim.nodes_[0].core->stats().claims, claims);
    EXPECT_EQ(sim.nodes_[0].core->stats().polls, polls);
    EXPECT_EQ(sim.nodes_[0].started, 1U);
}

TEST(worker, abandons_a_chunk_given_to_someone_else) {
    harness sim(job_spec(1'000'000, 200'000), 1, 1);
    sim.step(10'000);
    sim.step(10'000);
    ASSERT_EQ(sim.nodes_[0].started, 1U);
    // The worker stalls past its lease; another worker takes its chunk from the checkpoint.
    sim.nodes_[0].paused = true;
    for (int round = 0; round < 40; ++round) {
        sim.step();
    }
    const json taken = sim.tell({{"claim", {{"worker", "other"}}}});
    ASSERT_EQ(taken["chunk"], 0);
    sim.nodes_[0].paused = false;
    for (int round = 0; round < 10 && sim.nodes_[0].stopped == 0; ++round) {
        sim.step(10'000);
    }
    EXPECT_EQ(sim.nodes_[0].stopped, 1U);
    EXPECT_EQ(sim.nodes_[0].core->stats().abandoned, 1U);
    EXPECT_EQ(sim.record_.state["reassigned"], 1);
    // "other" finishes chunk 0 by hand; the worker does the rest.
    const std::uint64_t from = taken["begin"];
    const std::uint64_t to = taken["end"];
    const double hits = (taken["partial"].is_null() ? 0.0 : taken["partial"].get<double>()) +
                        static_cast<double>(pi_hits(seed, from, to));
    EXPECT_EQ(sim.tell({{"done", {{"chunk", 0}, {"worker", "other"}, {"through", to},
                                  {"partial", hits}}}})["accepted"],
              true);
    for (int round = 0; round < 2000 && sim.record_.state["status"] == "running"; ++round) {
        sim.step();
    }
    expect_exact(sim.record_.state, 1'000'000);
}

TEST(worker, shortens_a_run_that_was_split) {
    // The tail is under half of chunk_min, so the one chunk covers the whole range.
    harness sim(job_spec(1'400'000, 1'000'000), 1, 1);
    sim.step(10'000);
    ASSERT_EQ(sim.nodes_[0].started, 1U);
    ASSERT_EQ(sim.nodes_[0].runs.begin()->second.end, 1'400'000U);
    for (int round = 0; round < 6; ++round) {
        sim.step(10'000);
    }
    // An idle worker elsewhere takes the far half of the chunk.
    const json half = sim.tell({{"claim", {{"worker", "other"}}}});
    ASSERT_EQ(half["chunk"], 1);
    const std::uint64_t cut = half["begin"];
    for (int round = 0; round < 10 && sim.nodes_[0].shortened == 0; ++round) {
        sim.step(10'000);
    }
    EXPECT_EQ(sim.nodes_[0].shortened, 1U);
    EXPECT_EQ(sim.nodes_[0].runs.begin()->second.end, cut);
    EXPECT_EQ(sim.nodes_[0].core->stats().shortened, 1U);
    const double hits = static_cast<double>(pi_hits(seed, cut, 1'400'000));
    EXPECT_EQ(sim.tell({{"done", {{"chunk", 1}, {"worker", "other"}, {"through", 1'400'000},
                                  {"partial", hits}}}})["accepted"],
              true);
    for (int round = 0; round < 2000 && sim.record_.state["status"] == "running"; ++round) {
        sim.step(10'000);
    }
    expect_exact(sim.record_.state, 1'400'000);
    EXPECT_EQ(sim.nodes_[0].core->stats().dones_accepted, 1U);
}

TEST(worker, failed_answers_back_off_and_retry) {
    worker_config limits;
    limits.name = "w";
    kernel_registry kernels;
    worker core(limits, kernels);
    instant now = instant::from_ns(0);
    core.on_tick(now);
    auto effects = core.take_effects();
    ASSERT_EQ(effects.size(), 1U);
    const auto inspect = std::get<ask>(effects[0]);
    EXPECT_EQ(inspect.actor, job_table_name);
    core.on_answer(now, inspect.token, make_error(errc::unavailable, "no table yet"));
    EXPECT_TRUE(core.take_effects().empty());
    EXPECT_EQ(core.next_deadline(), now + limits.poll_interval);
    // An ask never answered times out, and a late answer is ignored.
    now = core.next_deadline();
    core.on_tick(now);
    effects = core.take_effects();
    ASSERT_EQ(effects.size(), 1U);
    const auto second = std::get<ask>(effects[0]);
    EXPECT_EQ(core.next_deadline(), now + limits.ask_timeout);
    now = now + limits.ask_timeout;
    core.on_tick(now);
    EXPECT_EQ(core.stats().ask_failures, 2U);
    core.on_answer(now, second.token, json{{"ok", true}});
    EXPECT_LE(core.asks_in_flight(), 1U);
    core.check_invariants();
}

TEST(worker, config_is_validated) {
    worker_config limits;
    EXPECT_FALSE(limits.validate().ok()); // no name
    limits.name = "w";
    EXPECT_TRUE(limits.validate().ok());
    limits.slots = 0;
    EXPECT_FALSE(limits.validate().ok());
}

/// One job of any kind driven by hand: the worker's asks go to the coordinator (called
/// directly), to a table listing that one job, and to a page store.
class one_job {
public:
    one_job(json spec, std::string program, bool allow_exec) {
        record_.name = "job-x";
        record_.module = std::string(coordinator_kind);
        record_.program = std::move(program);
        auto made = coordinate(record_, true, "client:x", spec, {1'000, 1});
        EXPECT_TRUE(made.ok()) << made.failure().describe();
        record_.state = made->state;
        worker_config limits;
        limits.name = "w";
        limits.allow_exec = allow_exec;
        core_ = std::make_unique<worker>(limits, kernels_);
    }

    /// Ticks and answers every ask at once until nothing is asked; returns the runs started.
    std::vector<start_run> settle() {
        std::vector<start_run> started;
        for (int round = 0; round < 50; ++round) {
            now_ = now_ + duration::milliseconds(100);
            core_->on_tick(now_);
            auto effects = core_->take_effects();
            for (auto& done : effects) {
                if (auto* run = std::get_if<start_run>(&done)) {
                    started.push_back(*run);
                } else if (auto* asked = std::get_if<ask>(&done)) {
                    core_->on_answer(now_, asked->token, answer(*asked));
                }
            }
            core_->check_invariants();
        }
        return started;
    }

    json answer(const ask& asked) {
        asks_.push_back(asked);
        if (asked.actor == job_table_name) {
            return {{"ok", true},
                    {"state", {{"jobs", {{"job-x", {{"kernel", record_.state["kernel"]},
                                                    {"status", record_.state["status"]}}}}}}}};
        }
        if (asked.message.contains("spawn_blob")) {
            if (fail_next_page_) {
                fail_next_page_ = false;
                return {{"ok", false}, {"error", "unavailable"}};
            }
            const bool again = pages_.contains(asked.actor);
            pages_[asked.actor] = asked.message["spawn_blob"].get<std::string>();
            return again ? json{{"ok", false}, {"error", "actor " + asked.actor +
                                                             " already exists"}}
                         : json{{"ok", true}};
        }
        EXPECT_EQ(asked.actor, "job-x");
        if (asked.message == json{{"inspect", true}, {"program", true}}) {
            return {{"ok", true}, {"state", record_.state}, {"program", record_.program}};
        }
        auto out = coordinate(record_, false, "client:x", asked.message, {2'000, 1});
        if (!out.ok()) {
            return {{"ok", false}, {"error", out.failure().message}};
        }
        record_.state = out->state;
        return {{"ok", true}, {"reply", out->reply}};
    }

    kernel_registry kernels_;
    actors::actor_record record_;
    std::unique_ptr<worker> core_;
    std::vector<ask> asks_;
    std::map<std::string, std::string> pages_;
    bool fail_next_page_ = false;
    instant now_;
};

TEST(worker, fetches_a_lua_program_once_and_runs_it) {
    one_job job({{"kernel", "lua"}, {"seed", 3}, {"begin", 0}, {"end", 10}, {"chunks", 2}},
                "function map(first, last) return last - first end", false);
    const auto started = job.settle();
    ASSERT_EQ(started.size(), 1U); // one slot
    EXPECT_EQ(started[0].kernel, "lua");
    EXPECT_EQ(started[0].program, job.record_.program);
    EXPECT_EQ(started[0].job_first, 0U);
    EXPECT_EQ(started[0].job_last, 10U);
    EXPECT_EQ(job.core_->stats().programs_fetched, 1U);
    // The run's end folds the base in: the chunk is done with its map's value.
    job.core_->on_finished(job.now_, started[0].run_id, started[0].end, json(5));
    const auto next = job.settle();
    ASSERT_EQ(next.size(), 1U);
    job.core_->on_finished(job.now_, next[0].run_id, next[0].end, json(5));
    job.settle();
    EXPECT_EQ(job.record_.state["status"], "done");
    EXPECT_EQ(job.record_.state["value"], 10);
    EXPECT_EQ(job.core_->stats().programs_fetched, 1U);
}

TEST(worker, a_failed_run_fails_the_job_with_its_error) {
    one_job job({{"kernel", "lua"}, {"seed", 3}, {"begin", 0}, {"end", 10}},
                "function map() error('no') end", false);
    const auto started = job.settle();
    ASSERT_EQ(started.size(), 1U);
    job.core_->on_failed(job.now_, started[0].run_id, "map: no");
    job.settle();
    EXPECT_EQ(job.record_.state["status"], "failed");
    EXPECT_NE(job.record_.state["error"].get<std::string>().find("map: no"), std::string::npos);
    EXPECT_EQ(job.core_->stats().runs_failed, 1U);
}

TEST(worker, runs_commands_only_where_allowed) {
    one_job refused({{"kernel", "exec"}, {"seed", 1}, {"begin", 0}, {"end", 2}, {"chunks", 2}},
                    R"(["true"])", false);
    EXPECT_TRUE(refused.settle().empty());
    EXPECT_EQ(refused.core_->stats().claims, 0U);
    EXPECT_EQ(refused.core_->stats().programs_fetched, 0U);
}

TEST(worker, stores_a_commands_output_in_pages_before_it_reports_done) {
    one_job job({{"kernel", "exec"}, {"seed", 1}, {"begin", 0}, {"end", 2}, {"chunks", 2}},
                R"(["printf", "{start}"])", true);
    auto started = job.settle();
    ASSERT_EQ(started.size(), 1U);
    EXPECT_EQ(started[0].kernel, "exec");
    EXPECT_EQ(started[0].program, job.record_.program);
    EXPECT_EQ(started[0].attempt, 0U);
    // 14,000 bytes, not all text: three pages; the first store fails once and is tried again.
    std::string output(14'000, '\xff');
    output[0] = 'a';
    job.fail_next_page_ = true;
    job.core_->on_output(job.now_, started[0].run_id, output);
    auto second = job.settle();
    ASSERT_EQ(second.size(), 1U);
    EXPECT_EQ(job.core_->stats().pages_stored, 3U);
    EXPECT_EQ(job.record_.state["result"]["0"], (json{0, 3, 14'000}));
    job.core_->on_output(job.now_, second[0].run_id, "");
    job.settle();
    EXPECT_EQ(job.record_.state["status"], "done");
    EXPECT_EQ(job.record_.state["value"], (json{{"chunks", 2}, {"bytes", 14'000}}));
    std::string stored;
    for (std::uint64_t page = 0; page < 3; ++page) {
        stored += *base64_decode(job.pages_.at(output_page_name("job-x", 0, 0, page)));
    }
    EXPECT_EQ(stored, output);
    // Too much output fails the run instead.
    one_job big({{"kernel", "exec"}, {"seed", 1}, {"begin", 0}, {"end", 1}, {"chunks", 1}},
                R"(["true"])", true);
    started = big.settle();
    ASSERT_EQ(started.size(), 1U);
    big.core_->on_output(big.now_, started[0].run_id,
                         std::string(exec_limits::output_size_max + 1, 'x'));
    big.settle();
    EXPECT_EQ(big.record_.state["status"], "failed");
}

} // namespace
} // namespace reef::jobs
