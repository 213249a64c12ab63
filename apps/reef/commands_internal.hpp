#pragma once
// Helpers shared by the command implementations. Thread-safety: none needed.

#include <string>

#include "commands.hpp"
#include "control_client.hpp"
#include "reef/base/result.hpp"

namespace reef::cli {

/// Prints "reef: <message>" on stderr and returns exit_failure.
int report(const error& failure);
/// Prints "reef: <message>" on stderr and returns exit_usage.
int report_usage(const std::string& message);

/// Prints `value` as indented JSON on stdout.
void print_json(const nlohmann::json& value);

/// Prints a node's answer as JSON (--json) or as `render` lays it out for people; an error is
/// reported instead.
int show(const global_options& global, const result<nlohmann::json>& answer,
         std::string (*render)(const nlohmann::json&));

/// The control client for the global --node.
control_client client_for(const global_options& global);

/// The text of the Lua program at `path` (not_found, or invalid_argument when empty).
result<std::string> read_program(const std::string& path);

/// Creates `dir` and its parents; a directory it creates gets mode 0700.
status make_private_dirs(const std::filesystem::path& dir);

} // namespace reef::cli
