#include "sim/checkers/linearizability.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reef/base/assert.hpp"

namespace reef::sim::checkers {
namespace {

using value_id = std::uint32_t;
constexpr value_id absent_id = 0;
constexpr std::int64_t never_ns = std::numeric_limits<std::int64_t>::max();
// Operations listed in full in a report; longer histories show only the part around the failure.
constexpr std::size_t report_operations_max = 40;
constexpr std::size_t report_prefix_tail_max = 20;
constexpr std::size_t report_value_chars_max = 64;

std::optional<std::int64_t> parse_decimal(std::string_view text) {
    std::int64_t number = 0;
    const char* const end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, number);
    if (text.empty() || error != std::errc{} || stop != end) {
        return std::nullopt;
    }
    return number;
}

std::uint64_t mix64(std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

/// Register values, interned so that a search state is two small integers. Id 0 is "absent".
/// Ids are handed out in the order values are first seen, which the search makes deterministic.
class value_table {
public:
    value_table() {
        texts_.emplace_back();
        numbers_.emplace_back(0); // incr reads absent as 0
    }

    value_id intern(const std::optional<std::string>& value) {
        return value ? intern(*value) : absent_id;
    }

    value_id intern(const std::string& value) {
        const auto found = ids_.find(value);
        if (found != ids_.end()) {
            return found->second;
        }
        REEF_ASSERT(texts_.size() < std::numeric_limits<value_id>::max());
        const auto id = static_cast<value_id>(texts_.size());
        texts_.push_back(value);
        numbers_.push_back(parse_decimal(value));
        ids_.emplace(value, id);
        REEF_ASSERT(texts_.size() == numbers_.size());
        return id;
    }

    /// The value as incr reads it: nullopt when it is not decimal int64 text.
    std::optional<std::int64_t> number(value_id id) const {
        REEF_ASSERT(id < numbers_.size());
        return numbers_[id];
    }

    std::string describe(value_id id) const {
        REEF_ASSERT(id < texts_.size());
        if (id == absent_id) {
            return "absent";
        }
        return quote(texts_[id]);
    }

    static std::string quote(std::string_view text) {
        std::string out = "\"";
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (i == report_value_chars_max) {
                out += fmt::format("...({} bytes)", text.size());
                break;
            }
            const auto c = static_cast<unsigned char>(text[i]);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += static_cast<char>(c);
            } else if (c < 0x20 || c >= 0x7f) {
                out += fmt::format("\\x{:02x}", c);
            } else {
                out += static_cast<char>(c);
            }
        }
        out += '"';
        return out;
    }

private:
    std::vector<std::string> texts_;
    std::vector<std::optional<std::int64_t>> numbers_;
    std::unordered_map<std::string, value_id> ids_; // looked up only, never iterated
};

/// One operation of one key, with its values interned. Times of unknown operations end at never.
struct op_record {
    std::size_t index = 0; // in the caller's history
    std::uint64_t client = 0;
    kv_kind kind = kv_kind::get;
    bool unknown = false;
    value_id argument = absent_id;
    value_id expected = absent_id;
    std::int64_t delta = 0;
    value_id observed = absent_id; // ok get
    bool cas_succeeded = false;    // ok cas
    std::int64_t incr_observed = 0; // ok incr
    std::int64_t invoked_ns = 0;
    std::int64_t completed_ns = never_ns;
};

enum class refusal : std::uint8_t {
    none,
    get_mismatch,
    cas_mismatch,
    incr_not_numeric,
    incr_overflow,
    incr_mismatch,
};

struct step_result {
    refusal why = refusal::none; // none: the operation can take effect on this value
    value_id next = absent_id;
};

/// The sequential specification: what `op` does to `current`, or why it cannot happen there.
step_result step(const op_record& op, value_id current, value_table& values) {
    switch (op.kind) {
    case kv_kind::get:
        if (!op.unknown && op.observed != current) {
            return {refusal::get_mismatch, current};
        }
        return {refusal::none, current};
    case kv_kind::put:
        return {refusal::none, op.argument};
    case kv_kind::cas: {
        const bool matches = current == op.expected;
        if (!op.unknown && matches != op.cas_succeeded) {
            return {refusal::cas_mismatch, current};
        }
        return {refusal::none, matches ? op.argument : current};
    }
    case kv_kind::incr: {
        const std::optional<std::int64_t> number = values.number(current);
        if (!number) {
            return {refusal::incr_not_numeric, current};
        }
        std::int64_t sum = 0;
        if (__builtin_add_overflow(*number, op.delta, &sum)) {
            return {refusal::incr_overflow, current};
        }
        if (!op.unknown && sum != op.incr_observed) {
            return {refusal::incr_mismatch, current};
        }
        return {refusal::none, values.intern(std::to_string(sum))};
    }
    }
    REEF_UNREACHABLE();
}

