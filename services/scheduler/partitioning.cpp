#include "services/scheduler/partitioning.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace krt::scheduler {
namespace {

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

unsigned partition_of(std::string_view pool_key, unsigned partitions) {
  if (partitions <= 1) return 0;
  // A salt keeps this independent of reactor::shard_for (the same FNV-1a).
  std::string salted = "partition/";
  salted += pool_key;
  return static_cast<unsigned>(fnv1a(salted) % partitions);
}

std::vector<unsigned> wanted_partitions(std::vector<std::string> members, const std::string& self,
                                        unsigned partitions) {
  members.push_back(self);
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  auto index = static_cast<unsigned>(std::find(members.begin(), members.end(), self) - members.begin());
  auto count = static_cast<unsigned>(members.size());
  std::vector<unsigned> out;
  for (unsigned p = index; p < partitions; p += count) out.push_back(p);
  return out;
}

std::string partition_lease_name(std::string_view prefix, unsigned partition) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "-p%02u", partition);
  return std::string(prefix) + buf;
}

std::string member_lease_name(std::string_view prefix, std::string_view identity) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "-member-%016llx", static_cast<unsigned long long>(fnv1a(identity)));
  return std::string(prefix) + buf;
}

bool is_member_lease(std::string_view prefix, std::string_view lease_name) {
  std::string head = std::string(prefix) + "-member-";
  return lease_name.size() == head.size() + 16 && lease_name.substr(0, head.size()) == head;
}

}  // namespace krt::scheduler
