// Fuzz target "wire_envelope": the outer message layer every frame's plaintext goes through.
// Property besides "no crash": whatever decodes re-encodes to something that decodes the same.

#include "fuzz_target.hpp"
#include "reef/wire/envelope.hpp"

namespace reef::fuzz {

void one_input(std::span<const std::uint8_t> data) {
    auto decoded = wire::decode(data);
    if (!decoded.ok()) {
        REEF_FUZZ_CHECK(!decoded.failure().message.empty());
        return;
    }
    const bytes again = wire::encode(*decoded);
    auto round_trip = wire::decode(again);
    REEF_FUZZ_CHECK(round_trip.ok());
    REEF_FUZZ_CHECK(round_trip->kind == decoded->kind);
    REEF_FUZZ_CHECK(round_trip->body == decoded->body);
}

std::vector<bytes> seed_corpus() {
    wire::envelope small;
    small.kind = wire::channel::membership;
    small.body = "ping";
    wire::envelope empty;
    wire::envelope large;
    large.body.assign(3000, 'x');
    return {wire::encode(small), wire::encode(empty), wire::encode(large)};
}

std::size_t default_iterations() { return 20000; }

std::string summary(std::uint64_t /*iterations*/) { return "wire_envelope: done"; }

} // namespace reef::fuzz