/// Seen configurations: (bitset of linearized operations, register value). Open addressing with
/// linear probing over an arena of fixed-size entries; hashes are deterministic and equal hashes
/// are compared in full.
class config_cache {
public:
    explicit config_cache(std::size_t words) : words_(words), slots_(1024, 0) {}

    [[nodiscard]] bool contains(std::uint64_t hash, std::span<const std::uint64_t> bits,
                                value_id state) const {
        return slots_[find_slot(hash, bits, state)] != 0;
    }

    void insert(std::uint64_t hash, std::span<const std::uint64_t> bits, value_id state) {
        REEF_ASSERT(bits.size() == words_);
        if ((hashes_.size() + 1) * 2 > slots_.size()) {
            grow();
        }
        const std::size_t slot = find_slot(hash, bits, state);
        REEF_ASSERT(slots_[slot] == 0);
        hashes_.push_back(hash);
        states_.push_back(state);
        bits_.insert(bits_.end(), bits.begin(), bits.end());
        slots_[slot] = static_cast<std::uint32_t>(hashes_.size());
    }

    std::size_t size() const { return hashes_.size(); }

    /// Entries are numbered by uint32 slots, one kept for "empty".
    static constexpr std::size_t entries_max = std::numeric_limits<std::uint32_t>::max() - 1;

private:
    std::size_t find_slot(std::uint64_t hash, std::span<const std::uint64_t> bits,
                          value_id state) const {
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
            const std::uint32_t entry = slots_[slot];
            if (entry == 0) {
                return slot;
            }
            const std::size_t at = entry - 1;
            if (hashes_[at] == hash && states_[at] == state &&
                std::equal(bits.begin(), bits.end(), bits_.begin() + at * words_)) {
                return slot;
            }
        }
    }

    void grow() {
        std::vector<std::uint32_t> old = std::move(slots_);
        slots_.assign(old.size() * 2, 0);
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t at = 0; at < hashes_.size(); ++at) {
            std::size_t slot = hashes_[at] & mask;
            while (slots_[slot] != 0) {
                slot = (slot + 1) & mask;
            }
            slots_[slot] = static_cast<std::uint32_t>(at + 1);
        }
        REEF_ASSERT(hashes_.size() * 2 <= slots_.size());
    }

    std::size_t words_;
    std::vector<std::uint32_t> slots_; // entry + 1; 0 is empty; size is a power of two
    std::vector<std::uint64_t> hashes_;
    std::vector<value_id> states_;
    std::vector<std::uint64_t> bits_; // words_ per entry
};

/// Lowe's doubly linked list of call and return events in time order, from which linearized
/// operations are lifted and restored in LIFO order. Node 0 is the head (and the end);
/// operation i has its call at node 1 + 2i and, unless unknown, its return at node 2 + 2i.
class event_list {
public:
    explicit event_list(const std::vector<op_record>& ops)
        : next_(1 + 2 * ops.size(), 0), prev_(1 + 2 * ops.size(), 0) {
        struct event {
            std::int64_t at_ns;
            bool is_return; // calls sort before returns at the same instant: they overlap
            std::uint32_t node;
        };
        std::vector<event> events;
        for (std::size_t i = 0; i < ops.size(); ++i) {
            events.push_back({ops[i].invoked_ns, false, call_node(i)});
            if (!ops[i].unknown) {
                events.push_back({ops[i].completed_ns, true, call_node(i) + 1});
            }
        }
        std::sort(events.begin(), events.end(), [](const event& a, const event& b) {
            if (a.at_ns != b.at_ns) {
                return a.at_ns < b.at_ns;
            }
            if (a.is_return != b.is_return) {
                return !a.is_return;
            }
            return a.node < b.node;
        });
        std::uint32_t last = 0;
        for (const event& item : events) {
            next_[last] = item.node;
            prev_[item.node] = last;
            last = item.node;
        }
        next_[last] = 0;
        prev_[0] = last;
    }

