#pragma once
// The replicated key-value register/counter: the first application of replica groups (`reef kv`).
// One group serves one key; its log's commands are applied here, in order, at every member.
//
// Thread-safety: plain data and pure functions.
//
// Commands (the bytes of an entry's command), validated by decode_command():
//   get | put <value> | cas <expected> <new> | incr <delta>
// encoded as one tag byte and length-prefixed fields, so values may hold any bytes.
// Reads go through the log like writes, so every answer is linearizable without leases.
//
// Exactly once: the register remembers, per client, the last request sequence it applied and
// its answer; a retried request (same client and sequence) gets the remembered answer and
// changes nothing, also after a leader change, because the table is part of the replicated
// state. The table is bounded (clients_max, oldest client forgotten first).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "reef/base/result.hpp"
#include "reef/replica/host.hpp"
#include "reef/replica/types.hpp"

namespace reef::replica::kv {

struct get {};
struct put {
    std::string value;
};
struct cas {
    std::optional<std::string> expected; // nullopt: the key must be absent
    std::string value;
};
struct incr {
    std::int64_t delta = 1;
};
using command = std::variant<get, put, cas, incr>;

/// Largest value a register holds.
inline constexpr std::size_t value_size_max = 1024;

std::string encode_command(const command& body);
/// invalid_argument naming what is wrong; never asserts on input.
result<command> decode_command(std::string_view bytes);

/// What one command returned.
struct answer {
    bool ok = true;                    // false: cas mismatch, or incr of a non-number
    std::optional<std::string> value;  // the value after the command (get: the current value)
    std::string error;                 // why ok is false
    bool operator==(const answer&) const = default;
};

/// An answer as bytes (what a replica::host carries back to the requesting node) and back;
/// decode_answer() validates and never asserts.
std::string encode_answer(const answer& reply);
result<answer> decode_answer(std::string_view bytes);

struct config {
    std::size_t clients_max = 256;
};

class register_state {
public:
    explicit register_state(const config& limits = {}) : limits_(limits) {}

    /// Apply one committed entry (no-ops and undecodable commands change nothing but are
    /// answered). Returns the answer for the entry's request.
    answer apply(const entry& committed);

    const std::optional<std::string>& value() const { return value_; }
    std::size_t clients() const { return last_.size(); }

    /// The whole state as bytes (a snapshot) and back.
    std::string serialize() const;
    static result<register_state> deserialize(std::string_view bytes, const config& limits = {});

private:
    struct remembered {
        std::uint64_t sequence = 0;
        answer reply;
        std::uint64_t applied_at = 0; // entry index, to forget the oldest client first
    };

    answer execute(const command& body);

    config limits_;
    std::optional<std::string> value_;
    std::map<std::uint64_t, remembered> last_; // client -> its last applied request
};

/// The kv registers of every group a node hosts: the application replica::host applies entries
/// to. Answers are encode_answer() bytes.
class registers final : public application {
public:
    std::string apply(const group_id& group, const entry& committed) override;
    std::string snapshot_state(const group_id& group) override;
    void install(const group_id& group, const snapshot& base) override;
    void forget(const group_id& group) override;

    /// The register of `group`, if this node holds it.
    const register_state* find(const group_id& group) const;
    std::size_t size() const { return registers_.size(); }

private:
    std::map<group_id, register_state> registers_;
};

} // namespace reef::replica::kv
