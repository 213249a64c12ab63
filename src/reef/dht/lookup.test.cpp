// Tests of the iterative lookup: hostile responses fed by hand, then whole networks of simulated
// nodes (each with its own routing table) answering synchronously under a virtual clock.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "reef/base/prng.hpp"
#include "reef/dht/lookup.hpp"
#include "reef/dht/routing_table.hpp"

namespace reef::dht {
namespace {

constexpr duration ms(std::int64_t n) { return duration::milliseconds(n); }
const instant start = instant::from_ns(1'000'000'000);

node_id random_id(prng& random) {
    id256::bytes_type bytes{};
    for (auto& b : bytes) {
        b = static_cast<std::uint8_t>(random.next_u64());
    }
    return id256{bytes};
}

contact make_contact(const node_id& id, std::optional<duration> rtt = std::nullopt) {
    return contact{id, "10.0.0.1:7400", rtt, instant{}};
}

// --- one lookup fed by hand ------------------------------------------------------------------

struct hand_fed : ::testing::Test {
    prng random{99};
    node_id self = random_id(random);
    node_id target = random_id(random);
    lookup_config limits;
    std::vector<contact> initial;

    hand_fed() {
        limits.result_size = 4;
        limits.response_contacts_max = 4;
        limits.parallelism = 2;
        limits.paths = 2;
        limits.candidates_max = 64;
        for (int n = 0; n < 4; ++n) {
            initial.push_back(make_contact(random_id(random)));
        }
    }
    std::vector<contact> fresh_contacts(std::size_t count) {
        std::vector<contact> out;
        for (std::size_t n = 0; n < count; ++n) {
            out.push_back(make_contact(random_id(random)));
        }
        return out;
    }
};

TEST_F(hand_fed, config_validates) {
    EXPECT_TRUE(lookup_config{}.validate().ok());
    lookup_config bad;
    bad.paths = 0;
    EXPECT_FALSE(bad.validate().ok());
    bad = {};
    bad.timeout_default = bad.timeout_max + ms(1);
    EXPECT_FALSE(bad.validate().ok());
    bad = {};
    bad.candidates_max = 10;
    EXPECT_FALSE(bad.validate().ok());
}

TEST_F(hand_fed, starts_alpha_queries_per_path_and_drops_self_and_malformed) {
    initial.push_back(make_contact(self));
    initial.push_back(make_contact(node_id{}));
    initial.push_back(initial[0]);
    lookup l(limits, self, target, initial, 100, start);
    auto queries = l.take_effects();
    EXPECT_EQ(queries.size(), 4U);  // 2 paths x parallelism 2, all four real contacts
    std::set<node_id> asked;
    for (const auto& q : queries) {
        EXPECT_NE(q.to.id, self);
        asked.insert(q.to.id);
    }
    EXPECT_EQ(asked.size(), 4U);
    EXPECT_EQ(queries.front().query_id, 100U);
    EXPECT_FALSE(l.done());
    l.check_invariants();
}

TEST_F(hand_fed, empty_start_is_done_at_once) {
    lookup l(limits, self, target, {}, 1, start);
    EXPECT_TRUE(l.done());
    EXPECT_TRUE(l.take_effects().empty());
    EXPECT_TRUE(l.result().closest.empty());
    EXPECT_EQ(l.next_deadline(), instant::never());
}

TEST_F(hand_fed, ignores_unsolicited_duplicate_and_wrong_sender) {
    lookup l(limits, self, target, initial, 1, start);
    auto queries = l.take_effects();
    const auto& q = queries[0];
    EXPECT_EQ(l.on_response(start, 999, q.to.id, {}), response_outcome::unsolicited);
    EXPECT_EQ(l.on_response(start, q.query_id, queries[1].to.id, {}),
              response_outcome::wrong_sender);
    EXPECT_EQ(l.on_response(start + ms(3), q.query_id, q.to.id, {}), response_outcome::accepted);
    EXPECT_EQ(l.on_response(start + ms(4), q.query_id, q.to.id, fresh_contacts(2)),
              response_outcome::unsolicited);  // a duplicate answer adds nothing
    EXPECT_EQ(l.stats().unsolicited, 2U);
    EXPECT_EQ(l.stats().wrong_sender, 1U);
    EXPECT_EQ(l.stats().answered, 1U);
    EXPECT_TRUE(l.take_effects().empty());  // the duplicate's contacts were not merged
    l.check_invariants();
}

TEST_F(hand_fed, oversized_response_is_rejected_whole_and_sender_failed) {
    lookup l(limits, self, target, initial, 1, start);
    auto queries = l.take_effects();
    const auto huge = fresh_contacts(limits.response_contacts_max + 1);
    EXPECT_EQ(l.on_response(start, queries[0].query_id, queries[0].to.id, huge),
              response_outcome::oversized);
    EXPECT_EQ(l.stats().oversized, 1U);
    EXPECT_TRUE(l.take_effects().empty());  // nothing from the list is queried
    for (std::size_t i = 1; i < queries.size(); ++i) {
        (void)l.on_response(start, queries[i].query_id, queries[i].to.id, {});
    }
    EXPECT_TRUE(l.done());
    const auto answer = l.result();
    EXPECT_EQ(answer.closest.size(), 3U);
    for (const auto& c : answer.closest) {
        EXPECT_NE(c.id, queries[0].to.id);
    }
    l.check_invariants();
}

TEST_F(hand_fed, self_and_malformed_entries_are_dropped) {
    lookup l(limits, self, target, initial, 1, start);
    auto queries = l.take_effects();
    std::vector<contact> list{make_contact(self), make_contact(node_id{}),
                              contact{random_id(random), "", std::nullopt, instant{}},
                              make_contact(queries[0].to.id)};
    EXPECT_EQ(l.on_response(start, queries[0].query_id, queries[0].to.id, list),
              response_outcome::accepted);
    EXPECT_EQ(l.stats().self_entries, 1U);
    EXPECT_EQ(l.stats().malformed_entries, 2U);
    EXPECT_TRUE(l.take_effects().empty());
    l.check_invariants();
}

TEST_F(hand_fed, silent_contacts_time_out_by_rtt) {
    initial = {make_contact(random_id(random), ms(5)), make_contact(random_id(random), ms(100)),
               make_contact(random_id(random))};
    limits.paths = 1;
    limits.parallelism = 3;
    limits.query_retries = 0;
    lookup l(limits, self, target, initial, 1, start);
    auto queries = l.take_effects();
    ASSERT_EQ(queries.size(), 3U);
    EXPECT_EQ(l.next_deadline(), start + limits.timeout_min);  // 4 x 5 ms < 50 ms
    l.on_tick(start + limits.timeout_min);
    EXPECT_EQ(l.stats().timeouts, 1U);
    EXPECT_EQ(l.next_deadline(), start + ms(400));  // 4 x 100 ms
    l.on_tick(start + ms(400));
    EXPECT_EQ(l.next_deadline(), start + limits.timeout_default);  // rtt unknown
    EXPECT_FALSE(l.done());
    l.on_tick(start + limits.timeout_default);
    EXPECT_TRUE(l.done());
    EXPECT_EQ(l.stats().timeouts, 3U);
    EXPECT_TRUE(l.result().closest.empty());
    // A late answer after the timeout is ignored.
    EXPECT_EQ(l.on_response(start + ms(2000), queries[0].query_id, queries[0].to.id, {}),
              response_outcome::unsolicited);
    l.check_invariants();
}

TEST_F(hand_fed, a_timed_out_query_is_retried_once_with_twice_the_timeout) {
    initial = {make_contact(random_id(random), ms(100))};
    limits.paths = 1;
    lookup l(limits, self, target, initial, 1, start);
    auto first = l.take_effects();
    ASSERT_EQ(first.size(), 1U);
    l.on_tick(start + ms(400)); // 4 x 100 ms: ask again
    auto again = l.take_effects();
    ASSERT_EQ(again.size(), 1U);
    EXPECT_EQ(again[0].to.id, first[0].to.id);
    EXPECT_NE(again[0].query_id, first[0].query_id);
    EXPECT_EQ(l.stats().retries, 1U);
    EXPECT_EQ(l.stats().timeouts, 0U);
    EXPECT_EQ(l.next_deadline(), start + ms(400) + ms(800));
    // The late answer to the first query is unsolicited; the answer to the retry counts.
    EXPECT_EQ(l.on_response(start + ms(500), first[0].query_id, first[0].to.id, {}),
              response_outcome::unsolicited);
    EXPECT_EQ(l.on_response(start + ms(500), again[0].query_id, again[0].to.id, {}),
              response_outcome::accepted);
    EXPECT_TRUE(l.done());
    ASSERT_EQ(l.result().closest.size(), 1U);

    // Silent twice: failed after the retry's deadline.
    lookup silent(limits, self, target, initial, 100, start);
    (void)silent.take_effects();
    silent.on_tick(start + ms(400));
    (void)silent.take_effects();
    silent.on_tick(start + ms(1200));
    EXPECT_TRUE(silent.done());
    EXPECT_EQ(silent.stats().timeouts, 1U);
    EXPECT_TRUE(silent.result().closest.empty());
    silent.check_invariants();
}

TEST_F(hand_fed, candidates_are_bounded) {
    limits.result_size = 2;
    limits.paths = 1;
    limits.parallelism = 1;
    limits.candidates_max = 8;
    limits.response_contacts_max = 8;
    lookup l(limits, self, target, initial, 1, start);
    for (int round = 0; round < 20 && !l.done(); ++round) {
        for (const auto& q : l.take_effects()) {
            (void)l.on_response(start, q.query_id, q.to.id, fresh_contacts(8));
            l.check_invariants();
        }
    }
    EXPECT_GT(l.stats().candidates_dropped, 0U);
}

TEST_F(hand_fed, disjoint_paths_never_query_a_node_twice) {
    // Every node answers with the same few ids: the paths must not share them.
    limits.paths = 3;
    limits.parallelism = 1;
    const auto shared = fresh_contacts(4);
    initial = fresh_contacts(6);
    lookup l(limits, self, target, initial, 1, start);
    std::multiset<node_id> asked;
    while (!l.done()) {
        for (const auto& q : l.take_effects()) {
            asked.insert(q.to.id);
            (void)l.on_response(start, q.query_id, q.to.id, shared);
        }
    }
    for (const auto& id : asked) {
        EXPECT_EQ(asked.count(id), 1U);
    }
    l.check_invariants();
}

TEST_F(hand_fed, a_path_that_runs_out_does_not_end_the_lookup) {
    // Path 0's only contact knows nobody; path 1's contact knows three closer nodes. The lookup
    // goes on through path 1 and returns all four answered nodes.
    limits.paths = 2;
    limits.parallelism = 1;
    initial = fresh_contacts(2);
    auto closer = fresh_contacts(3);
    lookup l(limits, self, target, initial, 1, start);
    auto queries = l.take_effects();
    ASSERT_EQ(queries.size(), 2U);
    EXPECT_EQ(l.on_response(start + ms(1), queries[0].query_id, queries[0].to.id, {}),
              response_outcome::accepted);
    EXPECT_FALSE(l.done());
    EXPECT_EQ(l.on_response(start + ms(2), queries[1].query_id, queries[1].to.id, closer),
              response_outcome::accepted);
    std::size_t answered = 2;
    while (!l.done()) {
        for (const auto& q : l.take_effects()) {
            (void)l.on_response(start + ms(3), q.query_id, q.to.id, {});
            answered++;
        }
        l.check_invariants();
    }
    EXPECT_EQ(answered, 5U);
    EXPECT_EQ(l.result().closest.size(), 4U);  // result_size
}

TEST_F(hand_fed, result_is_the_closest_live_nodes_learned_by_any_path) {
    // Whatever the paths learn, the lookup ends only when no path holds an unqueried live node
    // closer than the k-th closest answer: the result is then exactly the k closest live nodes
    // among everything learned, even when one path runs dry early. Dead nodes fail; answers are
    // random subsets of a small universe, so paths overlap and some run out.
    limits.result_size = 8;
    limits.response_contacts_max = 8;
    limits.paths = 3;
    limits.parallelism = 2;
    limits.rounds_max = 256;
    limits.candidates_max = 512;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        prng draw(seed);
        std::vector<contact> universe;
        std::vector<bool> dead;
        for (int n = 0; n < 120; ++n) {
            universe.push_back(make_contact(random_id(draw)));
            dead.push_back(draw.below(100) < 35);
        }
        std::map<node_id, std::size_t> position;
        for (std::size_t n = 0; n < universe.size(); ++n) {
            position.emplace(universe[n].id, n);
        }
        std::vector<contact> start_with;
        for (int n = 0; n < 6; ++n) {
            start_with.push_back(universe[draw.below(universe.size())]);
        }
        std::set<node_id> learned;
        for (const auto& c : start_with) {
            learned.insert(c.id);
        }
        lookup l(limits, self, target, start_with, 1, start);
        while (!l.done()) {
            for (const auto& q : l.take_effects()) {
                const std::size_t who = position.at(q.to.id);
                if (dead[who]) {
                    l.on_failure(start, q.query_id);
                    continue;
                }
                std::vector<contact> answer;
                const std::size_t count = draw.below(limits.response_contacts_max + 1);
                for (std::size_t n = 0; n < count; ++n) {
                    answer.push_back(universe[draw.below(universe.size())]);
                    learned.insert(answer.back().id);
                }
                (void)l.on_response(start, q.query_id, q.to.id, answer);
            }
            l.check_invariants();
        }
        std::vector<node_id> expected;
        for (const auto& id : learned) {
            if (!dead[position.at(id)]) {
                expected.push_back(id);
            }
        }
        std::sort(expected.begin(), expected.end(), [&](const node_id& a, const node_id& b) {
            return a.distance_to(target) < b.distance_to(target);
        });
        expected.resize(std::min(expected.size(), limits.result_size));
        std::vector<node_id> got;
        for (const auto& c : l.result().closest) {
            got.push_back(c.id);
        }
        ASSERT_EQ(got, expected) << "seed " << seed;
    }
}

// --- a network of simulated nodes ------------------------------------------------------------

/// Nodes with their own routing tables; queries are answered synchronously, and silent (dead)
/// nodes cost a timeout on the virtual clock.
class network {
public:
    network(std::size_t nodes_count, std::uint64_t seed) : random_(seed) {
        lookups_.result_size = table_limits_.bucket_size;
        lookups_.response_contacts_max = table_limits_.bucket_size;
        for (std::size_t n = 0; n < nodes_count; ++n) {
            const node_id id = random_id(random_);
            index_.emplace(id, nodes_.size());
            nodes_.push_back(node{id, "10.0." + std::to_string(n / 256) + "." +
                                          std::to_string(n % 256) + ":7400",
                                  std::make_unique<routing_table>(table_limits_, id,
                                                                  random_.fork_seed(), now_)});
        }
        // Join one at a time through one random earlier node, then look up the own id.
        for (std::size_t n = 1; n < nodes_.size(); ++n) {
            const std::size_t seed_node = random_.below(n);
            (void)nodes_[n].table->observe(contact_of(seed_node), now_);
            (void)run_lookup(n, nodes_[n].id);
        }
    }

