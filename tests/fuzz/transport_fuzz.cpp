// Fuzz target "transport": the handshake (both roles), the encrypted frame decoder and the
// address parser. The first input byte picks the part, the second how the rest is chunked
// (0 = one chunk, n = chunks of n bytes), so partial-message handling is exercised too.
//
// Every part is fed through the same public API the runtime uses. Properties checked besides
// "no crash": an error is final and carries a message; a handshake only completes with the one
// identity that can sign for it; a decoded payload is always exactly the payload the key holder
// sealed at that position (nothing forged, replayed or reordered ever decodes).

#include <algorithm>
#include <array>
#include <string>

#include "fuzz_target.hpp"
#include "reef/base/address.hpp"
#include "reef/base/prng.hpp"
#include "reef/crypto/cluster_key.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/transport/handshake.hpp"
#include "reef/transport/secure_channel.hpp"
#include "reef/transport/session.hpp"
#include "reef/transport/test_support.hpp"

namespace reef::fuzz {

namespace {

namespace tt = transport::testing;

enum part : std::uint8_t { responder_part, initiator_part, frames_part, address_part, part_count };

constexpr std::string_view initiator_address = "127.0.0.1:7401";
constexpr std::string_view responder_address = "[::1]:7402";

transport::channel_limits fuzz_limits() {
    transport::channel_limits limits;
    limits.frame_size_max = 4096;
    return limits;
}

/// A genuine exchange with fixed ephemeral keys, recorded once: mutating it reaches every state.
struct recording {
    crypto::identity initiator = tt::make_identity(1);
    crypto::identity responder = tt::make_identity(2);
    crypto::cluster_key key = tt::make_cluster_key(3);
    crypto::key32 initiator_ephemeral{};
    crypto::key32 responder_ephemeral{};
    bytes hello;
    bytes reply;
    bytes confirm;
    transport::session_keys initiator_keys;
    transport::session_keys responder_keys;
    std::vector<bytes> payloads;
    bytes initiator_frames; // initiator -> responder, sealed in order
    bytes responder_frames; // responder -> initiator

    recording() {
        prng random(4);
        initiator_ephemeral = tt::random_key(random);
        responder_ephemeral = tt::random_key(random);
        auto i = start_initiator();
        auto r = start_responder();
        i.take_output(hello);
        REEF_FUZZ_CHECK(r.on_bytes(hello).ok());
        r.take_output(reply);
        REEF_FUZZ_CHECK(i.on_bytes(reply).ok());
        i.take_output(confirm);
        REEF_FUZZ_CHECK(r.on_bytes(confirm).ok());
        REEF_FUZZ_CHECK(i.complete() && r.complete());
        initiator_keys = i.keys();
        responder_keys = r.keys();
        payloads = {bytes{}, bytes{'x'}, bytes(100, 0xab), bytes(1000, 0x01), bytes{'e', 'n', 'd'}};
        transport::secure_channel to_responder(initiator_keys, fuzz_limits());
        transport::secure_channel to_initiator(responder_keys, fuzz_limits());
        for (const auto& p : payloads) {
            REEF_FUZZ_CHECK(to_responder.seal(p, initiator_frames).ok());
            REEF_FUZZ_CHECK(to_initiator.seal(p, responder_frames).ok());
        }
    }

