#pragma once
// The per-node job worker (docs/design/jobs.md, "The worker"): finds running jobs in the job
// table, claims chunks of them for its idle runner slots, starts the runs, reports their
// checkpoints and reports each chunk done.
//
// Thread-safety: none; one owner (the node's event loop). The runner threads never call it: the
// runtime posts their progress to the loop, which calls on_progress and on_finished.
//
// Sans-IO. Inputs: on_tick, on_answer (the answer to one of its asks), on_progress and
// on_finished (from the runs it started). Outputs: take_effects() and next_deadline().
//
// Invariants: at most `slots` runs are computing and at most one claim per job is in flight, and
// claims are only sent for slots that are idle, so a saturated node claims nothing; at most
// 2 * slots runs are tracked (computing, or finished and reporting done); at most asks_max asks
// are in flight and jobs_max jobs are tracked (each with at most one Lua program, fetched once
// from the job's coordinator before its first claim). A run folds its samples into the chunk's
// partial result before the run began (`partial` of the claim), so a chunk continued from another
// worker's checkpoint reduces to the same value.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/jobs/kernels.hpp"

namespace reef::jobs {

using json = nlohmann::json;

/// The job table actor: its state is {"jobs": {"<job actor name>": {"kernel", "status"}}}.
inline constexpr std::string_view job_table_name = "reef.jobs";

struct worker_config {
    std::string name;      // this worker in claims and reports (the node's id in hex)
    std::size_t slots = 1; // runner threads, normally the node's cores
    /// Whether this node runs command jobs (kernel "exec"): reefd --allow-exec.
    bool allow_exec = false;
    /// Output pages of one run being stored at once.
    std::size_t pages_in_flight_max = 4;
    /// Tries of one page before the run is given up (its chunk's lease then expires).
    std::uint32_t page_attempts_max = 5;
    duration poll_interval = duration::milliseconds(500);
    duration progress_interval = duration::milliseconds(500);
    /// An ask unanswered for this long counts as failed; a later answer is ignored.
    duration ask_timeout = duration::seconds(10);
    std::size_t jobs_max = 64;
    std::size_t asks_max = 64;
    std::size_t slots_max = 1024;
    /// A done report that keeps failing is given up after this many tries; the chunk's lease
    /// then expires and another claim finishes it from its checkpoint.
    std::uint32_t done_attempts_max = 5;

    [[nodiscard]] status validate() const;
};

/// Deliver `message` to actor `actor` and call on_answer(token, its answer). The message
/// {"inspect": true} means an inspect of the actor instead, answered with its inspection
/// ({"ok": true, "state": ...}), and {"inspect": true, "program": true} one whose answer also
/// holds the actor's "program"; {"spawn_blob": TEXT} creates `actor` as a page of a command's
/// output (exec_job.hpp); any other message is an actor message, answered
/// {"ok": true, "reply": ...} or {"ok": false, "error": ...}. actor_request() gives the request.
struct ask {
    std::uint64_t token = 0;
    std::string actor;
    json message;
};

/// The actors request (actors::actor_table's {"op", "name", ...}) that carries `asked`, and
/// whether it may create its actor (only a page's spawn may).
std::pair<json, bool> actor_request(const ask& asked);

/// Compute samples [begin, end) of `kernel` for `seed` on an idle runner slot, folding them into
/// `base` (the chunk's partial result before `begin`), calling on_progress now and then and
/// on_finished at the end, or on_failed. A Lua job's kernel is "lua" and `program` its source;
/// [job_first, job_last) is the whole job's range, which its map sees.
struct start_run {
    std::uint64_t run_id = 0;
    std::string kernel;
    std::uint64_t seed = 0;
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
    json base;
    std::string program;
    std::uint64_t job_first = 0;
    std::uint64_t job_last = 0;
    std::uint64_t attempt = 0; // the chunk's attempt (a command's output pages are named by it)
};

/// Stop run `run_id` and report nothing more about it.
struct stop_run {
    std::uint64_t run_id = 0;
};

/// Run `run_id` should end at `end` (lower than before). A run that has already passed `end`
/// carries on to its old end; on_finished says where it stopped.
struct shorten_run {
    std::uint64_t run_id = 0;
    std::uint64_t end = 0;
};

/// Effects are independent of one another and may be executed in order as they come.
using effect = std::variant<ask, start_run, stop_run, shorten_run>;

struct worker_stats {
    std::uint64_t polls = 0;
    std::uint64_t claims = 0;
    std::uint64_t granted = 0;
    std::uint64_t waits = 0;
    std::uint64_t runs_finished = 0;
    std::uint64_t abandoned = 0;
    std::uint64_t shortened = 0;
    std::uint64_t overshot = 0;
    std::uint64_t dones_accepted = 0;
    std::uint64_t dones_rejected = 0;
    std::uint64_t dones_given_up = 0;
    std::uint64_t runs_failed = 0;
    std::uint64_t programs_fetched = 0;
    std::uint64_t pages_stored = 0;
    std::uint64_t ask_failures = 0;
};

class worker {
public:
    /// Longest Lua program a job carries (an actor's program limit) and longest failure text.
    static constexpr std::size_t program_size_max = 8 * 1024;
    static constexpr std::size_t failure_size_max = 512;

