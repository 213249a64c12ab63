#include "reef/runtime/identity_store.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "reef/base/assert.hpp"
#include "reef/crypto/primitives.hpp"
#include "reef/runtime/entropy.hpp"
#include "reef/runtime/file_io.hpp"

namespace reef::runtime {

namespace {

/// Key files are a line of text; anything much larger is not a key file.
constexpr std::size_t key_file_size_max = 4096;
constexpr mode_t key_file_mode = 0600;
constexpr mode_t key_dir_mode = 0700;

std::string mode_text(mode_t mode) {
    std::array<char, 8> text{};
    std::snprintf(text.data(), text.size(), "%04o", static_cast<unsigned>(mode & 07777U));
    return text.data();
}

std::string parent_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    if (slash == 0) {
        return "/";
    }
    return path.substr(0, slash);
}

/// mkdir -p with mode 0700 for the directories it creates.
status make_directories(const std::string& path) {
    if (path.empty() || path == "/" || path == ".") {
        return {};
    }
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) {
        if (!S_ISDIR(info.st_mode)) {
            return make_error(errc::failed_precondition, path + " exists and is not a directory");
        }
        return {};
    }
    const status parent = make_directories(parent_of(path));
    if (!parent.ok()) {
        return parent;
    }
    if (::mkdir(path.c_str(), key_dir_mode) != 0 && errno != EEXIST) {
        return os_error("cannot create directory " + path);
    }
    return {};
}

/// Writes `contents` to a new file at `path` (mode 0600) without ever replacing an existing
/// one: a temporary file is written and fsynced, then hard-linked into place (link() fails if
/// the name exists, atomically), then the directory is fsynced. A crash leaves either no key
/// file or a complete one.
status create_exclusive(const std::string& path, std::string_view contents) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    ::unlink(tmp.c_str());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, key_file_mode);
    if (fd < 0) {
        return os_error("cannot create " + tmp);
    }
    // The umask cannot loosen 0600, but make sure of the exact mode anyway.
    (void)::fchmod(fd, key_file_mode);
    if (auto written = write_all(fd, contents, tmp); !written) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return written;
    }
    if (::fsync(fd) != 0) {
        const int saved = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return os_error("cannot fsync " + tmp, saved);
    }
    ::close(fd);
    if (::link(tmp.c_str(), path.c_str()) != 0) {
        const int saved = errno;
        ::unlink(tmp.c_str());
        if (saved == EEXIST) {
            return make_error(errc::already_exists, path + " already exists; not overwriting it");
        }
        return os_error("cannot create " + path, saved);
    }
    ::unlink(tmp.c_str());
    return fsync_directory(parent_of(path));
}

/// Reads a key file after checking that only its owner can read or write it.
result<std::string> read_key_file(const std::string& path, std::string_view what) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        const int saved = errno;
        if (saved == ENOENT) {
            return make_error(errc::not_found, std::string(what) + " " + path + " does not exist");
        }
        if (saved == ELOOP) {
            return make_error(errc::permission_denied,
                              std::string(what) + " " + path + " is a symbolic link; refusing it");
        }
        return os_error("cannot open " + path, saved);
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        const int saved = errno;
        ::close(fd);
        return os_error("cannot stat " + path, saved);
    }
    if (!S_ISREG(info.st_mode)) {
        ::close(fd);
        return make_error(errc::failed_precondition,
                          std::string(what) + " " + path + " is not a regular file");
    }
    if ((info.st_mode & 077U) != 0) {
        ::close(fd);
        return make_error(errc::permission_denied,
                          std::string(what) + " " + path +
                              " is accessible by group or others (mode " +
                              mode_text(info.st_mode) + "); it holds a secret, so it must be " +
                              "0600: run `chmod 600 " + path + "`");
    }
    if (static_cast<std::uint64_t>(info.st_size) > key_file_size_max) {
        ::close(fd);
        return make_error(errc::invalid_argument,
                          std::string(what) + " " + path + " is " + std::to_string(info.st_size) +
                              " bytes; a key file is one short line");
    }
    auto text = read_up_to(fd, static_cast<std::size_t>(info.st_size), path);
    ::close(fd);
    return text;
}

void wipe_string(std::string& text) {
    crypto::wipe(
        std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
}

} // namespace

result<crypto::identity> load_or_create_identity(const std::string& data_dir) {
    if (data_dir.empty()) {
        return make_error(errc::invalid_argument, "data directory path is empty");
    }
    const status dir = make_directories(data_dir);
    if (!dir.ok()) {
        return dir.failure();
    }
    const std::string path = data_dir + "/node.key";
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto text = read_key_file(path, "node key file");
        if (text.ok()) {
            auto parsed = crypto::identity::from_text(*text);
            wipe_string(*text);
            if (!parsed.ok()) {
                return make_error(errc::invalid_argument,
                                  "node key file " + path + " is malformed: " +
                                      parsed.failure().message);
            }
            return parsed;
        }
        if (text.failure().code != errc::not_found) {
            return text.failure();
        }
        crypto::seed32 seed{};
        fill_random(seed);
        const auto created = crypto::identity::from_seed(seed);
        crypto::wipe(seed);
        std::string contents = created.to_text();
        const status written = create_exclusive(path, contents);
        wipe_string(contents);
        if (written.ok()) {
            return created;
        }
        if (written.failure().code != errc::already_exists) {
            return written.failure();
        }
        // Another process created the key between our read and our link: use theirs.
    }
    return make_error(errc::aborted, "node key file " + path + " keeps changing; retry");
}

result<crypto::cluster_key> load_cluster_key(const std::string& path) {
    auto text = read_key_file(path, "cluster key file");
    if (!text.ok()) {
        if (text.failure().code == errc::not_found) {
            return make_error(errc::not_found,
                              "cluster key file " + path +
                                  " does not exist; create one with `reef init`");
        }
        return text.failure();
    }
    auto parsed = crypto::cluster_key::from_text(*text);
    wipe_string(*text);
    if (!parsed.ok()) {
        return make_error(errc::invalid_argument,
                          "cluster key file " + path +
                              " is malformed: " + parsed.failure().message);
    }
    return parsed;
}

result<crypto::cluster_key> create_cluster_key(const std::string& path) {
    if (path.empty()) {
        return make_error(errc::invalid_argument, "cluster key path is empty");
    }
    const status dir = make_directories(parent_of(path));
    if (!dir.ok()) {
        return dir.failure();
    }
    crypto::cluster_key key;
    do {
        fill_random(key.bytes);
    } while (std::all_of(key.bytes.begin(), key.bytes.end(),
                         [](std::uint8_t b) { return b == 0; }));
    std::string contents = key.to_text();
    const status written = create_exclusive(path, contents);
    wipe_string(contents);
    if (!written.ok()) {
        return written.failure();
    }
    return key;
}

} // namespace reef::runtime
