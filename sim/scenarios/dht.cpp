// Scenario `dht`: the real Kademlia cores (dht::routing_table, dht::lookup, dht::record_store) of
// N nodes on the virtual clock and the simulated network. docs/design/simulation.md ("DHT") and
// docs/design/dht.md ("Simulation") describe what it checks.
//
//  1. Join: node i joins through one random earlier node by looking up its own id; every node
//     observes each peer that queries it and each peer that answers it.
//  2. Lookups: random keys from random nodes; each must return exactly the true k closest live
//     nodes (brute force over the live set, the origin excluded: a lookup never returns its own
//     node). The distribution of lookup rounds is printed.
//  3. Records: a few hundred signed records are stored on the k closest nodes of their keys.
//  4. Churn: 20 % of the nodes crash in waves while lookups run; >= 99 % of them must return at
//     least 18 of the true 20 closest live nodes. Afterwards every record must still be readable.

#include "sim/scenarios/scenarios.hpp"

#include <malloc.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "reef/base/assert.hpp"
#include "reef/base/prng.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/dht/lookup.hpp"
#include "reef/dht/record.hpp"
#include "reef/dht/record_store.hpp"
#include "reef/dht/routing_table.hpp"
#include "sim/network.hpp"
#include "sim/scenarios/common.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace reef::sim::detail {

namespace {

constexpr std::size_t k = 20;
constexpr std::size_t probes_count = 1000;
constexpr std::size_t churn_probes_count = 2000;
constexpr std::size_t records_count = 300;
constexpr std::size_t publishers_count = 30;
constexpr std::size_t churn_waves = 5;
/// Lookups running at once across the network (a new one waits for room).
constexpr std::size_t lookups_in_flight_max = 64;
constexpr double churn_fraction = 0.20;
/// Under churn a lookup succeeds when it returns at least this many of the true k closest.
constexpr std::size_t churn_hits_min = 18;
constexpr double churn_success_min = 0.99;
/// Record expiries are wall-clock seconds; the run starts at this unix time.
constexpr std::uint64_t unix_epoch_of_run = 1'800'000'000;

/// Resident set size in bytes, from /proc/self/statm (0 when unreadable).
std::uint64_t resident_bytes() {
    std::FILE* file = std::fopen("/proc/self/statm", "r");
    if (file == nullptr) {
        return 0;
    }
    unsigned long long size_pages = 0;
    unsigned long long resident_pages = 0;
    const int read = std::fscanf(file, "%llu %llu", &size_pages, &resident_pages);
    std::fclose(file);
    return read == 2 ? resident_pages * 4096ULL : 0;
}

/// Bytes the C heap has handed out and not taken back (glibc mallinfo2: small-chunk arena plus
/// mmapped chunks). Every allocation of the cores goes through it.
std::uint64_t heap_bytes() {
    const struct mallinfo2 info = mallinfo2();
    return static_cast<std::uint64_t>(info.uordblks) + static_cast<std::uint64_t>(info.hblkhd);
}

double kib_per(std::uint64_t bytes, std::size_t count) {
    return static_cast<double>(bytes) / 1024.0 / static_cast<double>(count);
}

std::uint64_t prefix_of(const id256& id) {
    std::uint64_t word = 0;
    for (std::size_t b = 0; b < 8; ++b) {
        word = (word << 8U) | id.bytes()[b];
    }
    return word;
}

enum class job : std::uint8_t { none, join, probe, store, read };

struct node_state {
    node_id id;
    std::string address;
    std::unique_ptr<dht::routing_table> table;
    std::unique_ptr<dht::lookup> active;
    std::unique_ptr<dht::record_store> store;
    std::uint64_t next_query_id = 1;
    job purpose = job::none;
    std::uint32_t job_index = 0;
    bool alive = true;
    bool doomed = false; // chosen to crash in the churn phase
};

struct message {
    node_index from = 0;
    node_index to = 0;
    bool is_response = false;
    std::uint64_t query_id = 0;
    node_id target;
    instant query_sent;
    std::vector<dht::contact> contacts;
};

/// The outcome of one lookup checked against the brute-force truth.
struct probe_outcome {
    std::size_t rounds = 0;
    std::size_t hits = 0; // how many of the true k closest live nodes the result holds
    bool exact = false;   // hits == k and nothing else
};

class dht_run {
public:
    dht_run(const scenario_options& options, std::size_t nodes_count)
        : seed_(options.seed), random_(options.seed ^ 0x6468742d73696dULL),
          network_(nodes_count, options.seed, network_for(options)),
          scheduler_(nodes_count, std::size_t{1} << 22U),
          check_invariants_(options.check_invariants) {
        lookup_limits_.result_size = k;
        routing_limits_.bucket_size = k;
        REEF_ASSERT(lookup_limits_.validate().ok());
        nodes_.resize(nodes_count);
        for (std::size_t i = 0; i < nodes_count; ++i) {
            nodes_[i].id = random_id(random_);
            nodes_[i].address = fmt::format("{}:7400", i);
        }
        by_id_.reserve(nodes_count);
        for (std::size_t i = 0; i < nodes_count; ++i) {
            by_id_.emplace_back(nodes_[i].id, static_cast<node_index>(i));
        }
        std::sort(by_id_.begin(), by_id_.end());
    }

