// Scenario `dht-protocol`: N copies of the node protocol reefd runs (dht::kademlia: routing
// table, lookups, record store, requests and replies, address records, republishing), every
// message encoded and decoded by the real codec and carried by the simulated network.
// docs/design/simulation.md ("DHT protocol scenario") describes what it checks.
//
//  1. Join: node i observes one random earlier node, one every join_gap, so joins overlap; each
//     node then bootstraps by itself (self-lookup, address record announcement).
//  2. Discovery: random nodes find random other nodes' addresses by id (their address records);
//     every one must be found and be right.
//  3. Lookups: random keys from random nodes; each must return exactly the true k closest live
//     nodes.
//  4. Records: signed records put through the protocol; each must reach >= k - 2 of the k
//     closest nodes.
// With message loss (--loss) a lost query makes a live node look failed to one lookup, so steps
// 2-4 then demand >= 99 % (and lookups >= k - 2 of the true k closest) instead of all.
//  5. Churn: 20 % of the nodes crash in waves (nobody is told; queries to them time out) while
//     gets run; >= 99 % must return the record. Afterwards every record must still be readable.

#include "sim/scenarios/scenarios.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "reef/base/assert.hpp"
#include "reef/base/prng.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/dht/codec.hpp"
#include "reef/dht/kademlia.hpp"
#include "sim/network.hpp"
#include "sim/scenarios/common.hpp"
#include "sim/scheduler.hpp"
#include "sim/trace.hpp"

namespace reef::sim::detail {

namespace {

constexpr std::size_t k = 20;
constexpr std::size_t discovery_count = 200;
constexpr std::size_t lookups_count = 200;
constexpr std::size_t records_count = 100;
constexpr std::size_t churn_gets_count = 500;
constexpr std::size_t churn_waves = 5;
constexpr double churn_fraction = 0.20;
constexpr double churn_success_min = 0.99;
constexpr duration join_gap = duration::milliseconds(2);
constexpr duration operation_gap = duration::milliseconds(5);
constexpr std::uint64_t unix_epoch_of_run = 1'800'000'000;
constexpr std::size_t events_max = std::size_t{1} << 22U;

crypto::identity identity_of(std::uint64_t seed, std::size_t index) {
    prng draw(seed ^ (0x9E3779B97F4A7C15ULL * (index + 1)));
    return crypto::identity::from_seed(random_id(draw).bytes());
}

host_port address_of(std::size_t index) {
    return host_port{fmt::format("10.{}.{}.{}", (index >> 16U) & 0xFFU, (index >> 8U) & 0xFFU,
                                 index & 0xFFU),
                     7400};
}

struct in_transit {
    node_index from = 0;
    node_index to = 0;
    std::string bytes;
};

class protocol_run {
public:
    protocol_run(const scenario_options& options, std::size_t nodes_count)
        : network_(nodes_count, options.seed, network_for(options)),
          scheduler_(nodes_count, events_max),
          random_(options.seed ^ 0x70726f746f636f6cULL),
          check_invariants_(options.check_invariants) {
        dht::kademlia_config limits;
        limits.routing.bucket_size = k;
        limits.lookup.result_size = k;
        REEF_ASSERT(limits.validate().ok());
        engines_.reserve(nodes_count);
        for (std::size_t i = 0; i < nodes_count; ++i) {
            const auto who = identity_of(options.seed, i);
            ids_.push_back(who.id());
            addresses_.push_back(address_of(i).text());
            index_of_.emplace(who.id(), static_cast<node_index>(i));
            engines_.push_back(std::make_unique<dht::kademlia>(
                limits, who, std::vector<host_port>{address_of(i)}, options.seed + i, now()));
        }
        alive_.assign(nodes_count, true);
    }

