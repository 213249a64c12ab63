#include "reef/runtime/data_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace reef::runtime {
namespace {

namespace fs = std::filesystem;

class data_dir_test : public ::testing::Test {
protected:
    fs::path root;
    std::string dir;

    void SetUp() override {
        root = fs::temp_directory_path() /
               ("reef-data-dir-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root);
        fs::create_directories(root);
        dir = (root / "node").string();
    }
    void TearDown() override { fs::remove_all(root); }

    static std::string read(const std::string& path) {
        std::ifstream in(path);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }
    static unsigned mode_of(const std::string& path) {
        struct stat info {};
        EXPECT_EQ(::stat(path.c_str(), &info), 0);
        return info.st_mode & 0777U;
    }
};

TEST_F(data_dir_test, open_creates_a_private_directory_with_a_pid_file) {
    auto opened = data_dir::open(dir);
    ASSERT_TRUE(opened.ok()) << opened.failure().describe();
    EXPECT_EQ(mode_of(dir), 0700U);
    EXPECT_EQ(read(opened->file("reefd.pid")), std::to_string(::getpid()) + "\n");
    EXPECT_EQ(opened->control_socket_path(), dir + "/control.sock");
    EXPECT_EQ(opened->stored_incarnation(), 0U);
}

TEST_F(data_dir_test, a_second_open_is_refused_while_the_first_holds_it) {
    auto first = data_dir::open(dir);
    ASSERT_TRUE(first.ok());
    auto second = data_dir::open(dir);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.failure().code, errc::failed_precondition);
    EXPECT_NE(second.failure().message.find("in use by another reefd (pid " +
                                            std::to_string(::getpid()) + ")"),
              std::string::npos)
        << second.failure().message;
}

TEST_F(data_dir_test, closing_removes_the_pid_file_and_frees_the_dir) {
    {
        auto first = data_dir::open(dir);
        ASSERT_TRUE(first.ok());
    }
    EXPECT_FALSE(fs::exists(fs::path(dir) / "reefd.pid"));
    auto again = data_dir::open(dir);
    EXPECT_TRUE(again.ok());
}

TEST_F(data_dir_test, a_moved_data_dir_keeps_the_lock) {
    auto first = data_dir::open(dir);
    ASSERT_TRUE(first.ok());
    data_dir moved = std::move(*first);
    EXPECT_FALSE(data_dir::open(dir).ok());
    EXPECT_TRUE(fs::exists(moved.file("reefd.pid")));
}

TEST_F(data_dir_test, incarnation_rises_at_every_start) {
    std::uint64_t previous = 0;
    for (int start = 0; start < 3; ++start) {
        auto opened = data_dir::open(dir);
        ASSERT_TRUE(opened.ok());
        auto incarnation = opened->bump_incarnation();
        ASSERT_TRUE(incarnation.ok()) << incarnation.failure().describe();
        EXPECT_GT(*incarnation, previous);
        previous = *incarnation;
        EXPECT_EQ(read(opened->file("incarnation")), std::to_string(previous) + "\n");
    }
    EXPECT_EQ(previous, 3U);
    EXPECT_EQ(mode_of(dir + "/incarnation"), 0600U);
}

TEST_F(data_dir_test, a_stored_higher_incarnation_survives_a_restart) {
    {
        auto opened = data_dir::open(dir);
        ASSERT_TRUE(opened.ok());
        ASSERT_TRUE(opened->bump_incarnation().ok());
        ASSERT_TRUE(opened->store_incarnation(41).ok());
    }
    auto reopened = data_dir::open(dir);
    ASSERT_TRUE(reopened.ok());
    EXPECT_EQ(reopened->stored_incarnation(), 41U);
    auto incarnation = reopened->bump_incarnation();
    ASSERT_TRUE(incarnation.ok());
    EXPECT_EQ(*incarnation, 42U);
}

TEST_F(data_dir_test, a_corrupt_incarnation_file_is_refused_with_advice) {
    fs::create_directories(dir);
    for (const char* text : {"", "12x\n", "-3\n", "99999999999999999999999\n", "1 2\n"}) {
        std::ofstream(dir + "/incarnation") << text;
        auto opened = data_dir::open(dir);
        ASSERT_FALSE(opened.ok()) << text;
        EXPECT_EQ(opened.failure().code, errc::failed_precondition);
        EXPECT_NE(opened.failure().message.find("is corrupt"), std::string::npos);
        EXPECT_NE(opened.failure().message.find("remove it"), std::string::npos);
    }
    std::ofstream(dir + "/incarnation") << std::string(100, '7');
    EXPECT_FALSE(data_dir::open(dir).ok());
}

TEST_F(data_dir_test, a_file_where_the_dir_should_be_is_refused) {
    std::ofstream(dir) << "not a directory";
    auto opened = data_dir::open(dir);
    ASSERT_FALSE(opened.ok());
    EXPECT_NE(opened.failure().message.find("is not a directory"), std::string::npos);
    auto below = data_dir::open(dir + "/child");
    ASSERT_FALSE(below.ok());
    EXPECT_EQ(below.failure().code, errc::io_error);
    EXPECT_NE(below.failure().message.find("cannot create data dir"), std::string::npos);
}

TEST_F(data_dir_test, write_file_durably_replaces_the_whole_file) {
    const std::string path = (root / "file.txt").string();
    std::ofstream(path) << "an older and much longer content";
    ASSERT_TRUE(write_file_durably(path, "new", 0640).ok());
    EXPECT_EQ(read(path), "new");
    EXPECT_EQ(mode_of(path), 0640U);
    EXPECT_FALSE(fs::exists(path + ".tmp"));
    auto refused = write_file_durably((root / "missing" / "f").string(), "x", 0600);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.failure().code, errc::io_error);
}

} // namespace
} // namespace reef::runtime
