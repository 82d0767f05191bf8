// An LD_PRELOAD library for hardening_test.py: getrandom(2) through glibc
// returns only zero bytes. With it, every secret and UID the API server makes
// must come out as the fixed value zero bytes map to; a value that does not
// came from somewhere other than the kernel's CSPRNG (a seeded PRNG, rdrand).

#include <sys/types.h>

#include <cstddef>
#include <cstring>

extern "C" ssize_t getrandom(void* buf, std::size_t n, unsigned int /*flags*/) {
  std::memset(buf, 0, n);
  return static_cast<ssize_t>(n);
}
