#include "reef/node/applications.hpp"

namespace reef::node {

void applications::claim_for_actors(const replica::group_id& group) {
    if (actor_groups_.insert(group).second) {
        // Its leader's first no-op went to the registers before the first actor step came.
        registers_.forget(group);
    }
}

std::string applications::apply(const replica::group_id& group,
                                const replica::entry& committed) {
    if (actors::is_actor_bytes(committed.command)) {
        claim_for_actors(group);
    }
    if (is_actor(group)) {
        return actors_.apply(group, committed);
    }
    return registers_.apply(group, committed);
}

std::string applications::snapshot_state(const replica::group_id& group) {
    return is_actor(group) ? actors_.snapshot_state(group) : registers_.snapshot_state(group);
}

void applications::install(const replica::group_id& group, const replica::snapshot& base) {
    if (actors::is_actor_bytes(base.state)) {
        claim_for_actors(group);
        actors_.install(group, base);
        return;
    }
    if (actor_groups_.erase(group) > 0) {
        actors_.forget(group);
    }
    registers_.install(group, base);
}

void applications::forget(const replica::group_id& group) {
    actor_groups_.erase(group);
    actors_.forget(group);
    registers_.forget(group);
}

replica::application::preparation applications::prepare(const replica::group_id& group,
                                                         const replica::group& core,
                                                         const replica::request_id& request,
                                                         std::string command) {
    if (actors::is_actor_bytes(command)) {
        return actors_.prepare(group, core, request, std::move(command));
    }
    if (is_actor(group)) {
        return answer_now{"this group is an actor's, not a kv key's"};
    }
    return append_command{std::move(command)};
}

} // namespace reef::node
