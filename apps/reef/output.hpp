#pragma once
// Human-readable output: aligned tables and short durations. Pure functions of their input.
// Thread-safety: stateless.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace reef::cli {

/// Left-aligned columns separated by two spaces; a header row first. Every row must have as
/// many cells as the header.
std::string render_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

/// "850ms", "12.5s", "3m12s", "2h05m", "3d04h".
std::string format_duration(double seconds);

/// "0.21ms", or "-" when unknown (null).
std::string format_rtt(const nlohmann::json& rtt_ms);

/// The `reef peers` table from a checked /v1/peers answer; the node answering is marked "*".
/// With routing-table facts in the answer: a DHT column (the member's bucket, or "-" when it is
/// not in the table), a "routing table: N contacts in M buckets" footer, and the contacts that
/// are not members.
std::string render_peers(const nlohmann::json& peers);

/// `reef dht put`: "stored NAME (sequence S) on N of the closest nodes; read it anywhere as
/// PUBLISHER/NAME", then "key KEY", from a checked /v1/dht/put answer.
std::string render_dht_put(const nlohmann::json& put);
/// `reef dht closest`: a table of the nodes, then "N nodes in R rounds".
std::string render_dht_closest(const nlohmann::json& closest);
/// `reef dht find`: the addresses, one per line.
std::string render_dht_find(const nlohmann::json& found);

/// `reef kv`: the value after the command on one line, or "(absent)", from a checked /v1/kv
/// answer.
std::string render_kv(const nlohmann::json& answer);
/// `reef kv group`: the node's view of a key's replica group from a checked /v1/kv/group answer:
/// whether it hosts the group and, if so, its role, the epoch, the members by short id with the
/// leader marked, and the log indexes.
std::string render_kv_group(const nlohmann::json& answer);

/// The `reef status` lines from a checked /v1/status answer.
std::string render_status(const nlohmann::json& status);

} // namespace reef::cli
