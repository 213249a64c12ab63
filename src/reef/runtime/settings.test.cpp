#include "reef/runtime/settings.hpp"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

namespace reef::runtime {
namespace {

namespace fs = std::filesystem;

class settings_test : public ::testing::Test {
protected:
    fs::path dir;

    void SetUp() override {
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        dir = fs::temp_directory_path() /
              ("reef-settings-" + std::to_string(::getpid()) + "-" + test->name());
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    void TearDown() override { fs::remove_all(dir); }

    std::string write(const std::string& name, const std::string& text) {
        const fs::path path = dir / name;
        fs::create_directories(path.parent_path());
        std::ofstream(path) << text;
        return path.string();
    }

    settings_layer minimal_flags() {
        settings_layer flags;
        flags.data_dir = (dir / "data").string();
        flags.listen = "127.0.0.1:7401";
        flags.cluster_key = (dir / "cluster.key").string();
        return flags;
    }

    static std::string error_of(const result<settings>& resolved) {
        EXPECT_FALSE(resolved.ok());
        if (resolved.ok()) {
            return {};
        }
        EXPECT_EQ(resolved.failure().code, errc::invalid_argument);
        return resolved.failure().message;
    }
    static std::string error_of(const result<settings_layer>& parsed) {
        EXPECT_FALSE(parsed.ok());
        return parsed.ok() ? std::string{} : parsed.failure().message;
    }
};

TEST_F(settings_test, flags_alone_resolve_with_defaults) {
    auto resolved = resolve_settings(minimal_flags(), std::nullopt);
    ASSERT_TRUE(resolved.ok()) << resolved.failure().describe();
    EXPECT_EQ(resolved->data_dir, (dir / "data").string());
    EXPECT_EQ(resolved->listen, "127.0.0.1:7401");
    EXPECT_TRUE(resolved->join.empty());
    EXPECT_TRUE(resolved->control.empty());
    EXPECT_TRUE(resolved->advertise.empty());
    EXPECT_EQ(resolved->level, log_level::info);
}

TEST_F(settings_test, missing_required_settings_are_named) {
    settings_layer flags = minimal_flags();
    flags.data_dir.reset();
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("missing --data-dir"),
              std::string::npos);
    flags = minimal_flags();
    flags.listen.reset();
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("missing --listen"),
              std::string::npos);
    flags = minimal_flags();
    flags.cluster_key.reset();
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("missing --cluster-key"),
              std::string::npos);
}

TEST_F(settings_test, bad_flag_values_name_the_flag) {
    settings_layer flags = minimal_flags();
    flags.listen = "nowhere";
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("--listen: address must be"),
              std::string::npos);
    flags = minimal_flags();
    flags.join = std::vector<std::string>{"127.0.0.1:7402", "127.0.0.1:0"};
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("--join: address"),
              std::string::npos);
    flags = minimal_flags();
    flags.log_level = "loud";
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt))
                  .find("--log-level: must be one of debug, info, warn, error, got \"loud\""),
              std::string::npos);
    flags = minimal_flags();
    flags.data_dir = "";
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("--data-dir: must not be empty"),
              std::string::npos);
}

TEST_F(settings_test, unusable_paths_are_refused) {
    settings_layer flags = minimal_flags();
    flags.cluster_key = std::string("a\0b", 3);
    EXPECT_NE(
        error_of(resolve_settings(flags, std::nullopt)).find("--cluster-key: is not a usable"),
        std::string::npos);
    flags = minimal_flags();
    flags.data_dir = std::string(5000, 'd');
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("--data-dir: is not a usable"),
              std::string::npos);
    EXPECT_NE(error_of(parse_settings_toml("cluster_key = \"\"", "x.toml", "/"))
                  .find("config x.toml: cluster_key: must not be empty"),
              std::string::npos);
}

TEST_F(settings_test, control_must_be_loopback) {
    settings_layer flags = minimal_flags();
    flags.control = "10.0.0.1:7500";
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("--control: "),
              std::string::npos);
    flags.control = "127.0.0.1:7500";
    auto resolved = resolve_settings(flags, std::nullopt);
    ASSERT_TRUE(resolved.ok());
    EXPECT_EQ(resolved->control, "127.0.0.1:7500");
}

