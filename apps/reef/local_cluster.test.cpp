#include "local_cluster.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

namespace reef::cli {
namespace {
namespace fs = std::filesystem;

class temp_dir {
public:
    temp_dir() {
        std::string pattern = (fs::temp_directory_path() / "reef-cli-test-XXXXXX").string();
        REEF_ASSERT(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() { fs::remove_all(path_); }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream(path) << text;
}

TEST(local_cluster, lays_out_node_directories) {
    local_cluster cluster("/data/reef");
    EXPECT_EQ(cluster.key_file(), "/data/reef/cluster.key");
    EXPECT_EQ(cluster.socket_path(3), "/data/reef/node-3/control.sock");
    EXPECT_EQ(cluster.pid_file(1), "/data/reef/node-1/reefd.pid");
    EXPECT_EQ(cluster.log_file(2), "/data/reef/node-2/reefd.log");
}

TEST(local_cluster, finds_only_well_named_node_directories) {
    temp_dir dir;
    for (const char* name : {"node-1", "node-3", "node-x", "node-01", "node-65", "node-0"}) {
        fs::create_directory(dir.path() / name);
    }
    write_file(dir.path() / "node-2", "a file, not a directory");
    local_cluster cluster(dir.path());
    EXPECT_EQ(cluster.known_nodes(), (std::vector<int>{1, 3}));
    EXPECT_TRUE(local_cluster("/nonexistent/reef").known_nodes().empty());
}

TEST(local_cluster, ignores_stale_and_foreign_pid_files) {
    temp_dir dir;
    local_cluster cluster(dir.path());
    fs::create_directory(cluster.node_dir(1));
    EXPECT_FALSE(cluster.running_pid(1).has_value()); // no file
    write_file(cluster.pid_file(1), "not a pid\n");
    EXPECT_FALSE(cluster.running_pid(1).has_value());
    write_file(cluster.pid_file(1), "-5\n");
    EXPECT_FALSE(cluster.running_pid(1).has_value());
    // This test process is alive but is not a reefd, as after a pid was reused.
    write_file(cluster.pid_file(1), std::to_string(::getpid()) + "\n");
    EXPECT_FALSE(cluster.running_pid(1).has_value());
    EXPECT_FALSE(is_reefd_process(::getpid()));
}

TEST(local_cluster, saves_and_validates_settings) {
    temp_dir dir;
    local_cluster cluster(dir.path());
    auto none = cluster.load_settings();
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(cluster.save_settings({6, 9000}).ok());
    auto saved = cluster.load_settings();
    ASSERT_TRUE(saved.ok() && saved->has_value());
    EXPECT_EQ((*saved)->nodes, 6);
    EXPECT_EQ((*saved)->base_port, 9000);
    for (const char* corrupt : {"{", "[]", R"({"nodes": "6", "base_port": 9000})",
                                R"({"nodes": 0, "base_port": 9000})",
                                R"({"nodes": 4, "base_port": 65534})",
                                R"({"nodes": 4, "base_port": 80})"}) {
        write_file(cluster.settings_file(), corrupt);
        auto loaded = cluster.load_settings();
        ASSERT_FALSE(loaded.ok()) << corrupt;
        EXPECT_NE(loaded.failure().message.find("cluster.json"), std::string::npos);
    }
}

TEST(default_local_dir, follows_xdg_data_home) {
    const char* saved_xdg = std::getenv("XDG_DATA_HOME");
    const char* saved_home = std::getenv("HOME");
    std::string xdg = saved_xdg != nullptr ? saved_xdg : "";
    std::string home = saved_home != nullptr ? saved_home : "";
    ::setenv("XDG_DATA_HOME", "/x/data", 1);
    EXPECT_EQ(default_local_dir().value(), "/x/data/reef/local");
    ::setenv("XDG_DATA_HOME", "relative/is/ignored", 1);
    ::setenv("HOME", "/home/someone", 1);
    EXPECT_EQ(default_local_dir().value(), "/home/someone/.local/share/reef/local");
    ::unsetenv("XDG_DATA_HOME");
    EXPECT_EQ(default_local_dir().value(), "/home/someone/.local/share/reef/local");
    if (saved_xdg != nullptr) {
        ::setenv("XDG_DATA_HOME", xdg.c_str(), 1);
    }
    if (saved_home != nullptr) {
        ::setenv("HOME", home.c_str(), 1);
    }
}

TEST(spawn_detached, logs_stderr_and_reports_how_the_child_ended) {
    temp_dir dir;
    fs::path log = dir.path() / "child.log";
    auto pid = spawn_detached("/bin/sh", {"-c", "echo to-stderr >&2; echo to-stdout; exit 3"}, log);
    ASSERT_TRUE(pid.ok()) << pid.failure().message;
    std::optional<std::string> ended;
    for (int i = 0; i < 6000 && !ended; ++i) { // polls; the bound only stops a broken test
        ended = reap_if_exited(*pid);
        if (!ended) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    ASSERT_TRUE(ended.has_value());
    EXPECT_EQ(*ended, "exited with status 3");
    EXPECT_EQ(tail_file(log, 5), "to-stderr");
}

TEST(spawn_detached, reports_a_program_that_cannot_run) {
    temp_dir dir;
    auto pid = spawn_detached("/nonexistent/reefd", {}, dir.path() / "log");
    ASSERT_FALSE(pid.ok());
    EXPECT_NE(pid.failure().message.find("cannot run /nonexistent/reefd"), std::string::npos);
}

TEST(tail_file, returns_the_last_lines) {
    temp_dir dir;
    write_file(dir.path() / "f", "one\ntwo\nthree\nfour\n");
    EXPECT_EQ(tail_file(dir.path() / "f", 2), "three\nfour");
    EXPECT_EQ(tail_file(dir.path() / "f", 10), "one\ntwo\nthree\nfour");
    EXPECT_EQ(tail_file(dir.path() / "missing", 2), "");
}

} // namespace
} // namespace reef::cli
