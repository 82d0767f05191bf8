#include <cstdint>
#include <string_view>

namespace krt::reactor {

unsigned shard_for(std::string_view key, unsigned shards) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return shards == 0 ? 0 : static_cast<unsigned>(h % shards);
}

}  // namespace krt::reactor