    static std::uint32_t call_node(std::size_t op) {
        return static_cast<std::uint32_t>(1 + 2 * op);
    }
    static bool is_call(std::uint32_t node) { return node % 2 == 1; }
    static std::size_t op_of(std::uint32_t node) { return (node - 1) / 2; }

    std::uint32_t first() const { return next_[0]; }
    std::uint32_t next(std::uint32_t node) const { return next_[node]; }

    void lift(std::size_t op, bool has_return) {
        unlink(call_node(op));
        if (has_return) {
            unlink(call_node(op) + 1);
        }
    }

    void unlift(std::size_t op, bool has_return) {
        if (has_return) {
            relink(call_node(op) + 1);
        }
        relink(call_node(op));
    }

private:
    void unlink(std::uint32_t node) {
        REEF_ASSERT(node != 0);
        next_[prev_[node]] = next_[node];
        prev_[next_[node]] = prev_[node];
    }

    void relink(std::uint32_t node) {
        REEF_ASSERT(node != 0);
        next_[prev_[node]] = node;
        prev_[next_[node]] = node;
    }

    std::vector<std::uint32_t> next_;
    std::vector<std::uint32_t> prev_;
};

enum class verdict : std::uint8_t { linearizable, violation, exhausted };

struct search_outcome {
    verdict result = verdict::linearizable;
    std::uint64_t states_explored = 0;
    std::vector<std::size_t> best_prefix; // the prefix that linearized the most ok operations
};

/// Wing & Gong / Lowe: take a call that precedes every pending return, apply it, recurse; when a
/// return is reached first, undo the last choice. Unknown operations have no return, so they never
/// block others and may stay unlinearized; the search succeeds once every ok operation is placed.
search_outcome search(const std::vector<op_record>& ops, value_table& values,
                      std::uint64_t budget) {
    const std::size_t words = (ops.size() + 63) / 64;
    const std::uint64_t states_max = std::min<std::uint64_t>(budget, config_cache::entries_max);
    struct frame {
        std::size_t op;
        value_id before;
    };
    search_outcome outcome;
    config_cache cache(words);
    event_list list(ops);
    std::vector<std::uint64_t> bits(words, 0);
    std::vector<frame> stack;
    std::uint64_t bits_hash = 0;
    value_id state = absent_id;
    std::size_t ok_remaining = 0;
    for (const op_record& op : ops) {
        ok_remaining += op.unknown ? 0 : 1;
    }
    const std::size_t ok_count = ok_remaining;
    std::size_t ok_best = 0;
    std::uint32_t node = list.first();
    while (ok_remaining > 0) {
        REEF_ASSERT(node != 0); // every pending ok operation has a return still in the list
        if (event_list::is_call(node)) {
            const std::size_t op = event_list::op_of(node);
            const step_result next = step(ops[op], state, values);
            // An unknown operation that changes nothing is as good as never applied.
            const bool useful =
                next.why == refusal::none && !(ops[op].unknown && next.next == state);
            const std::uint64_t op_bit = std::uint64_t{1} << (op % 64);
            const std::uint64_t next_hash = bits_hash ^ mix64(op);
            const std::uint64_t key = mix64(next_hash ^ (std::uint64_t{next.next} << 1U));
            bits[op / 64] |= op_bit;
            if (useful && !cache.contains(key, bits, next.next)) {
                if (outcome.states_explored >= states_max) {
                    outcome.result = verdict::exhausted;
                    return outcome;
                }
                cache.insert(key, bits, next.next);
                outcome.states_explored += 1;
                stack.push_back({op, state});
                state = next.next;
                bits_hash = next_hash;
                list.lift(op, !ops[op].unknown);
                ok_remaining -= ops[op].unknown ? 0 : 1;
                if (ok_count - ok_remaining > ok_best) {
                    ok_best = ok_count - ok_remaining;
                    outcome.best_prefix.clear();
                    for (const frame& entry : stack) {
                        outcome.best_prefix.push_back(entry.op);
                    }
                }
                node = list.first();
                continue;
            }
            bits[op / 64] &= ~op_bit;
            node = list.next(node);
            continue;
        }
        if (stack.empty()) {
            outcome.result = verdict::violation;
            return outcome;
        }
        const frame top = stack.back();
        stack.pop_back();
        state = top.before;
        bits[top.op / 64] &= ~(std::uint64_t{1} << (top.op % 64));
        bits_hash ^= mix64(top.op);
        list.unlift(top.op, !ops[top.op].unknown);
        ok_remaining += ops[top.op].unknown ? 0 : 1;
        node = list.next(event_list::call_node(top.op));
    }
    REEF_ASSERT(ok_best == ok_count);
    return outcome;
}

