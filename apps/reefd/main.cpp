// reefd: one Reef node. Parses flags (CLI11, only here), resolves the settings (flags over the
// --config file over DATA_DIR/settings.toml) and runs the daemon.
//
// Exit codes: 0 after a clean stop (SIGTERM, SIGINT, `reef leave`), 1 when the node cannot run
// (the reason is logged), 2 for bad flags or settings (the message names the flag or key).

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "reef/node/version.hpp"
#include "reef/runtime/daemon.hpp"
#include "reef/runtime/log.hpp"
#include "reef/runtime/settings.hpp"

namespace {

constexpr int exit_bad_usage = 2;

constexpr const char* description =
    "reefd: one node of a Reef cluster. Every machine runs the same daemon; all nodes are "
    "equal.\n\n"
    "Start the first node of a cluster (after `reef init` wrote a cluster key):\n"
    "  reefd --data-dir ~/.local/share/reef/node --listen 192.168.1.5:7401 \\\n"
    "        --cluster-key ~/.config/reef/cluster.key\n"
    "Start another node and join through any member:\n"
    "  reefd --data-dir DIR --listen HOST:PORT --cluster-key FILE --join 192.168.1.5:7401\n"
    "Restart a node with the settings it last ran with:\n"
    "  reefd --data-dir DIR\n";

constexpr const char* footer =
    "\nConfig file (TOML; the same keys as the flags, flags win):\n"
    "  data_dir = \"/var/lib/reef\"\n"
    "  listen = \"0.0.0.0:7401\"\n"
    "  advertise = \"192.168.1.5:7401\"\n"
    "  join = [\"192.168.1.6:7401\", \"192.168.1.7:7401\"]\n"
    "  cluster_key = \"/etc/reef/cluster.key\"\n"
    "  control = \"127.0.0.1:7500\"\n"
    "  log_level = \"info\"\n"
    "Relative paths in the file are relative to the file's directory.\n"
    "\n"
    "The data dir holds node.key (this node's identity, 0600), settings.toml (the effective\n"
    "settings, written at every start), incarnation, reefd.pid, and control.sock (the control\n"
    "API, 0600; `reef status --node DATA_DIR/control.sock`).\n"
    "\n"
    "Signals: SIGTERM or SIGINT leaves the cluster gracefully (members see the node as `left`)\n"
    "and exits 0; a second one exits at once.\n"
    "\n"
    "Exit codes: 0 clean stop; 1 the node could not run (e.g. \"cannot listen on ...: address\n"
    "already in use\"); 2 bad flags or settings.\n";

struct flag_values {
    std::string data_dir;
    std::string listen;
    std::string advertise;
    std::vector<std::string> join;
    std::string cluster_key;
    std::string control;
    std::string log_level;
    std::string config;
    bool allow_exec = false;
};

void add_flags(CLI::App& app, flag_values& values) {
    app.add_option("--data-dir", values.data_dir,
                   "Directory for this node's key, settings and control socket (created 0700)")
        ->type_name("DIR");
    app.add_option("--listen", values.listen,
                   "Address to accept peers on; port 0 picks a free port")
        ->type_name("HOST:PORT");
    app.add_option("--advertise", values.advertise,
                   "Address peers dial to reach this node (default: the listen address; needed "
                   "when listening on 0.0.0.0)")
        ->type_name("HOST:PORT");
    app.add_option("--join", values.join,
                   "A member to join the cluster through; repeat for more (replaces the config "
                   "file's list)")
        ->type_name("HOST:PORT")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--cluster-key", values.cluster_key,
                   "The cluster's key file (made by `reef init`; mode 0600)")
        ->type_name("FILE");
    app.add_option("--control", values.control,
                   "Also serve the control API on this loopback TCP address")
        ->type_name("127.0.0.1:PORT");
    app.add_option("--log-level", values.log_level, "debug, info (default), warn or error")
        ->type_name("LEVEL");
    app.add_option("--config", values.config, "TOML file with the same settings")
        ->type_name("FILE");
    app.add_flag("--allow-exec,!--no-allow-exec", values.allow_exec,
                 "Run command jobs' external commands here (`reef job exec`; default: no)");
}

std::optional<std::string> given(const CLI::App& app, const char* flag, const std::string& v) {
    if (app.count(flag) == 0) {
        return std::nullopt;
    }
    return v;
}

reef::runtime::settings_layer layer_of(const CLI::App& app, const flag_values& values) {
    reef::runtime::settings_layer flags;
    flags.data_dir = given(app, "--data-dir", values.data_dir);
    flags.listen = given(app, "--listen", values.listen);
    flags.advertise = given(app, "--advertise", values.advertise);
    if (app.count("--join") > 0) {
        flags.join = values.join;
    }
    flags.cluster_key = given(app, "--cluster-key", values.cluster_key);
    flags.control = given(app, "--control", values.control);
    flags.log_level = given(app, "--log-level", values.log_level);
    if (app.count("--allow-exec") > 0) {
        flags.allow_exec = values.allow_exec;
    }
    return flags;
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "reefd: %s\nRun `reefd --help` for usage.\n", message.c_str());
    return exit_bad_usage;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{description, "reefd"};
    app.footer(footer);
    app.set_version_flag("--version", std::string(reef::node::version));
    app.get_formatter()->column_width(34);
    flag_values values;
    add_flags(app, values);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& help) {
        return app.exit(help);
    } catch (const CLI::CallForAllHelp& help) {
        return app.exit(help);
    } catch (const CLI::CallForVersion& version) {
        return app.exit(version);
    } catch (const CLI::ParseError& failure) {
        return usage_error(failure.what());
    }
    const auto config = given(app, "--config", values.config);
    auto resolved = reef::runtime::resolve_settings(layer_of(app, values), config);
    if (!resolved) {
        return usage_error(resolved.failure().message);
    }
    reef::runtime::set_log_level(resolved->level);
    return reef::runtime::run_daemon(*resolved);
}
