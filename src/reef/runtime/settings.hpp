#pragma once
// reefd's settings: where they come from and how they are checked.
//
// Sources, highest precedence first: command-line flags, the --config TOML file, and
// DATA_DIR/settings.toml (the effective settings of the previous start, which reefd writes at
// every start so that `reefd --data-dir DIR` alone restarts a node as it was). A key given by a
// higher source replaces the lower one entirely (a --join list replaces the file's list).
//
// Relative paths in flags are relative to the working directory; in a file, to the file's
// directory. Every bad value is an invalid_argument whose message names its source and key
// ("--listen: ..." or "config /etc/reef.toml: listen: ...").
//
// Thread-safety: plain functions; they touch the file system only to read config files and to
// make paths absolute.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "reef/base/result.hpp"
#include "reef/runtime/log.hpp"

namespace reef::runtime {

/// Most --join seeds accepted.
inline constexpr std::size_t join_count_max = 64;
/// Largest config file read.
inline constexpr std::size_t config_size_max = 1U << 20U;

/// The settings one source gives; unset fields were not given by it.
struct settings_layer {
    std::optional<std::string> data_dir;
    std::optional<std::string> listen;
    std::optional<std::string> advertise;
    std::optional<std::vector<std::string>> join;
    std::optional<std::string> cluster_key;
    std::optional<std::string> control;
    std::optional<std::string> log_level;
    std::optional<bool> allow_exec;
};

/// Settings after merging and validation.
struct settings {
    std::string data_dir;          // absolute
    std::string listen;            // HOST:PORT to bind (port 0: any free port)
    std::string advertise;         // HOST:PORT peers dial; empty: the listen host, bound port
    std::vector<std::string> join; // HOST:PORT seeds, without duplicates
    std::string cluster_key;       // absolute path of the cluster key file
    std::string control;           // loopback HOST:PORT for the TCP control API; empty: none
    log_level level = log_level::info;
    bool allow_exec = false;       // this node runs command jobs' external commands
};

/// Parse the TOML text of a config file. `origin` names it in messages; relative paths are made
/// absolute against `base_dir`.
result<settings_layer> parse_settings_toml(std::string_view text, const std::string& origin,
                                           const std::string& base_dir);
/// Read and parse a config file (at most config_size_max bytes).
result<settings_layer> load_settings_file(const std::string& path);

/// Merge flags over the --config file (if `config_path`) over DATA_DIR/settings.toml (if it
/// exists), then validate. Flag paths are made absolute against the working directory.
result<settings> resolve_settings(const settings_layer& flags,
                                  const std::optional<std::string>& config_path);

/// The TOML form written to DATA_DIR/settings.toml; parse_settings_toml reads it back.
std::string to_toml(const settings& effective);

std::string_view log_level_name(log_level level);

} // namespace reef::runtime
