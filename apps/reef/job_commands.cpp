// `reef job pi|run|exec|ls|show|cancel`: parallel jobs through the control API's jobs routes
// (docs/formats/control-api.md, "Jobs"). A started job is followed until it ends: a progress bar
// on a terminal, a plain line every few seconds otherwise; the result is printed, and all of it
// with --json.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands_internal.hpp"
#include "reef/base/base64.hpp"

namespace reef::cli {
namespace {

using json = nlohmann::json;

constexpr auto poll_interval = std::chrono::milliseconds(200);
constexpr auto plain_report_interval = std::chrono::seconds(3);

control_client job_client(const global_options& global) {
    control_client client = client_for(global);
    client.timeout = std::max<std::chrono::milliseconds>(client.timeout, kv_timeout_min);
    return client;
}

result<json> job_state(const control_client& client, const std::string& job) {
    return client.call("GET", "/v1/jobs/state?job=" + percent_encoded(job), json());
}

double fraction_done(const json& state) {
    const auto begin = state.value("begin", std::uint64_t{0});
    const auto end = state.value("end", std::uint64_t{0});
    const auto done = state.value("samples_done", std::uint64_t{0});
    return end > begin ? static_cast<double>(done) / static_cast<double>(end - begin) : 0.0;
}

void draw_bar(const json& state, double seconds) {
    constexpr int width = 40;
    const double done = std::min(1.0, fraction_done(state));
    const int filled = static_cast<int>(done * width);
    std::cerr << "\r[" << std::string(static_cast<std::size_t>(filled), '#')
              << std::string(static_cast<std::size_t>(width - filled), '.') << "] "
              << std::fixed << std::setprecision(1) << done * 100.0 << "%  "
              << state.value("chunks", json::array()).size() << " chunks running  "
              << std::setprecision(1) << seconds << " s" << std::flush;
}

/// Polls `job` until it is no longer running; reports progress on stderr.
result<json> follow(const control_client& client, const std::string& job, bool quiet) {
    const bool terminal = ::isatty(STDERR_FILENO) == 1 && !quiet;
    const auto started = std::chrono::steady_clock::now();
    auto reported = started;
    for (;;) {
        auto state = job_state(client, job);
        if (!state) {
            return state;
        }
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - started).count();
        if (state->value("status", "") != "running") {
            if (terminal) {
                draw_bar(*state, seconds);
                std::cerr << "\n";
            }
            return state;
        }
        if (terminal) {
            draw_bar(*state, seconds);
        } else if (!quiet && now - reported >= plain_report_interval) {
            reported = now;
            std::cerr << "job " << job << ": " << std::fixed << std::setprecision(1)
                      << fraction_done(*state) * 100.0 << "% after " << seconds << " s\n";
        }
        std::this_thread::sleep_for(poll_interval);
    }
}

/// A job's value for people: numbers with 12 significant digits, anything else as JSON.
std::string value_text(const json& value) {
    if (!value.is_number_float()) {
        return value.dump();
    }
    std::ostringstream text;
    text << std::setprecision(12) << value.get<double>();
    return text.str();
}

int print_result(const global_options& global, const json& state) {
    if (global.json) {
        print_json(state);
    } else if (state.value("status", "") == "done") {
        const auto samples = state.value("end", std::uint64_t{0}) -
                             state.value("begin", std::uint64_t{0});
        std::cout << value_text(state.value("value", json())) << "\n";
        std::cerr << "job " << state.value("job", "") << ": " << samples << " samples, seed "
                  << state.value("seed", 0) << ", "
                  << std::setprecision(3)
                  << (static_cast<double>(state.value("finished_ms", std::uint64_t{0}) -
                                          state.value("started_ms", std::uint64_t{0})) /
                      1000.0)
                  << " s\n";
    } else {
        std::cerr << "reef: job " << state.value("job", "") << " ended "
                  << state.value("status", "")
                  << (state.contains("error") ? ": " + state.value("error", "") : "") << "\n";
    }
    return state.value("status", "") == "done" ? exit_ok : exit_failure;
}

/// A command job's outputs on stdout, chunk after chunk (ids follow the range: command jobs are
/// never split). The result lists each chunk's [attempt, pages, bytes]; page P of chunk C is
/// the actor JOB/out/C.ATTEMPT.P.
int print_outputs(const control_client& client, const json& state) {
    const std::string job = state.value("job", "");
    const json listed =
        state.contains("result") && state["result"].is_object() ? state["result"] : json::object();
    std::uint64_t written = 0;
    for (std::uint64_t chunk = 0; chunk < listed.size(); ++chunk) {
        const json stored = listed.value(std::to_string(chunk), json());
        if (!stored.is_array() || stored.size() != 3 || !stored[0].is_number_unsigned() ||
            !stored[1].is_number_unsigned()) {
            return report(make_error(errc::internal, "job " + job + " lists no output for chunk " +
                                                         std::to_string(chunk)));
        }
        for (std::uint64_t page = 0; page < stored[1].get<std::uint64_t>(); ++page) {
            const std::string name = job + "/out/" + std::to_string(chunk) + "." +
                                     stored[0].dump() + "." + std::to_string(page);
            auto answer = client.call("GET", "/v1/jobs/page?name=" + percent_encoded(name),
                                      json());
            if (!answer) {
                return report(answer.failure());
            }
            auto bytes = base64_decode(answer->value("page", ""));
            if (!bytes) {
                return report(make_error(errc::internal, "page " + name + ": " +
                                                             bytes.failure().message));
            }
            std::cout.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
            written += bytes->size();
        }
    }
    std::cout.flush();
    std::cerr << "job " << job << ": " << listed.size() << " chunks, " << written
              << " bytes of output\n";
    return exit_ok;
}

int run_start(const global_options& global, const job_options& options) {
    const control_client client = job_client(global);
    json body{{"kernel", options.kernel}, {"samples", options.samples}, {"seed", options.seed}};
    if (!options.program_path.empty()) {
        auto program = read_program(options.program_path);
        if (!program) {
            return report(program.failure());
        }
        body = {{"kernel", options.kernel}, {"program", std::move(*program)},
                {"begin", options.begin}, {"end", options.end}, {"seed", options.seed}};
    }
    if (!options.command.empty()) {
        body = {{"kernel", options.kernel}, {"command", options.command},
                {"chunks", options.chunks}};
        if (options.end > options.begin) {
            body["begin"] = options.begin;
            body["end"] = options.end;
        }
    }
    auto started = client.call("POST", "/v1/jobs/start", body);
    if (!started) {
        return report(started.failure());
    }
    const std::string job = started->value("job", "");
    if (!global.json) {
        std::cerr << "job " << job << " started\n";
    }
    auto final_state = follow(client, job, global.json);
    if (!final_state) {
        return report(final_state.failure());
    }
    if (options.kernel == "exec" && !global.json && final_state->value("status", "") == "done") {
        return print_outputs(client, *final_state);
    }
    return print_result(global, *final_state);
}

int run_ls(const global_options& global) {
    auto answer = job_client(global).call("GET", "/v1/jobs", json());
    if (!answer) {
        return report(answer.failure());
    }
    if (global.json) {
        print_json(*answer);
        return exit_ok;
    }
    const json jobs = answer->value("jobs", json::object());
    if (jobs.empty()) {
        std::cout << "no jobs\n";
    }
    for (const auto& [name, job] : jobs.items()) {
        std::cout << std::left << std::setw(36) << name << std::setw(8)
                  << job.value("kernel", "") << std::setw(11) << job.value("status", "")
                  << job.value("samples", 0) << " samples\n";
    }
    return exit_ok;
}

int run_show(const global_options& global, const std::string& job) {
    auto state = job_state(job_client(global), job);
    if (!state) {
        return report(state.failure());
    }
    if (global.json) {
        print_json(*state);
        return exit_ok;
    }
    std::cout << "job " << job << "  " << state->value("kernel", "") << "  "
              << state->value("status", "") << "  " << std::fixed << std::setprecision(1)
              << fraction_done(*state) * 100.0 << "% of [" << state->value("begin", 0) << ", "
              << state->value("end", 0) << ")  coordinator on "
              << state->value("node", json("?")).dump() << "\n";
    if (state->contains("value")) {
        std::cout << "  result " << value_text((*state)["value"]) << "\n";
    }
    if (state->contains("error")) {
        std::cout << "  error " << state->value("error", "") << "\n";
    }
    std::cout << "  " << std::left << std::setw(6) << "CHUNK" << std::setw(14) << "WORKER"
              << std::setw(22) << "RANGE" << "DONE\n";
    for (const auto& chunk : state->value("chunks", json::array())) {
        const auto begin = chunk.value("begin", std::uint64_t{0});
        const auto end = chunk.value("end", std::uint64_t{0});
        const auto through = chunk.value("through", std::uint64_t{0});
        std::ostringstream range;
        range << begin << ".." << end;
        std::cout << "  " << std::setw(6) << chunk.value("id", 0) << std::setw(14)
                  << chunk.value("worker", "").substr(0, 12) << std::setw(22) << range.str()
                  << std::setprecision(1)
                  << (end > begin ? 100.0 * static_cast<double>(through - begin) /
                                        static_cast<double>(end - begin)
                                  : 0.0)
                  << "%\n";
    }
    return exit_ok;
}

int run_cancel(const global_options& global, const std::string& job) {
    auto answer = job_client(global).call("POST", "/v1/jobs/cancel", {{"job", job}});
    if (!answer) {
        return report(answer.failure());
    }
    global.json ? print_json(*answer) : void(std::cout << "job " << job << " cancelled\n");
    return exit_ok;
}

} // namespace

int run_job(const global_options& global, const job_options& options) {
    if (options.verb == "pi" || options.verb == "run" || options.verb == "exec") {
        return run_start(global, options);
    }
    if (options.verb == "ls") {
        return run_ls(global);
    }
    if (options.verb == "show") {
        return run_show(global, options.job);
    }
    return run_cancel(global, options.job);
}

} // namespace reef::cli
