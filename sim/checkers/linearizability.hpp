#pragma once
// A linearizability checker for histories of key-value operations (a register or counter per
// key), in the style of Wing & Gong and Lowe: a depth-first search over the orders that respect
// real time, with memoization of (set of linearized operations, register value).
//
// Thread-safety: check_kv_history is a pure function of its arguments; it may run concurrently
// with itself.
// Determinism: the verdict, the key reported, the explanation and the state counts depend only on
// the history and the budget, never on addresses, hashing seeds or the input's order of keys.
// docs/design/linearizability.md describes the model, the algorithm and how to read a report.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace reef::sim::checkers {

enum class kv_kind : std::uint8_t { get, put, cas, incr };

enum class kv_status : std::uint8_t {
    ok,      // completed; `output` is what the client observed
    failed,  // definitely not applied (the system said so before doing anything)
    unknown, // no answer (timeout, crash): may or may not have taken effect, at any time after
             // its invocation, even after the history ends
};

/// One call from one client. Semantics of the register, which is initially absent:
///  - get reports the current value;
///  - put(argument) sets it;
///  - cas(expected, argument) sets `argument` iff the current value equals `expected` (absent
///    equals absent) and reports whether it did;
///  - incr(delta) reads absent as 0, sets and reports current + delta as decimal text. An incr
///    whose current value is not decimal int64 text, or whose sum overflows int64, cannot take
///    effect: no order may place it there.
struct kv_operation {
    std::uint64_t client = 0;
    std::string key;
    kv_kind kind = kv_kind::get;
    std::optional<std::string> argument; // put: the value; cas: the new value
    std::optional<std::string> expected; // cas only: the value it must hold (nullopt = absent)
    std::int64_t delta = 0;              // incr only
    std::int64_t invoked_ns = 0;         // virtual time of the call
    std::int64_t completed_ns = 0;       // virtual time of the answer (ignored when unknown)
    kv_status status = kv_status::ok;
    // Observations when ok: get -> the value (nullopt = absent); put -> nothing;
    // cas -> whether it succeeded (cas_succeeded); incr -> the new value as decimal text.
    std::optional<std::string> output;
    bool cas_succeeded = false;
};

struct kv_check_result {
    /// False iff some key has no linearization (or the history is malformed). True means no
    /// violation was found: check `exhausted` too, since a key whose budget ran out has no verdict.
    bool linearizable = true;
    bool exhausted = false;      // the search budget ran out for some key: no verdict for it
    std::string key;             // the first key that failed (or, if none failed, was exhausted)
    std::string explanation;     // the operations involved, the longest linearizable prefix
                                 // found, and what no order could explain
    std::uint64_t states_explored = 0; // distinct (linearized set, value) pairs, over all keys
};

/// Checks each key independently (linearizability is compositional), keys in lexicographic order,
/// stopping at the first key that is not linearizable. `failed` operations are dropped; `unknown`
/// ones may be placed anywhere after their invocation, or nowhere. Operation `#i` in the
/// explanation is `history[i]`. The history need not be sorted. Malformed input (a completion
/// before its invocation, fields that do not fit the kind, an ok incr without a decimal output)
/// is reported as not linearizable with an explanation starting "invalid history".
[[nodiscard]] kv_check_result check_kv_history(std::span<const kv_operation> history,
                                               std::uint64_t states_budget_per_key = 10'000'000);

} // namespace reef::sim::checkers
