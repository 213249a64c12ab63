#include "reef/transport/handshake.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "reef/base/address.hpp"
#include "reef/base/assert.hpp"

namespace reef::transport {

namespace {

constexpr std::uint8_t type_hello = 1;
constexpr std::uint8_t type_reply = 2;
constexpr std::uint8_t type_confirm = 3;
constexpr std::uint8_t type_refuse = 4;

constexpr std::string_view protocol_name = "Reef_v1_psk0_X25519_Ed25519_ChaChaPoly_BLAKE2b";
constexpr std::string_view initiator_label = "reef-transport-v1 initiator signature";
constexpr std::string_view responder_label = "reef-transport-v1 responder signature";

constexpr std::size_t key_size = 32;
constexpr std::size_t tag_size = crypto::aead_tag_size_bytes;
constexpr std::size_t hello_body_size = key_size + tag_size;
/// node key (32) | signature (64) | address length (1); the address follows.
constexpr std::size_t identity_fixed_size = 32 + 64 + 1;
constexpr std::size_t identity_sealed_min = identity_fixed_size + tag_size;
constexpr std::size_t identity_sealed_max = identity_sealed_min + address_size_max;
constexpr std::size_t reply_body_min = key_size + identity_sealed_min;
constexpr std::size_t reply_body_max = key_size + identity_sealed_max;

static_assert(reply_body_max <= handshake_body_size_max);
static_assert(identity_sealed_max <= handshake_body_size_max);
static_assert(handshake_body_size_max <= 0xffff);
static_assert(address_size_max <= 0xff, "the listen address length travels in one byte");

std::span<const std::uint8_t> as_bytes(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::array<std::uint8_t, handshake_header_size_bytes> make_header(std::uint8_t type,
                                                                  std::size_t body_size) {
    REEF_ASSERT(body_size <= handshake_body_size_max);
    std::array<std::uint8_t, handshake_header_size_bytes> header{};
    std::copy(protocol_magic.begin(), protocol_magic.end(), header.begin());
    header[4] = protocol_version;
    header[5] = type;
    header[6] = static_cast<std::uint8_t>(body_size >> 8U);
    header[7] = static_cast<std::uint8_t>(body_size & 0xffU);
    return header;
}

error malformed(std::string detail) {
    return make_error(errc::invalid_argument, "malformed handshake message: " + detail);
}

error key_mismatch() {
    return make_error(errc::permission_denied,
                      "peer does not hold this cluster's key (handshake authentication failed)");
}

std::string_view type_name(std::uint8_t type) {
    switch (type) {
    case type_hello: return "hello";
    case type_reply: return "reply";
    case type_confirm: return "confirm";
    case type_refuse: return "refuse";
    default: return "unknown";
    }
}

/// The bytes an identity signature covers: label | transcript hash | node key | address.
std::vector<std::uint8_t> signed_bytes(std::string_view label, const crypto::key32& transcript,
                                       const crypto::public_key& key, std::string_view address) {
    REEF_ASSERT(address.size() <= address_size_max);
    std::vector<std::uint8_t> out;
    out.reserve(label.size() + 32 + 32 + 1 + address.size());
    const auto label_bytes = as_bytes(label);
    out.insert(out.end(), label_bytes.begin(), label_bytes.end());
    out.insert(out.end(), transcript.begin(), transcript.end());
    out.insert(out.end(), key.begin(), key.end());
    out.push_back(static_cast<std::uint8_t>(address.size()));
    const auto address_bytes = as_bytes(address);
    out.insert(out.end(), address_bytes.begin(), address_bytes.end());
    return out;
}

} // namespace

std::vector<std::uint8_t> encode_refusal(refusal_reason reason) {
    const auto header = make_header(type_refuse, 1);
    std::vector<std::uint8_t> out(header.begin(), header.end());
    out.push_back(static_cast<std::uint8_t>(reason));
    REEF_ASSERT(out.size() == handshake_header_size_bytes + 1);
    return out;
}

session_keys::~session_keys() {
    crypto::wipe(send_key);
    crypto::wipe(receive_key);
}

handshake::handshake(const crypto::identity& self, const crypto::cluster_key& cluster,
                     std::string listen_address, handshake_role role,
                     const crypto::key32& ephemeral_random)
    : self_(self), cluster_(cluster), listen_address_(std::move(listen_address)), role_(role),
      state_(role == handshake_role::initiator ? state::awaiting_reply : state::awaiting_hello),
      ephemeral_(crypto::x25519_keypair_from_random(ephemeral_random)) {
    REEF_ASSERT(listen_address_.empty() || parse_host_port(listen_address_).ok());
    hash_ = crypto::blake2b_256(as_bytes(protocol_name));
    chaining_key_ = hash_;
    // psk0: the cluster key enters the chaining key before anything else, so every later key
    // (the hello's tag, both identity payloads, the session keys) depends on it.
    mix_key(cluster_.bytes);
    pending_.reserve(handshake_header_size_bytes + handshake_body_size_max);
}

handshake::~handshake() {
    crypto::wipe(ephemeral_.secret);
    crypto::wipe(chaining_key_);
    crypto::wipe(key_);
    crypto::wipe(cluster_.bytes);
}

handshake handshake::start_initiator(const crypto::identity& self,
                                     const crypto::cluster_key& cluster,
                                     std::string listen_address,
                                     std::optional<node_id> expected_peer,
                                     const crypto::key32& ephemeral_random) {
    handshake out(self, cluster, std::move(listen_address), handshake_role::initiator,
                  ephemeral_random);
    if (expected_peer && !expected_peer->is_zero()) {
        out.expected_peer_ = expected_peer;
    }
    out.send_hello();
    REEF_ASSERT(out.has_output());
    return out;
}

handshake handshake::start_responder(const crypto::identity& self,
                                     const crypto::cluster_key& cluster,
                                     std::string listen_address,
                                     const crypto::key32& ephemeral_random) {
    handshake out(self, cluster, std::move(listen_address), handshake_role::responder,
                  ephemeral_random);
    REEF_ASSERT(!out.has_output());
    return out;
}

const error& handshake::failure() const {
    REEF_ASSERT(failed());
    REEF_ASSERT(failure_.has_value());
    return *failure_;
}

const session_keys& handshake::keys() const {
    REEF_ASSERT(complete());
    return keys_;
}

void handshake::take_output(std::vector<std::uint8_t>& out) {
    out.insert(out.end(), output_.begin(), output_.end());
    output_.clear();
}

void handshake::mix_hash(std::span<const std::uint8_t> data) {
    crypto::blake2b_256_hasher hasher;
    hasher.update(hash_).update(data);
    hash_ = hasher.finish();
}

void handshake::mix_key(std::span<const std::uint8_t> input_key_material) {
    auto derived = crypto::kdf2(chaining_key_, input_key_material);
    chaining_key_ = derived.first;
    key_ = derived.second;
    crypto::wipe(derived.first);
    crypto::wipe(derived.second);
}

status handshake::fail(error why, std::optional<refusal_reason> tell_peer) {
    REEF_ASSERT(!complete());
    REEF_ASSERT(!failed());
    state_ = state::failed;
    failure_ = why;
    pending_.clear();
    if (tell_peer) {
        const auto refusal = encode_refusal(*tell_peer);
        output_.insert(output_.end(), refusal.begin(), refusal.end());
    }
    crypto::wipe(ephemeral_.secret);
    crypto::wipe(chaining_key_);
    crypto::wipe(key_);
    return why;
}

result<std::size_t> handshake::on_bytes(std::span<const std::uint8_t> bytes) {
    if (failed()) {
        return *failure_;
    }
    std::size_t consumed = 0;
    while (!complete() && consumed < bytes.size()) {
        auto taken = parse_one(bytes.subspan(consumed));
        if (!taken.ok()) {
            return taken.failure();
        }
        REEF_ASSERT(*taken > 0);
        consumed += *taken;
    }
    REEF_ASSERT(consumed <= bytes.size());
    REEF_ASSERT(complete() || consumed == bytes.size());
    return consumed;
}

result<std::size_t> handshake::parse_one(std::span<const std::uint8_t> bytes) {
    REEF_ASSERT(!bytes.empty());
    std::size_t taken = 0;
    if (pending_.size() < handshake_header_size_bytes) {
        taken = std::min(handshake_header_size_bytes - pending_.size(), bytes.size());
        pending_.insert(pending_.end(), bytes.begin(), bytes.begin() + taken);
        if (pending_.size() < handshake_header_size_bytes) {
            return taken;
        }
        if (!std::equal(protocol_magic.begin(), protocol_magic.end(), pending_.begin())) {
            return fail(malformed("bad magic (not a Reef transport peer)"),
                        refusal_reason::malformed)
                .failure();
        }
        const std::uint8_t version = pending_[4];
        const std::uint8_t type = pending_[5];
        if (version != protocol_version && type != type_refuse) {
            return fail(make_error(errc::failed_precondition,
                                   "unsupported protocol version " + std::to_string(version) +
                                       " (this node speaks version " +
                                       std::to_string(protocol_version) + ")"),
                        refusal_reason::unsupported_version)
                .failure();
        }
        const std::size_t body_size = (std::size_t{pending_[6]} << 8U) | pending_[7];
        if (body_size > handshake_body_size_max) {
            return fail(malformed("body of " + std::to_string(body_size) +
                                  " bytes exceeds the maximum of " +
                                  std::to_string(handshake_body_size_max)),
                        refusal_reason::malformed)
                .failure();
        }
    }
    const std::size_t body_size = (std::size_t{pending_[6]} << 8U) | pending_[7];
    const std::size_t total = handshake_header_size_bytes + body_size;
    REEF_ASSERT(pending_.size() <= total);
    const std::size_t more = std::min(total - pending_.size(), bytes.size() - taken);
    pending_.insert(pending_.end(), bytes.begin() + taken, bytes.begin() + taken + more);
    taken += more;
    if (pending_.size() == total) {
        const std::vector<std::uint8_t> whole = std::move(pending_);
        pending_.clear();
        message incoming;
        incoming.type = whole[5];
        incoming.header = std::span<const std::uint8_t>(whole).first(handshake_header_size_bytes);
        incoming.body = std::span<const std::uint8_t>(whole).subspan(handshake_header_size_bytes);
        const status handled = on_message(incoming);
        if (!handled.ok()) {
            return handled.failure();
        }
    }
    return taken;
}

status handshake::on_message(const message& incoming) {
    if (incoming.type == type_refuse) {
        return on_refusal(incoming);
    }
    switch (state_) {
    case state::awaiting_hello:
        if (incoming.type == type_hello) {
            return on_hello(incoming);
        }
        break;
    case state::awaiting_reply:
        if (incoming.type == type_reply) {
            return on_reply(incoming);
        }
        break;
    case state::awaiting_confirm:
        if (incoming.type == type_confirm) {
            return on_confirm(incoming);
        }
        break;
    case state::complete:
    case state::failed: REEF_UNREACHABLE();
    }
    const std::string_view expected = state_ == state::awaiting_hello   ? "hello"
                                      : state_ == state::awaiting_reply ? "reply"
                                                                        : "confirm";
    return fail(malformed("expected a " + std::string(expected) + ", got message type " +
                          std::to_string(incoming.type) + " (" +
                          std::string(type_name(incoming.type)) + ")"),
                refusal_reason::malformed);
}

status handshake::on_refusal(const message& incoming) {
    if (incoming.body.size() != 1) {
        return fail(malformed("refuse body must be 1 byte, got " +
                              std::to_string(incoming.body.size())),
                    std::nullopt);
    }
    const std::uint8_t version = incoming.header[4];
    const std::uint8_t code = incoming.body[0];
    switch (static_cast<refusal_reason>(code)) {
    case refusal_reason::authentication_failed:
        return fail(make_error(errc::permission_denied,
                               "peer does not hold this cluster's key (handshake authentication "
                               "failed: the peer refused our handshake)"),
                    std::nullopt);
    case refusal_reason::unsupported_version:
        return fail(make_error(errc::failed_precondition,
                               "peer refused the handshake: it does not support protocol version " +
                                   std::to_string(protocol_version) + " (it speaks version " +
                                   std::to_string(version) + ")"),
                    std::nullopt);
    case refusal_reason::malformed:
        return fail(make_error(errc::invalid_argument,
                               "peer refused the handshake: it found our handshake message "
                               "malformed"),
                    std::nullopt);
    case refusal_reason::bad_signature:
        return fail(make_error(errc::permission_denied,
                               "peer refused the handshake: bad signature (our identity "
                               "signature did not verify)"),
                    std::nullopt);
    case refusal_reason::busy:
        return fail(make_error(errc::unavailable,
                               "peer refused the handshake: it is at its session limit"),
                    std::nullopt);
    case refusal_reason::unexpected_identity:
        return fail(make_error(errc::permission_denied,
                               "peer refused the handshake: it expected a different node id"),
                    std::nullopt);
    }
    return fail(make_error(errc::invalid_argument,
                           "peer refused the handshake (unknown reason code " +
                               std::to_string(code) + ")"),
                std::nullopt);
}

void handshake::send_hello() {
    REEF_ASSERT(role_ == handshake_role::initiator);
    const auto header = make_header(type_hello, hello_body_size);
    mix_hash(header);
    mix_hash(ephemeral_.public_key);
    mix_key(ephemeral_.public_key);
    std::array<std::uint8_t, tag_size> tag{};
    crypto::aead_seal(key_, 0, hash_, {}, tag);
    mix_hash(tag);
    output_.insert(output_.end(), header.begin(), header.end());
    output_.insert(output_.end(), ephemeral_.public_key.begin(), ephemeral_.public_key.end());
    output_.insert(output_.end(), tag.begin(), tag.end());
    REEF_ASSERT(output_.size() == handshake_header_size_bytes + hello_body_size);
}

status handshake::on_hello(const message& incoming) {
    REEF_ASSERT(role_ == handshake_role::responder);
    if (incoming.body.size() != hello_body_size) {
        return fail(malformed("hello body must be " + std::to_string(hello_body_size) +
                              " bytes, got " + std::to_string(incoming.body.size())),
                    refusal_reason::malformed);
    }
    mix_hash(incoming.header);
    std::copy_n(incoming.body.begin(), key_size, peer_ephemeral_.begin());
    mix_hash(peer_ephemeral_);
    mix_key(peer_ephemeral_);
    const auto tag = incoming.body.subspan(key_size, tag_size);
    std::span<std::uint8_t> nothing;
    if (!crypto::aead_open(key_, 0, hash_, tag, nothing)) {
        return fail(key_mismatch(), refusal_reason::authentication_failed);
    }
    mix_hash(tag);

    // The reply: our ephemeral key, then our identity sealed under a key that needs both the
    // cluster key and the ephemeral-ephemeral Diffie-Hellman result.
    auto shared = crypto::x25519_shared(ephemeral_.secret, peer_ephemeral_);
    if (!shared.ok()) {
        return fail(malformed(shared.failure().message), refusal_reason::malformed);
    }
    const std::size_t sealed_size = identity_sealed_min + listen_address_.size();
    const auto header = make_header(type_reply, key_size + sealed_size);
    mix_hash(header);
    mix_hash(ephemeral_.public_key);
    mix_key(ephemeral_.public_key);
    mix_key(*shared);
    crypto::wipe(*shared);
    output_.insert(output_.end(), header.begin(), header.end());
    output_.insert(output_.end(), ephemeral_.public_key.begin(), ephemeral_.public_key.end());
    send_identity(type_reply);
    state_ = state::awaiting_confirm;
    return {};
}

void handshake::send_identity(std::uint8_t type) {
    const std::string_view label = role_ == handshake_role::initiator ? initiator_label
                                                                      : responder_label;
    const auto& key = self_.public_key_bytes();
    const auto sig = self_.sign(signed_bytes(label, hash_, key, listen_address_));
    std::vector<std::uint8_t> payload;
    payload.reserve(identity_fixed_size + listen_address_.size());
    payload.insert(payload.end(), key.begin(), key.end());
    payload.insert(payload.end(), sig.begin(), sig.end());
    payload.push_back(static_cast<std::uint8_t>(listen_address_.size()));
    payload.insert(payload.end(), listen_address_.begin(), listen_address_.end());
    std::vector<std::uint8_t> sealed(payload.size() + tag_size);
    crypto::aead_seal(key_, 0, hash_, payload, sealed);
    mix_hash(sealed);
    output_.insert(output_.end(), sealed.begin(), sealed.end());
    REEF_ASSERT(sealed.size() <= identity_sealed_max);
    REEF_ASSERT(type == type_reply || type == type_confirm);
}

status handshake::on_reply(const message& incoming) {
    REEF_ASSERT(role_ == handshake_role::initiator);
    if (incoming.body.size() < reply_body_min || incoming.body.size() > reply_body_max) {
        return fail(malformed("reply body must be " + std::to_string(reply_body_min) + ".." +
                              std::to_string(reply_body_max) + " bytes, got " +
                              std::to_string(incoming.body.size())),
                    refusal_reason::malformed);
    }
    mix_hash(incoming.header);
    std::copy_n(incoming.body.begin(), key_size, peer_ephemeral_.begin());
    mix_hash(peer_ephemeral_);
    mix_key(peer_ephemeral_);
    auto shared = crypto::x25519_shared(ephemeral_.secret, peer_ephemeral_);
    if (!shared.ok()) {
        return fail(malformed(shared.failure().message), refusal_reason::malformed);
    }
    mix_key(*shared);
    crypto::wipe(*shared);
    const status opened = open_identity(incoming, incoming.body.subspan(key_size));
    if (!opened.ok()) {
        return opened;
    }

    // The confirm: our identity, under a fresh key from the chaining key.
    const std::size_t sealed_size = identity_sealed_min + listen_address_.size();
    const auto header = make_header(type_confirm, sealed_size);
    mix_hash(header);
    mix_key({});
    output_.insert(output_.end(), header.begin(), header.end());
    send_identity(type_confirm);
    finish();
    return {};
}

status handshake::on_confirm(const message& incoming) {
    REEF_ASSERT(role_ == handshake_role::responder);
    if (incoming.body.size() < identity_sealed_min || incoming.body.size() > identity_sealed_max) {
        return fail(malformed("confirm body must be " + std::to_string(identity_sealed_min) +
                              ".." + std::to_string(identity_sealed_max) + " bytes, got " +
                              std::to_string(incoming.body.size())),
                    refusal_reason::malformed);
    }
    mix_hash(incoming.header);
    mix_key({});
    const status opened = open_identity(incoming, incoming.body);
    if (!opened.ok()) {
        return opened;
    }
    finish();
    return {};
}

status handshake::open_identity(const message& incoming, std::span<const std::uint8_t> sealed) {
    REEF_ASSERT(sealed.size() >= identity_sealed_min);
    std::vector<std::uint8_t> payload(sealed.size() - tag_size);
    if (!crypto::aead_open(key_, 0, hash_, sealed, payload)) {
        if (incoming.type == type_reply) {
            return fail(key_mismatch(), refusal_reason::authentication_failed);
        }
        // The hello's tag verified, so the initiator held the cluster key at that point: the
        // confirm was altered in flight, or the hello was replayed by someone without the key.
        return fail(make_error(errc::permission_denied,
                               "handshake authentication failed on the confirm message (tampered "
                               "in flight, or a replayed hello from a node without this "
                               "cluster's key)"),
                    refusal_reason::authentication_failed);
    }
    crypto::public_key peer_key{};
    crypto::signature sig{};
    std::copy_n(payload.begin(), 32, peer_key.begin());
    std::copy_n(payload.begin() + 32, 64, sig.begin());
    const std::size_t address_size = payload[96];
    if (address_size != payload.size() - identity_fixed_size) {
        return fail(malformed("listen address length " + std::to_string(address_size) +
                              " does not match the " +
                              std::to_string(payload.size() - identity_fixed_size) +
                              " bytes that follow"),
                    refusal_reason::malformed);
    }
    const std::string address(payload.begin() + identity_fixed_size, payload.end());
    if (!address.empty()) {
        auto parsed = parse_host_port(address);
        if (!parsed.ok()) {
            return fail(malformed("stated listen address: " + parsed.failure().message),
                        refusal_reason::malformed);
        }
    }
    const std::string_view label = role_ == handshake_role::initiator ? responder_label
                                                                      : initiator_label;
    if (!crypto::verify(peer_key, signed_bytes(label, hash_, peer_key, address), sig)) {
        return fail(make_error(errc::permission_denied,
                               "bad signature: the peer's handshake signature does not verify "
                               "against the node key it presented"),
                    refusal_reason::bad_signature);
    }
    const node_id peer_id = crypto::node_id_of(peer_key);
    if (expected_peer_ && *expected_peer_ != peer_id) {
        return fail(make_error(errc::permission_denied,
                               "peer id mismatch: expected " + expected_peer_->short_hex() +
                                   ", got " + peer_id.short_hex()),
                    refusal_reason::unexpected_identity);
    }
    if (peer_id == self_.id()) {
        return fail(make_error(errc::failed_precondition,
                               "peer presented this node's own identity (connected to itself?)"),
                    refusal_reason::unexpected_identity);
    }
    mix_hash(sealed);
    keys_.peer_id = peer_id;
    keys_.peer_key = peer_key;
    keys_.peer_listen_address = address;
    crypto::wipe(payload);
    return {};
}

void handshake::finish() {
    REEF_ASSERT(!keys_.peer_id.is_zero());
    auto split = crypto::kdf2(chaining_key_, {});
    keys_.role = role_;
    if (role_ == handshake_role::initiator) {
        keys_.send_key = split.first;
        keys_.receive_key = split.second;
    } else {
        keys_.send_key = split.second;
        keys_.receive_key = split.first;
    }
    keys_.handshake_hash = hash_;
    crypto::wipe(split.first);
    crypto::wipe(split.second);
    crypto::wipe(ephemeral_.secret);
    crypto::wipe(chaining_key_);
    crypto::wipe(key_);
    state_ = state::complete;
    REEF_ASSERT(keys_.send_key != keys_.receive_key);
}

} // namespace reef::transport
