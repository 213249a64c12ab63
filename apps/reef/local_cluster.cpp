#include "local_cluster.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace reef::cli {
namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_small_file(const fs::path& path, std::size_t size_max) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::string text(size_max, '\0');
    in.read(text.data(), static_cast<std::streamsize>(size_max));
    text.resize(static_cast<std::size_t>(in.gcount()));
    return text;
}

std::vector<std::string> process_cmdline(pid_t pid) {
    auto raw = read_small_file("/proc/" + std::to_string(pid) + "/cmdline", 65536);
    std::vector<std::string> args;
    if (!raw) {
        return args;
    }
    std::size_t start = 0;
    while (start < raw->size()) {
        std::size_t end = raw->find('\0', start);
        if (end == std::string::npos) {
            end = raw->size();
        }
        args.push_back(raw->substr(start, end - start));
        start = end + 1;
    }
    return args;
}

bool is_zombie(pid_t pid) {
    auto stat = read_small_file("/proc/" + std::to_string(pid) + "/stat", 4096);
    if (!stat) {
        return true; // gone between the checks
    }
    // "pid (comm) S ...": comm may hold spaces and parentheses; the state follows the last ')'.
    std::size_t close = stat->rfind(')');
    if (close == std::string::npos || close + 2 >= stat->size()) {
        return false;
    }
    char state = (*stat)[close + 2];
    return state == 'Z' || state == 'X';
}

bool same_path(const fs::path& a, const fs::path& b) {
    std::error_code ignored;
    return fs::weakly_canonical(a, ignored) == fs::weakly_canonical(b, ignored);
}

} // namespace

result<fs::path> default_local_dir() {
    const char* xdg = std::getenv("XDG_DATA_HOME");
    // The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
    if (xdg != nullptr && xdg[0] == '/') {
        return fs::path(xdg) / "reef" / "local";
    }
    const char* home = std::getenv("HOME");
    if (home == nullptr || home[0] != '/') {
        const passwd* entry = ::getpwuid(::getuid());
        home = entry != nullptr ? entry->pw_dir : nullptr;
    }
    if (home == nullptr || home[0] != '/') {
        return make_error(errc::failed_precondition,
                          "cannot find the home directory (HOME and XDG_DATA_HOME are unset); "
                          "pass --dir DIR");
    }
    return fs::path(home) / ".local" / "share" / "reef" / "local";
}

fs::path local_cluster::node_dir(int node) const {
    REEF_ASSERT(node >= 1);
    REEF_ASSERT(node <= local_nodes_max);
    return dir_ / ("node-" + std::to_string(node));
}

std::vector<int> local_cluster::known_nodes() const {
    std::vector<int> nodes;
    std::error_code code;
    for (const auto& entry : fs::directory_iterator(dir_, code)) {
        std::string name = entry.path().filename().string();
        if (!name.starts_with("node-") || !entry.is_directory(code)) {
            continue;
        }
        auto number = parse_bounded_int(std::string_view(name).substr(5), 1, local_nodes_max,
                                        "node");
        if (number && name == "node-" + std::to_string(*number)) {
            nodes.push_back(*number);
        }
    }
    std::sort(nodes.begin(), nodes.end());
    return nodes;
}

std::optional<pid_t> local_cluster::running_pid(int node) const {
    auto text = read_small_file(pid_file(node), 64);
    if (!text) {
        return std::nullopt;
    }
    std::string trimmed = *text;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) {
        trimmed.pop_back();
    }
    auto pid = parse_bounded_int(trimmed, 1, std::numeric_limits<int>::max(), "pid");
    if (!pid || !is_reefd_process(*pid)) {
        return std::nullopt;
    }
    // A reused pid may belong to another node's reefd: it must serve this data directory.
    auto args = process_cmdline(*pid);
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "--data-dir" && !same_path(args[i + 1], node_dir(node))) {
            return std::nullopt;
        }
    }
    return static_cast<pid_t>(*pid);
}

result<std::optional<local_cluster::settings>> local_cluster::load_settings() const {
    auto text = read_small_file(settings_file(), 4096);
    if (!text) {
        return std::optional<settings>();
    }
    auto corrupt = [&](const std::string& why) {
        return make_error(errc::failed_precondition,
                          settings_file().string() + " is not valid (" + why +
                              "); fix or delete it");
    };
    auto json = nlohmann::json::parse(*text, nullptr, false);
    if (json.is_discarded() || !json.is_object()) {
        return corrupt("not a JSON object");
    }
    if (!json.contains("nodes") || !json["nodes"].is_number_integer() ||
        !json.contains("base_port") || !json["base_port"].is_number_integer()) {
        return corrupt("\"nodes\" and \"base_port\" must be integers");
    }
    auto nodes = json["nodes"].get<std::int64_t>();
    auto port = json["base_port"].get<std::int64_t>();
    if (nodes < 1 || nodes > local_nodes_max || port < base_port_min ||
        port + nodes - 1 > 65535) {
        return corrupt("node count or base port out of range");
    }
    return std::optional<settings>(
        settings{static_cast<int>(nodes), static_cast<std::uint16_t>(port)});
}

