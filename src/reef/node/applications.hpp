#pragma once
// The replicated applications of one node's replica groups, behind the single
// replica::application a host drives: kv registers and actors. A group belongs to the actors
// once an actor step or snapshot reaches it (their bytes start with actors::actor_magic, which no
// kv command does); every other group is a kv register.
//
// Thread-safety: none; the node owns it.

#include <set>
#include <string>

#include "reef/actors/actor_table.hpp"
#include "reef/replica/host.hpp"
#include "reef/replica/kv.hpp"

namespace reef::node {

class applications final : public replica::application {
public:
    applications(replica::kv::registers& registers, actors::actor_table& actors)
        : registers_(registers), actors_(actors) {}

    std::string apply(const replica::group_id& group, const replica::entry& committed) override;
    std::string snapshot_state(const replica::group_id& group) override;
    void install(const replica::group_id& group, const replica::snapshot& base) override;
    void forget(const replica::group_id& group) override;
    preparation prepare(const replica::group_id& group, const replica::group& core,
                        const replica::request_id& request, std::string command) override;

private:
    bool is_actor(const replica::group_id& group) const { return actor_groups_.contains(group); }
    void claim_for_actors(const replica::group_id& group);

    replica::kv::registers& registers_;
    actors::actor_table& actors_;
    std::set<replica::group_id> actor_groups_;
};

} // namespace reef::node
