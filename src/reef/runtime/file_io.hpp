#pragma once
// POSIX file helpers shared by the data directory and the key files: whole writes and reads that
// retry on EINTR, fsync of a directory, and OS errors as io_error values.
//
// Thread-safety: stateless; each call works on the descriptor or path it is given.

#include <cstddef>
#include <string>
#include <string_view>

#include "reef/base/result.hpp"

namespace reef::runtime {

/// io_error "<what>: <strerror(code)>".
error os_error(const std::string& what, int code);
/// The same with the current errno.
error os_error(const std::string& what);

/// Writes all of `contents` to `fd`; `path` names the file in the error.
status write_all(int fd, std::string_view contents, const std::string& path);

/// Reads from `fd` until end of file or `size_max` bytes, whichever comes first.
result<std::string> read_up_to(int fd, std::size_t size_max, const std::string& path);

/// Makes a rename or link inside `dir` durable.
status fsync_directory(const std::string& dir);

} // namespace reef::runtime
