#include "reef/runtime/data_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <utility>

#include "reef/runtime/file_io.hpp"

namespace reef::runtime {

namespace {

namespace fs = std::filesystem;

/// Largest incarnation file read; a decimal uint64 and a newline fit easily.
constexpr std::size_t incarnation_size_max = 32;

/// Reads a small file; not_found when it does not exist.
result<std::string> read_small_file(const std::string& path, std::size_t size_max) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return make_error(errc::not_found, path + " does not exist");
        }
        return os_error("cannot open " + path);
    }
    // One byte more than allowed, so the caller can tell a file that is too long.
    auto contents = read_up_to(fd, size_max + 1, path);
    ::close(fd);
    return contents;
}

result<std::uint64_t> parse_incarnation(const std::string& text, const std::string& path) {
    const auto corrupt = [&] {
        return make_error(errc::failed_precondition,
                          path + " is corrupt (expected one decimal number); remove it to start "
                                 "at a fresh incarnation");
    };
    if (text.size() > incarnation_size_max) {
        return corrupt();
    }
    std::string_view digits = text;
    while (!digits.empty() && (digits.back() == '\n' || digits.back() == ' ')) {
        digits.remove_suffix(1);
    }
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) {
        return corrupt();
    }
    return value;
}

/// The pid recorded in a lock file held by someone else, for the message.
std::string holder_of(int fd) {
    char buffer[32] = {};
    const ssize_t got = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
    std::string text = got > 0 ? std::string(buffer, static_cast<std::size_t>(got)) : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    return text.empty() ? "unknown" : text;
}

/// Open and exclusively lock the pid file. A holder that exits unlinks the file under its lock,
/// so a lock won on an inode that is no longer at `pid_path` is stale: retry on the new file.
result<int> lock_pid_file(const std::string& dir, const std::string& pid_path) {
    constexpr int attempts_max = 8;
    for (int attempt = 0; attempt < attempts_max; ++attempt) {
        const int fd = ::open(pid_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            return os_error("cannot open " + pid_path);
        }
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const std::string holder = holder_of(fd);
            ::close(fd);
            return make_error(errc::failed_precondition,
                              "data dir " + dir + " is in use by another reefd (pid " + holder +
                                  ")");
        }
        struct stat held {};
        struct stat named {};
        if (::fstat(fd, &held) == 0 && ::stat(pid_path.c_str(), &named) == 0 &&
            held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
            return fd;
        }
        ::close(fd);
    }
    return make_error(errc::unavailable, "cannot lock " + pid_path + ": it keeps changing");
}

} // namespace

status write_file_durably(const std::string& path, std::string_view contents, unsigned mode) {
    const std::string temporary = path + ".tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                          static_cast<mode_t>(mode));
    if (fd < 0) {
        return os_error("cannot create " + temporary);
    }
    if (auto written = write_all(fd, contents, temporary); !written) {
        ::close(fd);
        ::unlink(temporary.c_str());
        return written;
    }
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0 || ::fsync(fd) != 0) {
        const error failure = os_error("cannot sync " + temporary);
        ::close(fd);
        ::unlink(temporary.c_str());
        return failure;
    }
    ::close(fd);
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        const error failure = os_error("cannot rename " + temporary + " to " + path);
        ::unlink(temporary.c_str());
        return failure;
    }
    return fsync_directory(fs::path(path).parent_path().string());
}

result<data_dir> data_dir::open(const std::string& path) {
    std::error_code failure;
    if (!fs::exists(path, failure)) {
        fs::create_directories(path, failure);
        if (failure) {
            return make_error(errc::io_error,
                              "cannot create data dir " + path + ": " + failure.message());
        }
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::replace, failure);
    }
    if (!fs::is_directory(path, failure)) {
        return make_error(errc::failed_precondition, "data dir " + path + " is not a directory");
    }
    const std::string pid_path = (fs::path(path) / "reefd.pid").string();
    auto locked = lock_pid_file(path, pid_path);
    if (!locked) {
        return locked.failure();
    }
    const int fd = *locked;
    const std::string pid_text = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid_text.data(), pid_text.size(), 0) !=
                                       static_cast<ssize_t>(pid_text.size())) {
        const error failure = os_error("cannot write " + pid_path);
        ::close(fd);
        return failure;
    }
    data_dir opened(path, fd);
    auto stored = read_small_file(opened.file("incarnation"), incarnation_size_max);
    if (stored) {
        auto value = parse_incarnation(*stored, opened.file("incarnation"));
        if (!value) {
            return value.failure();
        }
        opened.incarnation_ = *value;
    } else if (stored.failure().code != errc::not_found) {
        return stored.failure();
    }
    return opened;
}

data_dir::data_dir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {
    REEF_ASSERT(lock_fd_ >= 0);
}

data_dir::data_dir(data_dir&& other) noexcept
    : path_(std::move(other.path_)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      incarnation_(other.incarnation_) {}

data_dir& data_dir::operator=(data_dir&& other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        lock_fd_ = std::exchange(other.lock_fd_, -1);
        incarnation_ = other.incarnation_;
    }
    return *this;
}

data_dir::~data_dir() { release(); }

void data_dir::release() {
    if (lock_fd_ >= 0) {
        // Unlink while still holding the lock, so a starting daemon never sees our pid file
        // unlocked and half gone.
        ::unlink(file("reefd.pid").c_str());
        ::close(lock_fd_);
        lock_fd_ = -1;
    }
}

std::string data_dir::file(std::string_view name) const {
    return (fs::path(path_) / fs::path(name)).string();
}

result<std::uint64_t> data_dir::bump_incarnation() {
    REEF_ASSERT(lock_fd_ >= 0);
    if (incarnation_ == UINT64_MAX) {
        return make_error(errc::failed_precondition, "incarnation is exhausted");
    }
    const std::uint64_t next = incarnation_ + 1;
    if (auto stored = store_incarnation(next); !stored) {
        return stored.failure();
    }
    REEF_ASSERT(incarnation_ == next);
    return next;
}

status data_dir::store_incarnation(std::uint64_t incarnation) {
    REEF_ASSERT(lock_fd_ >= 0);
    REEF_ASSERT(incarnation > incarnation_);
    if (auto written =
            write_file_durably(file("incarnation"), std::to_string(incarnation) + "\n", 0600);
        !written) {
        return written;
    }
    incarnation_ = incarnation;
    return {};
}

} // namespace reef::runtime
