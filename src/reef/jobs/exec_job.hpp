#pragma once
// External-command jobs (docs/design/jobs.md, "Command jobs"): `reef job exec --chunks N -- CMD
// {start} {end}` runs CMD once per chunk, with {start} and {end} replaced by the chunk's range, on
// the nodes that allow it (reefd --allow-exec). Each chunk's standard output is stored in the
// cluster as pages, each the program of a blob actor (native kind "reef.blob": immutable, kept by
// its replica group like any actor), and the job's result lists, per chunk, the attempt whose
// pages count; the client concatenates the pages in chunk order.
//
// Thread-safety: pure functions.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reef/actors/actor_table.hpp"
#include "reef/base/result.hpp"

namespace reef::jobs {

using json = nlohmann::json;

inline constexpr std::string_view exec_kernel = "exec";
inline constexpr std::string_view blob_kind = "reef.blob";

struct exec_limits {
    static constexpr std::size_t arguments_max = 64;
    static constexpr std::size_t argument_size_max = 1024;
    /// Chunks of one command job: its result keeps a line per chunk.
    static constexpr std::uint64_t chunks_max = 64;
    /// One chunk's standard output; more fails the job.
    static constexpr std::size_t output_size_max = std::size_t{256} << 10U;
    /// Output bytes per page (base64 makes it 8 KiB, an actor's program limit).
    static constexpr std::size_t page_size_bytes = 6 * 1024;
    static constexpr std::size_t pages_max =
        (output_size_max + page_size_bytes - 1) / page_size_bytes;
};

/// The command a job's program holds: a JSON array of 1..arguments_max strings, the first (the
/// program, looked up in PATH) not empty. Errors say what is wrong.
[[nodiscard]] result<std::vector<std::string>> parse_command(std::string_view program);

/// `command` with every "{start}" and "{end}" replaced by the chunk's bounds.
std::vector<std::string> substitute(const std::vector<std::string>& command, std::uint64_t start,
                                    std::uint64_t end);

/// The actor holding page `page` of chunk `chunk`'s output in attempt `attempt` of job `job`.
std::string output_page_name(std::string_view job, std::uint64_t chunk, std::uint64_t attempt,
                             std::uint64_t page);

/// What a worker reports for a stored output: {"attempt", "pages", "bytes"}.
json output_partial(std::uint64_t attempt, std::uint64_t pages, std::uint64_t bytes);
/// invalid_argument unless `partial` is such an object with pages fitting `bytes`.
[[nodiscard]] status check_output_partial(const json& partial);

/// Registers kind "reef.blob": its record's program is the page (base64), its state {}; every
/// message is refused, since a page never changes.
void register_blob(actors::actor_table& table);

} // namespace reef::jobs
