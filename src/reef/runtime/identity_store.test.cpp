#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reef/runtime/identity_store.hpp"

namespace reef::runtime {
namespace {

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

class identity_store_test : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = ::testing::TempDir() + "reef-identity-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        root_ = pattern;
    }
    void TearDown() override {
        const std::string command = "rm -rf '" + root_ + "'";
        (void)std::system(command.c_str());
    }
    static unsigned mode_of(const std::string& path) {
        struct stat info {};
        EXPECT_EQ(::stat(path.c_str(), &info), 0);
        return info.st_mode & 07777U;
    }
    static void write_file(const std::string& path, const std::string& contents, mode_t mode) {
        {
            std::ofstream out(path, std::ios::binary | std::ios::trunc);
            out << contents;
        }
        ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    }
    std::string root_;
};

TEST_F(identity_store_test, creates_the_node_key_once_and_reloads_it) {
    const std::string dir = root_ + "/data/node-1";
    auto first = load_or_create_identity(dir);
    ASSERT_TRUE(first.ok()) << first.failure().describe();
    EXPECT_EQ(mode_of(dir), 0700U);
    EXPECT_EQ(mode_of(dir + "/node.key"), 0600U);
    auto second = load_or_create_identity(dir);
    ASSERT_TRUE(second.ok());
    EXPECT_EQ(first->id(), second->id());
    std::ifstream in(dir + "/node.key");
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line.rfind("reef-node-key-v1:", 0), 0U);
    EXPECT_EQ(line.size(), 17U + 64U);
    // No temporary file is left behind.
    EXPECT_NE(::access((dir + "/node.key.tmp." + std::to_string(::getpid())).c_str(), F_OK), 0);
}

TEST_F(identity_store_test, different_data_dirs_get_different_identities) {
    auto a = load_or_create_identity(root_ + "/a");
    auto b = load_or_create_identity(root_ + "/b");
    ASSERT_TRUE(a.ok());
    ASSERT_TRUE(b.ok());
    EXPECT_NE(a->id(), b->id());
}

TEST_F(identity_store_test, refuses_a_group_or_world_readable_node_key) {
    ASSERT_TRUE(load_or_create_identity(root_).ok());
    const std::string path = root_ + "/node.key";
    for (mode_t loose : {0640, 0604, 0660, 0666}) {
        ASSERT_EQ(::chmod(path.c_str(), loose), 0);
        auto loaded = load_or_create_identity(root_);
        ASSERT_FALSE(loaded.ok());
        EXPECT_EQ(loaded.failure().code, errc::permission_denied);
        EXPECT_TRUE(contains(loaded.failure().message, "accessible by group or others"));
        EXPECT_TRUE(contains(loaded.failure().message, "chmod 600 " + path));
    }
}

TEST_F(identity_store_test, refuses_malformed_oversized_and_odd_key_files) {
    const std::string path = root_ + "/node.key";
    write_file(path, "reef-node-key-v1:1234\n", 0600);
    auto malformed = load_or_create_identity(root_);
    ASSERT_FALSE(malformed.ok());
    EXPECT_EQ(malformed.failure().code, errc::invalid_argument);
    EXPECT_TRUE(contains(malformed.failure().message, "is malformed"));

    write_file(path, std::string(5000, 'a'), 0600);
    auto oversized = load_or_create_identity(root_);
    ASSERT_FALSE(oversized.ok());
    EXPECT_TRUE(contains(oversized.failure().message, "5000 bytes"));

    ASSERT_EQ(::unlink(path.c_str()), 0);
    write_file(root_ + "/elsewhere", "x", 0600);
    ASSERT_EQ(::symlink((root_ + "/elsewhere").c_str(), path.c_str()), 0);
    auto linked = load_or_create_identity(root_);
    ASSERT_FALSE(linked.ok());
    EXPECT_TRUE(contains(linked.failure().message, "symbolic link"));

    ASSERT_EQ(::unlink(path.c_str()), 0);
    ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
    auto directory = load_or_create_identity(root_);
    ASSERT_FALSE(directory.ok());
    EXPECT_TRUE(contains(directory.failure().message, "not a regular file"));
}

TEST_F(identity_store_test, a_data_dir_that_is_a_file_is_an_error) {
    write_file(root_ + "/plain", "x", 0600);
    auto loaded = load_or_create_identity(root_ + "/plain");
    ASSERT_FALSE(loaded.ok());
    EXPECT_TRUE(contains(loaded.failure().message, "not a directory"));
    EXPECT_FALSE(load_or_create_identity("").ok());
}

TEST_F(identity_store_test, cluster_key_create_load_and_never_overwrite) {
    const std::string path = root_ + "/secrets/cluster.key";
    auto created = create_cluster_key(path);
    ASSERT_TRUE(created.ok()) << created.failure().describe();
    EXPECT_EQ(mode_of(path), 0600U);
    auto loaded = load_cluster_key(path);
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->bytes, created->bytes);

    auto again = create_cluster_key(path);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.failure().code, errc::already_exists);
    auto still = load_cluster_key(path);
    ASSERT_TRUE(still.ok());
    EXPECT_EQ(still->bytes, created->bytes);
}

TEST_F(identity_store_test, cluster_key_errors_say_what_to_do) {
    auto missing = load_cluster_key(root_ + "/nope.key");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.failure().code, errc::not_found);
    EXPECT_TRUE(contains(missing.failure().message, "reef init"));

    const std::string path = root_ + "/cluster.key";
    write_file(path, "reef-cluster-key-v1:" + std::string(64, 'a') + "\n", 0644);
    auto loose = load_cluster_key(path);
    ASSERT_FALSE(loose.ok());
    EXPECT_EQ(loose.failure().code, errc::permission_denied);
    EXPECT_TRUE(contains(loose.failure().message, "mode 0644"));

    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    EXPECT_TRUE(load_cluster_key(path).ok());
    write_file(path, "not a key\n", 0600);
    auto malformed = load_cluster_key(path);
    ASSERT_FALSE(malformed.ok());
    EXPECT_EQ(malformed.failure().code, errc::invalid_argument);
    EXPECT_TRUE(contains(malformed.failure().message, "must start with"));
    EXPECT_FALSE(create_cluster_key("").ok());
}

} // namespace
} // namespace reef::runtime
