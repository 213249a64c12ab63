#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "sim/disk.hpp"
#include "sim/network.hpp"

namespace reef::sim {
namespace {

constexpr instant start = instant::from_ns(0);

std::vector<double> latencies_ms(network& net, node_index from, node_index to, int count) {
    std::vector<double> samples;
    for (int i = 0; i < count; ++i) {
        const auto arrival = net.send(start, from, to);
        EXPECT_TRUE(arrival.has_value());
        samples.push_back((*arrival - start).ms());
    }
    std::sort(samples.begin(), samples.end());
    return samples;
}

TEST(network, lan_latency_has_a_sub_millisecond_median_and_a_long_tail) {
    network net(200, 5, network_options{});
    std::vector<double> all;
    for (node_index from = 0; from < 100; ++from) {
        const auto samples = latencies_ms(net, from, from + 100, 1000);
        all.insert(all.end(), samples.begin(), samples.end());
    }
    std::sort(all.begin(), all.end());
    const double median = all[all.size() / 2];
    EXPECT_GT(median, 0.2);
    EXPECT_LT(median, 0.45);
    EXPECT_GT(all.back(), 10.0) << "1% of messages take a long-tail delay of several ms";
    EXPECT_LT(all.back(), 45.0) << "the tail is capped at tail_max (+ the base latency)";
    EXPECT_GE(all.front(), 0.03) << "no message beats the floor";
    EXPECT_EQ(net.stats().sent, all.size());
    EXPECT_EQ(net.stats().lost, 0U);
}

TEST(network, every_link_has_its_own_fixed_median) {
    network net(10, 9, network_options{});
    EXPECT_EQ(net.link_median(1, 2), net.link_median(1, 2));
    EXPECT_NE(net.link_median(1, 2), net.link_median(2, 1)) << "directions are separate links";
    EXPECT_NE(net.link_median(1, 2), net.link_median(1, 3));
    network same_seed(10, 9, network_options{});
    EXPECT_EQ(net.link_median(4, 7), same_seed.link_median(4, 7));
    network other_seed(10, 10, network_options{});
    EXPECT_NE(net.link_median(4, 7), other_seed.link_median(4, 7));
}

TEST(network, same_seed_same_fates_other_seed_other_fates) {
    network_options lossy;
    lossy.loss = 0.2;
    network a(5, 77, lossy);
    network b(5, 77, lossy);
    network c(5, 78, lossy);
    int differences = 0;
    for (int i = 0; i < 1000; ++i) {
        const auto fate_a = a.send(start, 0, 1);
        EXPECT_EQ(fate_a, b.send(start, 0, 1));
        differences += fate_a != c.send(start, 0, 1) ? 1 : 0;
    }
    EXPECT_GT(differences, 100);
}

TEST(network, loses_the_configured_fraction) {
    network_options lossy;
    lossy.loss = 0.3;
    network net(2, 1, lossy);
    int lost = 0;
    constexpr int count = 100'000;
    for (int i = 0; i < count; ++i) {
        lost += net.send(start, 0, 1) ? 0 : 1;
    }
    EXPECT_NEAR(static_cast<double>(lost) / count, 0.3, 0.01);
    EXPECT_EQ(net.stats().lost, static_cast<std::uint64_t>(lost));

    net.set_loss(1.0);
    EXPECT_FALSE(net.send(start, 0, 1));
    net.set_loss(0.0);
    EXPECT_TRUE(net.send(start, 0, 1));
}

TEST(network, partition_blocks_both_directions_until_healed) {
    network net(6, 2, network_options{});
    const node_index side[] = {0, 1};
    net.set_side(side, 1);
    EXPECT_FALSE(net.reachable(0, 3));
    EXPECT_FALSE(net.reachable(3, 0));
    EXPECT_TRUE(net.reachable(0, 1)) << "same side";
    EXPECT_TRUE(net.reachable(2, 5)) << "same (other) side";
    net.heal();
    EXPECT_TRUE(net.reachable(0, 3));
    EXPECT_TRUE(net.reachable(3, 0));
}

TEST(network, a_cut_is_one_way_and_bounded) {
    network_options options;
    options.cuts_max = 2;
    network net(4, 2, options);
    ASSERT_TRUE(net.cut(0, 1));
    EXPECT_FALSE(net.reachable(0, 1));
    EXPECT_TRUE(net.reachable(1, 0));
    ASSERT_TRUE(net.cut(2, 3));
    EXPECT_FALSE(net.cut(3, 2)) << "cuts_max reached";
    EXPECT_TRUE(net.cut(0, 1)) << "an existing cut is not a new one";
    net.uncut(0, 1);
    EXPECT_TRUE(net.reachable(0, 1));
    EXPECT_EQ(net.cuts_count(), 1U);
}

TEST(network, reordering_adds_a_random_extra_delay) {
    network plain(2, 4, network_options{});
    network_options options;
    options.reorder_probability = 1.0;
    options.reorder_max = duration::milliseconds(10);
    network shuffled(2, 4, options);
    const auto normal = latencies_ms(plain, 0, 1, 20'000);
    const auto delayed = latencies_ms(shuffled, 0, 1, 20'000);
    EXPECT_GT(delayed[delayed.size() / 2], normal[normal.size() / 2] + 3.0);
    EXPECT_EQ(shuffled.stats().reordered, 20'000U);
    // Messages sent in order arrive out of order.
    int overtaken = 0;
    instant previous;
    for (int i = 0; i < 1000; ++i) {
        const instant sent = start + duration::microseconds(100) * i;
        const instant arrival = *shuffled.send(sent, 0, 1);
        overtaken += arrival < previous ? 1 : 0;
        previous = arrival;
    }
    EXPECT_GT(overtaken, 100);
}

TEST(sim_disk, only_fsynced_writes_survive_a_crash) {
    sim_disk disk;
    disk.write(1, start, start);
    disk.crash(start + duration::milliseconds(1));
    EXPECT_EQ(disk.read(), 1U);

    const instant t = start + duration::seconds(1);
    disk.write(2, t, t + duration::microseconds(400));
    EXPECT_EQ(disk.read(), 2U) << "the process reads its own write back";
    disk.crash(t + duration::microseconds(100));
    EXPECT_EQ(disk.read(), 1U) << "the fsync had not completed";
    EXPECT_EQ(disk.writes_lost(), 1U);

    disk.write(3, t, t + duration::microseconds(400));
    disk.write(4, t, t + duration::microseconds(100)); // waits for the earlier fsync
    EXPECT_EQ(disk.durable_at(t + duration::microseconds(200)), 1U);
    EXPECT_EQ(disk.durable_at(t + duration::microseconds(400)), 4U);
    disk.crash(t + duration::microseconds(500));
    EXPECT_EQ(disk.read(), 4U);
}

} // namespace
} // namespace reef::sim
