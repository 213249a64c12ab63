#pragma once
// The local cluster that `reef up` manages: a directory (default $XDG_DATA_HOME/reef/local) with
// the cluster key and one data directory per node, node-K/, holding that node's identity, its
// pid file (reefd.pid), its control socket (control.sock) and its log (reefd.log). Processes are
// found through their pid files and checked against /proc, so a stale file left by a crash or a
// reused pid is never mistaken for a running node.
// Thread-safety: none needed; the CLI is single-threaded.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "address.hpp"
#include "reef/base/result.hpp"

namespace reef::cli {

/// $XDG_DATA_HOME/reef/local, with XDG_DATA_HOME defaulting to ~/.local/share.
result<std::filesystem::path> default_local_dir();

class local_cluster {
public:
    explicit local_cluster(std::filesystem::path dir) : dir_(std::move(dir)) {}

    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path key_file() const { return dir_ / "cluster.key"; }
    std::filesystem::path settings_file() const { return dir_ / "cluster.json"; }
    std::filesystem::path node_dir(int node) const;
    std::filesystem::path pid_file(int node) const { return node_dir(node) / "reefd.pid"; }
    std::filesystem::path socket_path(int node) const { return node_dir(node) / "control.sock"; }
    std::filesystem::path log_file(int node) const { return node_dir(node) / "reefd.log"; }

    /// Node numbers that have a data directory, ascending.
    std::vector<int> known_nodes() const;
    /// The pid of the reefd running for `node`, if any.
    std::optional<pid_t> running_pid(int node) const;

    /// What `reef up` remembers between runs, so a plain `reef up` restarts the same cluster.
    struct settings {
        int nodes = local_nodes_default;
        std::uint16_t base_port = base_port_default;
    };
    /// The settings `reef up` saved (none yet is not an error; a corrupt file is).
    result<std::optional<settings>> load_settings() const;
    status save_settings(const settings& values) const;

private:
    std::filesystem::path dir_;
};

/// True while `pid` names a live (not zombie) process whose command line is a reefd.
bool is_reefd_process(pid_t pid);

/// reefd next to the running reef binary, else the first on PATH.
result<std::string> find_reefd();

/// Starts `program args...` in a new session (detached from this terminal), stdin and stdout on
/// /dev/null, stderr appended to `log_file`. Returns the child's pid once exec succeeded.
result<pid_t> spawn_detached(const std::string& program, const std::vector<std::string>& args,
                             const std::filesystem::path& log_file);

/// If `pid` is our child and has exited, reaps it and describes how it ended.
std::optional<std::string> reap_if_exited(pid_t pid);

/// Waits until `pid` is gone (or a zombie); false on timeout.
bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);

/// The last `lines` lines of a text file (at most 8 KiB of it), for error messages.
std::string tail_file(const std::filesystem::path& path, int lines);

} // namespace reef::cli
