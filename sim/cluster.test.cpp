// The cluster driver around the real membership state machine: joins, crashes, restarts, slow
// nodes, partitions, and reproducibility from the seed.

#include <gtest/gtest.h>

#include <vector>

#include "sim/cluster.hpp"

namespace reef::sim {
namespace {

using membership::member_state;

cluster_options small_cluster(std::size_t nodes, std::uint64_t seed) {
    cluster_options options;
    options.nodes_count = nodes;
    options.seed = seed;
    return options;
}

void start_all(cluster& nodes) {
    nodes.start(0, {});
    const node_index seeds[] = {0};
    for (node_index node = 1; node < nodes.size(); ++node) {
        nodes.run_until(nodes.now() + duration::milliseconds(10));
        nodes.start(node, seeds);
    }
}

bool await_converged(cluster& nodes, duration limit) {
    return nodes.run_until(nodes.now() + limit, duration::milliseconds(100),
                           [&nodes] { return nodes.converged(); })
        .has_value();
}

TEST(cluster, nodes_join_through_one_address_and_converge) {
    cluster nodes(small_cluster(8, 1));
    start_all(nodes);
    ASSERT_TRUE(await_converged(nodes, duration::seconds(40))) << nodes.disagreements(3).at(0);
    EXPECT_FALSE(nodes.failed());
    for (node_index observer = 0; observer < 8; ++observer) {
        for (node_index target = 0; target < 8; ++target) {
            if (observer != target) {
                EXPECT_EQ(nodes.view(observer, target).state, member_state::alive);
            }
        }
    }
    nodes.verify_views();
    EXPECT_FALSE(nodes.failed()) << nodes.failure();
    EXPECT_GT(nodes.stats().messages_delivered, 0U);
    nodes.check_invariants();
}

TEST(cluster, a_crashed_node_is_silent_and_declared_dead) {
    cluster nodes(small_cluster(6, 2));
    start_all(nodes);
    ASSERT_TRUE(await_converged(nodes, duration::seconds(40)));
    const std::uint64_t to_down_before = nodes.stats().messages_to_down_nodes;
    nodes.crash(3);
    EXPECT_FALSE(nodes.is_up(3));
    EXPECT_EQ(nodes.swim_of(3), nullptr);
    ASSERT_TRUE(await_converged(nodes, duration::seconds(30)));
    for (node_index observer = 0; observer < 6; ++observer) {
        if (observer != 3) {
            EXPECT_EQ(nodes.view(observer, 3).state, member_state::dead);
        }
    }
    EXPECT_GT(nodes.stats().messages_to_down_nodes, to_down_before)
        << "probes of the dead node were dropped at its door";
    EXPECT_FALSE(nodes.failed());
}

TEST(cluster, a_restart_uses_the_disk_incarnation_plus_one_and_rejoins) {
    cluster nodes(small_cluster(5, 3));
    start_all(nodes);
    ASSERT_TRUE(await_converged(nodes, duration::seconds(40)));
    EXPECT_EQ(nodes.swim_of(2)->incarnation(), 1U);
    nodes.crash(2);
    nodes.run_until(nodes.now() + duration::seconds(20));
    EXPECT_EQ(nodes.view(0, 2).state, member_state::dead);
    const node_index seeds[] = {0};
    nodes.start(2, seeds);
    EXPECT_EQ(nodes.lives(2), 2U);
    EXPECT_EQ(nodes.disk(2).read(), 2U);
    EXPECT_GE(nodes.swim_of(2)->incarnation(), 2U);
    ASSERT_TRUE(await_converged(nodes, duration::seconds(40)));
    const auto seen = nodes.swim_of(0)->member(nodes.id(2));
    ASSERT_TRUE(seen.has_value());
    EXPECT_EQ(seen->update.state, member_state::alive);
    EXPECT_GT(seen->update.incarnation, 1U);
}

TEST(cluster, a_slow_node_queues_its_inputs) {
    cluster_options options = small_cluster(4, 4);
    options.cpu_cost = duration::milliseconds(1);
    cluster nodes(options);
    nodes.set_slow(1, 10.0);
    start_all(nodes);
    nodes.run_until(nodes.now() + duration::seconds(20));
    const cpu_stats& slow = nodes.cpu(1);
    const cpu_stats& normal = nodes.cpu(2);
    ASSERT_GT(slow.inputs, 0U);
    ASSERT_GT(normal.inputs, 0U);
    EXPECT_EQ(slow.busy, duration::milliseconds(10) * static_cast<std::int64_t>(slow.inputs));
    EXPECT_EQ(normal.busy, duration::milliseconds(1) * static_cast<std::int64_t>(normal.inputs));
    EXPECT_GT(slow.queue_delay_max, duration::zero()) << "inputs waited behind each other";
    EXPECT_FALSE(nodes.failed());
}

TEST(cluster, a_partition_blocks_messages_and_healing_reconverges) {
    cluster nodes(small_cluster(6, 5));
    start_all(nodes);
    ASSERT_TRUE(await_converged(nodes, duration::seconds(40)));
    const node_index side[] = {0, 1, 2};
    nodes.net().set_side(side, 1);
    nodes.run_until(nodes.now() + duration::seconds(30));
    EXPECT_GT(nodes.net().stats().blocked, 0U);
    EXPECT_FALSE(nodes.converged()) << "each side must have lost sight of the other";
    EXPECT_NE(nodes.view(0, 4).state, member_state::alive);
    nodes.net().heal();
    ASSERT_TRUE(await_converged(nodes, duration::seconds(120))) << nodes.disagreements(3).at(0);
}

std::uint64_t scripted_run(std::uint64_t seed) {
    cluster_options options = small_cluster(10, seed);
    options.network.loss = 0.05;
    cluster nodes(options);
    start_all(nodes);
    nodes.run_until(nodes.now() + duration::seconds(5));
    nodes.crash(4);
    nodes.run_until(nodes.now() + duration::seconds(5));
    const node_index seeds[] = {0};
    nodes.start(4, seeds);
    nodes.run_until(nodes.now() + duration::seconds(5));
    EXPECT_FALSE(nodes.failed());
    return nodes.trace_hash();
}

TEST(cluster, the_same_seed_gives_the_same_trace) {
    const std::uint64_t first = scripted_run(42);
    EXPECT_EQ(first, scripted_run(42));
    EXPECT_NE(first, scripted_run(43));
}

TEST(cluster, a_violation_stops_the_run_and_keeps_the_first_reason) {
    // The checker side: fail() keeps the first reason and stops the run.
    cluster nodes(small_cluster(3, 6));
    start_all(nodes);
    nodes.fail("first");
    nodes.fail("second");
    ASSERT_TRUE(nodes.failed());
    EXPECT_NE(nodes.failure().find("first"), std::string::npos);
    const std::uint64_t events = nodes.stats().events;
    nodes.run_until(nodes.now() + duration::seconds(5));
    EXPECT_EQ(nodes.stats().events, events) << "a failed run does not advance";
}

} // namespace
} // namespace reef::sim
