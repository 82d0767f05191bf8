#pragma once
// Work sharing between scheduler replicas (pure core, no I/O).
//
// The pools ((namespace, runtime)) are spread over a fixed number of
// partitions. Each partition has its own Lease; only the replica holding a
// partition's Lease places that partition's Runs, so every pool (and so every
// runtime pod's capacity) has exactly one writer at a time, as with a single
// leader. Which partitions a replica tries to hold follows from the set of
// live replicas (member Leases): sorted by identity, replica i of M wants the
// partitions p with p % M == i. A partition another replica still holds is
// taken only once that replica releases it or its Lease expires.
//
// Affinity: none (pure functions).

#include <string>
#include <string_view>
#include <vector>

namespace krt::scheduler {

// The partition of a pool key ("namespace/runtime"), stable across replicas
// and versions. Independent of the shard hash, so partitions and shards mix.
unsigned partition_of(std::string_view pool_key, unsigned partitions);

// The partitions `self` should hold when `members` (any order, duplicates
// ignored; `self` counted even if absent) are the live replicas.
std::vector<unsigned> wanted_partitions(std::vector<std::string> members, const std::string& self,
                                        unsigned partitions);

// Lease names: "<prefix>-p<NN>" per partition, "<prefix>-member-<hash>" per
// replica (identities may hold characters a name cannot).
std::string partition_lease_name(std::string_view prefix, unsigned partition);
std::string member_lease_name(std::string_view prefix, std::string_view identity);
bool is_member_lease(std::string_view prefix, std::string_view lease_name);

}  // namespace krt::scheduler
