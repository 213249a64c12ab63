#pragma once
// A DHT contact: a node this node can send DHT queries to.
//
// `id` is authenticated by the transport when the contact was observed directly (the peer's
// session proves its key); contacts learned from other nodes' responses are hearsay until they
// answer a query themselves.

#include <optional>
#include <string>

#include "reef/base/ids.hpp"
#include "reef/base/time.hpp"

namespace reef::dht {

struct contact {
    node_id id;
    /// "host:port" as the transport dials it.
    std::string address;
    /// Smoothed round trip measured by this node, once known.
    std::optional<duration> rtt;
    /// When this node last heard from the contact directly.
    instant last_seen;
};

/// Longest address a DHT contact may carry; longer ones are malformed.
inline constexpr std::size_t contact_address_size_max = 256;

/// Whether a contact from an untrusted source is well formed: a non-zero id and a non-empty
/// address of at most contact_address_size_max bytes. Address syntax is the transport's business.
inline bool is_well_formed(const contact& candidate) {
    return !candidate.id.is_zero() && !candidate.address.empty() &&
           candidate.address.size() <= contact_address_size_max;
}

} // namespace reef::dht
