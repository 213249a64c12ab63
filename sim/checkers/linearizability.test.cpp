#include "sim/checkers/linearizability.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "reef/base/prng.hpp"

namespace reef::sim::checkers {
namespace {

using history = std::vector<kv_operation>;

kv_operation get(std::uint64_t client, std::int64_t from, std::int64_t to,
                 std::optional<std::string> seen, std::string key = "k") {
    kv_operation op;
    op.client = client;
    op.key = std::move(key);
    op.kind = kv_kind::get;
    op.invoked_ns = from;
    op.completed_ns = to;
    op.output = std::move(seen);
    return op;
}

kv_operation put(std::uint64_t client, std::int64_t from, std::int64_t to, std::string value,
                 std::string key = "k") {
    kv_operation op;
    op.client = client;
    op.key = std::move(key);
    op.kind = kv_kind::put;
    op.argument = std::move(value);
    op.invoked_ns = from;
    op.completed_ns = to;
    return op;
}

kv_operation cas(std::uint64_t client, std::int64_t from, std::int64_t to,
                 std::optional<std::string> expected, std::string value, bool succeeded,
                 std::string key = "k") {
    kv_operation op;
    op.client = client;
    op.key = std::move(key);
    op.kind = kv_kind::cas;
    op.expected = std::move(expected);
    op.argument = std::move(value);
    op.cas_succeeded = succeeded;
    op.invoked_ns = from;
    op.completed_ns = to;
    return op;
}

kv_operation incr(std::uint64_t client, std::int64_t from, std::int64_t to, std::int64_t delta,
                  std::optional<std::string> reported, std::string key = "k") {
    kv_operation op;
    op.client = client;
    op.key = std::move(key);
    op.kind = kv_kind::incr;
    op.delta = delta;
    op.invoked_ns = from;
    op.completed_ns = to;
    op.output = std::move(reported);
    return op;
}

kv_operation with_status(kv_operation op, kv_status status) {
    op.status = status;
    return op;
}

kv_operation unknown(kv_operation op) { return with_status(std::move(op), kv_status::unknown); }
kv_operation failed(kv_operation op) { return with_status(std::move(op), kv_status::failed); }

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// ---- Hand-made histories ---------------------------------------------------------------------

TEST(linearizability, empty_history_is_linearizable) {
    const kv_check_result result = check_kv_history({});
    EXPECT_TRUE(result.linearizable);
    EXPECT_FALSE(result.exhausted);
    EXPECT_EQ(result.states_explored, 0U);
}

TEST(linearizability, sequential_history_of_every_kind) {
    const history ops = {
        get(1, 0, 1, std::nullopt),
        put(1, 2, 3, "a"),
        get(2, 4, 5, "a"),
        cas(2, 6, 7, "a", "b", true),
        cas(3, 8, 9, "a", "c", false),
        get(3, 10, 11, "b"),
        cas(1, 12, 13, std::nullopt, "x", false),
        incr(1, 0, 1, 5, "5", "n"),
        incr(2, 2, 3, -7, "-2", "n"),
        get(3, 4, 5, "-2", "n"),
        put(1, 6, 7, "40", "n"),
        incr(1, 8, 9, 2, "42", "n"),
        cas(2, 0, 1, std::nullopt, "first", true, "c"),
        get(2, 2, 3, "first", "c"),
    };
    const kv_check_result result = check_kv_history(ops);
    EXPECT_TRUE(result.linearizable) << result.explanation;
    EXPECT_FALSE(result.exhausted);
    EXPECT_GT(result.states_explored, 0U);
}

TEST(linearizability, overlapping_writes_explained_by_the_only_order_that_fits) {
    // Both puts overlap both reads: only "put b, get b, put a, get a" explains them.
    const history ops = {
        put(1, 0, 100, "a"),
        put(2, 0, 100, "b"),
        get(3, 10, 20, "b"),
        get(4, 30, 40, "a"),
    };
    EXPECT_TRUE(check_kv_history(ops).linearizable);
    // A third read of b after the a would need b to be written twice.
    history later = ops;
    later.push_back(get(5, 50, 60, "b"));
    const kv_check_result result = check_kv_history(later);
    EXPECT_FALSE(result.linearizable);
    EXPECT_FALSE(result.exhausted);
    EXPECT_EQ(result.key, "k");
}

TEST(linearizability, stale_read_after_a_completed_write) {
    const history ops = {
        put(1, 0, 10, "a"),
        put(2, 20, 30, "b"),
        get(3, 40, 50, "a"),
    };
    const kv_check_result result = check_kv_history(ops);
    EXPECT_FALSE(result.linearizable);
    EXPECT_FALSE(result.exhausted);
    EXPECT_EQ(result.key, "k");
    EXPECT_TRUE(contains(result.explanation, "longest linearizable prefix")) << result.explanation;
    EXPECT_TRUE(contains(result.explanation, "#2 client 3 get -> \"a\"")) << result.explanation;
    EXPECT_TRUE(contains(result.explanation, "it read \"a\", but the value is \"b\""))
        << result.explanation;
}

TEST(linearizability, two_increments_reporting_the_same_value) {
    const history ops = {
        incr(1, 0, 10, 1, "1"),
        incr(2, 5, 15, 1, "1"),
    };
    const kv_check_result result = check_kv_history(ops);
    EXPECT_FALSE(result.linearizable);
    EXPECT_TRUE(contains(result.explanation, "it reported 1, but the value is \"1\""))
        << result.explanation;
}

TEST(linearizability, cas_success_contradicting_an_earlier_completed_put) {
    const history ops = {
        put(1, 0, 10, "a"),
        put(2, 20, 30, "b"),
        cas(3, 40, 50, "a", "c", true),
    };
    const kv_check_result result = check_kv_history(ops);
    EXPECT_FALSE(result.linearizable);
    EXPECT_TRUE(contains(result.explanation, "it succeeded, but the value is \"b\""))
        << result.explanation;
}

TEST(linearizability, acknowledged_increment_lost_to_a_later_read) {
    const history ops = {
        incr(1, 0, 10, 1, "1"),
        incr(2, 20, 30, 1, "2"),
        get(3, 40, 50, "1"),
    };
    EXPECT_FALSE(check_kv_history(ops).linearizable);
}

TEST(linearizability, increment_of_a_value_that_is_not_a_number_cannot_happen) {
    const history ops = {
        put(1, 0, 10, "abc"),
        incr(2, 20, 30, 1, "1"),
    };
    const kv_check_result result = check_kv_history(ops);
    EXPECT_FALSE(result.linearizable);
    EXPECT_TRUE(contains(result.explanation, "not a decimal int64")) << result.explanation;
    // An unknown one simply never happened.
    const history maybe = {
        put(1, 0, 10, "abc"),
        unknown(incr(2, 20, 30, 1, std::nullopt)),
        get(3, 40, 50, "abc"),
    };
    EXPECT_TRUE(check_kv_history(maybe).linearizable);
}

TEST(linearizability, completion_equal_to_invocation_is_concurrent) {
    // Ties overlap: the read may come before the put.
    EXPECT_TRUE(check_kv_history(history{put(1, 0, 10, "a"), get(2, 10, 20, std::nullopt)})
                    .linearizable);
    EXPECT_FALSE(check_kv_history(history{put(1, 0, 10, "a"), get(2, 11, 20, std::nullopt)})
                     .linearizable);
}

TEST(linearizability, unknown_write_must_be_assumed_applied_to_explain_a_read) {
    const history ops = {
        put(1, 0, 10, "a"),
        unknown(put(2, 20, 0, "b")),
        get(3, 30, 40, "b"),
        get(3, 50, 60, "b"),
    };
    EXPECT_TRUE(check_kv_history(ops).linearizable);
    // But not before it was invoked.
    const history too_early = {
        put(1, 0, 10, "a"),
        get(3, 30, 40, "b"),
        unknown(put(2, 50, 0, "b")),
    };
    EXPECT_FALSE(check_kv_history(too_early).linearizable);
}

TEST(linearizability, unknown_operations_assumed_not_applied) {
    const history ops = {
        put(1, 0, 10, "1"),
        unknown(incr(2, 20, 0, 5, "999")), // the output of an unknown operation is ignored
        unknown(cas(4, 20, 0, "1", "z", true)),
        get(3, 30, 40, "1"),
        incr(3, 50, 60, 1, "2"),
        get(3, 70, 80, "2"),
    };
    const kv_check_result result = check_kv_history(ops);
    EXPECT_TRUE(result.linearizable) << result.explanation;
}

TEST(linearizability, unknown_increment_applied_exactly_once) {
    const history ops = {
        incr(1, 0, 10, 1, "1"),
        unknown(incr(2, 20, 0, 10, std::nullopt)),
        get(3, 30, 40, "11"),
        get(3, 50, 60, "11"),
    };
    EXPECT_TRUE(check_kv_history(ops).linearizable);
    history twice = ops;
    twice.push_back(get(3, 70, 80, "21"));
    EXPECT_FALSE(check_kv_history(twice).linearizable);
}

TEST(linearizability, failed_operations_are_ignored) {
    const history ops = {
        put(1, 0, 10, "a"),
        failed(put(2, 20, 30, "b")),
        failed(incr(2, 20, 30, 1, "nonsense")),
        failed(cas(2, 20, 30, "a", "c", true)),
        get(3, 40, 50, "a"),
    };
    const kv_check_result result = check_kv_history(ops);
    EXPECT_TRUE(result.linearizable) << result.explanation;
}

TEST(linearizability, names_the_one_bad_key_among_many) {
    history ops;
    for (const std::string key : {"alpha", "beta", "gamma", "delta"}) {
        ops.push_back(put(1, 0, 10, "v-" + key, key));
        ops.push_back(get(2, 20, 30, "v-" + key, key));
    }
    ops.push_back(get(3, 40, 50, "v-alpha", "gamma"));
    const kv_check_result result = check_kv_history(ops);
    EXPECT_FALSE(result.linearizable);
    EXPECT_EQ(result.key, "gamma");
    EXPECT_TRUE(contains(result.explanation, "key \"gamma\"")) << result.explanation;
}

TEST(linearizability, order_of_the_input_does_not_matter) {
    history ops = {
        put(1, 0, 100, "a"),  put(2, 0, 100, "b"),   get(3, 10, 20, "b"),
        get(4, 30, 40, "a"),  put(1, 0, 10, "x", "o"), get(2, 20, 30, "x", "o"),
        get(5, 50, 60, "b"),
    };
    const kv_check_result first = check_kv_history(ops);
    std::reverse(ops.begin(), ops.end());
    const kv_check_result second = check_kv_history(ops);
    EXPECT_FALSE(first.linearizable);
    EXPECT_FALSE(second.linearizable);
    EXPECT_EQ(first.key, "k");
    EXPECT_EQ(second.key, "k");
    EXPECT_EQ(first.states_explored, second.states_explored);
}

TEST(linearizability, rejects_malformed_operations) {
    const auto expect_invalid = [](const kv_operation& bad, const std::string& why) {
        const history ops = {put(1, 0, 10, "a", "x"), bad};
        const kv_check_result result = check_kv_history(ops);
        EXPECT_FALSE(result.linearizable);
        EXPECT_FALSE(result.exhausted);
        EXPECT_EQ(result.key, bad.key);
        EXPECT_TRUE(contains(result.explanation, "invalid history: operation #1"))
            << result.explanation;
        EXPECT_TRUE(contains(result.explanation, why)) << result.explanation;
    };
    expect_invalid(put(1, 20, 10, "a"), "completed_ns 10 is before invoked_ns 20");
    expect_invalid(failed(get(1, 20, 10, "a")), "completed_ns 10 is before invoked_ns 20");
    kv_operation no_new_value = cas(1, 0, 10, "a", "b", true);
    no_new_value.argument.reset();
    expect_invalid(no_new_value, "a cas needs `argument`");
    kv_operation put_with_expected = put(1, 0, 10, "a");
    put_with_expected.expected = "b";
    expect_invalid(put_with_expected, "`expected` is set on a put");
    kv_operation put_without_value = put(1, 0, 10, "a");
    put_without_value.argument.reset();
    expect_invalid(put_without_value, "a put needs `argument`");
    expect_invalid(incr(1, 0, 10, 1, std::nullopt), "an ok incr needs `output`");
    expect_invalid(incr(1, 0, 10, 1, "one"), "is not decimal int64 text");
    // Unknown operations have no completion or output to check.
    EXPECT_TRUE(check_kv_history(history{unknown(incr(1, 20, 10, 1, std::nullopt))}).linearizable);
}

TEST(linearizability, budget_exhaustion_is_no_verdict_not_a_violation) {
    history ops;
    // Many overlapping writes and unknown writes: more than a handful of states to explore.
    for (std::int64_t i = 0; i < 8; ++i) {
        ops.push_back(put(static_cast<std::uint64_t>(i), 0, 100, std::to_string(i), "wide"));
        ops.push_back(unknown(put(100, 0, 0, "u" + std::to_string(i), "wide")));
    }
    ops.push_back(get(9, 200, 210, "u3", "wide"));
    const kv_check_result complete = check_kv_history(ops);
    ASSERT_TRUE(complete.linearizable) << complete.explanation;
    ASSERT_GT(complete.states_explored, 5U);

    const kv_check_result cut = check_kv_history(ops, 5);
    EXPECT_TRUE(cut.linearizable);
    EXPECT_TRUE(cut.exhausted);
    EXPECT_EQ(cut.key, "wide");
    EXPECT_LE(cut.states_explored, 5U);
    EXPECT_TRUE(contains(cut.explanation, "no verdict")) << cut.explanation;

    // A violation on a later key is still reported as one.
    ops.push_back(put(1, 0, 10, "a", "x"));
    ops.push_back(get(1, 20, 30, "b", "x"));
    const kv_check_result both = check_kv_history(ops, 5);
    EXPECT_FALSE(both.linearizable);
    EXPECT_TRUE(both.exhausted);
    EXPECT_EQ(both.key, "x");
}

// ---- Generated histories ---------------------------------------------------------------------

struct generated {
    history ops;
    std::vector<std::size_t> ok_gets; // indexes of ok gets in `ops`
};

struct generator_limits {
    std::size_t keys_count = 3;
    std::size_t clients_per_key = 5;
    std::size_t ops_per_client = 8;
    double unknown_chance = 0.1;
    double never_applied_chance = 0.05;
    double failed_chance = 0.05;
};

/// Clients call one after another, so a key has at most `clients_per_key` overlapping calls. Each
/// call takes effect at a random point of its interval; replaying the calls in the order of those
/// points against the model gives the outputs, so the history is linearizable by construction.
generated generate(prng& random, const generator_limits& limits) {
    static const std::vector<std::string> alphabet = {"0", "1", "7", "a", "b"};
    struct planned {
        std::int64_t point_ns;
        kv_operation op;
    };
    generated out;
    for (std::size_t key_index = 0; key_index < limits.keys_count; ++key_index) {
        const std::string key = "key-" + std::to_string(key_index);
        std::vector<planned> plan;
        for (std::uint64_t client = 0; client < limits.clients_per_key; ++client) {
            std::int64_t now = static_cast<std::int64_t>(random.below(50));
            for (std::size_t i = 0; i < limits.ops_per_client; ++i) {
                kv_operation op;
                op.client = client;
                op.key = key;
                op.kind = static_cast<kv_kind>(random.below(4));
                op.invoked_ns = now;
                op.completed_ns = now + static_cast<std::int64_t>(random.below(60));
                // The point lies in [invoked, completed] at a finer scale, and the client in
                // its low bits keeps the points of one key distinct.
                const auto span = static_cast<std::uint64_t>(op.completed_ns - op.invoked_ns);
                const std::int64_t point =
                    (op.invoked_ns + static_cast<std::int64_t>(random.below(span + 1))) * 16 +
                    static_cast<std::int64_t>(client);
                plan.push_back({point, op});
                now = op.completed_ns + 1 + static_cast<std::int64_t>(random.below(30));
            }
        }
        std::sort(plan.begin(), plan.end(),
                  [](const planned& a, const planned& b) { return a.point_ns < b.point_ns; });
        std::optional<std::string> value;
        for (planned& item : plan) {
            kv_operation& op = item.op;
            const auto pick = [&] { return alphabet[random.below(alphabet.size())]; };
            if (random.chance(limits.failed_chance + limits.never_applied_chance)) {
                // Never took effect: failed (reported) or unknown (never applied).
                op.kind = kv_kind::put;
                op.argument = pick();
                op.status = random.chance(0.5) ? kv_status::failed : kv_status::unknown;
                out.ops.push_back(op);
                continue;
            }
            const bool numeric =
                !value || std::all_of(value->begin(), value->end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
            const std::optional<std::int64_t> number =
                numeric ? std::optional<std::int64_t>(value ? std::stoll(*value) : 0)
                        : std::nullopt;
            if (op.kind == kv_kind::incr && !number) {
                op.kind = kv_kind::get;
            }
            switch (op.kind) {
            case kv_kind::get:
                op.output = value;
                break;
            case kv_kind::put:
                op.argument = pick();
                value = op.argument;
                break;
            case kv_kind::cas:
                op.expected = random.chance(0.2) ? std::nullopt : std::optional(pick());
                op.argument = pick();
                op.cas_succeeded = op.expected == value;
                if (op.cas_succeeded) {
                    value = op.argument;
                }
                break;
            case kv_kind::incr:
                op.delta = static_cast<std::int64_t>(random.below(5));
                value = std::to_string(*number + op.delta);
                op.output = value;
                break;
            }
            if (random.chance(limits.unknown_chance)) {
                op.status = kv_status::unknown;
                op.output = random.chance(0.5) ? std::optional<std::string>("garbage")
                                               : std::nullopt;
                op.cas_succeeded = random.chance(0.5);
            } else if (op.kind == kv_kind::get) {
                out.ok_gets.push_back(out.ops.size());
            }
            out.ops.push_back(op);
        }
    }
    return out;
}

void shuffle(prng& random, generated& history_out) {
    // Fisher-Yates, keeping ok_gets pointing at the same operations.
    std::vector<std::size_t> order(history_out.ops.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    for (std::size_t i = order.size(); i > 1; --i) {
        std::swap(order[i - 1], order[random.below(i)]);
    }
    std::vector<std::size_t> where(order.size());
    history shuffled;
    for (std::size_t i = 0; i < order.size(); ++i) {
        shuffled.push_back(history_out.ops[order[i]]);
        where[order[i]] = i;
    }
    for (std::size_t& index : history_out.ok_gets) {
        index = where[index];
    }
    history_out.ops = std::move(shuffled);
}

RC_GTEST_PROP(linearizability, widened_sequential_executions_are_linearizable,
              (std::uint64_t seed)) {
    prng random(seed);
    generator_limits limits;
    limits.keys_count = 1 + random.below(3);
    limits.clients_per_key = 1 + random.below(5);
    limits.ops_per_client = 1 + random.below(10);
    generated made = generate(random, limits);
    shuffle(random, made);
    const kv_check_result result = check_kv_history(made.ops);
    RC_ASSERT(result.linearizable);
    RC_ASSERT(!result.exhausted);
}

RC_GTEST_PROP(linearizability, a_read_of_a_value_never_written_is_caught, (std::uint64_t seed)) {
    prng random(seed);
    generator_limits limits;
    limits.keys_count = 1 + random.below(3);
    limits.clients_per_key = 1 + random.below(5);
    limits.ops_per_client = 1 + random.below(10);
    generated made = generate(random, limits);
    RC_PRE(!made.ok_gets.empty());
    shuffle(random, made);
    const std::size_t victim = made.ok_gets[random.below(made.ok_gets.size())];
    made.ops[victim].output = "never-written";
    const kv_check_result result = check_kv_history(made.ops);
    RC_ASSERT(!result.linearizable);
    RC_ASSERT(!result.exhausted);
    RC_ASSERT(result.key == made.ops[victim].key);
}

/// The definition, by brute force: some subset of the unknown calls plus every ok call, in some
/// order that respects real time, is a legal sequential execution.
bool linearizable_by_brute_force(const history& ops) {
    std::vector<std::size_t> live;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        if (ops[i].status != kv_status::failed) {
            live.push_back(i);
        }
    }
    const auto before = [&](const kv_operation& a, const kv_operation& b) {
        return a.status == kv_status::ok && a.completed_ns < b.invoked_ns;
    };
    const auto legal = [&](const std::vector<std::size_t>& order) {
        std::optional<std::string> value;
        for (std::size_t at = 0; at < order.size(); ++at) {
            const kv_operation& op = ops[order[at]];
            for (std::size_t later = at + 1; later < order.size(); ++later) {
                if (before(ops[order[later]], op)) {
                    return false;
                }
            }
            const bool ok = op.status == kv_status::ok;
            switch (op.kind) {
            case kv_kind::get:
                if (ok && op.output != value) {
                    return false;
                }
                break;
            case kv_kind::put:
                value = op.argument;
                break;
            case kv_kind::cas:
                if (ok && (value == op.expected) != op.cas_succeeded) {
                    return false;
                }
                value = value == op.expected ? op.argument : value;
                break;
            case kv_kind::incr: {
                if (value && (value->empty() || value->find_first_not_of("-0123456789") !=
                                                    std::string::npos)) {
                    return false;
                }
                const std::int64_t current = value ? std::stoll(*value) : 0;
                const std::string next = std::to_string(current + op.delta);
                if (ok && op.output != next) {
                    return false;
                }
                value = next;
                break;
            }
            }
        }
        return true;
    };
    std::vector<std::size_t> unknowns;
    std::vector<std::size_t> oks;
    for (const std::size_t i : live) {
        (ops[i].status == kv_status::ok ? oks : unknowns).push_back(i);
    }
    for (std::uint64_t subset = 0; subset < (std::uint64_t{1} << unknowns.size()); ++subset) {
        std::vector<std::size_t> order = oks;
        for (std::size_t u = 0; u < unknowns.size(); ++u) {
            if ((subset >> u) & 1U) {
                order.push_back(unknowns[u]);
            }
        }
        std::sort(order.begin(), order.end());
        do {
            if (legal(order)) {
                return true;
            }
        } while (std::next_permutation(order.begin(), order.end()));
    }
    return false;
}

RC_GTEST_PROP(linearizability, agrees_with_brute_force_on_small_random_histories,
              (std::uint64_t seed)) {
    prng random(seed);
    static const std::vector<std::optional<std::string>> values = {std::nullopt, "1", "2", "x"};
    const auto pick = [&] { return values[random.below(values.size())]; };
    const auto pick_present = [&] { return *values[1 + random.below(values.size() - 1)]; };
    history ops;
    const std::size_t count = 1 + random.below(7);
    for (std::size_t i = 0; i < count; ++i) {
        kv_operation op;
        op.client = i;
        op.key = "k";
        op.kind = static_cast<kv_kind>(random.below(4));
        op.invoked_ns = static_cast<std::int64_t>(random.below(20));
        op.completed_ns = op.invoked_ns + static_cast<std::int64_t>(random.below(10));
        const std::uint64_t status = random.below(10);
        op.status = status < 7   ? kv_status::ok
                    : status < 9 ? kv_status::unknown
                                 : kv_status::failed;
        switch (op.kind) {
        case kv_kind::get:
            op.output = pick();
            break;
        case kv_kind::put:
            op.argument = pick_present();
            break;
        case kv_kind::cas:
            op.expected = pick();
            op.argument = pick_present();
            op.cas_succeeded = random.chance(0.5);
            break;
        case kv_kind::incr:
            op.delta = static_cast<std::int64_t>(random.below(3));
            op.output = std::to_string(random.below(4));
            break;
        }
        ops.push_back(op);
    }
    const kv_check_result result = check_kv_history(ops);
    RC_ASSERT(!result.exhausted);
    RC_ASSERT(result.linearizable == linearizable_by_brute_force(ops));
}

TEST(linearizability, thousands_of_operations_over_many_keys_stay_cheap) {
    prng random(20240611);
    generator_limits limits;
    limits.keys_count = 20;
    limits.clients_per_key = 5;
    limits.ops_per_client = 20;
    limits.unknown_chance = 0.03;
    limits.never_applied_chance = 0.01;
    limits.failed_chance = 0.02;
    generated made = generate(random, limits);
    ASSERT_EQ(made.ops.size(), 2000U);
    shuffle(random, made);
    const kv_check_result result = check_kv_history(made.ops);
    EXPECT_TRUE(result.linearizable) << result.explanation;
    EXPECT_FALSE(result.exhausted);
    RecordProperty("states_explored", std::to_string(result.states_explored));
    std::printf("states explored: %llu\n", static_cast<unsigned long long>(result.states_explored));
    EXPECT_LT(result.states_explored, 100'000U);

    // One bad read in one key: found, and the search of that key stays bounded too.
    ASSERT_FALSE(made.ok_gets.empty());
    const std::size_t victim = made.ok_gets[made.ok_gets.size() / 2];
    made.ops[victim].output = "never-written";
    const kv_check_result bad = check_kv_history(made.ops);
    EXPECT_FALSE(bad.linearizable);
    EXPECT_EQ(bad.key, made.ops[victim].key);
    std::printf("states explored with one bad read: %llu\n",
                static_cast<unsigned long long>(bad.states_explored));
    EXPECT_LT(bad.states_explored, 100'000U);
}

} // namespace
} // namespace reef::sim::checkers
