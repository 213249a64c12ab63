#pragma once
// One actor's replicated record, and the steps that change it (docs/design/actors.md, "The actor
// layer"). An actor lives in a replica group of its own; the group's log holds steps, and applying
// a step to the record is a pure function, run at every member for committed steps and by the
// leader, ahead of commit, to know the state its next message sees.
//
// Thread-safety: plain data and pure functions.
//
// A step is what the leader decided for one request: "create" (the result of init), "handled"
// (the result of one message: the new state and the messages sent, together), "queued" (a message
// kept in the mailbox while paused), "duplicate", "ack" (the receiver has a sent message),
// "steer" (pause, resume, set_state, stop, restart), "inspect" (a linearizable read). Steps come
// from the log, which other nodes fill: from_json() and apply_step() validate and never assert on
// them.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reef/base/result.hpp"

namespace reef::actors {

using json = nlohmann::json;

/// Limits on one actor. Together they keep a step within a replica entry (16 KiB) and a record
/// within a snapshot that fits one transport frame.
struct record_limits {
    std::size_t name_size_max = 128;
    std::size_t program_size_max = 8 * 1024;
    std::size_t state_size_max = 8 * 1024;   // the state as JSON text
    std::size_t message_size_max = 2 * 1024; // one message body as JSON text
    std::size_t sends_per_step_max = 16;     // messages, spawns and timers one handler makes
    std::size_t outbox_max = 64;             // sent messages not yet acknowledged
    std::size_t mailbox_max = 64;            // messages queued while paused
    std::size_t senders_max = 256;           // the exactly-once table (oldest forgotten first)
    std::size_t timers_max = 64;
    std::size_t children_max = 256;
};

/// Senders that are not actors: "client:<hex>" (a request from outside, with gaps allowed in its
/// sequence) and "timer" (an actor's own timer firing; the sequence is the timer's id).
inline constexpr std::string_view client_prefix = "client:";
inline constexpr std::string_view timer_sender = "timer";

/// An actor name: 1..name_size_max bytes of [A-Za-z0-9._-/], not starting with '/' or '.'.
[[nodiscard]] status validate_name(std::string_view name, const record_limits& limits = {});

/// How a supervisor answers a child's failure (Erlang/OTP's strategies).
struct supervision {
    std::string strategy = "one_for_one"; // one_for_one | one_for_all | rest_for_one | none
    std::uint32_t intensity = 3;          // restarts allowed within period_ms, else escalate
    std::uint64_t period_ms = 5000;
    std::uint64_t backoff_ms = 100;       // first restart delay, doubling per recent restart
    std::uint64_t backoff_max_ms = 5000;

    bool operator==(const supervision&) const = default;
};

struct outgoing {
    std::uint64_t sequence = 0; // per destination, from 1, without gaps
    std::string to;
    std::string kind;           // "message", "spawn" or "control"
    json body;

    bool operator==(const outgoing&) const = default;
};

struct queued {
    std::string from;
    std::uint64_t sequence = 0;
    json body;

    bool operator==(const queued&) const = default;
};

struct timer {
    std::uint64_t due_ms = 0; // on the leader's clock (ctx.now)
    json body;

    bool operator==(const timer&) const = default;
};

struct remembered {
    std::uint64_t sequence = 0;
    json answer;
    std::uint64_t used_at = 0; // the step index, to forget the oldest sender first

    bool operator==(const remembered&) const = default;
};

struct actor_record {
    std::string name;
    std::string program;   // Lua source; empty for a built-in actor
    std::string module;    // global table holding init/handle; empty: the program's globals
    std::string parent;    // empty for a root
    std::string owner;
    json args;
    json state;
    std::string status = "running"; // running | failed | stopped
    std::string last_error;
    bool paused = false;
    std::uint64_t handled = 0;
    std::uint64_t failures = 0;
    std::uint64_t step_index = 0;   // the last step applied
    supervision policy;
    std::map<std::string, remembered> senders;
    std::map<std::string, std::uint64_t> sent;  // destination -> last sequence used
    std::deque<outgoing> outbox;
    std::deque<queued> mailbox;
    std::map<std::uint64_t, timer> timers;
    std::uint64_t timers_made = 0;
    std::vector<std::string> children;          // in spawn order
    std::uint64_t children_made = 0;
    std::deque<std::uint64_t> restarts_ms;      // recent restarts of children (intensity window)

    bool operator==(const actor_record&) const = default;
};

json to_json(const actor_record& record);
[[nodiscard]] result<actor_record> record_from_json(const json& value,
                                                    const record_limits& limits = {});

/// What a duplicate of (from, sequence) means for `record`: the remembered answer when it is the
/// sender's last message, a plain acknowledgement when older, nothing when it is new.
std::optional<json> duplicate_answer(const actor_record& record, const std::string& from,
                                     std::uint64_t sequence);

/// The first sequence `from` may send next (senders that are actors must not leave gaps).
bool in_order(const actor_record& record, const std::string& from, std::uint64_t sequence);

/// Applies `step` (validated) to `record` and returns the answer for the request it came from.
/// A step that does not validate changes nothing but step_index (its entry was applied, as a
/// refusal) and answers {"ok": false, "error": ...}.
json apply_step(actor_record& record, const json& step, std::uint64_t index,
                const record_limits& limits = {});

/// What `reef state` and `reef ps` show of an actor: {"ok": true, "name", "status", "paused",
/// "state", "state_size_bytes", "handled", "failures", "mailbox", "outbox", "children", ...}.
json inspection(const actor_record& record);

/// `value` as JSON text. Text from a handler (an error message, a log line) may hold invalid
/// UTF-8: it is replaced (U+FFFD), never thrown on, so no input can stop a node.
std::string json_text(const json& value);

/// {"ok": false, "error": text} and {"ok": true} answers.
json failure(std::string_view text);
json success();

} // namespace reef::actors
