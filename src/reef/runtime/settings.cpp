#include "reef/runtime/settings.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "reef/base/address.hpp"

namespace reef::runtime {

namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 8> known_keys{
    "data_dir", "listen", "advertise", "join", "cluster_key", "control", "log_level", "allow_exec"};

constexpr std::size_t path_size_max = 4096;

/// How a source names a key in messages: "--data-dir: " for flags, "config F: data_dir: " for
/// files.
struct source_name {
    std::string file; // empty for flags

    std::string key(std::string_view name) const {
        if (file.empty()) {
            std::string flag = "--" + std::string(name);
            std::replace(flag.begin(), flag.end(), '_', '-');
            return flag;
        }
        return "config " + file + ": " + std::string(name);
    }
    error bad(std::string_view name, const std::string& message) const {
        return make_error(errc::invalid_argument, key(name) + ": " + message);
    }
};

std::string absolute_against(const std::string& path, const std::string& base_dir) {
    const fs::path given(path);
    if (given.is_absolute()) {
        return given.lexically_normal().string();
    }
    return (fs::path(base_dir) / given).lexically_normal().string();
}

status check_path(const source_name& source, std::string_view name,
                  const std::optional<std::string>& value) {
    if (!value) {
        return {};
    }
    if (value->empty()) {
        return source.bad(name, "must not be empty");
    }
    if (value->size() > path_size_max || value->find('\0') != std::string::npos) {
        return source.bad(name, "is not a usable path");
    }
    return {};
}

/// Validates and normalizes one address field in place; the parsed address.
result<host_port> check_address(const source_name& source, std::string_view name,
                                std::string& value, port_zero zero) {
    auto parsed = parse_host_port(value, zero);
    if (!parsed) {
        return source.bad(name, parsed.failure().message);
    }
    value = parsed->text();
    return parsed;
}

status check_addresses(const source_name& source, settings_layer& layer) {
    if (layer.listen) {
        if (auto listen = check_address(source, "listen", *layer.listen, port_zero::allowed);
            !listen) {
            return listen.failure();
        }
    }
    if (layer.advertise) {
        const auto advertise =
            check_address(source, "advertise", *layer.advertise, port_zero::refused);
        if (!advertise) {
            return advertise.failure();
        }
        if (is_unspecified_host(advertise->host)) {
            return source.bad("advertise", "must be an address peers can dial, not " +
                                               *layer.advertise);
        }
    }
    if (layer.control) {
        const auto control = check_address(source, "control", *layer.control, port_zero::allowed);
        if (!control) {
            return control.failure();
        }
        if (!is_loopback_host(control->host)) {
            return source.bad("control",
                              "the control API is guarded only by file permissions on its Unix "
                              "socket, so its TCP listener must be on loopback (127.0.0.1, [::1] "
                              "or localhost), got " +
                                  *layer.control);
        }
    }
    if (layer.join) {
        if (layer.join->size() > join_count_max) {
            return source.bad("join", "at most " + std::to_string(join_count_max) +
                                          " addresses, got " + std::to_string(layer.join->size()));
        }
        std::vector<std::string> unique;
        for (auto& seed : *layer.join) {
            if (auto ok = check_address(source, "join", seed, port_zero::refused); !ok) {
                return ok.failure();
            }
            if (std::find(unique.begin(), unique.end(), seed) == unique.end()) {
                unique.push_back(seed);
            }
        }
        *layer.join = std::move(unique);
    }
    return {};
}

/// Checks every field the layer sets, normalizing addresses; paths are made absolute.
status check_layer(const source_name& source, settings_layer& layer, const std::string& base) {
    if (auto ok = check_path(source, "data_dir", layer.data_dir); !ok) {
        return ok;
    }
    if (auto ok = check_path(source, "cluster_key", layer.cluster_key); !ok) {
        return ok;
    }
    if (layer.data_dir) {
        layer.data_dir = absolute_against(*layer.data_dir, base);
    }
    if (layer.cluster_key) {
        layer.cluster_key = absolute_against(*layer.cluster_key, base);
    }
    if (layer.log_level) {
        log_level parsed = log_level::info;
        if (!parse_log_level(*layer.log_level, parsed)) {
            return source.bad("log_level", "must be one of debug, info, warn, error, got \"" +
                                               layer.log_level->substr(0, 32) + "\"");
        }
    }
    return check_addresses(source, layer);
}

template <typename T>
void take(std::optional<T>& into, const std::optional<T>& from) {
    if (!into && from) {
        into = from;
    }
}

/// `high` keeps what it has and takes the rest from `low`.
void merge_under(settings_layer& high, const settings_layer& low) {
    take(high.data_dir, low.data_dir);
    take(high.listen, low.listen);
    take(high.advertise, low.advertise);
    take(high.join, low.join);
    take(high.cluster_key, low.cluster_key);
    take(high.control, low.control);
    take(high.log_level, low.log_level);
    take(high.allow_exec, low.allow_exec);
}

result<std::string> read_string(const source_name& source, const toml::table& table,
                                std::string_view key) {
    const auto* value = table.get(key);
    REEF_ASSERT(value != nullptr);
    if (const auto* text = value->as_string()) {
        return text->get();
    }
    return source.bad(key, "must be a string");
}

result<std::vector<std::string>> read_join(const source_name& source, const toml::table& table) {
    const auto* value = table.get("join");
    REEF_ASSERT(value != nullptr);
    if (const auto* text = value->as_string()) {
        return std::vector<std::string>{text->get()};
    }
    const auto* list = value->as_array();
    if (list == nullptr) {
        return source.bad("join", "must be an array of \"HOST:PORT\" strings");
    }
    std::vector<std::string> out;
    for (const auto& element : *list) {
        const auto* text = element.as_string();
        if (text == nullptr) {
            return source.bad("join", "must be an array of \"HOST:PORT\" strings");
        }
        out.push_back(text->get());
    }
    return out;
}

result<settings_layer> layer_from_table(const source_name& source, const toml::table& table) {
    settings_layer layer;
    for (const auto& [key, value] : table) {
        const std::string_view name = key.str();
        if (std::find(known_keys.begin(), known_keys.end(), name) == known_keys.end()) {
            return make_error(errc::invalid_argument,
                              "config " + source.file + ": unknown key \"" +
                                  std::string(name.substr(0, 64)) +
                                  "\" (known: data_dir, listen, advertise, join, cluster_key, "
                                  "control, log_level, allow_exec)");
        }
        if (name == "allow_exec") {
            const auto* flag = value.as_boolean();
            if (flag == nullptr) {
                return source.bad("allow_exec", "must be true or false");
            }
            layer.allow_exec = flag->get();
            continue;
        }
        if (name == "join") {
            auto seeds = read_join(source, table);
            if (!seeds) {
                return seeds.failure();
            }
            layer.join = std::move(*seeds);
            continue;
        }
        auto text = read_string(source, table, name);
        if (!text) {
            return text.failure();
        }
        std::optional<std::string>* field = name == "data_dir"      ? &layer.data_dir
                                            : name == "listen"      ? &layer.listen
                                            : name == "advertise"   ? &layer.advertise
                                            : name == "cluster_key" ? &layer.cluster_key
                                            : name == "control"     ? &layer.control
                                                                    : &layer.log_level;
        *field = std::move(*text);
    }
    return layer;
}

status check_complete(const settings_layer& merged) {
    const auto missing = [](std::string_view flag, std::string_view key) {
        return make_error(errc::invalid_argument, "missing --" + std::string(flag) + " (or " +
                                                      std::string(key) +
                                                      " in the --config file)");
    };
    if (!merged.data_dir) {
        return missing("data-dir", "data_dir");
    }
    if (!merged.listen) {
        return missing("listen", "listen");
    }
    if (!merged.cluster_key) {
        return missing("cluster-key", "cluster_key");
    }
    const auto listen = parse_host_port(*merged.listen, port_zero::allowed);
    REEF_ASSERT(listen.ok());
    if (is_unspecified_host(listen->host) && !merged.advertise) {
        return make_error(errc::invalid_argument,
                          "--listen " + *merged.listen +
                              " binds every interface, so peers need to be told where to reach "
                              "this node: add --advertise HOST:PORT");
    }
    return {};
}

} // namespace

