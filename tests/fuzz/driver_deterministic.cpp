// The deterministic fuzz driver: a ctest that needs no fuzzing engine. It runs the target on
// random inputs and on mutations of its seed corpus (bit flips, byte changes, insertions,
// deletions, truncations, splices and length-field edits), all drawn from one seeded prng, so a
// failure is reproduced by rerunning with the printed seed.
//
//   reef_fuzz_<name> [--iterations N] [--seed S]

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz_target.hpp"
#include "reef/base/prng.hpp"

namespace {

using reef::fuzz::bytes;

bytes random_bytes(reef::prng& random, std::size_t size) {
    bytes out(size);
    for (auto& b : out) {
        b = static_cast<std::uint8_t>(random.below(256));
    }
    return out;
}

/// One mutation step applied to `data` in place.
void mutate_once(reef::prng& random, bytes& data, const std::vector<bytes>& corpus) {
    const auto interesting = [&]() -> std::uint8_t {
        static constexpr std::uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x10, 0x20};
        return values[random.below(sizeof(values))];
    };
    switch (random.below(8)) {
    case 0: // flip one bit
        if (!data.empty()) {
            data[random.below(data.size())] ^= static_cast<std::uint8_t>(1U << random.below(8));
        }
        break;
    case 1: // set a byte to an interesting value
        if (!data.empty()) {
            data[random.below(data.size())] = interesting();
        }
        break;
    case 2: // set a byte to a random value
        if (!data.empty()) {
            data[random.below(data.size())] = static_cast<std::uint8_t>(random.below(256));
        }
        break;
    case 3: { // insert random bytes
        const auto extra = random_bytes(random, 1 + random.below(16));
        const auto at = data.begin() + static_cast<std::ptrdiff_t>(random.below(data.size() + 1));
        data.insert(at, extra.begin(), extra.end());
        break;
    }
    case 4: // delete a range
        if (!data.empty()) {
            const std::size_t at = random.below(data.size());
            const std::size_t count = 1 + random.below(std::min<std::size_t>(16, data.size() - at));
            data.erase(data.begin() + static_cast<std::ptrdiff_t>(at),
                       data.begin() + static_cast<std::ptrdiff_t>(at + count));
        }
        break;
    case 5: // truncate
        data.resize(random.below(data.size() + 1));
        break;
    case 6: // splice the tail of another corpus entry
        if (!corpus.empty()) {
            const bytes& other = corpus[random.below(corpus.size())];
            const std::size_t keep = random.below(data.size() + 1);
            const std::size_t from = random.below(other.size() + 1);
            data.resize(keep);
            data.insert(data.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
        }
        break;
    default: // overwrite a 16-bit big-endian field with an extreme value
        if (data.size() >= 2) {
            const std::size_t at = random.below(data.size() - 1);
            const std::uint16_t value = random.chance(0.5) ? 0xffff : 0x0000;
            data[at] = static_cast<std::uint8_t>(value >> 8U);
            data[at + 1] = static_cast<std::uint8_t>(value);
        }
        break;
    }
}

bool parse_number(const char* text, std::uint64_t& out) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        return false;
    }
    out = value;
    return true;
}

} // namespace

int main(int argc, char** argv) {
    std::uint64_t iterations = reef::fuzz::default_iterations();
    std::uint64_t seed = 1;
    for (int i = 1; i < argc; ++i) {
        const bool has_value = i + 1 < argc;
        if (std::strcmp(argv[i], "--iterations") == 0 && has_value &&
            parse_number(argv[i + 1], iterations)) {
            ++i;
        } else if (std::strcmp(argv[i], "--seed") == 0 && has_value &&
                   parse_number(argv[i + 1], seed)) {
            ++i;
        } else {
            std::fprintf(stderr, "usage: %s [--iterations N] [--seed S]\n", argv[0]);
            return 2;
        }
    }
    std::printf("fuzzing %llu inputs with seed %llu (rerun with --seed %llu)\n",
                static_cast<unsigned long long>(iterations), static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(seed));
    std::fflush(stdout);

    const auto started = std::chrono::steady_clock::now();
    const std::vector<bytes> corpus = reef::fuzz::seed_corpus();
    for (const auto& entry : corpus) {
        reef::fuzz::one_input(entry);
    }
    reef::prng random(seed);
    std::uint64_t random_inputs = 0;
    std::uint64_t mutated_inputs = 0;
    for (std::uint64_t n = 0; n < iterations; ++n) {
        bytes input;
        if (corpus.empty() || random.chance(0.2)) {
            input = random_bytes(random, random.below(random.chance(0.5) ? 64 : 2048));
            ++random_inputs;
        } else {
            input = corpus[random.below(corpus.size())];
            const std::uint64_t steps = 1 + random.below(random.chance(0.7) ? 2 : 8);
            for (std::uint64_t s = 0; s < steps; ++s) {
                mutate_once(random, input, corpus);
            }
            ++mutated_inputs;
        }
        reef::fuzz::one_input(input);
    }
    const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
    std::printf("ok: %zu seed inputs, %llu random, %llu mutated, no crash, every error clean "
                "(%.1f s)\n",
                corpus.size(), static_cast<unsigned long long>(random_inputs),
                static_cast<unsigned long long>(mutated_inputs), elapsed.count());
    std::printf("%s\n", reef::fuzz::summary(iterations).c_str());
    return 0;
}