    std::size_t size() const { return engines_.size(); }
    instant now() const { return scheduler_.now(); }
    std::uint64_t unix_now() const {
        return unix_epoch_of_run + static_cast<std::uint64_t>(now().ns() / 1'000'000'000);
    }
    prng& random() { return random_; }
    trace_hasher& trace() { return trace_; }
    const node_id& id(node_index index) const { return ids_[index]; }
    const std::string& address(node_index index) const { return addresses_[index]; }
    bool alive(node_index index) const { return alive_[index]; }
    dht::kademlia& engine(node_index index) { return *engines_[index]; }
    std::uint64_t events() const { return events_; }
    std::uint64_t messages() const { return messages_; }

    void introduce(node_index joining, node_index through) {
        engines_[joining]->observe(now(), ids_[through], addresses_[through]);
        after(joining);
    }

    void crash(node_index index) {
        alive_[index] = false;
        scheduler_.cancel_timer(index);
        trace_.add_u64(0xdead0000ULL + index);
    }

    /// Call after starting an operation on `origin` (its effects are waiting).
    void started(node_index origin) { after(origin); }

    /// The outcome of operation `id` on `origin`, once finished (removed from the table).
    std::optional<dht::operation_done> take_done(node_index origin, dht::operation_id id) {
        auto found = done_.find({origin, id});
        if (found == done_.end()) {
            return std::nullopt;
        }
        auto outcome = std::move(found->second);
        done_.erase(found);
        return outcome;
    }

    void run_until(instant limit) {
        while (auto next = scheduler_.pop_until(limit)) {
            ++events_;
            if (next->is_timer) {
                const node_index owner = next->timer.node;
                if (alive_[owner]) {
                    engines_[owner]->on_tick(now(), unix_now());
                    after(owner);
                }
            } else {
                deliver(next->item.payload);
            }
        }
        if (limit != instant::never()) {
            scheduler_.advance_to(limit);
        }
    }

    /// The true k closest live nodes to `target`, `excluded` left out, closest first.
    std::vector<node_id> truth(const id256& target, node_index excluded) const {
        std::vector<node_id> live;
        for (std::size_t i = 0; i < ids_.size(); ++i) {
            if (alive_[i] && i != excluded) {
                live.push_back(ids_[i]);
            }
        }
        const std::size_t count = std::min(k, live.size());
        std::partial_sort(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(count),
                          live.end(), [&](const node_id& a, const node_id& b) {
                              return a.distance_to(target) < b.distance_to(target);
                          });
        live.resize(count);
        return live;
    }

    void check_all() const {
        for (std::size_t i = 0; i < engines_.size(); ++i) {
            if (alive_[i]) {
                engines_[i]->check_invariants();
            }
        }
    }

private:
    static network_options network_for(const scenario_options& options) {
        network_options chosen;
        chosen.loss = options.loss.value_or(0.0);
        return chosen;
    }

    void after(node_index index) {
        for (auto& produced : engines_[index]->take_effects()) {
            if (auto* send = std::get_if<dht::send_message>(&produced)) {
                send_to(index, *send);
            } else {
                auto finished = std::get<dht::operation_done>(std::move(produced));
                trace_.add_u64(finished.id);
                trace_.add_u64(finished.outcome.ok() ? 1 : 0);
                done_.emplace(std::make_pair(index, finished.id), std::move(finished));
            }
        }
        if (alive_[index]) {
            const instant deadline = engines_[index]->next_deadline();
            if (deadline != instant::never()) {
                scheduler_.arm_timer(index, std::max(deadline, now()));
            }
        }
        if (check_invariants_ && events_ % 4096 == 0) {
            engines_[index]->check_invariants();
        }
    }

    void send_to(node_index from, const dht::send_message& send) {
        ++messages_;
        auto target = index_of_.find(send.to.id);
        REEF_ASSERT(target != index_of_.end());
        REEF_ASSERT(send.to.address == addresses_[target->second]);
        const auto arrival = network_.send(now(), from, target->second);
        if (!arrival) {
            return; // lost: the asker times out
        }
        std::uint32_t slot = 0;
        if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
        } else {
            slot = static_cast<std::uint32_t>(slab_.size());
            slab_.emplace_back();
        }
        slab_[slot] = in_transit{from, target->second, dht::encode(send.body)};
        const bool queued = scheduler_.schedule(*arrival, event_kind::arrive, target->second, 0,
                                                slot);
        REEF_ASSERT(queued);
    }