    transport::handshake start_initiator() const {
        return transport::handshake::start_initiator(initiator, key,
                                                     std::string(initiator_address),
                                                     responder.id(), initiator_ephemeral);
    }
    transport::handshake start_responder() const {
        return transport::handshake::start_responder(responder, key,
                                                     std::string(responder_address),
                                                     responder_ephemeral);
    }
};

struct counters {
    std::uint64_t sessions_established = 0;
    std::uint64_t payloads_decoded = 0;
    std::uint64_t handshake_errors = 0;
    std::uint64_t frame_errors = 0;
    std::uint64_t addresses_accepted = 0;
};
counters reached;

const recording& genuine() {
    static const recording instance;
    return instance;
}

void check_error(const error& why) {
    REEF_FUZZ_CHECK(!why.message.empty());
    REEF_FUZZ_CHECK(why.code >= errc::invalid_argument && why.code <= errc::internal);
}

/// Splits `stream` per the chunking byte and hands each chunk to `feed`; stops when it fails.
template <typename Feed>
void in_chunks(std::uint8_t chunking, std::span<const std::uint8_t> stream, Feed feed) {
    const std::size_t chunk = chunking == 0 ? std::max<std::size_t>(stream.size(), 1) : chunking;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
        if (!feed(stream.subspan(at, std::min(chunk, stream.size() - at)))) {
            return;
        }
    }
}

/// A payload decoded at position `decoded` must be what the key holder sealed there.
void expect_genuine(const bytes& payload, std::size_t& decoded) {
    REEF_FUZZ_CHECK(decoded < genuine().payloads.size());
    REEF_FUZZ_CHECK(payload == genuine().payloads[decoded]);
    ++decoded;
    ++reached.payloads_decoded;
}

/// Drains decoded payloads, checking each against what the key holder sealed at that position.
bool drain(transport::session& s, std::size_t& decoded) {
    bytes payload;
    for (;;) {
        auto next = s.next_payload(payload);
        if (!next.ok()) {
            check_error(next.failure());
            REEF_FUZZ_CHECK(s.failed());
            return false;
        }
        if (!*next) {
            return true;
        }
        expect_genuine(payload, decoded);
    }
}

void run_session(transport::session& s, const node_id& only_peer, std::uint8_t chunking,
                 std::span<const std::uint8_t> stream) {
    std::size_t decoded = 0;
    bool counted = false;
    in_chunks(chunking, stream, [&](std::span<const std::uint8_t> chunk) {
        const status fed = s.on_bytes(chunk);
        bytes out;
        s.take_output(out);
        if (!fed.ok()) {
            check_error(fed.failure());
            REEF_FUZZ_CHECK(s.failed());
            ++(s.established() ? reached.frame_errors : reached.handshake_errors);
            // Failure is final.
            REEF_FUZZ_CHECK(!s.on_bytes(chunk).ok());
            return false;
        }
        if (s.established()) {
            if (!counted) {
                counted = true;
                ++reached.sessions_established;
            }
            REEF_FUZZ_CHECK(s.keys().peer_id == only_peer);
            REEF_FUZZ_CHECK(crypto::node_id_of(s.keys().peer_key) == only_peer);
        }
        return drain(s, decoded);
    });
}

void fuzz_responder(std::uint8_t chunking, std::span<const std::uint8_t> stream) {
    transport::session s(genuine().start_responder(), fuzz_limits());
    run_session(s, genuine().initiator.id(), chunking, stream);
}

void fuzz_initiator(std::uint8_t chunking, std::span<const std::uint8_t> stream) {
    transport::session s(genuine().start_initiator(), fuzz_limits());
    bytes hello;
    s.take_output(hello);
    REEF_FUZZ_CHECK(hello == genuine().hello);
    run_session(s, genuine().responder.id(), chunking, stream);
}

void fuzz_frames(std::uint8_t chunking, std::span<const std::uint8_t> stream) {
    transport::secure_channel channel(genuine().responder_keys, fuzz_limits());
    std::size_t decoded = 0;
    in_chunks(chunking, stream, [&](std::span<const std::uint8_t> chunk) {
        const status fed = channel.feed(chunk);
        if (!fed.ok()) {
            check_error(fed.failure());
            return false;
        }
        bytes payload;
        for (;;) {
            auto next = channel.next(payload);
            if (!next.ok()) {
                check_error(next.failure());
                ++reached.frame_errors;
                REEF_FUZZ_CHECK(channel.failed());
                REEF_FUZZ_CHECK(!channel.next(payload).ok());
                return false;
            }
            if (!*next) {
                return true;
            }
            expect_genuine(payload, decoded);
        }
    });
}

void fuzz_address(std::span<const std::uint8_t> stream) {
    const std::string text(stream.begin(), stream.end());
    for (port_zero zero : {port_zero::refused, port_zero::allowed}) {
        auto parsed = parse_host_port(text, zero);
        if (!parsed.ok()) {
            check_error(parsed.failure());
            continue;
        }
        ++reached.addresses_accepted;
        REEF_FUZZ_CHECK(text.size() <= address_size_max);
        REEF_FUZZ_CHECK(zero == port_zero::allowed || parsed->port != 0);
        auto again = parse_host_port(parsed->text(), zero);
        REEF_FUZZ_CHECK(again.ok());
        REEF_FUZZ_CHECK(*again == *parsed);
    }
}

bytes tagged(part which, std::uint8_t chunking, std::initializer_list<const bytes*> pieces) {
    bytes out{static_cast<std::uint8_t>(which), chunking};
    for (const bytes* piece : pieces) {
        out.insert(out.end(), piece->begin(), piece->end());
    }
    return out;
}

bytes text_bytes(std::string_view text) { return bytes(text.begin(), text.end()); }

} // namespace