    std::size_t size() const { return nodes_.size(); }
    instant now() const { return scheduler_.now(); }
    prng& random() { return random_; }
    node_state& at(node_index index) { return nodes_[index]; }
    trace_hasher& trace() { return trace_; }
    std::uint64_t events() const { return events_; }
    std::uint64_t messages() const { return messages_; }
    std::uint64_t ping_effects() const { return pings_; }

    /// Process everything due up to `limit`.
    void run_until(instant limit) {
        while (auto next = scheduler_.pop_until(limit)) {
            ++events_;
            if (next->is_timer) {
                node_state& owner = nodes_[next->timer.node];
                if (owner.active) {
                    owner.active->on_tick(now());
                    pump(next->timer.node);
                }
            } else {
                deliver(next->item.payload);
            }
        }
        if (limit != instant::never()) {
            scheduler_.advance_to(limit);
        }
    }

    /// Lookups running now.
    std::size_t active_count() const { return active_count_; }

    /// Process events one at a time until fewer than `limit` lookups run.
    void run_while_busy(std::size_t limit) {
        while (active_count_ >= limit) {
            auto next = scheduler_.pop_until(instant::never());
            REEF_ASSERT(next.has_value());
            ++events_;
            if (next->is_timer) {
                if (nodes_[next->timer.node].active) {
                    nodes_[next->timer.node].active->on_tick(now());
                    pump(next->timer.node);
                }
            } else {
                deliver(next->item.payload);
            }
        }
    }

    /// Give node `index` its routing table (the moment it starts).
    void start_node(node_index index) {
        node_state& node = nodes_[index];
        node.table =
            std::make_unique<dht::routing_table>(routing_limits_, node.id, seed_ + index, now());
    }

    /// Start a lookup of `target` at `origin` from `initial` (or from its table's closest).
    void start_lookup(node_index origin, const node_id& target, job purpose,
                      std::uint32_t job_index, std::optional<node_index> through = std::nullopt) {
        node_state& node = nodes_[origin];
        REEF_ASSERT(node.alive && !node.active && node.table);
        std::vector<dht::contact> initial;
        if (through) {
            initial.push_back(contact_of(*through, std::nullopt));
        } else {
            initial = node.table->closest(target, k);
        }
        node.active = std::make_unique<dht::lookup>(lookup_limits_, node.id, target, initial,
                                                    node.next_query_id, now());
        node.purpose = purpose;
        node.job_index = job_index;
        ++active_count_;
        pump(origin);
    }

    /// Crash a node: it stops answering, its lookup is abandoned; its peers are not told.
    void crash(node_index index) {
        node_state& node = nodes_[index];
        node.alive = false;
        if (node.active) {
            node.active.reset();
            --active_count_;
        }
        scheduler_.cancel_timer(index);
        trace_.add_u64(0xdead0000ULL + index);
    }

