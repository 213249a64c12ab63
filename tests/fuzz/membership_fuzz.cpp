// Fuzz target "membership": the membership codec and the SWIM state machine behind it.
// Properties besides "no crash":
//  - whatever decodes re-encodes to bytes that decode to the same message;
//  - a decoded message fed to a live swim core keeps its invariants, and every message the core
//    sends in response is one its peers would accept (validate() passes).

#include <memory>
#include <string>

#include "fuzz_target.hpp"
#include "reef/base/prng.hpp"
#include "reef/membership/codec.hpp"
#include "reef/membership/swim.hpp"

namespace reef::fuzz {

namespace {

node_id id_from(std::uint8_t first) {
    node_id::bytes_type bytes{};
    bytes[0] = first;
    bytes[31] = 1;
    return node_id{bytes};
}

struct swim_under_test {
    membership::swim core{membership::config{}, id_from(1), "127.0.0.1:7401", 1, 42};
    instant now = instant::from_ns(1'000'000'000);
    std::uint64_t decoded = 0;
    std::uint64_t sends_checked = 0;

    swim_under_test() {
        const std::string seed = "127.0.0.1:7402";
        core.join(now, {&seed, 1});
        drain();
    }

    void drain() {
        for (const auto& out : core.take_effects()) {
            if (const auto* send = std::get_if<membership::send_effect>(&out)) {
                REEF_FUZZ_CHECK(membership::validate(send->body).ok());
                ++sends_checked;
            }
        }
    }

    void feed(const membership::message& incoming, std::uint8_t sender) {
        ++decoded;
        now = now + duration::milliseconds(7);
        core.on_message(now, id_from(sender), incoming);
        drain();
        if (now >= core.next_deadline()) {
            core.on_tick(now);
            drain();
        }
        core.check_invariants();
    }
};

swim_under_test& target() {
    static auto instance = std::make_unique<swim_under_test>();
    return *instance;
}

std::string as_string(std::span<const std::uint8_t> data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

bytes as_bytes(const std::string& text) { return {text.begin(), text.end()}; }

} // namespace

void one_input(std::span<const std::uint8_t> data) {
    auto decoded = membership::decode(as_string(data));
    if (!decoded.ok()) {
        REEF_FUZZ_CHECK(!decoded.failure().message.empty());
        return;
    }
    const std::string again = membership::encode(*decoded);
    auto round_trip = membership::decode(again);
    REEF_FUZZ_CHECK(round_trip.ok());
    REEF_FUZZ_CHECK(*round_trip == *decoded);
    // The sender's id comes from the data too, so hostile peers vary; never the node itself.
    const std::uint8_t sender = data.empty() ? 2 : static_cast<std::uint8_t>(2 + data[0] % 8);
    target().feed(*decoded, sender);
}

std::vector<bytes> seed_corpus() {
    membership::member_update alive;
    alive.id = id_from(3);
    alive.address = "127.0.0.1:7403";
    alive.incarnation = 2;
    membership::member_update suspect_self = alive;
    suspect_self.id = id_from(1);
    suspect_self.address = "127.0.0.1:7401";
    suspect_self.state = membership::member_state::suspect;
    suspect_self.origin = id_from(3);
    membership::member_update dead = alive;
    dead.id = id_from(4);
    dead.address = "127.0.0.1:7404";
    dead.state = membership::member_state::dead;
    dead.origin = id_from(3);

    std::vector<bytes> corpus;
    corpus.push_back(as_bytes(membership::encode(membership::ping{7, id_from(1), {alive}})));
    corpus.push_back(as_bytes(membership::encode(
        membership::ping_req{8, id_from(3), "127.0.0.1:7403", {suspect_self, dead}})));
    corpus.push_back(as_bytes(membership::encode(membership::ack{9, id_from(3), {dead}})));
    corpus.push_back(as_bytes(membership::encode(membership::nack{10, id_from(3)})));
    corpus.push_back(
        as_bytes(membership::encode(membership::sync{{alive, suspect_self, dead}, true})));
    return corpus;
}

std::size_t default_iterations() { return 20000; }

std::string summary(std::uint64_t iterations) {
    const auto& t = target();
    // A harness whose inputs never decode would test only the error path.
    REEF_FUZZ_CHECK(iterations < 1000 || t.decoded > iterations / 100);
    return "membership: " + std::to_string(t.decoded) + " of " + std::to_string(iterations) +
           " inputs decoded and fed to swim; " + std::to_string(t.sends_checked) +
           " outgoing messages validated; " + std::to_string(t.core.members().size()) +
           " members known";
}

} // namespace reef::fuzz
