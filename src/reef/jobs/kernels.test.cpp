#include "reef/jobs/kernels.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "reef/base/prng.hpp"

namespace reef::jobs {
namespace {

TEST(kernels, splitmix64_matches_the_reference) {
    // The first output of the reference splitmix64 generator seeded with 0.
    EXPECT_EQ(splitmix64(0), 0xe220a8397b1dcdafULL);
}

TEST(kernels, a_hit_is_decided_exactly_on_integers) {
    prng random(7);
    for (int round = 0; round < 10'000; ++round) {
        const std::uint64_t seed = random.next_u64();
        const std::uint64_t index = random.next_u64();
        const std::uint64_t word = splitmix64(seed ^ splitmix64(index));
        __extension__ using u128 = unsigned __int128;
        const u128 x = word >> 32U;
        const u128 y = word & 0xffff'ffffULL;
        EXPECT_EQ(pi_hit(seed, index), x * x + y * y < (u128{1} << 64U));
    }
}

TEST(kernels, pi_hits_of_a_known_seed_stay_the_same) {
    const std::uint64_t hits = pi_hits(1, 0, 1'000'000);
    // Pinned: a change to the sampling changes every job's answer. The first 200,000 samples
    // were also counted by an independent big-integer implementation of the definition.
    EXPECT_EQ(hits, 785'321U);
    EXPECT_EQ(pi_hits(1, 0, 200'000), 156'785U);
    EXPECT_NEAR(pi_estimate(hits, 1'000'000), std::numbers::pi, 0.01);
    EXPECT_EQ(pi_hits(1, 0, 0), 0U);
    EXPECT_EQ(pi_hits(1, 5, 5), 0U);
}

TEST(kernels, pi_hits_add_up_over_any_split) {
    prng random(11);
    for (int round = 0; round < 200; ++round) {
        const std::uint64_t seed = random.next_u64();
        const std::uint64_t begin = random.below(1ULL << 40U);
        const std::uint64_t size = random.below(20'000);
        const std::uint64_t a = begin + random.below(size + 1);
        const std::uint64_t b = a + random.below(begin + size - a + 1);
        EXPECT_EQ(pi_hits(seed, begin, begin + size),
                  pi_hits(seed, begin, a) + pi_hits(seed, a, b) + pi_hits(seed, b, begin + size));
    }
}

TEST(kernels, pi_estimate_of_nothing_is_zero) {
    EXPECT_EQ(pi_estimate(0, 0), 0.0);
    EXPECT_EQ(pi_estimate(3, 4), 3.0);
}

TEST(kernels, the_registry_has_pi_and_takes_new_kernels) {
    kernel_registry kernels;
    const kernel* pi = kernels.find("pi");
    ASSERT_NE(pi, nullptr);
    EXPECT_EQ(pi->run(9, 100, 5000), static_cast<double>(pi_hits(9, 100, 5000)));
    EXPECT_EQ(kernels.find("count"), nullptr);

    const auto count = [](std::uint64_t, std::uint64_t begin, std::uint64_t end) {
        return static_cast<double>(end - begin);
    };
    EXPECT_TRUE(kernels.add(kernel{"count", count}).ok());
    ASSERT_TRUE(kernels.has("count"));
    EXPECT_EQ(kernels.find("count")->run(0, 10, 25), 15.0);
    EXPECT_EQ(kernels.names(), (std::vector<std::string>{"count", "pi"}));

    const auto again = kernels.add(kernel{"count", count});
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.failure().code, errc::already_exists);
    EXPECT_EQ(kernels.add(kernel{"", count}).failure().code, errc::invalid_argument);
    EXPECT_EQ(kernels.add(kernel{"empty", {}}).failure().code, errc::invalid_argument);
    EXPECT_EQ(kernels.add(kernel{std::string(65, 'k'), count}).failure().code,
              errc::invalid_argument);
}

TEST(kernels, the_registry_is_bounded) {
    kernel_registry kernels;
    const auto zero = [](std::uint64_t, std::uint64_t, std::uint64_t) { return 0.0; };
    for (std::size_t index = kernels.size(); index < kernel_registry::kernels_max; ++index) {
        ASSERT_TRUE(kernels.add(kernel{"k" + std::to_string(index), zero}).ok());
    }
    EXPECT_EQ(kernels.add(kernel{"one-more", zero}).failure().code, errc::resource_exhausted);
}

} // namespace
} // namespace reef::jobs
