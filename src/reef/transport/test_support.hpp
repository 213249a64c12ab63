#pragma once
// Helpers shared by the transport tests and the fuzz harnesses (tests/fuzz): deterministic
// identities, cluster keys and ephemeral randomness from a seeded prng, and a driver that runs a
// handshake between two in-memory sessions. Test code only; not part of the library.

#include <optional>
#include <string>
#include <vector>

#include "reef/base/prng.hpp"
#include "reef/crypto/cluster_key.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/transport/handshake.hpp"
#include "reef/transport/session.hpp"

namespace reef::transport::testing {

inline crypto::key32 random_key(prng& random) {
    crypto::key32 out{};
    for (auto& b : out) {
        b = static_cast<std::uint8_t>(random.below(256));
    }
    return out;
}

inline crypto::identity make_identity(std::uint64_t seed) {
    prng random(seed);
    return crypto::identity::from_seed(random_key(random));
}

inline crypto::cluster_key make_cluster_key(std::uint64_t seed) {
    prng random(seed ^ 0xc1u);
    crypto::cluster_key key;
    key.bytes = random_key(random);
    return key;
}

/// Moves everything `from` has to send into `to`; returns to's status.
inline status pump(session& from, session& to) {
    std::vector<std::uint8_t> bytes;
    from.take_output(bytes);
    return to.on_bytes(bytes);
}

struct session_pair {
    session initiator;
    session responder;
};

inline session_pair make_session_pair(prng& random, const crypto::identity& a,
                                      const crypto::identity& b, const crypto::cluster_key& key_a,
                                      const crypto::cluster_key& key_b,
                                      const channel_limits& limits = {},
                                      std::optional<node_id> expected = std::nullopt) {
    return session_pair{
        session(handshake::start_initiator(a, key_a, "127.0.0.1:7401", expected,
                                           random_key(random)),
                limits),
        session(handshake::start_responder(b, key_b, "127.0.0.1:7402", random_key(random)),
                limits),
    };
}

/// Runs hello, reply, confirm; true when both sides are established.
inline bool complete_handshake(session_pair& pair) {
    for (int round = 0; round < 3; ++round) {
        (void)pump(pair.initiator, pair.responder);
        (void)pump(pair.responder, pair.initiator);
    }
    return pair.initiator.established() && pair.responder.established();
}

} // namespace reef::transport::testing
