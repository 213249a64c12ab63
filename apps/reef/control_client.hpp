#pragma once
// Calls to one node's control API (docs/formats/control-api.md). Turns transport failures and
// error answers into errors a person can act on, and checks the shape of every answer before the
// CLI reads it: a node of another version or a stranger on the port yields a clear error, never a
// crash. Thread-safety: stateless.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "reef/base/result.hpp"

namespace reef::cli {

struct control_client {
    control_endpoint endpoint;
    std::chrono::milliseconds timeout{5000};
    /// Said after "no reefd running at ...", e.g. "start one with `reef up`".
    std::string start_hint;

    result<nlohmann::json> status() const;
    result<nlohmann::json> peers() const;
    result<nlohmann::json> join(const host_port& address) const;
    result<nlohmann::json> leave() const;
    /// The DHT routes (docs/formats/control-api.md, "DHT"); each answer's shape is checked.
    result<nlohmann::json> dht_put(const std::string& name, const std::string& value,
                                   std::uint64_t ttl_seconds) const;
    /// By key ({"key": HEX}) or by {"publisher": HEX, "name": NAME}.
    result<nlohmann::json> dht_get(const nlohmann::json& body) const;
    result<nlohmann::json> dht_closest(const std::string& target_hex) const;
    result<nlohmann::json> dht_find(const std::string& node_id_hex) const;
    /// POST /v1/kv with `body` ({"op", "key", ...}); the answer's shape is checked.
    result<nlohmann::json> kv(const nlohmann::json& body) const;
    /// GET /v1/kv/group?key=KEY: the node's view of `key`'s replica group; shape checked.
    result<nlohmann::json> kv_group(const std::string& key) const;

    /// GET/POST `target`; a 2xx answer must be a JSON object, anything else becomes an error.
    result<nlohmann::json> call(std::string_view method, std::string_view target,
                                const nlohmann::json& body) const;
    /// call() and check the answer's shape with `check_shape`.
    result<nlohmann::json> call_checked(std::string_view method, std::string_view target,
                                        const nlohmann::json& body,
                                        reef::status (*check_shape)(const nlohmann::json&)) const;
};

/// Checks the fields of a /v1/status answer that the CLI reads.
status check_status_shape(const nlohmann::json& answer);
/// Checks the fields of a /v1/peers answer that the CLI reads ("routing" and "contacts" are
/// optional: a reefd without a DHT has none).
status check_peers_shape(const nlohmann::json& answer);
status check_dht_put_shape(const nlohmann::json& answer);
status check_dht_get_shape(const nlohmann::json& answer);
status check_dht_closest_shape(const nlohmann::json& answer);
status check_dht_find_shape(const nlohmann::json& answer);
/// Checks a /v1/kv answer: "key", "op", "ok", "value" (a string or null), "error" when not ok.
status check_kv_shape(const nlohmann::json& answer);
/// Checks a /v1/kv/group answer: "key", "group", "hosted" and, when hosted, "members" (strings),
/// "epoch", "leader", "role", "commit_index", "applied_index", "last_index".
status check_kv_group_shape(const nlohmann::json& answer);

/// `text` for a URL query: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper-case hex).
std::string percent_encoded(std::string_view text);

} // namespace reef::cli