TEST_F(settings_test, wildcard_listen_needs_advertise) {
    settings_layer flags = minimal_flags();
    flags.listen = "0.0.0.0:7401";
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("--advertise"),
              std::string::npos);
    flags.advertise = "0.0.0.0:7401";
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("--advertise: must be"),
              std::string::npos);
    flags.advertise = "192.168.1.5:7401";
    auto resolved = resolve_settings(flags, std::nullopt);
    ASSERT_TRUE(resolved.ok()) << resolved.failure().describe();
    EXPECT_EQ(resolved->advertise, "192.168.1.5:7401");
}

TEST_F(settings_test, too_many_seeds_are_refused_and_duplicates_dropped) {
    settings_layer flags = minimal_flags();
    flags.join = std::vector<std::string>(join_count_max + 1, "127.0.0.1:7402");
    EXPECT_NE(error_of(resolve_settings(flags, std::nullopt)).find("at most 64"),
              std::string::npos);
    flags.join = std::vector<std::string>{"127.0.0.1:7402", "127.0.0.1:7403", "127.0.0.1:7402"};
    auto resolved = resolve_settings(flags, std::nullopt);
    ASSERT_TRUE(resolved.ok());
    EXPECT_EQ(resolved->join, (std::vector<std::string>{"127.0.0.1:7402", "127.0.0.1:7403"}));
}

TEST_F(settings_test, config_file_supplies_settings_and_flags_override_it) {
    const std::string config = write("etc/reef.toml", R"(
data_dir = "data"
listen = "127.0.0.1:7401"
join = ["127.0.0.1:7402"]
cluster_key = "keys/cluster.key"
control = "127.0.0.1:7500"
log_level = "debug"
)");
    settings_layer flags;
    flags.listen = "127.0.0.1:7409";
    auto resolved = resolve_settings(flags, config);
    ASSERT_TRUE(resolved.ok()) << resolved.failure().describe();
    // Relative paths in a file are relative to the file's directory.
    EXPECT_EQ(resolved->data_dir, (dir / "etc" / "data").string());
    EXPECT_EQ(resolved->cluster_key, (dir / "etc" / "keys" / "cluster.key").string());
    EXPECT_EQ(resolved->listen, "127.0.0.1:7409");
    EXPECT_EQ(resolved->join, std::vector<std::string>{"127.0.0.1:7402"});
    EXPECT_EQ(resolved->control, "127.0.0.1:7500");
    EXPECT_EQ(resolved->level, log_level::debug);
}

TEST_F(settings_test, join_flags_replace_the_file_list) {
    const std::string config = write("reef.toml", "join = [\"127.0.0.1:7402\"]\n");
    settings_layer flags = minimal_flags();
    flags.join = std::vector<std::string>{"127.0.0.1:7403"};
    auto resolved = resolve_settings(flags, config);
    ASSERT_TRUE(resolved.ok());
    EXPECT_EQ(resolved->join, std::vector<std::string>{"127.0.0.1:7403"});
}

TEST_F(settings_test, allow_exec_is_a_boolean_and_off_by_default) {
    auto resolved = resolve_settings(minimal_flags(), std::nullopt);
    ASSERT_TRUE(resolved.ok());
    EXPECT_FALSE(resolved->allow_exec);
    auto parsed = parse_settings_toml("allow_exec = true", "f.toml", dir.string());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->allow_exec, true);
    auto refused = parse_settings_toml("allow_exec = \"yes\"", "f.toml", dir.string());
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.failure().message.find("allow_exec: must be true or false"),
              std::string::npos);
}

TEST_F(settings_test, a_single_join_string_is_accepted) {
    auto parsed = parse_settings_toml("join = \"127.0.0.1:7402\"", "f.toml", dir.string());
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed->join, std::vector<std::string>{"127.0.0.1:7402"});
}