// ---- Input validation ----------------------------------------------------------------------

const char* kind_name(kv_kind kind) {
    switch (kind) {
    case kv_kind::get:
        return "get";
    case kv_kind::put:
        return "put";
    case kv_kind::cas:
        return "cas";
    case kv_kind::incr:
        return "incr";
    }
    return "?";
}

std::optional<std::string> validate(const kv_operation& op) {
    if (op.status != kv_status::ok && op.status != kv_status::failed &&
        op.status != kv_status::unknown) {
        return "status is not ok, failed or unknown";
    }
    if (op.kind != kv_kind::get && op.kind != kv_kind::put && op.kind != kv_kind::cas &&
        op.kind != kv_kind::incr) {
        return "kind is not get, put, cas or incr";
    }
    if (op.status != kv_status::unknown && op.completed_ns < op.invoked_ns) {
        return fmt::format("completed_ns {} is before invoked_ns {}", op.completed_ns,
                           op.invoked_ns);
    }
    if (op.expected && op.kind != kv_kind::cas) {
        return fmt::format("`expected` is set on a {} (it belongs to cas only)",
                           kind_name(op.kind));
    }
    const bool takes_argument = op.kind == kv_kind::put || op.kind == kv_kind::cas;
    if (takes_argument && !op.argument) {
        return fmt::format("a {} needs `argument` (the value it writes)", kind_name(op.kind));
    }
    if (!takes_argument && op.argument) {
        return fmt::format("`argument` is set on a {} (it belongs to put and cas only)",
                           kind_name(op.kind));
    }
    if (op.status == kv_status::ok && op.kind == kv_kind::incr) {
        if (!op.output) {
            return std::string("an ok incr needs `output` (the new value as decimal text)");
        }
        if (!parse_decimal(*op.output)) {
            return fmt::format("an ok incr's `output` {} is not decimal int64 text",
                               value_table::quote(*op.output));
        }
    }
    if (op.status == kv_status::ok && (op.kind == kv_kind::put || op.kind == kv_kind::cas) &&
        op.output) {
        return fmt::format("an ok {} has an `output` (a put observes nothing; a cas reports "
                           "cas_succeeded)",
                           kind_name(op.kind));
    }
    return std::nullopt;
}

// ---- Reports ---------------------------------------------------------------------------------

std::string describe_call(const op_record& op, const value_table& values) {
    const std::string who = fmt::format("#{} client {} ", op.index, op.client);
    switch (op.kind) {
    case kv_kind::get:
        return who + (op.unknown ? "get -> ?" : "get -> " + values.describe(op.observed));
    case kv_kind::put:
        return who + "put(" + values.describe(op.argument) + ")";
    case kv_kind::cas:
        return who + "cas(" + values.describe(op.expected) + " -> " +
               values.describe(op.argument) + ")" +
               (op.unknown ? " -> ?" : op.cas_succeeded ? " -> succeeded" : " -> failed");
    case kv_kind::incr:
        return who + fmt::format("incr({:+}) -> ", op.delta) +
               (op.unknown ? std::string("?") : std::to_string(op.incr_observed));
    }
    REEF_UNREACHABLE();
}

std::string describe_interval(const op_record& op) {
    if (op.unknown) {
        return fmt::format("[{}, ?] unknown", op.invoked_ns);
    }
    return fmt::format("[{}, {}] ok", op.invoked_ns, op.completed_ns);
}

std::string describe_refusal(const op_record& op, refusal why, value_id state,
                             const value_table& values) {
    const std::string held = values.describe(state);
    switch (why) {
    case refusal::none:
        return "could take effect here";
    case refusal::get_mismatch:
        return fmt::format("it read {}, but the value is {}", values.describe(op.observed), held);
    case refusal::cas_mismatch:
        return fmt::format("it {}, but the value is {}",
                           op.cas_succeeded ? "succeeded" : "failed", held);
    case refusal::incr_not_numeric:
        return fmt::format("the value is {}, not a decimal int64", held);
    case refusal::incr_overflow:
        return fmt::format("the value is {}: adding {} overflows int64", held, op.delta);
    case refusal::incr_mismatch:
        return fmt::format("it reported {}, but the value is {}", op.incr_observed, held);
    }
    REEF_UNREACHABLE();
}