    void deliver(std::uint32_t slot) {
        in_transit item = std::move(slab_[slot]);
        slab_[slot] = in_transit{};
        free_.push_back(slot);
        trace_.add_u64((static_cast<std::uint64_t>(item.from) << 32U) | item.to);
        trace_.add_u64(static_cast<std::uint64_t>(now().ns()));
        if (!alive_[item.to]) {
            return;
        }
        auto decoded = dht::decode(item.bytes);
        REEF_ASSERT(decoded.ok()); // every message was encoded by a correct node
        engines_[item.to]->on_message(now(), unix_now(), ids_[item.from], addresses_[item.from],
                                      *decoded);
        after(item.to);
    }

    network network_;
    scheduler scheduler_;
    prng random_;
    bool check_invariants_;
    std::vector<std::unique_ptr<dht::kademlia>> engines_;
    std::vector<node_id> ids_;
    std::vector<std::string> addresses_;
    std::map<node_id, node_index> index_of_;
    std::vector<bool> alive_;
    std::vector<in_transit> slab_;
    std::vector<std::uint32_t> free_;
    std::map<std::pair<node_index, dht::operation_id>, dht::operation_done> done_;
    trace_hasher trace_;
    std::uint64_t events_ = 0;
    std::uint64_t messages_ = 0;
};

/// A random live node other than `not_this`.
node_index live_node(protocol_run& run, std::optional<node_index> not_this = std::nullopt) {
    for (;;) {
        const auto index = static_cast<node_index>(run.random().next_u64() % run.size());
        if (run.alive(index) && index != not_this) {
            return index;
        }
    }
}

struct pending {
    node_index origin = 0;
    dht::operation_id id = 0;
    std::size_t job = 0;
};

/// Start `count` operations `gap` apart (each started by `start(job)` on the node it returns),
/// run until all finished, and hand each outcome to `check(job, origin, outcome)`.
template <typename Start, typename Check>
void run_operations(protocol_run& run, std::size_t count, Start start, Check check) {
    std::vector<pending> started;
    for (std::size_t job = 0; job < count; ++job) {
        auto [origin, id] = start(job);
        run.started(origin);
        started.push_back({origin, id, job});
        run.run_until(run.now() + operation_gap);
    }
    run.run_until(run.now() + duration::seconds(12)); // longer than operation_timeout
    for (const auto& one : started) {
        auto outcome = run.take_done(one.origin, one.id);
        REEF_ASSERT(outcome.has_value()); // every operation ends by its timeout
        check(one.job, one.origin, outcome->outcome);
    }
}

scenario_result run_dht_protocol(const scenario_options& options) {
    scenario_result outcome;
    const std::size_t n = options.nodes_count == 0 ? 500 : options.nodes_count;
    report out(options.out);
    auto fail = [&](std::string why) {
        if (outcome.ok) {
            outcome.ok = false;
            outcome.failure = std::move(why);
        }
    };
    protocol_run run(options, n);
    const bool lossless = options.loss.value_or(0.0) == 0.0;
    // Lossless runs demand every operation; lossy ones >= 99 %.
    auto enough = [&](std::size_t good, std::size_t total) {
        return lossless ? good == total : good * 100 >= total * 99;
    };
    out.line("dht-protocol: {} nodes, seed {}, loss {:.3f}", n, options.seed,
             options.loss.value_or(0.0));

    // 1. Join, overlapping.
    for (node_index i = 1; i < n; ++i) {
        run.run_until(run.now() + join_gap);
        run.introduce(i, static_cast<node_index>(run.random().next_u64() % i));
    }
    run.run_until(run.now() + duration::seconds(30));
    std::size_t contacts_total = 0;
    for (node_index i = 0; i < n; ++i) {
        contacts_total += run.engine(i).table().size();
    }
    out.line("  joined: {} nodes, {:.1f} contacts per table on average, {} messages", n,
             static_cast<double>(contacts_total) / static_cast<double>(n), run.messages());

    // 2. Discovery by id through address records.
    std::size_t found_right = 0;
    std::vector<node_index> wanted_nodes;
    run_operations(
        run, discovery_count,
        [&](std::size_t job) {
            (void)job;
            const node_index origin = live_node(run);
            const node_index wanted = live_node(run, origin);
            auto id = run.engine(origin).start_get(run.now(), run.unix_now(),
                                                   dht::node_addresses_key(run.id(wanted)));
            REEF_ASSERT(id.ok());
            wanted_nodes.push_back(wanted);
            return std::make_pair(origin, *id);
        },
        [&](std::size_t job, node_index, const result<dht::operation_value>& got) {
            if (!got.ok()) {
                return;
            }
            auto listed = dht::parse_node_addresses(std::get<dht::get_result>(*got).found);
            if (listed.ok() && listed->size() == 1 &&
                (*listed)[0].text() == run.address(wanted_nodes[job])) {
                ++found_right;
            }
        });
    out.line("  discovery: {} of {} nodes found by id with their right address", found_right,
             discovery_count);
    if (!enough(found_right, discovery_count)) {
        fail(fmt::format("discovery found {} of {} nodes", found_right, discovery_count));
    }

    // 3. Exact lookups.
    std::size_t exact = 0;
    std::size_t near_exact = 0; // at least k - 2 of the true k closest
    std::vector<std::size_t> rounds(32, 0);
    std::vector<id256> targets;
    run_operations(
        run, lookups_count,
        [&](std::size_t job) {
            (void)job;
            const node_index origin = live_node(run);
            targets.push_back(random_id(run.random()));
            auto id = run.engine(origin).start_closest(run.now(), targets.back());
            REEF_ASSERT(id.ok());
            return std::make_pair(origin, *id);
        },
        [&](std::size_t job, node_index origin, const result<dht::operation_value>& got) {
            if (!got.ok()) {
                return;
            }
            const auto& found = std::get<dht::lookup_result>(*got);
            ++rounds[std::min<std::size_t>(found.rounds, rounds.size() - 1)];
            std::vector<node_id> ids;
            for (const auto& peer : found.closest) {
                ids.push_back(peer.id);
            }
            const auto truth = run.truth(targets[job], origin);
            exact += ids == truth ? 1 : 0;
            std::size_t hits = 0;
            for (const auto& want : truth) {
                hits += std::find(ids.begin(), ids.end(), want) != ids.end() ? 1 : 0;
            }
            near_exact += hits + 2 >= truth.size() ? 1 : 0;
        });
    std::string histogram;
    for (std::size_t r = 0; r < rounds.size(); ++r) {
        if (rounds[r] != 0) {
            histogram += fmt::format(" {}:{}", r, rounds[r]);
        }
    }
    out.line("  lookups: {} of {} returned exactly the true {} closest ({} at least {}); rounds "
             "(rounds:count){}",
             exact, lookups_count, k, near_exact, k - 2, histogram);
    if (lossless ? exact != lookups_count : !enough(near_exact, lookups_count)) {
        fail(fmt::format("{} of {} lookups were not exact ({} had fewer than {})",
                         lookups_count - exact, lookups_count, lookups_count - near_exact, k - 2));
    }

    // 4. Records through the protocol.
    struct published {
        node_index publisher = 0;
        id256 key;
        std::string value;
    };
    std::vector<published> records;
    std::size_t puts_ok = 0;
    run_operations(
        run, records_count,
        [&](std::size_t job) {
            const node_index origin = live_node(run);
            std::string value = fmt::format("value-{}", job);
            auto id = run.engine(origin).start_put(run.now(), run.unix_now(),
                                                   fmt::format("record-{}", job), value);
            REEF_ASSERT(id.ok());
            records.push_back({origin, dht::record_key(run.id(origin),
                                                       fmt::format("record-{}", job)),
                               std::move(value)});
            return std::make_pair(origin, *id);
        },
        [&](std::size_t, node_index, const result<dht::operation_value>& got) {
            if (got.ok() && std::get<dht::put_result>(*got).stored_on.size() >= k - 2) {
                ++puts_ok;
            }
        });
    out.line("  puts: {} of {} stored on at least {} of the {} closest", puts_ok, records_count,
             k - 2, k);
    if (!enough(puts_ok, records_count)) {
        fail(fmt::format("{} of {} puts reached too few nodes", records_count - puts_ok,
                         records_count));
    }

    // 5. Churn while reading.
    std::vector<node_index> doomed;
    for (node_index i = 0; i < n; ++i) {
        doomed.push_back(i);
    }
    for (std::size_t i = doomed.size(); i > 1; --i) {
        std::swap(doomed[i - 1], doomed[run.random().next_u64() % i]);
    }
    doomed.resize(static_cast<std::size_t>(static_cast<double>(n) * churn_fraction));
    std::size_t churn_ok = 0;
    const std::size_t per_wave = churn_gets_count / churn_waves;
    run_operations(
        run, churn_gets_count,
        [&](std::size_t job) {
            if (job % per_wave == 0) {
                const std::size_t wave = job / per_wave;
                for (std::size_t d = wave * doomed.size() / churn_waves;
                     d < (wave + 1) * doomed.size() / churn_waves; ++d) {
                    run.crash(doomed[d]);
                }
            }
            const node_index origin = live_node(run);
            auto id = run.engine(origin).start_get(run.now(), run.unix_now(),
                                                   records[job % records.size()].key);
            REEF_ASSERT(id.ok());
            return std::make_pair(origin, *id);
        },
        [&](std::size_t job, node_index, const result<dht::operation_value>& got) {
            const auto& wanted = records[job % records.size()];
            if (got.ok() && std::get<dht::get_result>(*got).found.value == wanted.value) {
                ++churn_ok;
            }
        });
    const double churn_success =
        static_cast<double>(churn_ok) / static_cast<double>(churn_gets_count);
    out.line("  churn: {} of {} nodes crashed in {} waves; {} of {} gets ({:.2f} %) returned the "
             "record",
             doomed.size(), n, churn_waves, churn_ok, churn_gets_count, churn_success * 100.0);
    if (churn_success < churn_success_min) {
        fail(fmt::format("only {:.2f} % of gets succeeded under churn", churn_success * 100.0));
    }

    std::size_t readable = 0;
    run_operations(
        run, records_count,
        [&](std::size_t job) {
            const node_index origin = live_node(run);
            auto id = run.engine(origin).start_get(run.now(), run.unix_now(), records[job].key);
            REEF_ASSERT(id.ok());
            return std::make_pair(origin, *id);
        },
        [&](std::size_t job, node_index, const result<dht::operation_value>& got) {
            if (got.ok() && std::get<dht::get_result>(*got).found.value == records[job].value) {
                ++readable;
            }
        });
    out.line("  after churn: {} of {} records readable", readable, records_count);
    if (!enough(readable, records_count)) {
        fail(fmt::format("{} records unreadable after churn", records_count - readable));
    }
    out.line("  traffic: {} messages, {} events, {:.1f} simulated s", run.messages(),
             run.events(), run.now().ns() / 1e9);
    if (options.check_invariants) {
        run.check_all();
    }
    outcome.trace_hash = run.trace().value();
    outcome.events = run.events();
    outcome.simulated_seconds = run.now().ns() / 1e9;
    return outcome;
}

} // namespace

scenario dht_protocol_scenario() {
    return scenario{"dht-protocol",
                    "N nodes run the whole DHT node protocol over the simulated network: "
                    "overlapping joins, discovery by id, exact lookups, puts and gets, 20% churn",
                    500, 0.0, 0.0, &run_dht_protocol};
}

} // namespace reef::sim::detail