    /// The true k closest live nodes to `target`, `excluded` left out, closest first.
    std::vector<node_index> truth(const node_id& target, node_index excluded) const {
        std::vector<std::pair<id256, node_index>> live;
        live.reserve(nodes_.size());
        const std::uint64_t target_prefix = prefix_of(target);
        // Cheap pre-filter on the 64-bit prefix of the distance, then exact ordering.
        std::vector<std::pair<std::uint64_t, node_index>> prefixes;
        prefixes.reserve(nodes_.size());
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (nodes_[i].alive && nodes_[i].table && i != excluded) {
                prefixes.emplace_back(prefix_of(nodes_[i].id) ^ target_prefix,
                                      static_cast<node_index>(i));
            }
        }
        const std::size_t wanted = std::min(prefixes.size(), k + 8);
        std::nth_element(prefixes.begin(), prefixes.begin() + static_cast<std::ptrdiff_t>(
                                                                  wanted > 0 ? wanted - 1 : 0),
                         prefixes.end());
        const std::uint64_t cutoff = wanted > 0 ? prefixes[wanted - 1].first : 0;
        for (const auto& [distance, index] : prefixes) {
            if (distance <= cutoff) {
                live.emplace_back(nodes_[index].id.distance_to(target), index);
            }
        }
        std::sort(live.begin(), live.end());
        std::vector<node_index> out;
        for (std::size_t i = 0; i < live.size() && i < k; ++i) {
            out.push_back(live[i].second);
        }
        return out;
    }

    probe_outcome check(node_index origin, const dht::lookup_result& result,
                        const node_id& target) const {
        const auto expected = truth(target, origin);
        probe_outcome outcome;
        outcome.rounds = result.rounds;
        std::vector<node_index> got;
        for (const auto& peer : result.closest) {
            got.push_back(index_of(peer.id));
        }
        for (const node_index wanted : expected) {
            if (std::find(got.begin(), got.end(), wanted) != got.end()) {
                ++outcome.hits;
            }
        }
        outcome.exact = outcome.hits == expected.size() && got.size() == expected.size();
        return outcome;
    }

    node_index index_of(const node_id& id) const {
        const auto found = std::lower_bound(
            by_id_.begin(), by_id_.end(), id,
            [](const std::pair<node_id, node_index>& entry, const node_id& key) {
                return entry.first < key;
            });
        REEF_ASSERT(found != by_id_.end() && found->first == id);
        return found->second;
    }

    dht::contact contact_of(node_index index, std::optional<duration> rtt) const {
        return dht::contact{nodes_[index].id, nodes_[index].address, rtt, instant{}};
    }

    /// Called when a lookup at `origin` finishes; set by the scenario.
    std::function<void(node_index, const dht::lookup_result&)> on_done;

private:
    static network_options network_for(const scenario_options& options) {
        network_options chosen;
        chosen.loss = options.loss.value_or(0.0);
        return chosen;
    }

    std::uint32_t new_message(message&& item) {
        if (!free_.empty()) {
            const std::uint32_t slot = free_.back();
            free_.pop_back();
            slab_[slot] = std::move(item);
            return slot;
        }
        slab_.push_back(std::move(item));
        return static_cast<std::uint32_t>(slab_.size() - 1);
    }

    void send(message&& item) {
        ++messages_;
        const node_index from = item.from;
        const node_index to = item.to;
        const auto arrival = network_.send(now(), from, to);
        if (!arrival) {
            return; // lost: the querier times out
        }
        const std::uint32_t slot = new_message(std::move(item));
        const bool queued = scheduler_.schedule(*arrival, event_kind::arrive, to, 0, slot);
        REEF_ASSERT(queued);
    }

    void deliver(std::uint32_t slot) {
        message item = std::move(slab_[slot]);
        slab_[slot] = message{};
        free_.push_back(slot);
        node_state& receiver = nodes_[item.to];
        trace_.add_u64((static_cast<std::uint64_t>(item.from) << 32U) | item.to);
        trace_.add_u64(static_cast<std::uint64_t>(now().ns()));
        if (!receiver.alive) {
            return;
        }
        if (!item.is_response) {
            // Every valid message feeds the table; then answer from it.
            (void)receiver.table->observe(contact_of(item.from, std::nullopt), now());
            drain_table(item.to);
            message answer;
            answer.from = item.to;
            answer.to = item.from;
            answer.is_response = true;
            answer.query_id = item.query_id;
            answer.query_sent = item.query_sent;
            answer.contacts = receiver.table->closest(item.target, k);
            send(std::move(answer));
            return;
        }
        if (!receiver.active) {
            return; // a late answer to a finished lookup
        }
        const auto outcome = receiver.active->on_response(now(), item.query_id,
                                                          nodes_[item.from].id, item.contacts);
        if (outcome == dht::response_outcome::accepted) {
            (void)receiver.table->observe(contact_of(item.from, now() - item.query_sent), now());
            drain_table(item.to);
        }
        pump(item.to);
    }

