#pragma once
// The actors a node takes part in, as the replicated application of their replica groups
// (docs/design/actors.md, "The actor layer"), and the courier that moves their committed
// messages to other actors.
//
// Thread-safety: none; one owner (node::node, or a test).
//
// Every member holds each actor's committed record (apply, snapshot_state, install, forget).
// The leader also runs the actor: prepare() turns a request into the step the log gets, running
// the Lua handler on the state the actor will have once every earlier entry applies (the
// committed record plus the log's unapplied tail, cached by the tail's last (index, epoch)). A
// message's new state and the messages it sends are one step, so they commit together; the
// receiver's exactly-once table (from, sequence) makes a redelivered message a duplicate. If the
// leader dies before the step commits, the sender retries and the new leader runs it again.
//
// The courier (due_requests / on_request_done) runs where a group is led: it delivers each
// destination's oldest unacknowledged message (one in flight per destination, so a receiver sees
// a sender's messages in order), then records the acknowledgements with an "ack" request,
// fires due timers and drains a resumed mailbox, one such chore in flight per actor.
//
// Requests are "\xA7" + JSON objects (encode_request); steps in the log and snapshots likewise.
// Everything decoded is validated: a malformed request is answered with an error, never asserted.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "reef/actors/record.hpp"
#include "reef/actors/runner.hpp"
#include "reef/base/result.hpp"
#include "reef/base/time.hpp"
#include "reef/replica/host.hpp"

namespace reef::actors {

/// The first byte of every actor request, step and snapshot (no kv command starts with it).
inline constexpr char actor_magic = '\xA7';

std::string encode_request(const json& request);
/// The request object, or invalid_argument saying what is wrong.
result<json> decode_request(std::string_view bytes);
bool is_actor_bytes(std::string_view bytes);

struct table_config {
    record_limits records;
    runner_config runner;
    /// Largest step appended (within replica::group_config::command_size_max).
    std::size_t step_size_max = 16 * 1024;
    /// Names this node in inspect answers ("node"), so `reef ps` shows where an actor runs.
    std::string self_label;
    /// Deliveries and chores in flight from this node at once.
    std::size_t courier_in_flight_max = 256;
    /// A delivery refused as busy, out of order or unanswered is tried again after this, doubled
    /// per failure up to retry_max.
    duration retry_min = duration::milliseconds(50);
    duration retry_max = duration::seconds(2);
};

/// A request the courier wants sent: to actor `to`, whose group the driver derives from the name.
/// `token` comes back in on_request_done.
struct outbound {
    std::uint64_t token = 0;
    std::string to;
    std::string command;  // encode_request() bytes
    bool may_create = false;
};

struct table_stats {
    std::uint64_t handled = 0;     // handler runs at this leader (replays included)
    std::uint64_t failed = 0;
    std::uint64_t delivered = 0;   // messages the courier got acknowledged
    std::uint64_t redelivered = 0; // deliveries tried again
    std::uint64_t busy = 0;        // requests refused with "busy"
    std::uint64_t speculative_rebuilds = 0;
};

/// A native actor kind: C++ code every node of the cluster has (the job coordinator), run in
/// place of Lua for records whose module names the kind (a reserved "reef." name). Such a
/// record's program, if any, is data for the kind (a Lua job's source), never run as an actor.
/// `init` is true for the first call (`body` is then the spawn's args). It must be deterministic
/// in its inputs like a Lua handler, and it returns what the handler did.
using native_handler = std::function<result<run_output>(
    const actor_record& record, bool init, const std::string& from, const json& body,
    const run_context& facts)>;

/// Native kind names start with this; Lua modules may not.
inline constexpr std::string_view native_prefix = "reef.";

class actor_table final : public replica::application {
public:
    using log_sink = runner::log_sink;

    /// Registers native kind `kind` ("reef." names are reserved for Reef's own). A spawn with
    /// {"native": kind} instead of a program creates such an actor.
    void register_native(std::string kind, native_handler handler);

