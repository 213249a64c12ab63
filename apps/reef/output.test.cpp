#include "output.hpp"

#include <gtest/gtest.h>

#include "control_client.hpp"

namespace reef::cli {
namespace {

using json = nlohmann::json;

json member(const std::string& short_id, const std::string& state, json rtt) {
    return {{"node_id", short_id + std::string(52, '0')},
            {"short_id", short_id},
            {"address", "127.0.0.1:7401"},
            {"state", state},
            {"incarnation", 2},
            {"rtt_ms", rtt},
            {"since_seconds", 75.0},
            {"self", false}};
}

json status_answer() {
    return {{"node_id", std::string(64, 'a')}, {"short_id", std::string(12, 'a')},
            {"address", "127.0.0.1:7401"},     {"state", "alive"},
            {"incarnation", 3},                {"uptime_seconds", 12.5},
            {"cluster_size", 4},               {"pid", 4242},
            {"version", "0.1.0"},              {"data_dir", "/tmp/n1"},
            {"network", {{"sessions_established", 3}}}};
}

TEST(render_table, aligns_columns) {
    std::string table = render_table({"A", "LONGER"}, {{"wide cell", "x"}, {"y", "z"}});
    EXPECT_EQ(table, "A          LONGER\n"
                     "wide cell  x\n"
                     "y          z\n");
}

TEST(render_table, leaves_no_trailing_blanks) {
    EXPECT_EQ(render_table({"NODE", ""}, {{"1", "started"}}), "NODE\n1     started\n");
}

TEST(format_duration, picks_a_readable_unit) {
    EXPECT_EQ(format_duration(0.25), "250ms");
    EXPECT_EQ(format_duration(12.5), "12.5s");
    EXPECT_EQ(format_duration(192), "3m12s");
    EXPECT_EQ(format_duration(7500), "2h05m");
    EXPECT_EQ(format_duration(3 * 86400 + 4 * 3600), "3d04h");
    EXPECT_EQ(format_duration(-1), "-");
}

TEST(format_rtt, shows_unknown_as_a_dash) {
    EXPECT_EQ(format_rtt(json()), "-");
    EXPECT_EQ(format_rtt(json(0.214)), "0.21ms");
    EXPECT_EQ(format_rtt(json(12.34)), "12.3ms");
    EXPECT_EQ(format_rtt(json("fast")), "-");
}

TEST(render_peers, lists_every_member_and_marks_self) {
    json peers = {{"members", {member("aaaaaaaaaaaa", "alive", 0.5), member("bbbbbbbbbbbb", "dead",
                                                                            json())}}};
    peers["members"][0]["self"] = true;
    ASSERT_TRUE(check_peers_shape(peers).ok());
    std::string table = render_peers(peers);
    EXPECT_NE(table.find("aaaaaaaaaaaa *"), std::string::npos) << table;
    EXPECT_NE(table.find("bbbbbbbbbbbb  "), std::string::npos) << table;
    EXPECT_NE(table.find("dead"), std::string::npos);
    EXPECT_NE(table.find("0.50ms"), std::string::npos);
    EXPECT_NE(table.find("1m15s"), std::string::npos);
    EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 3);
}

TEST(render_peers, shows_the_routing_table_beside_the_members) {
    json peers = {
        {"members",
         {member("aaaaaaaaaaaa", "alive", json()), member("bbbbbbbbbbbb", "alive", 0.5)}}};
    peers["members"][0]["self"] = true;
    const std::string b_id = peers["members"][1]["node_id"];
    peers["routing"] = {{"contacts", 2}, {"buckets_occupied", 2}};
    peers["contacts"] = {{{"node_id", b_id},
                          {"short_id", "bbbbbbbbbbbb"},
                          {"address", "127.0.0.1:7402"},
                          {"rtt_ms", 0.5},
                          {"bucket", 254}},
                         {{"node_id", std::string(64, 'c')},
                          {"short_id", "cccccccccccc"},
                          {"address", "127.0.0.1:7409"},
                          {"rtt_ms", nullptr},
                          {"bucket", 255}}};
    ASSERT_TRUE(check_peers_shape(peers).ok());
    const std::string table = render_peers(peers);
    EXPECT_NE(table.find("DHT"), std::string::npos) << table;
    EXPECT_NE(table.find("1m15s  254\n"), std::string::npos) << table;
    EXPECT_NE(table.find("1m15s  -\n"), std::string::npos) << table;
    EXPECT_NE(table.find("routing table: 2 contacts in 2 buckets\n"), std::string::npos) << table;
    EXPECT_NE(table.find("contacts that are not members:\n"), std::string::npos) << table;
    EXPECT_NE(table.find("cccccccccccc  127.0.0.1:7409  -    255"), std::string::npos) << table;
    peers["contacts"][0].erase("bucket");
    EXPECT_FALSE(check_peers_shape(peers).ok());
}

TEST(render_dht, put_closest_and_find) {
    const std::string publisher(64, 'p');
    json put = {{"key", std::string(64, 'k')},
                {"publisher", publisher},
                {"name", "greeting"},
                {"reference", publisher + "/greeting"},
                {"sequence", 42},
                {"expiry_unix_seconds", 1},
                {"stored_on", {publisher, std::string(64, 'q')}},
                {"failed", 0},
                {"rounds", 1}};
    ASSERT_TRUE(check_dht_put_shape(put).ok());
    EXPECT_EQ(render_dht_put(put),
              "stored greeting (sequence 42) on 2 of the closest nodes; read it anywhere as " +
                  publisher + "/greeting\nkey " + std::string(64, 'k') + "\n");
    json closest = {{"target", publisher},
                    {"rounds", 2},
                    {"nodes",
                     {{{"node_id", publisher},
                       {"short_id", "pppppppppppp"},
                       {"address", "127.0.0.1:7401"},
                       {"rtt_ms", 0.25}}}}};
    ASSERT_TRUE(check_dht_closest_shape(closest).ok());
    const std::string table = render_dht_closest(closest);
    EXPECT_NE(table.find(publisher + "  127.0.0.1:7401  0.25ms"), std::string::npos) << table;
    EXPECT_NE(table.find("1 node in 2 rounds\n"), std::string::npos) << table;
    json found = {{"node_id", publisher},
                  {"addresses", {"127.0.0.1:7401", "10.0.0.1:7400"}},
                  {"sequence", 1},
                  {"rounds", 1},
                  {"source", "network"}};
    ASSERT_TRUE(check_dht_find_shape(found).ok());
    EXPECT_EQ(render_dht_find(found), "127.0.0.1:7401\n10.0.0.1:7400\n");
    found["addresses"][0] = 5;
    EXPECT_FALSE(check_dht_find_shape(found).ok());
    json got = {{"key", std::string(64, 'k')},
                {"publisher", publisher},
                {"name", "n"},
                {"value", "v"},
                {"sequence", 1},
                {"holders", 1},
                {"rounds", 1},
                {"source", "local"}};
    EXPECT_TRUE(check_dht_get_shape(got).ok());
    got.erase("value");
    EXPECT_FALSE(check_dht_get_shape(got).ok());
}

TEST(render_status, shows_the_key_facts) {
    json answer = status_answer();
    ASSERT_TRUE(check_status_shape(answer).ok());
    std::string text = render_status(answer);
    EXPECT_NE(text.find(std::string(64, 'a')), std::string::npos);
    EXPECT_NE(text.find("cluster size  4"), std::string::npos) << text;
    EXPECT_NE(text.find("12.5s"), std::string::npos);
    EXPECT_NE(text.find("3 established"), std::string::npos);
    EXPECT_NE(text.find("? handshakes refused"), std::string::npos); // absent counters
}

TEST(check_status_shape, rejects_missing_or_mistyped_fields) {
    for (const char* key : {"node_id", "address", "incarnation", "cluster_size", "pid"}) {
        json answer = status_answer();
        answer.erase(key);
        EXPECT_FALSE(check_status_shape(answer).ok()) << key;
    }
    json negative = status_answer();
    negative["incarnation"] = -1;
    EXPECT_FALSE(check_status_shape(negative).ok());
    json text_size = status_answer();
    text_size["cluster_size"] = "4";
    EXPECT_FALSE(check_status_shape(text_size).ok());
}

TEST(check_peers_shape, rejects_bad_member_lists) {
    EXPECT_FALSE(check_peers_shape(json::object()).ok());
    EXPECT_FALSE(check_peers_shape({{"members", "none"}}).ok());
    EXPECT_FALSE(check_peers_shape({{"members", {1, 2}}}).ok());
    json no_state = member("aaaaaaaaaaaa", "alive", 1.0);
    no_state.erase("state");
    EXPECT_FALSE(check_peers_shape({{"members", {no_state}}}).ok());
    EXPECT_FALSE(check_peers_shape({{"members", {member("a", "alive", "slow")}}}).ok());
    EXPECT_TRUE(check_peers_shape({{"members", json::array()}}).ok());
}

} // namespace
} // namespace reef::cli

