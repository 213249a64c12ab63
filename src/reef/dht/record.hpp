#pragma once
// DHT records: small values signed by their publisher's Ed25519 key (docs/formats/dht.md).
//
// Thread-safety: pure functions and plain data.
//
// A record's key is BLAKE2b-256(publisher_id || name), where publisher_id = node_id_of(publisher
// key) = BLAKE2b-256(publisher key). Hashing the publisher's id rather than its raw key means:
//  - a publisher owns its keys: nobody else can sign a valid record for them;
//  - anyone who knows a node's id (not its key) can compute the key of that node's records, which
//    is what address discovery needs ("find node X's addresses by id").
//
// The signature covers a canonical byte encoding (signing_bytes) that starts with a
// domain-separation prefix, so a record signature can never be mistaken for a signature made by
// the same key in another protocol (for example the transport handshake).
//
// Untrusted records (from the wire) are checked with verify(); it never asserts.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reef/base/address.hpp"
#include "reef/base/ids.hpp"
#include "reef/base/result.hpp"
#include "reef/crypto/identity.hpp"

namespace reef::dht {

/// Longest record name (opaque bytes, at least one).
inline constexpr std::size_t record_name_size_max = 128;
/// Largest record value.
inline constexpr std::size_t record_value_size_max = 1024;
/// The prefix of every signed record encoding (includes its terminating zero byte).
inline constexpr std::string_view record_signing_domain{"reef-dht-record-v1\0", 19};

static_assert(record_name_size_max <= 0xFFFF, "name length is a u16 in signing_bytes");
static_assert(record_value_size_max <= 0xFFFFFFFF, "value length is a u32 in signing_bytes");

struct record {
    /// BLAKE2b-256(node_id_of(publisher) || name); see record_key().
    id256 key;
    crypto::public_key publisher{};
    std::string name;
    std::uint64_t sequence = 0;
    /// Wall-clock unix seconds after which the record is no longer served.
    std::uint64_t expiry_unix_seconds = 0;
    std::string value;
    crypto::signature signature{};

    bool operator==(const record&) const = default;
};

/// The key of the record `name` published by the node (or user) whose id is `publisher_id`.
id256 record_key(const node_id& publisher_id, std::string_view name);
id256 record_key(const crypto::public_key& publisher, std::string_view name);

/// The canonical bytes the signature covers:
///   domain || key(32) || publisher(32) || u16be name size || name || u64be sequence ||
///   u64be expiry || u32be value size || value
/// `rec` must satisfy check_shape() (asserted).
std::string signing_bytes(const record& rec);

/// Builds and signs a record. Bounds on name and value are the caller's responsibility
/// (asserted): use check_shape() on untrusted names or values first.
record sign_record(const crypto::identity& publisher, std::string name, std::uint64_t sequence,
                   std::uint64_t expiry_unix_seconds, std::string value);

/// Sizes and the key binding only (no signature check, no clock): "name is empty",
/// "name too large", "value too large", "key does not match publisher and name".
[[nodiscard]] status check_shape(const record& rec);

/// check_shape() and the signature: "bad signature" (permission_denied) when the record was not
/// signed by `publisher` or any signed byte was changed. Size errors are invalid_argument.
[[nodiscard]] status verify(const record& rec);

/// verify() and expiry: "expired" (failed_precondition) when now >= expiry.
[[nodiscard]] status verify(const record& rec, std::uint64_t now_unix_seconds);

// Node address records: how a node that knows only another node's id finds its addresses.
// The value is a comma-separated list of "host:port" texts (each parse_host_port-valid with a
// non-zero port), at least one and at most node_addresses_count_max.

inline constexpr std::string_view node_addresses_name = "reef.node.addresses";
inline constexpr std::size_t node_addresses_count_max = 8;

/// The key of `node`'s address record.
id256 node_addresses_key(const node_id& node);

/// A signed address record for `publisher`'s own node. invalid_argument for an empty or too long
/// list, an address that is not a dialable host:port, or a value over record_value_size_max.
result<record> make_node_addresses(const crypto::identity& publisher,
                                   std::span<const host_port> addresses, std::uint64_t sequence,
                                   std::uint64_t expiry_unix_seconds);

/// The addresses in an address record (which must already have passed verify()): checks the name
/// and parses every entry; invalid_argument otherwise.
result<std::vector<host_port>> parse_node_addresses(const record& rec);

} // namespace reef::dht
