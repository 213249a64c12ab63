#include "reef/runtime/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "reef/base/assert.hpp"

namespace reef::runtime {

error os_error(const std::string& what, int code) {
    return make_error(errc::io_error, what + ": " + std::strerror(code));
}

error os_error(const std::string& what) { return os_error(what, errno); }

status write_all(int fd, std::string_view contents, const std::string& path) {
    REEF_ASSERT(fd >= 0);
    while (!contents.empty()) {
        const ssize_t written = ::write(fd, contents.data(), contents.size());
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            // write() returning 0 for a non-empty buffer would never make progress.
            return os_error("cannot write " + path, written < 0 ? errno : EIO);
        }
        contents.remove_prefix(static_cast<std::size_t>(written));
    }
    return {};
}

result<std::string> read_up_to(int fd, std::size_t size_max, const std::string& path) {
    REEF_ASSERT(fd >= 0);
    std::string out(size_max, '\0');
    std::size_t filled = 0;
    while (filled < out.size()) {
        const ssize_t got = ::read(fd, out.data() + filled, out.size() - filled);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            return os_error("cannot read " + path);
        }
        if (got == 0) {
            break;
        }
        filled += static_cast<std::size_t>(got);
    }
    REEF_ASSERT(filled <= size_max);
    out.resize(filled);
    return out;
}

status fsync_directory(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return os_error("cannot open directory " + dir);
    }
    const int synced = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    if (synced != 0) {
        return os_error("cannot fsync directory " + dir, saved);
    }
    return {};
}

} // namespace reef::runtime
