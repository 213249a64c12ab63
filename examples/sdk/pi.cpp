// An embedded Reef node: it starts (or joins) a cluster, adds a native task, and runs two jobs
// whose results come back as futures.
//
//   pi DATA_DIR [--samples N] [--seed S] [--join HOST:PORT --cluster-key FILE]
//
// Every member that has a job's task computes chunks of it; start a second copy with --join and
// the first one's cluster key to share the work.
#include <cstdint>
#include <cstdio>
#include <future>
#include <string>

#include <reef/sdk.hpp>

int main(int argc, char** argv) {
    reef::sdk::node_options options;
    std::uint64_t samples = 1'000'000;
    std::uint64_t seed = 1;
    bool usage = argc < 2 || argc % 2 != 0; // DATA_DIR, then flag-value pairs
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const char* value = argv[i + 1];
        if (flag == "--samples") samples = std::stoull(value);
        else if (flag == "--seed") seed = std::stoull(value);
        else if (flag == "--join") options.join.push_back(value);
        else if (flag == "--cluster-key") options.cluster_key_file = value;
        else usage = true;
    }
    if (usage) {
        std::fprintf(stderr, "usage: pi DATA_DIR [--samples N] [--seed S] "
                             "[--join HOST:PORT --cluster-key FILE]\n");
        return 2;
    }
    options.data_dir = argv[1];

    try {
        auto node = reef::sdk::node::start(options);
        std::printf("node %s at %s\n", node->id().c_str(), node->address().c_str());

        // A native task: the sum of i*i over its samples [begin, end). Chunks are summed.
        node->register_task("sum_squares", [](std::uint64_t, std::uint64_t begin,
                                              std::uint64_t end) {
            double sum = 0;
            for (std::uint64_t i = begin; i < end; ++i) sum += double(i) * double(i);
            return sum;
        });

        // Both jobs run at once; get() waits for each result.
        std::future<reef::sdk::job_result> pi = node->spawn("pi", samples, seed);
        std::future<reef::sdk::job_result> squares = node->spawn("sum_squares", 100'000);

        const reef::sdk::job_result estimate = pi.get();
        std::printf("pi = %.6f (%llu samples, job %s, %.2f s)\n", estimate.value,
                    static_cast<unsigned long long>(estimate.samples), estimate.job.c_str(),
                    estimate.seconds);
        const reef::sdk::job_result total = squares.get();
        std::printf("sum_squares = %.0f (job %s, %.2f s)\n", total.value, total.job.c_str(),
                    total.seconds);
        node->stop(); // leave the cluster gracefully (the destructor would too)
    } catch (const reef::sdk::error& failure) {
        std::fprintf(stderr, "pi: %s\n", failure.what());
        return 1;
    }
    return 0;
}