    /// Pings of a full bucket's oldest contact are answered at once by the liveness oracle: an
    /// answer is an observe(), a crashed contact a ping timeout. Refreshes are not run here.
    void drain_table(node_index index) {
        dht::routing_table& table = *nodes_[index].table;
        for (auto effects = table.take_effects(); !effects.empty();
             effects = table.take_effects()) {
            for (const auto& effect : effects) {
                if (const auto* ping = std::get_if<dht::ping_request>(&effect)) {
                    ++pings_;
                    const node_index target = index_of(ping->target.id);
                    if (nodes_[target].alive) {
                        (void)table.observe(contact_of(target, ping->target.rtt), now());
                    } else {
                        table.on_ping_timeout(ping->target.id, now());
                    }
                }
            }
        }
        if (check_invariants_ && (events_ % 997) == 0) {
            table.check_invariants();
        }
    }

    void pump(node_index origin) {
        node_state& node = nodes_[origin];
        dht::lookup& running = *node.active;
        for (auto& outgoing : running.take_effects()) {
            message item;
            item.from = origin;
            item.to = index_of(outgoing.to.id);
            item.query_id = outgoing.query_id;
            item.target = running.target();
            item.query_sent = now();
            send(std::move(item));
        }
        if (check_invariants_ && (events_ % 101) == 0) {
            running.check_invariants();
        }
        if (!running.done()) {
            scheduler_.arm_timer(origin, running.next_deadline());
            return;
        }
        scheduler_.cancel_timer(origin);
        node.next_query_id = running.next_query_id();
        const dht::lookup_result result = running.result();
        for (const auto& peer : result.closest) {
            trace_.add_u64(prefix_of(peer.id));
        }
        trace_.add_u64(result.rounds);
        std::unique_ptr<dht::lookup> finished = std::move(node.active);
        --active_count_;
        if (on_done) {
            on_done(origin, result);
        }
    }

    std::uint64_t seed_;
    prng random_;
    network network_;
    scheduler scheduler_;
    bool check_invariants_;
    dht::routing_config routing_limits_;
    dht::lookup_config lookup_limits_;
    std::vector<node_state> nodes_;
    std::vector<std::pair<node_id, node_index>> by_id_;
    std::vector<message> slab_;
    std::vector<std::uint32_t> free_;
    trace_hasher trace_;
    std::uint64_t events_ = 0;
    std::uint64_t messages_ = 0;
    std::uint64_t pings_ = 0;
    std::size_t active_count_ = 0;
};

template <typename... Args>
void say(std::FILE* out, fmt::format_string<Args...> format, Args&&... args) {
    if (out != nullptr) {
        fmt::print(out, format, std::forward<Args>(args)...);
        fmt::print(out, "\n");
        std::fflush(out);
    }
}

/// Rounds per lookup: histogram, p50/p90/max.
void print_rounds(std::FILE* out, const std::string& label, std::vector<std::size_t> rounds) {
    if (rounds.empty()) {
        return;
    }
    std::sort(rounds.begin(), rounds.end());
    const auto rank = [&](double q) {
        const auto position = static_cast<std::size_t>(q * static_cast<double>(rounds.size()));
        return rounds[std::min(rounds.size() - 1, position == 0 ? 0 : position - 1)];
    };
    double sum = 0;
    for (const std::size_t r : rounds) {
        sum += static_cast<double>(r);
    }
    say(out, "  {} rounds ({} lookups): mean {:.2f}, p50 {}, p90 {}, max {}", label, rounds.size(),
        sum / static_cast<double>(rounds.size()), rank(0.5), rank(0.9), rounds.back());
    std::vector<std::size_t> counts(rounds.back() + 1, 0);
    for (const std::size_t r : rounds) {
        counts[r]++;
    }
    for (std::size_t r = 0; r < counts.size(); ++r) {
        if (counts[r] == 0) {
            continue;
        }
        const std::size_t bar = (counts[r] * 50 + rounds.size() - 1) / rounds.size();
        say(out, "    {:>2} rounds {:>6}  {}", r, counts[r], std::string(bar, '#'));
    }
}

