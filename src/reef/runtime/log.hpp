#pragma once
// The logging facade. spdlog is confined to log.cpp (it costs ~6 s per translation unit); callers
// format with fmt's cheap core header. Thread-safe.

#include <string_view>

#include <fmt/core.h>

namespace reef::runtime {

enum class log_level { debug, info, warn, error };

/// Parse "debug" | "info" | "warn" | "error"; false for anything else.
bool parse_log_level(std::string_view text, log_level& out);
void set_log_level(log_level level);
/// Also write to `path` (appending) besides stderr.
void log_to_file(const std::string& path);
void log_message(log_level level, std::string_view text);

template <typename... Args>
void log_debug(fmt::format_string<Args...> format, Args&&... args) {
    log_message(log_level::debug, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void log_info(fmt::format_string<Args...> format, Args&&... args) {
    log_message(log_level::info, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(fmt::format_string<Args...> format, Args&&... args) {
    log_message(log_level::warn, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void log_error(fmt::format_string<Args...> format, Args&&... args) {
    log_message(log_level::error, fmt::format(format, std::forward<Args>(args)...));
}

} // namespace reef::runtime
