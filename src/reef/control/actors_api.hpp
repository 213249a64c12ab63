#pragma once
// The actors part of the control API (docs/formats/control-api.md, "Actors"): validating the
// bodies of POST /v1/actors/{spawn,send,steer} and GET /v1/actors/state?name=N into an
// actor_command for node::actor_submit, and formatting the actor's answer as the HTTP answer.
//
// Thread-safety: pure functions.
// Bodies and query strings are untrusted: every field is checked and every rejection is a 400
// naming the field. Answers come from the node and are trusted.

#include <string>
#include <string_view>
#include <variant>

#include "reef/base/result.hpp"
#include "reef/control/api.hpp"

namespace reef::control {

inline constexpr std::string_view actors_spawn_path = "/v1/actors/spawn";
inline constexpr std::string_view actors_send_path = "/v1/actors/send";
inline constexpr std::string_view actors_steer_path = "/v1/actors/steer";
inline constexpr std::string_view actors_state_path = "/v1/actors/state";

bool is_actors_path(std::string_view path);

/// The actor name in query parameter `parameter` of `incoming`'s target, percent-decoded and
/// validated, or the 400 to send (naming `parameter`; `usage` ends a malformed query's message).
std::variant<std::string, outcome> actor_name_parameter(const request& incoming,
                                                        std::string_view parameter,
                                                        std::string_view usage);

/// A request to one of the actors paths: the command to start, or the 400 to send.
outcome handle_actors(std::string_view path, const request& incoming);

/// The answer once the node finished `asked`: 200 with the actor's answer when it is ok; 409
/// with its error when the actor refused or failed the message (429 when it is busy: retry);
/// 404 for an actor no node hosts; 504/503/429 for timeout/unavailable/resource_exhausted.
response actor_reply(const actor_command& asked, const result<std::string>& answer);

} // namespace reef::control