TEST_F(settings_test, saved_settings_are_reused_with_only_a_data_dir) {
    settings effective;
    effective.data_dir = (dir / "data").string();
    effective.listen = "127.0.0.1:7405";
    effective.join = {"127.0.0.1:7401", "[::1]:7402"};
    effective.cluster_key = (dir / "cluster.key").string();
    effective.control = "127.0.0.1:7600";
    effective.level = log_level::warn;
    effective.allow_exec = true;
    write("data/settings.toml", to_toml(effective));

    settings_layer flags;
    flags.data_dir = (dir / "data").string();
    auto resolved = resolve_settings(flags, std::nullopt);
    ASSERT_TRUE(resolved.ok()) << resolved.failure().describe();
    EXPECT_EQ(resolved->listen, effective.listen);
    EXPECT_EQ(resolved->join, effective.join);
    EXPECT_EQ(resolved->cluster_key, effective.cluster_key);
    EXPECT_EQ(resolved->control, effective.control);
    EXPECT_EQ(resolved->level, log_level::warn);
    EXPECT_TRUE(resolved->allow_exec);

    flags.listen = "127.0.0.1:7406";
    resolved = resolve_settings(flags, std::nullopt);
    ASSERT_TRUE(resolved.ok());
    EXPECT_EQ(resolved->listen, "127.0.0.1:7406");
}

TEST_F(settings_test, toml_syntax_errors_give_line_and_column) {
    const auto message = error_of(parse_settings_toml("listen = \"a\"\njoin = [", "x.toml", "/"));
    EXPECT_NE(message.find("config x.toml: line 2"), std::string::npos) << message;
}

TEST_F(settings_test, unknown_keys_and_wrong_types_are_refused) {
    EXPECT_NE(error_of(parse_settings_toml("lsten = \"127.0.0.1:1\"", "x.toml", "/"))
                  .find("unknown key \"lsten\""),
              std::string::npos);
    EXPECT_NE(error_of(parse_settings_toml("listen = 7401", "x.toml", "/"))
                  .find("config x.toml: listen: must be a string"),
              std::string::npos);
    EXPECT_NE(error_of(parse_settings_toml("join = [1, 2]", "x.toml", "/"))
                  .find("join: must be an array"),
              std::string::npos);
    EXPECT_NE(error_of(parse_settings_toml("[listen]\nport = 1", "x.toml", "/"))
                  .find("listen: must be a string"),
              std::string::npos);
}

TEST_F(settings_test, bad_values_in_a_file_name_the_file_and_key) {
    EXPECT_NE(error_of(parse_settings_toml("listen = \"nowhere\"", "x.toml", "/"))
                  .find("config x.toml: listen: address must be HOST:PORT"),
              std::string::npos);
    EXPECT_NE(error_of(parse_settings_toml("log_level = \"chatty\"", "x.toml", "/"))
                  .find("config x.toml: log_level: must be one of"),
              std::string::npos);
}

TEST_F(settings_test, unreadable_or_huge_config_files_are_refused) {
    EXPECT_NE(error_of(load_settings_file((dir / "absent.toml").string())).find("cannot read"),
              std::string::npos);
    const std::string huge = write("huge.toml", std::string(config_size_max + 1, '#'));
    EXPECT_NE(error_of(load_settings_file(huge)).find("too large"), std::string::npos);
    settings_layer flags = minimal_flags();
    EXPECT_NE(error_of(resolve_settings(flags, (dir / "absent.toml").string())).find("config "),
              std::string::npos);
}

TEST_F(settings_test, a_corrupt_saved_settings_file_is_reported) {
    write("data/settings.toml", "listen = [");
    EXPECT_NE(error_of(resolve_settings(minimal_flags(), std::nullopt)).find("settings.toml"),
              std::string::npos);
}

TEST_F(settings_test, to_toml_round_trips) {
    settings effective;
    effective.data_dir = "/var/lib/reef \"quoted\"";
    effective.listen = "127.0.0.1:0";
    effective.advertise = "node.example:7401";
    effective.join = {"a.example:1"};
    effective.cluster_key = "/etc/reef/cluster.key";
    effective.level = log_level::error;
    auto parsed = parse_settings_toml(to_toml(effective), "saved", "/");
    ASSERT_TRUE(parsed.ok()) << parsed.failure().describe();
    EXPECT_EQ(*parsed->data_dir, effective.data_dir);
    EXPECT_EQ(*parsed->listen, effective.listen);
    EXPECT_EQ(*parsed->advertise, effective.advertise);
    EXPECT_EQ(*parsed->join, effective.join);
    EXPECT_EQ(*parsed->cluster_key, effective.cluster_key);
    EXPECT_FALSE(parsed->control.has_value());
    EXPECT_EQ(*parsed->log_level, "error");
}

} // namespace
} // namespace reef::runtime