    /// `kernels` must outlive the worker.
    worker(const worker_config& limits, const kernel_registry& kernels);

    void on_tick(instant now);
    /// The answer to ask `token` (an error when it could not be delivered).
    void on_answer(instant now, std::uint64_t token, const result<json>& answer);
    /// Run `run_id` has computed up to `through`; `partial` is the chunk's result up to there
    /// (its base included).
    void on_progress(instant now, std::uint64_t run_id, std::uint64_t through, const json& partial);
    /// Run `run_id` has stopped at `through` (its end, or its old end if it had passed a
    /// shortened one) with the chunk's result `partial` up to there.
    void on_finished(instant now, std::uint64_t run_id, std::uint64_t through, const json& partial);
    /// Run `run_id` failed (its Lua program raised an error, its command exited non-zero): the
    /// job fails with `why`.
    void on_failed(instant now, std::uint64_t run_id, const std::string& why);
    /// Command run `run_id` exited 0 with standard output `output`: it is stored as pages (an ask
    /// {"spawn_blob": base64} per page to the page's actor), then the chunk is reported done.
    void on_output(instant now, std::uint64_t run_id, std::string_view output);

    [[nodiscard]] std::vector<effect> take_effects();
    /// When on_tick has something to do; never when it has nothing.
    [[nodiscard]] instant next_deadline() const;

    std::size_t busy_slots() const;
    std::size_t asks_in_flight() const { return asks_.size(); }
    std::size_t jobs_tracked() const { return jobs_.size(); }
    std::size_t runs_tracked() const { return runs_.size(); }
    /// Samples per second of one slot its last finished run measured (0 before); claims carry
    /// each job's own speed, since kernels differ by orders of magnitude.
    double speed() const { return speed_; }
    const worker_stats& stats() const { return stats_; }
    void check_invariants() const;

private:
    enum class ask_kind : std::uint8_t { inspect, program, claim, progress, done, store };

    struct job_entry {
        std::string kernel;
        std::string program;           // a Lua job's source, once fetched
        std::uint64_t program_token = 0; // the fetch in flight, 0 if none
        double speed = 0.0;            // measured samples per second of one slot on this job
        bool running = false;
        bool finished = false;        // the coordinator said so: claim no more
        std::uint64_t claim_token = 0; // the claim in flight, 0 if none
        instant claim_after;
    };
    struct run_entry {
        std::string job;
        std::uint64_t chunk = 0;
        std::uint64_t begin = 0;
        std::uint64_t end = 0;
        std::uint64_t through = 0;
        json partial; // the chunk's result up to `through` (before `begin`: the claim's)
        std::string failure; // why the run failed; reported instead of done
        std::uint64_t attempt = 0;
        std::vector<std::string> pages;   // a command's output, base64, while being stored
        std::vector<bool> pages_stored;
        std::size_t pages_in_flight = 0;
        std::uint32_t page_failures = 0;
        std::uint64_t output_bytes = 0;
        bool storing = false;
        instant started;
        instant report_after;
        std::uint64_t report_token = 0; // a progress or done ask in flight, 0 if none
        bool finished = false;
        std::uint32_t done_attempts = 0;
    };
    struct pending {
        ask_kind kind = ask_kind::inspect;
        std::string job;
        std::uint64_t run_id = 0;
        instant deadline;
        std::size_t page = 0; // store: which page
    };

    void pump(instant now);
    void expire_asks(instant now);
    void send_claims(instant now);
    void send_reports(instant now);
    std::uint64_t send(instant now, ask_kind kind, const std::string& actor, json message,
                       const std::string& job, std::uint64_t run_id);
    json report_body(const run_entry& run) const;
    std::size_t claims_in_flight() const;
    std::size_t claim_capacity() const;
    bool can_ask() const { return asks_.size() < limits_.asks_max; }

    void take_answer(instant now, std::uint64_t token, const result<json>& answer);
    void on_table(const json& answer);
    /// The job an answered ask was about, its token (claim or program) cleared and its next
    /// claim due after poll_interval.
    job_entry& answered_job(instant now, const std::string& job_name,
                            std::uint64_t job_entry::*token);
    void on_program_answer(instant now, const std::string& job, const result<json>& answer);
    void on_claim_answer(instant now, const std::string& job, const result<json>& reply);
    void on_grant(instant now, const std::string& job, const json& grant);
    void on_progress_answer(instant now, std::uint64_t run_id, const result<json>& reply);
    void send_pages(instant now);
    void on_store_answer(instant now, const pending& asked, const result<json>& answer);
    /// Whether this node can run `kernel` for `job` (a Lua or command job once its program is
    /// here).
    bool can_run(const std::string& kernel, const job_entry& job) const;
    void on_done_answer(instant now, std::uint64_t run_id, const result<json>& reply);
    void drop_run(std::uint64_t run_id, bool stop);

    worker_config limits_;
    const kernel_registry* kernels_;
    std::map<std::string, job_entry> jobs_;
    std::map<std::uint64_t, run_entry> runs_;
    std::map<std::uint64_t, pending> asks_;
    std::vector<effect> effects_;
    std::uint64_t table_token_ = 0;
    instant next_poll_;
    std::uint64_t next_token_ = 1;
    std::uint64_t next_run_ = 1;
    double speed_ = 0.0;
    worker_stats stats_;
};

} // namespace reef::jobs