    actor_table(const table_config& limits, log_sink log);

    // replica::application
    std::string apply(const replica::group_id& group, const replica::entry& committed) override;
    std::string snapshot_state(const replica::group_id& group) override;
    void install(const replica::group_id& group, const replica::snapshot& base) override;
    void forget(const replica::group_id& group) override;
    preparation prepare(const replica::group_id& group, const replica::group& core,
                        const replica::request_id& request, std::string command) override;

    /// The clock handlers see (ctx.now, timers): unix milliseconds, set by the driver before
    /// each input.
    void set_clock(instant now, std::uint64_t unix_ms);

    /// The courier: requests to send now for the actors this node leads (`leads`).
    [[nodiscard]] std::vector<outbound> due_requests(
        const std::function<bool(const replica::group_id&)>& leads);
    void on_request_done(std::uint64_t token, const result<std::string>& answer);
    /// When due_requests() may have more for the actors this node leads (a retry or a timer
    /// comes due); never when idle, and never in the past for work that waits on an answer.
    instant next_due(const std::function<bool(const replica::group_id&)>& leads) const;

    /// The committed record of `group`, if this node holds it.
    const actor_record* find(const replica::group_id& group) const;
    bool owns(const replica::group_id& group) const { return records_.contains(group); }
    std::size_t size() const { return records_.size(); }
    const table_stats& stats() const { return stats_; }
    const runner& handlers() const { return runner_; }

private:
    struct speculation {
        std::uint64_t index = 0;
        std::uint64_t epoch = 0;
        actor_record record;
    };
    struct in_flight {
        replica::group_id group;
        std::string to;          // destination actor ("" for a chore)
        std::uint64_t sequence = 0;
        bool chore = false;
    };
    struct courier_state {
        std::map<std::string, std::uint64_t> acked;  // destination -> acknowledged through
        std::set<std::string> busy;                  // destinations with a delivery in flight
        bool chore_busy = false;
        std::map<std::string, instant> retry_at;     // destination ("" chores) -> not before
        std::map<std::string, std::uint32_t> failures;
    };

    actor_record& speculative(const replica::group_id& group, const replica::group& core);
    json decide(actor_record& now_record, const actor_record* committed, const json& request);
    json decide_spawn(const actor_record& current, const json& request);
    json decide_deliver(const actor_record& current, const actor_record* committed,
                        const json& request);
    json run_message(const actor_record& current, const std::string& from,
                     std::uint64_t sequence, const json& body, bool from_mailbox);
    json decide_control(const actor_record& current, const std::string& from,
                        std::uint64_t sequence, const json& body);
    json decide_steer(const actor_record& current, const json& request);
    json restart_step(const actor_record& current, const std::string& from,
                      std::uint64_t sequence);
    json supervise(const actor_record& current, const std::string& from, std::uint64_t sequence,
                   const std::string& child, const std::string& error);
    json failure_notice(const actor_record& current, const std::string& error) const;
    /// init or handle of `record`: its native kind's handler, or its Lua program.
    result<run_output> run(const actor_record& record, bool init, const std::string& from,
                           const json& body);
    std::uint64_t seed_for(const replica::group& core) const;
    void refresh_work(const replica::group_id& group);
    void add_chores(const replica::group_id& group, const actor_record& record,
                    courier_state& courier, std::vector<outbound>& out);

    table_config limits_;
    runner runner_;
    std::map<std::string, native_handler> natives_;
    std::map<replica::group_id, actor_record> records_;
    std::map<replica::group_id, speculation> speculations_;
    // Courier: actors with something to deliver, acknowledge, fire or drain.
    std::set<replica::group_id> work_;
    std::map<replica::group_id, courier_state> couriers_;
    std::map<std::uint64_t, in_flight> in_flight_;
    std::uint64_t next_token_ = 1;
    instant now_;
    std::uint64_t unix_ms_ = 0;
    std::uint64_t prepare_seed_ = 0;
    table_stats stats_;
};

} // namespace reef::actors