std::string_view log_level_name(log_level level) {
    switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    }
    return "info";
}

result<settings_layer> parse_settings_toml(std::string_view text, const std::string& origin,
                                           const std::string& base_dir) {
    const source_name source{origin};
    toml::table table;
    try {
        table = toml::parse(text, origin);
    } catch (const toml::parse_error& failure) {
        const auto& where = failure.source().begin;
        return make_error(errc::invalid_argument,
                          "config " + origin + ": line " + std::to_string(where.line) +
                              ", column " + std::to_string(where.column) + ": " +
                              std::string(failure.description()));
    }
    auto layer = layer_from_table(source, table);
    if (!layer) {
        return layer;
    }
    if (auto ok = check_layer(source, *layer, base_dir); !ok) {
        return ok.failure();
    }
    return layer;
}

result<settings_layer> load_settings_file(const std::string& path) {
    std::error_code failure;
    const auto size = fs::file_size(path, failure);
    if (failure) {
        return make_error(errc::invalid_argument,
                          "config " + path + ": cannot read: " + failure.message());
    }
    if (size > config_size_max) {
        return make_error(errc::invalid_argument, "config " + path + ": " + std::to_string(size) +
                                                      " bytes is too large (at most " +
                                                      std::to_string(config_size_max) + ")");
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
        return make_error(errc::invalid_argument,
                          "config " + path + ": cannot read: " + std::strerror(errno));
    }
    const fs::path absolute = fs::absolute(fs::path(path), failure);
    if (failure) {
        return make_error(errc::invalid_argument,
                          "config " + path + ": cannot resolve its directory: " +
                              failure.message());
    }
    return parse_settings_toml(text.str(), path, absolute.parent_path().string());
}