    std::size_t size() const { return nodes_.size(); }
    bool alive(std::size_t n) const { return nodes_[n].alive; }
    void kill(std::size_t n) { nodes_[n].alive = false; }
    /// A liar answers every query with the liars closest to the target (a colluding group trying
    /// to keep honest nodes out of the result).
    void make_liar(std::size_t n) { liars_.push_back(n); }
    void set_paths(std::size_t paths) { lookups_.paths = paths; }
    const node_id& id(std::size_t n) const { return nodes_[n].id; }
    prng& random() { return random_; }

    /// The result_size closest live node ids to `target` (the asker included, as any node).
    std::vector<node_id> true_closest(const node_id& target, std::size_t except) const {
        std::vector<node_id> live;
        for (std::size_t n = 0; n < nodes_.size(); ++n) {
            if (nodes_[n].alive && n != except) {
                live.push_back(nodes_[n].id);
            }
        }
        const std::size_t count = std::min(lookups_.result_size, live.size());
        std::partial_sort(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(count),
                          live.end(), [&](const node_id& a, const node_id& b) {
                              return a.distance_to(target) < b.distance_to(target);
                          });
        live.resize(count);
        return live;
    }

    lookup_result run_lookup(std::size_t asker, const node_id& target) {
        node& from = nodes_[asker];
        lookup l(lookups_, from.id, target, from.table->closest(target, lookups_.result_size),
                 query_ids_, now_);
        while (true) {
            auto queries = l.take_effects();
            if (queries.empty()) {
                if (l.done()) {
                    break;
                }
                now_ = max(now_, l.next_deadline());
                l.on_tick(now_);
                continue;
            }
            for (const auto& q : queries) {
                const std::size_t to = index_.at(q.to.id);
                if (!nodes_[to].alive) {
                    continue;  // the query times out
                }
                now_ = now_ + duration::microseconds(300);
                (void)nodes_[to].table->observe(contact_of(asker), now_);
                serve_pings(to);
                const auto answer = is_liar(to) ? liar_answer(target)
                                                : nodes_[to].table->closest(target,
                                                                            lookups_.result_size);
                EXPECT_EQ(l.on_response(now_, q.query_id, q.to.id, answer),
                          response_outcome::accepted);
                (void)from.table->observe(contact_of(to, duration::microseconds(300)), now_);
                serve_pings(asker);
            }
        }
        query_ids_ = l.next_query_id();
        l.check_invariants();
        return l.result();
    }

