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
std::string render_peers(const nlohmann::json& peers);

/// The `reef status` lines from a checked /v1/status answer.
std::string render_status(const nlohmann::json& status);

} // namespace reef::cli