status local_cluster::save_settings(const settings& values) const {
    REEF_ASSERT(values.nodes >= 1 && values.nodes <= local_nodes_max);
    REEF_ASSERT(values.base_port >= base_port_min);
    nlohmann::json json = {{"nodes", values.nodes}, {"base_port", values.base_port}};
    fs::path temporary = settings_file();
    temporary += ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << json.dump(2) << "\n";
        if (!out.flush()) {
            return make_error(errc::io_error, "cannot write " + temporary.string());
        }
    }
    std::error_code code;
    fs::rename(temporary, settings_file(), code);
    if (code) {
        return make_error(errc::io_error,
                          "cannot write " + settings_file().string() + ": " + code.message());
    }
    return {};
}

bool is_reefd_process(pid_t pid) {
    REEF_ASSERT(pid > 0);
    if (::kill(pid, 0) != 0 && errno != EPERM) {
        return false;
    }
    if (is_zombie(pid)) {
        return false;
    }
    auto args = process_cmdline(pid);
    return std::any_of(args.begin(), args.end(),
                       [](const std::string& arg) { return fs::path(arg).filename() == "reefd"; });
}

result<std::string> find_reefd() {
    std::error_code code;
    fs::path self = fs::read_symlink("/proc/self/exe", code);
    if (!code) {
        fs::path beside = self.parent_path() / "reefd";
        if (::access(beside.c_str(), X_OK) == 0) {
            return beside.string();
        }
    }
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path != nullptr ? path : "");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        if (dir.empty()) {
            continue;
        }
        fs::path candidate = fs::path(dir) / "reefd";
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
    }
    return make_error(errc::not_found, "cannot find reefd: it is neither next to this reef (" +
                                           self.parent_path().string() + ") nor on PATH");
}

result<pid_t> spawn_detached(const std::string& program, const std::vector<std::string>& args,
                             const fs::path& log_file) {
    // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
    std::vector<char*> argv;
    std::vector<std::string> storage;
    storage.reserve(args.size() + 1);
    storage.push_back(program);
    storage.insert(storage.end(), args.begin(), args.end());
    for (auto& arg : storage) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        return make_error(errc::io_error, "cannot open " + log_file.string() + ": " +
                                              std::strerror(errno));
    }
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    int report[2] = {-1, -1};
    if (null_fd < 0 || ::pipe2(report, O_CLOEXEC) != 0) {
        int code = errno;
        ::close(log_fd);
        if (null_fd >= 0) {
            ::close(null_fd);
        }
        return make_error(errc::io_error, std::string("cannot prepare to start reefd: ") +
                                              std::strerror(code));
    }
    pid_t child = ::fork();
    if (child == 0) {
        ::setsid();
        ::dup2(null_fd, STDIN_FILENO);
        ::dup2(null_fd, STDOUT_FILENO);
        ::dup2(log_fd, STDERR_FILENO);
        ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
        ::execv(program.c_str(), argv.data());
        int code = errno;
        ssize_t ignored = ::write(report[1], &code, sizeof(code));
        (void)ignored;
        ::_exit(127);
    }
    int fork_errno = errno;
    ::close(report[1]);
    ::close(log_fd);
    ::close(null_fd);
    if (child < 0) {
        ::close(report[0]);
        return make_error(errc::io_error, std::string("fork: ") + std::strerror(fork_errno));
    }
    int exec_errno = 0;
    ssize_t got = 0;
    do {
        got = ::read(report[0], &exec_errno, sizeof(exec_errno));
    } while (got < 0 && errno == EINTR);
    ::close(report[0]);
    if (got > 0) {
        ::waitpid(child, nullptr, 0);
        return make_error(errc::io_error, "cannot run " + program + ": " +
                                              std::strerror(exec_errno));
    }
    return child;
}

std::optional<std::string> reap_if_exited(pid_t pid) {
    int wait_status = 0;
    pid_t done = ::waitpid(pid, &wait_status, WNOHANG);
    if (done != pid) {
        return std::nullopt;
    }
    if (WIFEXITED(wait_status)) {
        return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
    }
    if (WIFSIGNALED(wait_status)) {
        return std::string("was killed by signal ") + ::strsignal(WTERMSIG(wait_status));
    }
    return "stopped";
}

bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
    REEF_ASSERT(pid > 0);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        ::waitpid(pid, nullptr, WNOHANG); // reaps it if it is our own child
        bool gone = ::kill(pid, 0) != 0 && errno == ESRCH;
        if (gone || is_zombie(pid)) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::string tail_file(const fs::path& path, int lines) {
    REEF_ASSERT(lines > 0);
    constexpr std::size_t tail_size_max = 8192;
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) {
        return {};
    }
    auto size = static_cast<std::size_t>(in.tellg());
    std::size_t start = size > tail_size_max ? size - tail_size_max : 0;
    in.seekg(static_cast<std::streamoff>(start));
    std::string text(size - start, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    std::size_t cut = text.size();
    for (int i = 0; i < lines && cut != std::string::npos && cut > 0; ++i) {
        cut = text.rfind('\n', cut - 1);
    }
    return cut == std::string::npos ? text : text.substr(cut + 1);
}

} // namespace reef::cli
