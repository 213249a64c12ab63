#include "reef/runtime/log.hpp"

#include <memory>
#include <string>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace reef::runtime {

namespace {

spdlog::logger& logger() {
    static std::shared_ptr<spdlog::logger> instance = [] {
        auto created = spdlog::stderr_color_mt("reef");
        created->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
        created->set_level(spdlog::level::info);
        return created;
    }();
    return *instance;
}

spdlog::level::level_enum to_spdlog(log_level level) {
    switch (level) {
    case log_level::debug: return spdlog::level::debug;
    case log_level::info: return spdlog::level::info;
    case log_level::warn: return spdlog::level::warn;
    case log_level::error: return spdlog::level::err;
    }
    return spdlog::level::info;
}

} // namespace

bool parse_log_level(std::string_view text, log_level& out) {
    if (text == "debug") {
        out = log_level::debug;
    } else if (text == "info") {
        out = log_level::info;
    } else if (text == "warn") {
        out = log_level::warn;
    } else if (text == "error") {
        out = log_level::error;
    } else {
        return false;
    }
    return true;
}

void set_log_level(log_level level) { logger().set_level(to_spdlog(level)); }

void log_to_file(const std::string& path) {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false);
    sink->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    logger().sinks().push_back(sink);
    logger().flush_on(spdlog::level::info);
}

void log_message(log_level level, std::string_view text) { logger().log(to_spdlog(level), text); }

} // namespace reef::runtime