struct key_report {
    std::string_view key;
    const std::vector<op_record>& ops;
    std::size_t failed_dropped = 0;
    std::size_t unknown_gets_dropped = 0;
};

std::string describe_operations(const key_report& report, const value_table& values) {
    std::string out;
    const std::size_t unknown = static_cast<std::size_t>(std::count_if(
        report.ops.begin(), report.ops.end(), [](const op_record& op) { return op.unknown; }));
    out += fmt::format("{} operations ({} ok, {} unknown); dropped: {} failed, {} unknown get\n",
                       report.ops.size(), report.ops.size() - unknown, unknown,
                       report.failed_dropped, report.unknown_gets_dropped);
    if (report.ops.size() > report_operations_max) {
        return out;
    }
    out += "operations, by invocation:\n";
    for (const op_record& op : report.ops) {
        out += fmt::format("  {} {}\n", describe_call(op, values), describe_interval(op));
    }
    return out;
}

/// Replays the best prefix and says why no remaining operation can follow it.
std::string describe_violation(const key_report& report, const search_outcome& outcome,
                               value_table& values) {
    const std::vector<op_record>& ops = report.ops;
    std::string out = fmt::format("key {} is not linearizable: no order of its operations that "
                                  "respects real time explains what the clients observed.\n",
                                  value_table::quote(report.key));
    out += describe_operations(report, values);
    std::vector<bool> placed(ops.size(), false);
    value_id state = absent_id;
    std::size_t ok_placed = 0;
    const std::size_t prefix_size = outcome.best_prefix.size();
    out += "longest linearizable prefix:\n";
    for (std::size_t position = 0; position < prefix_size; ++position) {
        const op_record& op = ops[outcome.best_prefix[position]];
        const step_result next = step(op, state, values);
        REEF_ASSERT(next.why == refusal::none);
        state = next.next;
        placed[outcome.best_prefix[position]] = true;
        ok_placed += op.unknown ? 0 : 1;
        if (prefix_size - position <= report_prefix_tail_max) {
            out += fmt::format("  {}. {} {}{} => {}\n", position + 1, describe_call(op, values),
                               describe_interval(op), op.unknown ? " (assumed applied here)" : "",
                               values.describe(state));
        } else if (prefix_size - position == report_prefix_tail_max + 1) {
            out += fmt::format("  ... {} earlier operations\n", position + 1);
        }
    }
    if (prefix_size == 0) {
        out += "  (empty: not even the first operation fits)\n";
    }
    // The pending operation that completes first bounds what can come next.
    std::int64_t deadline_ns = never_ns;
    std::size_t deadline_op = ops.size();
    for (std::size_t i = 0; i < ops.size(); ++i) {
        if (!placed[i] && ops[i].completed_ns < deadline_ns) {
            deadline_ns = ops[i].completed_ns;
            deadline_op = i;
        }
    }
    REEF_ASSERT(deadline_op < ops.size());
    out += fmt::format("after it the value is {} ({} ok operations placed). The next one must "
                       "be invoked by {}, when #{} completed, and none of those fits:\n",
                       values.describe(state), ok_placed, deadline_ns, ops[deadline_op].index);
    std::size_t unknown_candidates = 0;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        if (placed[i] || ops[i].invoked_ns > deadline_ns) {
            continue;
        }
        if (ops[i].unknown) {
            unknown_candidates += 1;
            continue;
        }
        const step_result next = step(ops[i], state, values);
        out += fmt::format("  {} {}: {}\n", describe_call(ops[i], values),
                           describe_interval(ops[i]),
                           describe_refusal(ops[i], next.why, state, values));
    }
    if (unknown_candidates > 0) {
        out += fmt::format("  ({} unknown operations could also come next; placing them in any "
                           "order does not help)\n",
                           unknown_candidates);
    }
    return out;
}

struct key_check {
    verdict result = verdict::linearizable;
    std::uint64_t states_explored = 0;
    std::string explanation;
};