namespace reef::cli {
namespace {

TEST(render_kv, prints_the_value_or_absent_on_one_line) {
    using json = nlohmann::json;
    EXPECT_EQ(render_kv(json{{"key", "k"}, {"op", "get"}, {"ok", true}, {"value", "20"}}), "20\n");
    EXPECT_EQ(render_kv(json{{"key", "k"}, {"op", "get"}, {"ok", true}, {"value", nullptr}}),
              "(absent)\n");
    EXPECT_EQ(render_kv(json{{"key", "k"}, {"op", "put"}, {"ok", true}, {"value", ""}}), "\n");
}

TEST(render_kv_group, shows_the_members_and_marks_the_leader) {
    const std::string group(64, 'g');
    json answer = {{"key", "counter"}, {"group", group}, {"hosted", false}};
    ASSERT_TRUE(check_kv_group_shape(answer).ok());
    EXPECT_EQ(render_kv_group(answer), "key       counter\ngroup     " + group +
                                           "\nhosted    no: this node holds no copy of the "
                                           "group\n");
    answer = {{"key", "counter"},
              {"group", group},
              {"hosted", true},
              {"members", {std::string(64, 'a'), std::string(64, 'b'), std::string(64, 'c')}},
              {"epoch", 4},
              {"leader", std::string(64, 'b')},
              {"role", "follower"},
              {"commit_index", 20},
              {"applied_index", 19},
              {"last_index", 21}};
    ASSERT_TRUE(check_kv_group_shape(answer).ok());
    EXPECT_EQ(render_kv_group(answer), "key       counter\n"
                                       "group     " + group + "\n"
                                       "hosted    yes, as follower\n"
                                       "epoch     4\n"
                                       "members   aaaaaaaaaaaa\n"
                                       "          bbbbbbbbbbbb  leader\n"
                                       "          cccccccccccc\n"
                                       "indexes   commit 20, applied 19, last 21\n");
    answer["leader"] = std::string(64, 'd');
    EXPECT_NE(render_kv_group(answer).find("leader    dddddddddddd (not a member in this view)\n"),
              std::string::npos)
        << render_kv_group(answer);
}

} // namespace
} // namespace reef::cli
