// The limit for `reef job pi`: the same kernel (jobs::pi_hits) over [0, N) for a seed, split
// evenly over T plain threads in one process, with no Reef around it. Prints the estimate (which
// must equal Reef's for the same N and seed) and the time.
//
// Usage: pi_native N [THREADS] [SEED]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "reef/jobs/kernels.hpp"

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: pi_native N [THREADS] [SEED]\n");
        return 2;
    }
    const std::uint64_t samples = std::strtoull(argv[1], nullptr, 10);
    const unsigned threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 2U;
    const std::uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
    if (samples == 0 || threads == 0) {
        std::fprintf(stderr, "pi_native: N and THREADS must be at least 1\n");
        return 2;
    }
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::uint64_t> hits(threads, 0);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            const std::uint64_t begin = samples / threads * t;
            const std::uint64_t end = t + 1 == threads ? samples : samples / threads * (t + 1);
            hits[t] = reef::jobs::pi_hits(seed, begin, end);
        });
    }
    std::uint64_t total = 0;
    for (unsigned t = 0; t < threads; ++t) {
        pool[t].join();
        total += hits[t];
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("pi %.12g\nseconds %.3f\nthreads %u\nsamples %llu\n",
                reef::jobs::pi_estimate(total, samples), seconds, threads,
                static_cast<unsigned long long>(samples));
    return 0;
}