key_check check_key(std::string_view key, std::span<const kv_operation> history,
                    std::span<const std::size_t> indexes, std::uint64_t budget) {
    value_table values;
    std::vector<op_record> ops;
    key_report report{key, ops};
    for (const std::size_t index : indexes) {
        const kv_operation& source = history[index];
        REEF_ASSERT(source.key == key);
        if (source.status == kv_status::failed) {
            report.failed_dropped += 1;
            continue;
        }
        const bool unknown = source.status == kv_status::unknown;
        if (unknown && source.kind == kv_kind::get) {
            report.unknown_gets_dropped += 1; // it observed nothing and changed nothing
            continue;
        }
        op_record op;
        op.index = index;
        op.client = source.client;
        op.kind = source.kind;
        op.unknown = unknown;
        op.argument = values.intern(source.argument);
        op.expected = values.intern(source.expected);
        op.delta = source.delta;
        op.invoked_ns = source.invoked_ns;
        op.completed_ns = unknown ? never_ns : source.completed_ns;
        if (!unknown) {
            op.observed = source.kind == kv_kind::get ? values.intern(source.output) : absent_id;
            op.cas_succeeded = source.cas_succeeded;
            if (source.kind == kv_kind::incr) {
                op.incr_observed = parse_decimal(*source.output).value();
            }
        }
        ops.push_back(op);
    }
    std::sort(ops.begin(), ops.end(), [](const op_record& a, const op_record& b) {
        if (a.invoked_ns != b.invoked_ns) {
            return a.invoked_ns < b.invoked_ns;
        }
        return a.index < b.index;
    });
    const search_outcome outcome = search(ops, values, budget);
    key_check checked{outcome.result, outcome.states_explored, {}};
    if (outcome.result == verdict::violation) {
        checked.explanation = describe_violation(report, outcome, values);
    } else if (outcome.result == verdict::exhausted) {
        std::size_t ok_total = 0;
        std::size_t ok_best = 0;
        for (std::size_t i = 0; i < ops.size(); ++i) {
            ok_total += ops[i].unknown ? 0 : 1;
        }
        for (const std::size_t op : outcome.best_prefix) {
            ok_best += ops[op].unknown ? 0 : 1;
        }
        checked.explanation = fmt::format(
            "key {}: no verdict, the search gave up after {} states (budget {}); the longest "
            "linearizable prefix found placed {} of {} ok operations.\n",
            value_table::quote(key), outcome.states_explored, budget, ok_best, ok_total);
        checked.explanation += describe_operations(report, values);
    }
    return checked;
}

} // namespace

kv_check_result check_kv_history(std::span<const kv_operation> history,
                                 std::uint64_t states_budget_per_key) {
    kv_check_result result;
    for (std::size_t i = 0; i < history.size(); ++i) {
        if (const std::optional<std::string> problem = validate(history[i])) {
            result.linearizable = false;
            result.key = history[i].key;
            result.explanation = fmt::format("invalid history: operation #{} (client {}, key {}, "
                                             "{}): {}",
                                             i, history[i].client,
                                             value_table::quote(history[i].key),
                                             kind_name(history[i].kind), *problem);
            return result;
        }
    }
    std::map<std::string_view, std::vector<std::size_t>> by_key;
    for (std::size_t i = 0; i < history.size(); ++i) {
        by_key[history[i].key].push_back(i);
    }
    std::string exhausted_explanation;
    for (const auto& [key, indexes] : by_key) {
        key_check checked = check_key(key, history, indexes, states_budget_per_key);
        result.states_explored += checked.states_explored;
        if (checked.result == verdict::violation) {
            result.linearizable = false;
            result.key = std::string(key);
            result.explanation = std::move(checked.explanation);
            if (result.exhausted) {
                result.explanation += "(an earlier key got no verdict:\n" +
                                      exhausted_explanation + ")\n";
            }
            return result;
        }
        if (checked.result == verdict::exhausted && !result.exhausted) {
            result.exhausted = true;
            result.key = std::string(key);
            exhausted_explanation = std::move(checked.explanation);
        }
    }
    if (result.exhausted) {
        result.explanation = std::move(exhausted_explanation);
    } else {
        result.explanation = fmt::format("linearizable: {} operations over {} keys",
                                         history.size(), by_key.size());
    }
    return result;
}

} // namespace reef::sim::checkers