void one_input(std::span<const std::uint8_t> data) {
    if (data.size() < 2) {
        return;
    }
    const auto which = static_cast<part>(data[0] % part_count);
    const std::uint8_t chunking = data[1];
    const auto stream = data.subspan(2);
    switch (which) {
    case responder_part: fuzz_responder(chunking, stream); break;
    case initiator_part: fuzz_initiator(chunking, stream); break;
    case frames_part: fuzz_frames(chunking, stream); break;
    case address_part: fuzz_address(stream); break;
    case part_count: break;
    }
}

std::vector<bytes> seed_corpus() {
    const recording& g = genuine();
    std::vector<bytes> corpus;
    for (std::uint8_t chunking : {0, 1, 7, 50}) {
        corpus.push_back(tagged(responder_part, chunking, {&g.hello, &g.confirm,
                                                           &g.initiator_frames}));
        corpus.push_back(tagged(initiator_part, chunking, {&g.reply, &g.responder_frames}));
        corpus.push_back(tagged(frames_part, chunking, {&g.initiator_frames}));
    }
    corpus.push_back(tagged(responder_part, 0, {&g.hello}));
    for (auto reason : {transport::refusal_reason::authentication_failed,
                        transport::refusal_reason::unsupported_version,
                        transport::refusal_reason::busy}) {
        const bytes refusal = transport::encode_refusal(reason);
        corpus.push_back(tagged(initiator_part, 0, {&refusal}));
        corpus.push_back(tagged(responder_part, 0, {&g.hello, &refusal}));
    }
    for (std::string_view address :
         {"127.0.0.1:7400", "[::1]:1", "node-1.example.org:65535", "host:0", "[fe80::1]:80"}) {
        const bytes text = text_bytes(address);
        corpus.push_back(tagged(address_part, 0, {&text}));
    }
    return corpus;
}

std::size_t default_iterations() { return 40000; }

std::string summary(std::uint64_t iterations) {
    if (iterations >= 10000) {
        // A run this long must get past the handshake and into the frames, and must see both
        // kinds of failure; otherwise the harness no longer reaches what it is meant to test.
        REEF_FUZZ_CHECK(reached.sessions_established > 100);
        REEF_FUZZ_CHECK(reached.payloads_decoded > 100);
        REEF_FUZZ_CHECK(reached.handshake_errors > 100);
        REEF_FUZZ_CHECK(reached.frame_errors > 100);
        REEF_FUZZ_CHECK(reached.addresses_accepted > 10);
    }
    return "transport: " + std::to_string(reached.sessions_established) +
           " sessions established, " + std::to_string(reached.payloads_decoded) +
           " payloads decoded, " + std::to_string(reached.handshake_errors) +
           " handshake errors, " + std::to_string(reached.frame_errors) + " frame errors, " +
           std::to_string(reached.addresses_accepted) + " addresses accepted";
}

} // namespace reef::fuzz