    void check_tables() const {
        for (const auto& n : nodes_) {
            n.table->check_invariants();
        }
    }

private:
    struct node {
        node_id id;
        std::string address;
        std::unique_ptr<routing_table> table;
        bool alive = true;
    };

    bool is_liar(std::size_t n) const {
        return std::find(liars_.begin(), liars_.end(), n) != liars_.end();
    }
    std::vector<contact> liar_answer(const node_id& target) const {
        auto sorted = liars_;
        std::sort(sorted.begin(), sorted.end(), [&](std::size_t a, std::size_t b) {
            return nodes_[a].id.distance_to(target) < nodes_[b].id.distance_to(target);
        });
        sorted.resize(std::min(sorted.size(), lookups_.result_size));
        std::vector<contact> out;
        for (std::size_t n : sorted) {
            out.push_back(contact_of(n));
        }
        return out;
    }

    contact contact_of(std::size_t n, std::optional<duration> rtt = std::nullopt) const {
        return contact{nodes_[n].id, nodes_[n].address, rtt, now_};
    }

    /// Answer the table's ping requests at once: a live contact answers, a dead one fails.
    void serve_pings(std::size_t n) {
        for (auto& e : nodes_[n].table->take_effects()) {
            if (const auto* ping = std::get_if<ping_request>(&e)) {
                const std::size_t pinged = index_.at(ping->target.id);
                if (nodes_[pinged].alive) {
                    (void)nodes_[n].table->observe(contact_of(pinged), now_);
                } else {
                    nodes_[n].table->on_ping_timeout(ping->target.id, now_);
                }
            }
        }
    }

