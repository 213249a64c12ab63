#pragma once
// A node's data directory (DATA_DIR) and the small files reefd keeps in it:
//   node.key       identity (runtime/identity_store)
//   settings.toml  effective settings of the last start (runtime/settings)
//   incarnation    highest membership incarnation this node has used, decimal text
//   reefd.pid      the running daemon's pid; holds an exclusive flock while it runs
//   control.sock   the control API's Unix socket
//
// Durability: files are replaced by writing a temporary file, fsyncing it, renaming it over the
// old one and fsyncing the directory, so a crash leaves either the old or the new content.
//
// Thread-safety: one owner; not shared between threads.

#include <cstdint>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"

namespace reef::runtime {

class data_dir {
public:
    /// Create the directory (mode 0700) if missing and lock it: a second reefd on the same data
    /// dir fails with failed_precondition naming the pid that holds it.
    static result<data_dir> open(const std::string& path);

    data_dir(data_dir&& other) noexcept;
    data_dir& operator=(data_dir&& other) noexcept;
    data_dir(const data_dir&) = delete;
    data_dir& operator=(const data_dir&) = delete;
    /// Removes reefd.pid and releases the lock.
    ~data_dir();

    const std::string& path() const { return path_; }
    /// DATA_DIR/name.
    std::string file(std::string_view name) const;
    std::string control_socket_path() const { return file("control.sock"); }

    /// The incarnation to start with: one more than the stored one (0 when there is none),
    /// stored durably before it is returned.
    result<std::uint64_t> bump_incarnation();
    /// Durably record `incarnation` (it must be higher than the stored value).
    status store_incarnation(std::uint64_t incarnation);
    std::uint64_t stored_incarnation() const { return incarnation_; }

private:
    data_dir(std::string path, int lock_fd);
    void release();

    std::string path_;
    int lock_fd_ = -1;
    std::uint64_t incarnation_ = 0;
};

/// Replace `path` with `contents` (mode `mode`) through a temporary file, fsync and rename, then
/// fsync the directory.
status write_file_durably(const std::string& path, std::string_view contents, unsigned mode);

} // namespace reef::runtime
