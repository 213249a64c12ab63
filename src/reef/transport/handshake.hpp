#pragma once
// The transport handshake: a sans-IO, three-message, Noise-style key agreement with a pre-shared
// key (the cluster key) and Ed25519 identity signatures. docs/formats/transport.md has the exact
// bytes; docs/design/transport.md the reasoning.
//
//   initiator -> responder   hello    magic, version, ephemeral key, PSK-keyed tag
//   responder -> initiator   reply    ephemeral key, encrypted {node key, signature, address}
//   initiator -> responder   confirm  encrypted {node key, signature, address}
//
// The handshake never touches sockets, clocks or OS randomness: bytes come in through
// `on_bytes`, bytes to send come out of `take_output`, and the ephemeral secret is drawn by the
// caller. Timeouts are the caller's (the runtime arms one deadline per handshake).
//
// Thread-safety: none; one handshake is driven by one thread.
// Invariants: once failed() or complete() the state never changes again; a failed handshake may
// still hold one refusal message in its output, which the caller should flush before closing.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/crypto/cluster_key.hpp"
#include "reef/crypto/identity.hpp"
#include "reef/crypto/primitives.hpp"

namespace reef::transport {

inline constexpr std::array<std::uint8_t, 4> protocol_magic = {'R', 'E', 'E', 'F'};
inline constexpr std::uint8_t protocol_version = 1;
/// magic (4) | version (1) | type (1) | body length (2, big-endian)
inline constexpr std::size_t handshake_header_size_bytes = 8;
/// No handshake body is larger; a header announcing more is refused before the body is read.
inline constexpr std::size_t handshake_body_size_max = 512;

enum class handshake_role : std::uint8_t { initiator, responder };

/// Why a peer refused a handshake, sent in a refuse message (advisory: it is not authenticated).
enum class refusal_reason : std::uint8_t {
    authentication_failed = 1, // the hello's PSK tag did not verify: different cluster key
    unsupported_version = 2,
    malformed = 3,
    bad_signature = 4,
    busy = 5,                // the node is at sessions_max
    unexpected_identity = 6, // the initiator expected a different node id at this address
};

/// A refuse message carrying `reason`, for callers that refuse before any handshake runs.
std::vector<std::uint8_t> encode_refusal(refusal_reason reason);

/// What a completed handshake proved and derived. The keys are secret and wiped on destruction.
struct session_keys {
    handshake_role role = handshake_role::initiator;
    crypto::key32 send_key{};
    crypto::key32 receive_key{};
    /// The final transcript hash, equal on both sides (channel binding).
    crypto::key32 handshake_hash{};
    node_id peer_id;
    crypto::public_key peer_key{};
    /// The peer's stated listen address ("host:port"), or empty if it accepts no connections.
    std::string peer_listen_address;

    session_keys() = default;
    session_keys(const session_keys&) = default;
    session_keys& operator=(const session_keys&) = default;
    ~session_keys();
};

class handshake {
public:
    /// Starts a handshake as the dialling side; the hello is ready in take_output() at once.
    /// `listen_address` is what this node states for replies: "host:port" or empty.
    /// With `expected_peer`, a responder with any other node id is refused.
    static handshake start_initiator(const crypto::identity& self,
                                     const crypto::cluster_key& cluster,
                                     std::string listen_address,
                                     std::optional<node_id> expected_peer,
                                     const crypto::key32& ephemeral_random);
    /// Starts a handshake as the accepting side; it waits for a hello.
    static handshake start_responder(const crypto::identity& self,
                                     const crypto::cluster_key& cluster,
                                     std::string listen_address,
                                     const crypto::key32& ephemeral_random);

    handshake(handshake&&) noexcept = default;
    handshake& operator=(handshake&&) noexcept = default;
    handshake(const handshake&) = delete;
    handshake& operator=(const handshake&) = delete;
    ~handshake();

    /// Consumes handshake bytes from the front of `bytes` and returns how many it took. Once
    /// complete(), the bytes it did not take belong to the secure channel. A failure is final:
    /// later calls return the same error. Never asserts on the bytes.
    result<std::size_t> on_bytes(std::span<const std::uint8_t> bytes);

    /// Moves out the bytes waiting to be sent (appends them to `out`).
    void take_output(std::vector<std::uint8_t>& out);
    bool has_output() const { return !output_.empty(); }

    bool complete() const { return state_ == state::complete; }
    bool failed() const { return state_ == state::failed; }
    handshake_role role() const { return role_; }
    const error& failure() const;
    /// The result; only after complete().
    const session_keys& keys() const;

private:
    enum class state : std::uint8_t { awaiting_hello, awaiting_reply, awaiting_confirm, complete,
                                      failed };
    struct message {
        std::uint8_t type = 0;
        std::span<const std::uint8_t> header;
        std::span<const std::uint8_t> body;
    };

    handshake(const crypto::identity& self, const crypto::cluster_key& cluster,
              std::string listen_address, handshake_role role,
              const crypto::key32& ephemeral_random);

    result<std::size_t> parse_one(std::span<const std::uint8_t> bytes);
    status on_message(const message& incoming);
    status on_hello(const message& incoming);
    status on_reply(const message& incoming);
    status on_confirm(const message& incoming);
    status on_refusal(const message& incoming);
    void send_hello();
    void send_identity(std::uint8_t type);
    status open_identity(const message& incoming, std::span<const std::uint8_t> sealed);
    void finish();
    status fail(error why, std::optional<refusal_reason> tell_peer);

    void mix_hash(std::span<const std::uint8_t> data);
    void mix_key(std::span<const std::uint8_t> input_key_material);

    crypto::identity self_;
    crypto::cluster_key cluster_;
    std::string listen_address_;
    handshake_role role_;
    state state_;
    std::optional<node_id> expected_peer_;
    crypto::x25519_keypair ephemeral_;
    crypto::key32 peer_ephemeral_{};
    crypto::key32 chaining_key_{};
    crypto::key32 hash_{};
    crypto::key32 key_{};
    std::vector<std::uint8_t> pending_;
    std::vector<std::uint8_t> output_;
    std::optional<error> failure_;
    session_keys keys_;
};

} // namespace reef::transport