    prng random_;
    routing_config table_limits_;
    lookup_config lookups_;
    std::vector<node> nodes_;
    std::vector<std::size_t> liars_;
    std::unordered_map<node_id, std::size_t, id256_hash> index_;
    instant now_ = start;
    std::uint64_t query_ids_ = 1;
};

struct lookup_figures {
    std::size_t exact = 0;
    std::size_t total = 0;
    double rounds_mean = 0;
    std::size_t rounds_max = 0;
};

lookup_figures random_lookups(network& net, std::size_t count) {
    lookup_figures out;
    std::size_t rounds_sum = 0;
    for (std::size_t i = 0; i < count; ++i) {
        std::size_t asker = net.random().below(net.size());
        while (!net.alive(asker)) {
            asker = net.random().below(net.size());
        }
        const node_id target = random_id(net.random());
        const auto found = net.run_lookup(asker, target);
        const auto truth = net.true_closest(target, asker);
        std::vector<node_id> got;
        for (const auto& c : found.closest) {
            got.push_back(c.id);
        }
        out.exact += got == truth ? 1 : 0;
        out.total++;
        rounds_sum += found.rounds;
        out.rounds_max = std::max(out.rounds_max, found.rounds);
    }
    out.rounds_mean = static_cast<double>(rounds_sum) / static_cast<double>(count);
    return out;
}

TEST(lookup_network, finds_true_closest_in_2000_nodes) {
    network net(2000, 1);
    net.check_tables();
    const auto figures = random_lookups(net, 200);
    EXPECT_EQ(figures.exact, figures.total);
    std::printf("2000 nodes: %zu/%zu exact, rounds mean %.2f max %zu\n", figures.exact,
                figures.total, figures.rounds_mean, figures.rounds_max);
}

TEST(lookup_network, finds_true_closest_live_with_20_percent_dead) {
    network net(2000, 2);
    for (std::size_t n = 0; n < net.size(); ++n) {
        if (net.random().chance(0.2)) {
            net.kill(n);
        }
    }
    const auto figures = random_lookups(net, 200);
    EXPECT_EQ(figures.exact, figures.total);
    net.check_tables();
    std::printf("2000 nodes, 20%% dead: %zu/%zu exact, rounds mean %.2f max %zu\n", figures.exact,
                figures.total, figures.rounds_mean, figures.rounds_max);
}

TEST(lookup_network, disjoint_paths_resist_colluding_liars) {
    // 30 % of the nodes answer only with each other. With one path a lookup that meets a liar
    // early is steered into the liars' group; with three disjoint paths an honest path usually
    // survives and the union still holds the true k closest.
    network net(1000, 4);
    for (std::size_t n = 0; n < net.size(); ++n) {
        if (net.random().chance(0.3)) {
            net.make_liar(n);
        }
    }
    net.set_paths(1);
    const auto one = random_lookups(net, 200);
    net.set_paths(3);
    const auto three = random_lookups(net, 200);
    std::printf("30%% colluding liars, 1000 nodes: exact with 1 path %zu/%zu, "
                "with 3 paths %zu/%zu\n",
                one.exact, one.total, three.exact, three.total);
    EXPECT_GE(three.exact, one.exact);
    EXPECT_GE(three.exact * 100, three.total * 95);
}

TEST(lookup_network, rounds_grow_logarithmically) {
    network small(250, 3);
    network large(2000, 3);
    const auto few = random_lookups(small, 300);
    const auto many = random_lookups(large, 300);
    std::printf("rounds mean: 250 nodes %.2f (max %zu), 2000 nodes %.2f (max %zu)\n",
                few.rounds_mean, few.rounds_max, many.rounds_mean, many.rounds_max);
    EXPECT_EQ(few.exact, few.total);
    EXPECT_EQ(many.exact, many.total);
    // 8x the nodes adds about log2(8) / log2(k) rounds: far from 8x, and not fewer.
    EXPECT_GE(many.rounds_mean, few.rounds_mean);
    EXPECT_LE(many.rounds_mean, few.rounds_mean + 3.0);
}

} // namespace
} // namespace reef::dht
