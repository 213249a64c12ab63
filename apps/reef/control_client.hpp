#pragma once
// Calls to one node's control API (docs/formats/control-api.md). Turns transport failures and
// error answers into errors a person can act on, and checks the shape of every answer before the
// CLI reads it: a node of another version or a stranger on the port yields a clear error, never a
// crash. Thread-safety: stateless.

#include <chrono>
#include <string>

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

    /// GET/POST `target`; a 2xx answer must be a JSON object, anything else becomes an error.
    result<nlohmann::json> call(std::string_view method, std::string_view target,
                                const nlohmann::json& body) const;
    /// GET `target` and check the answer's shape with `check_shape`.
    result<nlohmann::json> get_checked(std::string_view target,
                                       reef::status (*check_shape)(const nlohmann::json&)) const;
};

/// Checks the fields of a /v1/status answer that the CLI reads.
status check_status_shape(const nlohmann::json& answer);
/// Checks the fields of a /v1/peers answer that the CLI reads.
status check_peers_shape(const nlohmann::json& answer);

} // namespace reef::cli