result<settings> resolve_settings(const settings_layer& flags,
                                  const std::optional<std::string>& config_path) {
    settings_layer merged = flags;
    std::error_code failure;
    const fs::path working = fs::current_path(failure);
    if (failure) {
        return make_error(errc::invalid_argument,
                          "cannot resolve relative paths: the working directory is gone (" +
                              failure.message() + ")");
    }
    if (auto ok = check_layer(source_name{}, merged, working.string()); !ok) {
        return ok.failure();
    }
    if (config_path) {
        auto file = load_settings_file(*config_path);
        if (!file) {
            return file.failure();
        }
        merge_under(merged, *file);
    }
    if (merged.data_dir) {
        const std::string saved = (fs::path(*merged.data_dir) / "settings.toml").string();
        if (fs::exists(saved, failure)) {
            auto previous = load_settings_file(saved);
            if (!previous) {
                return previous.failure();
            }
            merge_under(merged, *previous);
        }
    }
    if (auto ok = check_complete(merged); !ok) {
        return ok.failure();
    }
    settings out;
    out.data_dir = *merged.data_dir;
    out.listen = *merged.listen;
    out.advertise = merged.advertise.value_or("");
    out.join = merged.join.value_or(std::vector<std::string>{});
    out.cluster_key = *merged.cluster_key;
    out.control = merged.control.value_or("");
    const bool level_ok = parse_log_level(merged.log_level.value_or("info"), out.level);
    REEF_ASSERT(level_ok);
    out.allow_exec = merged.allow_exec.value_or(false);
    return out;
}

std::string to_toml(const settings& effective) {
    toml::table table;
    table.insert("data_dir", effective.data_dir);
    table.insert("listen", effective.listen);
    if (!effective.advertise.empty()) {
        table.insert("advertise", effective.advertise);
    }
    toml::array seeds;
    for (const auto& seed : effective.join) {
        seeds.push_back(seed);
    }
    table.insert("join", std::move(seeds));
    table.insert("cluster_key", effective.cluster_key);
    if (!effective.control.empty()) {
        table.insert("control", effective.control);
    }
    table.insert("log_level", std::string(log_level_name(effective.level)));
    table.insert("allow_exec", effective.allow_exec);
    std::ostringstream out;
    out << "# The effective settings of this node's last start, written by reefd.\n"
        << "# `reefd --data-dir DIR` alone restarts the node with them; flags override them.\n"
        << table << "\n";
    return out.str();
}

} // namespace reef::runtime