struct stored_record {
    dht::record rec;
    std::vector<node_index> holders;
};

scenario_result run_dht(const scenario_options& options) {
    const std::size_t n = options.nodes_count != 0 ? options.nodes_count : 10'000;
    scenario_result outcome;
    std::FILE* out = options.out;
    say(out, "scenario dht: {} nodes, seed {}, k {}, loss {}", n, options.seed, k,
        options.loss.value_or(0.0));
    if (n < 2 * k) {
        outcome.ok = false;
        outcome.failure = fmt::format("the dht scenario needs at least {} nodes", 2 * k);
        return outcome;
    }
    const std::uint64_t rss_before = resident_bytes();
    const std::uint64_t heap_before = heap_bytes();
    dht_run run(options, n);
    // The simulator's own structures (node slots, id index, network, scheduler) are allocated
    // now; what the heap gains from here on is the cores' state: routing tables and, later,
    // lookups and record stores.
    const std::uint64_t heap_simulator = heap_bytes();
    prng& random = run.random();
    const auto fail = [&](std::string why) {
        if (outcome.ok) {
            outcome.ok = false;
            outcome.failure = std::move(why);
        }
    };

    // Bookkeeping filled by the lookup completions.
    std::vector<node_id> probe_targets;
    std::vector<std::size_t> probe_rounds;
    std::size_t probe_exact = 0;
    std::vector<std::size_t> churn_rounds;
    std::size_t churn_done = 0;
    std::size_t churn_exact = 0;
    std::size_t churn_ok = 0;
    std::size_t churn_hits_worst = k;
    std::size_t churn_strict = 0;
    std::size_t churn_failures_shown = 0;
    std::size_t churn_misses_shown = 0;
    std::vector<std::size_t> started_wave(churn_probes_count, 0);
    std::size_t current_wave = 0;
    std::vector<stored_record> records;
    std::size_t store_failures = 0;
    std::size_t reads_ok = 0;
    std::size_t reads_done = 0;
    std::size_t live_holders_min = k;
    const auto unix_now = [&] {
        return unix_epoch_of_run + static_cast<std::uint64_t>(run.now().ns() / 1'000'000'000);
    };

    run.on_done = [&](node_index origin, const dht::lookup_result& result) {
        node_state& node = run.at(origin);
        switch (node.purpose) {
        case job::none:
        case job::join:
            break;
        case job::probe: {
            const bool churning = node.job_index >= probes_count;
            const node_id& target = probe_targets[node.job_index];
            const probe_outcome checked = run.check(origin, result, target);
            run.trace().add_u64(checked.hits);
            if (!churning) {
                probe_rounds.push_back(checked.rounds);
                probe_exact += checked.exact ? 1 : 0;
                if (!checked.exact) {
                    const auto expected = run.truth(target, origin);
                    for (std::size_t rank = 0; rank < expected.size(); ++rank) {
                        const node_index wanted = expected[rank];
                        bool in_result = false;
                        for (const auto& peer : result.closest) {
                            in_result = in_result || peer.id == run.at(wanted).id;
                        }
                        if (in_result) {
                            continue;
                        }
                        std::size_t known_by = 0;
                        for (const node_index other : expected) {
                            known_by += run.at(other).table->find(run.at(wanted).id) ? 1 : 0;
                        }
                        say(out, "    lookup {}: missed rank {} (node {}), known by {} of the "
                                 "true closest; result size {}",
                            node.job_index, rank, wanted, known_by, result.closest.size());
                    }
                    fail(fmt::format("lookup {} from node {} found {} of the true {} closest",
                                     node.job_index, origin, checked.hits, k));
                }
            } else {
                churn_rounds.push_back(checked.rounds);
                ++churn_done;
                churn_exact += checked.exact ? 1 : 0;
                std::size_t crashed_after_answer = 0;
                for (const auto& peer : result.closest) {
                    crashed_after_answer += run.at(run.index_of(peer.id)).alive ? 0 : 1;
                }
                churn_strict += checked.hits >= churn_hits_min ? 1 : 0;
                const bool good = checked.hits + crashed_after_answer >= churn_hits_min;
                churn_ok += good ? 1 : 0;
                churn_hits_worst = std::min(churn_hits_worst, checked.hits);
                // Failures first, then strict misses; "listed" counts how often the missed true
                // closest appear in the result nodes' own k closest (0: nobody the lookup
                // reached could have told it about them).
                if (checked.hits < churn_hits_min &&
                    (!good ? ++churn_failures_shown <= 5 : ++churn_misses_shown <= 3)) {
                    std::size_t missed = 0;
                    std::size_t listed = 0;
                    for (const node_index wanted : run.truth(target, origin)) {
                        const node_id& id = run.at(wanted).id;
                        if (std::any_of(result.closest.begin(), result.closest.end(),
                                        [&](const dht::contact& c) { return c.id == id; })) {
                            continue;
                        }
                        ++missed;
                        for (const auto& peer : result.closest) {
                            const node_state& holder = run.at(run.index_of(peer.id));
                            for (const auto& entry : holder.table->closest(target, k)) {
                                listed += entry.id == id ? 1 : 0;
                            }
                        }
                    }
                    say(out, "    churn lookup {} ({}): {} of the true {} closest, {} results, "
                             "{} crashed after answering, {} missed listed {} times; waves {}-{}",
                        node.job_index, good ? "strict miss" : "failure", checked.hits, k,
                        result.closest.size(), crashed_after_answer, missed, listed,
                        started_wave[node.job_index - probes_count], current_wave);
                }
            }
            break;
        }
        case job::store: {
            stored_record& entry = records[node.job_index];
            for (const auto& peer : result.closest) {
                const node_index holder = run.index_of(peer.id);
                node_state& target = run.at(holder);
                if (!target.store) {
                    target.store = std::make_unique<dht::record_store>(dht::store_config{});
                }
                if (target.store->put(entry.rec, unix_now()).ok()) {
                    entry.holders.push_back(holder);
                } else {
                    ++store_failures;
                }
            }
            break;
        }
        case job::read: {
            const stored_record& entry = records[node.job_index];
            ++reads_done;
            bool found = false;
            for (const auto& peer : result.closest) {
                const node_state& holder = run.at(run.index_of(peer.id));
                if (!holder.alive || !holder.store) {
                    continue;
                }
                const dht::record* got = holder.store->get(entry.rec.key, unix_now());
                if (got != nullptr && dht::verify(*got, unix_now()).ok() && *got == entry.rec) {
                    found = true;
                    break;
                }
            }
            std::size_t live = 0;
            for (const node_index holder : entry.holders) {
                live += run.at(holder).alive ? 1 : 0;
            }
            live_holders_min = std::min(live_holders_min, live);
            if (found) {
                ++reads_ok;
            } else {
                fail(fmt::format("record {} unreadable after churn ({} of its {} holders live)",
                                 node.job_index, live, entry.holders.size()));
            }
            break;
        }
        }
        node.purpose = job::none;
    };

    // --- join: node i through a random earlier node, one every join_gap -------------------
    const duration join_gap = duration::microseconds(500);
    run.start_node(0);
    for (node_index i = 1; i < n; ++i) {
        // One join at a time: see "concurrent joins" in docs/design/simulation.md.
        run.run_while_busy(1);
        run.run_until(run.now() + join_gap);
        run.start_node(i);
        const auto through = static_cast<node_index>(random.below(i));
        run.start_lookup(i, run.at(i).id, job::join, 0, through);
    }
    run.run_until(instant::never());
    const std::uint64_t rss_after = resident_bytes();
    const std::uint64_t heap_joined = heap_bytes();
    std::size_t contacts = 0;
    std::size_t contacts_max = 0;
    for (node_index i = 0; i < n; ++i) {
        contacts += run.at(i).table->size();
        contacts_max = std::max(contacts_max, run.at(i).table->size());
    }
    say(out, "  joined: {} nodes in {:.1f} simulated s; routing table contacts mean {:.1f}, "
             "max {}",
        n, run.now().ns() / 1e9, static_cast<double>(contacts) / static_cast<double>(n),
        contacts_max);
    // A sanitizer's allocator bypasses glibc's arenas: mallinfo2() then reports nothing.
    const bool heap_measured = heap_joined > heap_simulator;
    if (heap_measured) {
        say(out, "  memory: routing tables {:.2f} KiB per node of heap (sizeof routing_table {} "
                 "B); simulator {:.2f} KiB per node",
            kib_per(heap_joined - heap_simulator, n), sizeof(dht::routing_table),
            kib_per(heap_simulator - std::min(heap_simulator, heap_before), n));
    } else {
        say(out, "  memory: heap not measurable with this allocator (mallinfo2 reports nothing)");
    }
    say(out, "  memory: {:.1f} MiB resident in all, {:.1f} KiB per node",
        static_cast<double>(rss_after - std::min(rss_after, rss_before)) / (1024.0 * 1024.0),
        kib_per(rss_after - std::min(rss_after, rss_before), n));
    std::uint64_t heap_busy_max = heap_joined;
    std::uint64_t origins_picked = 0;

    // Lookups run one at a time per node; pick an idle live origin.
    const auto idle_origin = [&](bool avoid_doomed) {
        run.run_while_busy(lookups_in_flight_max);
        // mallinfo2() walks the allocator's free lists: sample, or it dominates the run.
        if (++origins_picked % 50 == 0) {
            heap_busy_max = std::max(heap_busy_max, heap_bytes());
        }
        for (;;) {
            const auto origin = static_cast<node_index>(random.below(n));
            const node_state& node = run.at(origin);
            if (node.alive && !node.active && !(avoid_doomed && node.doomed)) {
                return origin;
            }
        }
    };

    // --- phase 1: random keys, exact answers ----------------------------------------------
    const duration probe_gap = duration::microseconds(200);
    for (std::size_t p = 0; p < probes_count; ++p) {
        probe_targets.push_back(random_id(random));
        run.start_lookup(idle_origin(false), probe_targets.back(), job::probe,
                         static_cast<std::uint32_t>(p));
        run.run_until(run.now() + probe_gap);
    }
    run.run_until(instant::never());
    say(out, "  phase 1: {} of {} lookups returned exactly the true {} closest live nodes",
        probe_exact, probe_rounds.size(), k);

    print_rounds(out, fmt::format("{} nodes:", n), probe_rounds);

    // --- records stored on the k closest nodes, before the churn --------------------------
    std::vector<crypto::identity> publishers;
    for (std::size_t p = 0; p < publishers_count; ++p) {
        crypto::seed32 seed{};
        for (auto& byte : seed) {
            byte = static_cast<std::uint8_t>(random.next_u64());
        }
        publishers.push_back(crypto::identity::from_seed(seed));
    }
    for (std::size_t r = 0; r < records_count; ++r) {
        const crypto::identity& publisher = publishers[r % publishers_count];
        records.push_back(stored_record{
            dht::sign_record(publisher, fmt::format("sim-record-{}", r), 1,
                             unix_now() + 24 * 3600, fmt::format("value {} of seed {}", r,
                                                                 options.seed)),
            {}});
    }
    for (std::size_t r = 0; r < records_count; ++r) {
        run.start_lookup(idle_origin(false), records[r].rec.key, job::store,
                         static_cast<std::uint32_t>(r));
        run.run_until(run.now() + probe_gap);
    }
    run.run_until(instant::never());
    std::size_t holders_min = k;
    for (const auto& entry : records) {
        holders_min = std::min(holders_min, entry.holders.size());
    }
    say(out, "  stored {} signed records, each on its {} closest nodes (fewest holders {}, "
             "refused puts {})",
        records_count, k, holders_min, store_failures);
    if (holders_min < k) {
        fail(fmt::format("a record reached only {} holders", holders_min));
    }

    // --- phase 2: 20 % crash in waves while lookups run -----------------------------------
    const std::size_t doomed_count = static_cast<std::size_t>(churn_fraction *
                                                              static_cast<double>(n));
    std::vector<node_index> doomed;
    {
        std::vector<node_index> everyone(n);
        for (node_index i = 0; i < n; ++i) {
            everyone[i] = i;
        }
        for (std::size_t i = 0; i < doomed_count; ++i) {
            const auto j = i + static_cast<std::size_t>(random.below(n - i));
            std::swap(everyone[i], everyone[j]);
            doomed.push_back(everyone[i]);
            run.at(everyone[i]).doomed = true;
        }
    }
    const duration churn_gap = duration::microseconds(500);
    const std::size_t per_wave_every = churn_probes_count / (churn_waves + 1);
    std::size_t crashed = 0;
    for (std::size_t p = 0; p < churn_probes_count; ++p) {
        if (p > 0 && p % per_wave_every == 0 && p / per_wave_every <= churn_waves) {
            const std::size_t wave = p / per_wave_every;
            const std::size_t until = doomed_count * wave / churn_waves;
            current_wave = wave;
            for (; crashed < until; ++crashed) {
                run.crash(doomed[crashed]);
            }
        }
        probe_targets.push_back(random_id(random));
        started_wave[p] = current_wave;
        run.start_lookup(idle_origin(true), probe_targets.back(), job::probe,
                         static_cast<std::uint32_t>(probes_count + p));
        run.run_until(run.now() + churn_gap);
    }
    for (; crashed < doomed_count; ++crashed) {
        run.crash(doomed[crashed]);
    }
    run.run_until(instant::never());
    const double churn_rate =
        churn_done == 0 ? 0.0 : static_cast<double>(churn_ok) / static_cast<double>(churn_done);
    say(out, "  phase 2: {} of {} nodes crashed in {} waves while {} lookups ran", doomed_count,
        n, churn_waves, churn_done);
    say(out, "  phase 2: success = the result holds >= {} of the true {} closest nodes live when "
             "the lookup ends, a result node that crashed after answering counting as found: "
             "{} of {} = {:.2f} %",
        churn_hits_min, k, churn_ok, churn_done, 100.0 * churn_rate);
    say(out, "  phase 2: strictly (crashed result nodes counting as misses) {} of {} = {:.2f} %; "
             "exact {} ({:.2f} %); fewest true closest found {} of {}",
        churn_strict, churn_done,
        100.0 * static_cast<double>(churn_strict) / static_cast<double>(std::max<std::size_t>(
                                                        churn_done, 1)),
        churn_exact,
        100.0 * static_cast<double>(churn_exact) / static_cast<double>(std::max<std::size_t>(
                                                       churn_done, 1)),
        churn_hits_worst, k);
    print_rounds(out, "under churn:", churn_rounds);
    if (churn_rate < churn_success_min) {
        fail(fmt::format("only {:.2f} % of lookups under churn succeeded", 100.0 * churn_rate));
    }

    // --- records after the churn -------------------------------------------------------------
    for (std::size_t r = 0; r < records_count; ++r) {
        run.start_lookup(idle_origin(false), records[r].rec.key, job::read,
                         static_cast<std::uint32_t>(r));
        run.run_until(run.now() + probe_gap);
    }
    run.run_until(instant::never());
    say(out, "  records after churn: {} of {} readable from a live holder (fewest live holders "
             "of a record {} of {})",
        reads_ok, reads_done, live_holders_min, k);
    const std::uint64_t heap_end = heap_bytes();
    if (heap_measured) {
        say(out, "  memory: heap of the cores per node: {:.2f} KiB after the join, {:.2f} KiB at "
                 "the peak ({} lookups in flight, messages in transit), {:.2f} KiB at the end "
                 "(routing tables, {} record copies)",
            kib_per(heap_joined - heap_simulator, n),
            kib_per(std::max(heap_busy_max, heap_end) - std::min(heap_end, heap_simulator), n),
            lookups_in_flight_max - 1, kib_per(heap_end - std::min(heap_end, heap_simulator), n),
            records_count * k);
    }
    say(out, "  traffic: {} messages, {} events, {} bucket pings, {:.1f} simulated s",
        run.messages(), run.events(), run.ping_effects(), run.now().ns() / 1e9);

    if (options.check_invariants) {
        for (node_index i = 0; i < n; ++i) {
            if (run.at(i).table) {
                run.at(i).table->check_invariants();
            }
            if (run.at(i).store) {
                run.at(i).store->check_invariants();
            }
        }
    }
    outcome.trace_hash = run.trace().value();
    outcome.events = run.events();
    outcome.simulated_seconds = run.now().ns() / 1e9;
    return outcome;
}

} // namespace

scenario dht_scenario() {
    return scenario{"dht",
                    "N Kademlia nodes (real routing tables and lookups) join one by one; exact "
                    "k-closest lookups, then 20% crash in waves; prints lookup rounds, success, "
                    "record reads, memory per node",
                    10'000, 0.0, 0.0, &run_dht};
}

} // namespace reef::sim::detail
