// Artifacts on the filesystem store (SPEC.md §4 "Artifacts"), with a
// deterministic tar.gz writer for directory artifacts.
#include "sidecar/prep/artifacts.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "lib/core/strings.hpp"
#include "lib/core/time.hpp"

namespace krt::runtimed {
namespace {
namespace art {

namespace fs = std::filesystem;

std::string sys_error(int e) { return std::strerror(e); }

// A path component usable for a namespace or uid directory.
bool valid_component(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string_view::npos &&
         s.find('\0') == std::string_view::npos;
}

// SHA-256 over a byte stream, as "sha256:<hex>".
class sha256 {
 public:
  sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("sha256: OpenSSL digest init failed");
    }
  }
  void update(const void* p, std::size_t n) { EVP_DigestUpdate(ctx_.get(), p, n); }
  std::string finish() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned int i = 0; i < len; ++i) {
      out += hex[md[i] >> 4];
      out += hex[md[i] & 0xF];
    }
    return out;
  }

 private:
  struct deleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, deleter> ctx_;
};

// An owned file descriptor.
struct fd_guard {
  int fd = -1;
  explicit fd_guard(int f) : fd(f) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// Where stored bytes go: a file, hashed and counted, with a size limit.
class sink {
 public:
  sink(int fd, std::uint64_t limit) : fd_(fd), limit_(limit) {}
  // false with error() set on a write failure or when the limit is passed.
  bool write(const void* p, std::size_t n) {
    if (written_ + n > limit_) {
      over_limit_ = true;
      return false;
    }
    const char* c = static_cast<const char*>(p);
    std::size_t off = 0;
    while (off < n) {
      const ssize_t w = ::write(fd_, c + off, n - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        error_ = sys_error(errno);
        return false;
      }
      off += static_cast<std::size_t>(w);
    }
    hash_.update(p, n);
    written_ += n;
    return true;
  }
  bool over_limit() const { return over_limit_; }
  const std::string& error() const { return error_; }
  std::uint64_t written() const { return written_; }
  std::string digest() { return hash_.finish(); }

 private:
  int fd_;
  std::uint64_t limit_;
  std::uint64_t written_ = 0;
  bool over_limit_ = false;
  std::string error_;
  sha256 hash_;
};

// Why storing one artifact failed.
enum class fail_kind { invalid, too_large, store };
struct fail {
  fail_kind kind;
  std::string message;
};

// ------------------------------------------------------------------ tar.gz

constexpr std::size_t block = 512;

// Gzip compression into a sink (header: mtime 0, no name, OS unix).
class gzip_writer {
 public:
  explicit gzip_writer(sink& out) : out_(out) {
    if (deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::runtime_error("zlib: deflateInit2 failed");
    }
    header_.os = 255;  // "unknown", whatever platform zlib was built for
    deflateSetHeader(&z_, &header_);
  }
  ~gzip_writer() { deflateEnd(&z_); }
  gzip_writer(const gzip_writer&) = delete;
  gzip_writer& operator=(const gzip_writer&) = delete;

  bool write(const void* p, std::size_t n) { return pump(p, n, Z_NO_FLUSH); }
  bool finish() { return pump(nullptr, 0, Z_FINISH); }

 private:
  bool pump(const void* p, std::size_t n, int flush) {
    z_.next_in = static_cast<Bytef*>(const_cast<void*>(p));
    z_.avail_in = static_cast<uInt>(n);
    for (;;) {
      z_.next_out = buf_.data();
      z_.avail_out = static_cast<uInt>(buf_.size());
      const int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) return false;
      const std::size_t have = buf_.size() - z_.avail_out;
      if (have > 0 && !out_.write(buf_.data(), have)) return false;
      if (flush == Z_FINISH) {
        if (rc == Z_STREAM_END) return true;
      } else if (z_.avail_in == 0 && z_.avail_out != 0) {
        return true;
      }
    }
  }
  sink& out_;
  z_stream z_{};
  gz_header header_{};
  std::array<Bytef, 65536> buf_{};
};

void put_octal(char* field, std::size_t width, std::uint64_t v) {
  // width-1 digits, zero padded, then NUL.
  std::memset(field, '0', width - 1);
  field[width - 1] = '\0';
  for (std::size_t i = width - 1; i > 0 && v != 0; --i) {
    field[i - 1] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
}

// One ustar header block; name/size that do not fit are carried by a pax record first.
std::array<char, block> ustar_header(std::string_view name, std::uint64_t size, unsigned mode, char type) {
  std::array<char, block> h{};
  std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 100));
  put_octal(h.data() + 100, 8, mode);
  put_octal(h.data() + 108, 8, 0);  // uid
  put_octal(h.data() + 116, 8, 0);  // gid
  put_octal(h.data() + 124, 12, size < 077777777777ull ? size : 0);
  put_octal(h.data() + 136, 12, 0);  // mtime
  std::memset(h.data() + 148, ' ', 8);
  h[156] = type;
  std::memcpy(h.data() + 257, "ustar", 6);  // magic "ustar\0"
  std::memcpy(h.data() + 263, "00", 2);
  put_octal(h.data() + 329, 8, 0);  // devmajor
  put_octal(h.data() + 337, 8, 0);  // devminor
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  put_octal(h.data() + 148, 7, sum);  // six digits, NUL, then the space already there
  return h;
}

// "<len> <key>=<value>\n" where len counts the whole record.
std::string pax_record(std::string_view key, std::string_view value) {
  const std::size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  std::size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

class tar_writer {
 public:
  explicit tar_writer(gzip_writer& gz) : gz_(gz) {}

  bool entry(std::string_view name, std::uint64_t size, unsigned mode, char type) {
    std::string pax;
    if (name.size() > 100) pax += pax_record("path", name);
    if (size >= 077777777777ull) pax += pax_record("size", std::to_string(size));
    if (!pax.empty()) {
      const auto ph = ustar_header("././@PaxHeader", pax.size(), 0644, 'x');
      if (!gz_.write(ph.data(), ph.size()) || !gz_.write(pax.data(), pax.size()) || !pad(pax.size()))
        return false;
    }
    const auto h = ustar_header(name, size, mode, type);
    return gz_.write(h.data(), h.size());
  }
  bool data(const void* p, std::size_t n) { return gz_.write(p, n); }
  bool pad(std::uint64_t size) {
    static const std::array<char, block> zeros{};
    const std::size_t rem = static_cast<std::size_t>(size % block);
    return rem == 0 || gz_.write(zeros.data(), block - rem);
  }
  bool end() {
    static const std::array<char, 2 * block> zeros{};
    return gz_.write(zeros.data(), zeros.size());
  }

 private:
  gzip_writer& gz_;
};

// Sorted names of a directory's entries (no . or ..).
// Every file and directory an artifact reads is opened relative to an open
// directory with O_NOFOLLOW, never by a path looked up again later: Run code
// owns the staging directory and may swap a component for a symbolic link
// between our check and our open (issue #14 item 12), which would make
// runtimed store, say, its own service-account token as an artifact.

// The names in the directory `dirfd` (not . and ..), sorted.
krt::result<std::vector<std::string>, std::string> list_dir(int dirfd, const std::string& what) {
  const int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return krt::unexpected(what + ": " + sys_error(errno));
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    const int e = errno;
    ::close(dup);
    return krt::unexpected(what + ": " + sys_error(e));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n(e->d_name);
    if (n != "." && n != "..") names.emplace_back(n);
  }
  const int e = errno;
  ::closedir(d);
  if (e != 0) return krt::unexpected(what + ": " + sys_error(e));
  std::sort(names.begin(), names.end());
  return names;
}

// Opens the entry `name` of `dirfd` without following a symbolic link: a
// directory (O_DIRECTORY) or a file. O_NONBLOCK keeps a FIFO put in a
// file's place from blocking the open; the caller checks the kind with
// fstat on what it opened.
int open_entry(int dirfd, const std::string& name, bool directory) {
  int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  if (directory) flags |= O_DIRECTORY;
  return ::openat(dirfd, name.c_str(), flags);
}

// Why `name` in `rel` could not be opened, in the user's terms.
std::string open_error(const std::string& rel, int e) {
  if (e == ELOOP || e == ENOTDIR) return "\"" + rel + "\" is a symbolic link or changed while it was read";
  return "\"" + rel + "\": " + sys_error(e);
}

// Copies exactly `size` bytes of the open regular file `fd` into `write`.
template <typename Write>
std::optional<fail> stream_file(int fd, const std::string& what, std::uint64_t size, Write&& write) {
  std::vector<char> buf(1 << 16);
  std::uint64_t left = size;
  while (left > 0) {
    const ssize_t n = ::read(fd, buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size())));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail{fail_kind::invalid, "read " + what + ": " + sys_error(errno)};
    }
    if (n == 0) return fail{fail_kind::invalid, what + " shrank while it was being stored"};
    if (auto f = write(buf.data(), static_cast<std::size_t>(n))) return f;
    left -= static_cast<std::uint64_t>(n);
  }
  return std::nullopt;
}

// The failure of a sink write: over the limit, or a store error.
fail sink_failure(const sink& out, std::string_view what) {
  if (out.over_limit()) return fail{fail_kind::too_large, std::string(what)};
  return fail{fail_kind::store, "write: " + out.error()};
}

// Archives the directory `dirfd` (at `rel` in the archive) recursively into tw.
std::optional<fail> archive_dir(int dirfd, const std::string& rel, tar_writer& tw, sink& out) {
  auto names = list_dir(dirfd, "read directory \"" + rel + "\"");
  if (!names) return fail{fail_kind::invalid, names.error()};
  for (const std::string& n : *names) {
    const std::string child_rel = rel.empty() ? n : rel + "/" + n;
    struct stat st {};
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return fail{fail_kind::invalid, "\"" + child_rel + "\": " + sys_error(errno)};
    if (S_ISLNK(st.st_mode))
      return fail{fail_kind::invalid, "\"" + child_rel + "\" is a symbolic link; copy the file instead"};
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
      return fail{fail_kind::invalid, "\"" + child_rel + "\" is not a regular file or directory"};
    fd_guard child(open_entry(dirfd, n, S_ISDIR(st.st_mode)));
    if (child.fd < 0) return fail{fail_kind::invalid, open_error(child_rel, errno)};
    // What was opened decides, not what was looked at before.
    if (::fstat(child.fd, &st) != 0) return fail{fail_kind::invalid, "\"" + child_rel + "\": " + sys_error(errno)};
    if (S_ISDIR(st.st_mode)) {
      if (!tw.entry(child_rel + "/", 0, 0755, '5')) return sink_failure(out, child_rel);
      if (auto f = archive_dir(child.fd, child_rel, tw, out)) return f;
    } else if (S_ISREG(st.st_mode)) {
      const unsigned mode = (st.st_mode & 0111) != 0 ? 0755 : 0644;
      const auto size = static_cast<std::uint64_t>(st.st_size);
      if (!tw.entry(child_rel, size, mode, '0')) return sink_failure(out, child_rel);
      auto f = stream_file(child.fd, child_rel, size, [&](const char* p, std::size_t k) -> std::optional<fail> {
        if (!tw.data(p, k)) return sink_failure(out, child_rel);
        return std::nullopt;
      });
      if (f) return f;
      if (!tw.pad(size)) return sink_failure(out, child_rel);
    } else {
      return fail{fail_kind::invalid, "\"" + child_rel + "\" is not a regular file or directory"};
    }
  }
  return std::nullopt;
}

std::optional<fail> write_archive(int dirfd, const std::string& what, sink& out) {
  gzip_writer gz(out);
  tar_writer tw(gz);
  if (auto f = archive_dir(dirfd, "", tw, out)) return f;
  if (!tw.end() || !gz.finish()) return sink_failure(out, what);
  return std::nullopt;
}

// Why the directory `dirfd` cannot be archived (a symlink or special file
// inside, or more than max_bytes of file content), or nullopt.
std::optional<std::string> check_tree(int dirfd, const std::string& rel, std::uint64_t max_bytes,
                                      std::uint64_t& total) {
  auto names = list_dir(dirfd, "read directory \"" + rel + "\"");
  if (!names) return names.error();
  for (const std::string& n : *names) {
    const std::string child_rel = rel.empty() ? n : rel + "/" + n;
    struct stat st {};
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return "\"" + child_rel + "\": " + sys_error(errno);
    if (S_ISLNK(st.st_mode)) return "\"" + child_rel + "\" is a symbolic link; copy the file instead";
    if (S_ISDIR(st.st_mode)) {
      fd_guard child(open_entry(dirfd, n, true));
      if (child.fd < 0) return open_error(child_rel, errno);
      if (auto err = check_tree(child.fd, child_rel, max_bytes, total)) return err;
      continue;
    }
    if (!S_ISREG(st.st_mode)) return "\"" + child_rel + "\" is not a regular file or directory";
    total += static_cast<std::uint64_t>(st.st_size);
    if (total > max_bytes) return "its files hold more than " + std::to_string(max_bytes) + " bytes";
  }
  return std::nullopt;
}

// Opens the directory `path`, following no symbolic link in any component
// below `root` (with an empty root: in its last component). -1 with errno
// set otherwise: ELOOP for a link, EXDEV when path is not beneath root.
int open_dir_beneath(const std::string& root, const std::string& path) {
  constexpr int dir_flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  if (root.empty()) return ::open(path.c_str(), dir_flags | O_NOFOLLOW);
  std::string base = root;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (path.size() <= base.size() + 1 || path.compare(0, base.size(), base) != 0 || path[base.size()] != '/') {
    errno = EXDEV;
    return -1;
  }
  const std::string rel = path.substr(base.size() + 1);
  if (base.empty()) base = "/";
  fd_guard root_fd(::open(base.c_str(), dir_flags));  // the root itself is trusted
  if (root_fd.fd < 0) return -1;
#ifdef SYS_openat2
  open_how how{};
  how.flags = dir_flags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, root_fd.fd, rel.c_str(), &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
#endif
  // Kernels before 5.6: one component at a time, none a link or "..".
  int cur = ::fcntl(root_fd.fd, F_DUPFD_CLOEXEC, 0);
  std::size_t pos = 0;
  while (cur >= 0 && pos < rel.size()) {
    std::size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) slash = rel.size();
    const std::string comp = rel.substr(pos, slash - pos);
    pos = slash + 1;
    if (comp.empty() || comp == ".") continue;
    int next = comp == ".." ? (errno = EXDEV, -1) : ::openat(cur, comp.c_str(), dir_flags | O_NOFOLLOW);
    const int e = errno;
    ::close(cur);
    cur = next;
    errno = e;
  }
  return cur;
}

// ------------------------------------------------------------------ content types

std::string lower_extension(std::string_view name) {
  const std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  return to_lower(name.substr(dot));
}

std::string type_by_extension(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> table[] = {
      {".avif", "image/avif"},
      {".bz2", "application/x-bzip2"},
      {".css", "text/css; charset=utf-8"},
      {".csv", "text/csv; charset=utf-8"},
      {".gif", "image/gif"},
      {".gz", "application/gzip"},
      {".htm", "text/html; charset=utf-8"},
      {".html", "text/html; charset=utf-8"},
      {".jpeg", "image/jpeg"},
      {".jpg", "image/jpeg"},
      {".js", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".log", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".pdf", "application/pdf"},
      {".png", "image/png"},
      {".svg", "image/svg+xml"},
      {".tar", "application/x-tar"},
      {".tgz", "application/gzip"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
      {".webp", "image/webp"},
      {".xml", "text/xml; charset=utf-8"},
      {".yaml", "application/yaml"},
      {".yml", "application/yaml"},
      {".zip", "application/zip"},
  };
  const std::string ext = lower_extension(name);
  for (const auto& [e, t] : table) {
    if (e == ext) return std::string(t);
  }
  return "";
}

// A subset of the WHATWG sniffing rules (as Go's http.DetectContentType).
std::string sniff(std::string_view head) {
  auto starts = [&](std::string_view sig) { return head.starts_with(sig); };
  if (starts("\x89PNG\r\n\x1a\n")) return "image/png";
  if (starts("\xFF\xD8\xFF")) return "image/jpeg";
  if (starts("GIF87a") || starts("GIF89a")) return "image/gif";
  if (starts("%PDF-")) return "application/pdf";
  if (starts("%!PS-Adobe-")) return "application/postscript";
  if (starts(std::string_view("\x1F\x8B\x08", 3))) return "application/x-gzip";
  if (starts(std::string_view("PK\x03\x04", 4))) return "application/zip";
  if (starts("BZh")) return "application/x-bzip2";
  if (starts(std::string_view("\x00\x61\x73\x6D", 4))) return "application/wasm";
  std::string_view t = head;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t' || t.front() == '\n' || t.front() == '\r' ||
                        t.front() == '\f')) {
    t.remove_prefix(1);
  }
  const std::string lower = to_lower(t.substr(0, 16));
  if (lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.starts_with("<head") ||
      lower.starts_with("<body")) {
    return "text/html; charset=utf-8";
  }
  if (lower.starts_with("<?xml")) return "text/xml; charset=utf-8";
  for (unsigned char c : head) {
    if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F)) {
      return "application/octet-stream";
    }
  }
  return "text/plain; charset=utf-8";
}

// The type of the open file `fd` (its name's extension, else its first bytes).
std::string content_type_of(int fd, std::string_view name) {
  if (std::string t = type_by_extension(name); !t.empty()) return t;
  char buf[512];
  ssize_t n;
  do {
    n = ::pread(fd, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return "application/octet-stream";
  return sniff(std::string_view(buf, static_cast<std::size_t>(n)));
}

std::string run_dir_of(const filesystem_store& store, std::string_view ns, std::string_view uid) {
  return (fs::path(store.root) / "namespaces" / std::string(ns) / "runs" / std::string(uid)).string();
}

}  // namespace art
}  // namespace

bool valid_artifact_name(std::string_view name) {
  return !name.empty() && name.size() <= max_artifact_name_bytes && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos && valid_utf8(name);
}

std::string artifact_relative_path(std::string_view ns, std::string_view uid, std::string_view name) {
  std::string out = "namespaces/";
  out += ns;
  out += "/runs/";
  out += uid;
  out += '/';
  out += name;
  return out;
}

krt::result<void, std::string> write_tar_gz(const std::string& dir, const std::string& out_path) {
  art::fd_guard out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (out.fd < 0) return krt::unexpected(out_path + ": " + art::sys_error(errno));
  art::fd_guard in(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (in.fd < 0) return krt::unexpected(dir + ": " + art::sys_error(errno));
  art::sink s(out.fd, UINT64_MAX);
  if (auto f = art::write_archive(in.fd, dir, s)) return krt::unexpected(f->message);
  return {};
}

void delete_run_artifacts(const filesystem_store& store, std::string_view ns, std::string_view uid) {
  if (!art::valid_component(ns) || !art::valid_component(uid) || store.root.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(art::run_dir_of(store, ns, uid), ec);
}

krt::result<std::string, std::string> artifact_path(const filesystem_store& store, std::string_view ns,
                                                    std::string_view uid, std::string_view name) {
  if (!art::valid_component(ns) || !art::valid_component(uid)) {
    return krt::unexpected(std::string("invalid namespace or Run uid"));
  }
  if (!valid_artifact_name(name))
    return krt::unexpected("invalid artifact name \"" + repair_utf8(name) + "\"");
  const std::string path = art::run_dir_of(store, ns, uid) + "/" + std::string(name);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return krt::unexpected("artifact \"" + std::string(name) + "\" not found");
  }
  return path;
}

namespace {

krt::unexpected<artifact_error> invalid_artifacts(std::string m) {
  return krt::unexpected(artifact_error{false, std::move(m)});
}

// Checks every top-level entry's name, kind and (for files) size before anything is stored.
krt::result<std::vector<struct stat>, artifact_error> check_entries(int staging_fd, const std::string& staging_dir,
                                                                    const std::vector<std::string>& names,
                                                                    const artifact_limits& limits) {
  if (names.size() > max_artifacts) {
    return invalid_artifacts(std::to_string(names.size()) + " artifacts in " + staging_dir + " (limit " +
                             std::to_string(max_artifacts) + "); archive them into fewer entries");
  }
  std::vector<struct stat> stats(names.size());
  std::uint64_t file_total = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& n = names[i];
    if (!valid_artifact_name(n)) {
      return invalid_artifacts(
          "invalid artifact name \"" + repair_utf8(n) +
          "\": names must be valid UTF-8, at most 255 bytes, without / or \\, and not . or ..");
    }
    if (::fstatat(staging_fd, n.c_str(), &stats[i], AT_SYMLINK_NOFOLLOW) != 0)
      return invalid_artifacts(staging_dir + "/" + n + ": " + art::sys_error(errno));
    const mode_t m = stats[i].st_mode;
    if (S_ISLNK(m))
      return invalid_artifacts("artifact \"" + n + "\" is a symbolic link; copy the file instead");
    if (!S_ISREG(m) && !S_ISDIR(m)) {
      return invalid_artifacts("artifact \"" + n + "\" is not a regular file or directory");
    }
    if (S_ISDIR(m)) {
      art::fd_guard dir(art::open_entry(staging_fd, n, true));
      if (dir.fd < 0) return invalid_artifacts("artifact " + art::open_error(n, errno));
      std::uint64_t tree_total = 0;
      if (auto err = art::check_tree(dir.fd, "", limits.max_artifact_bytes, tree_total)) {
        return invalid_artifacts("artifact \"" + n + "\": " + *err);
      }
      continue;
    }
    const auto size = static_cast<std::uint64_t>(stats[i].st_size);
    if (size > limits.max_artifact_bytes) {
      return invalid_artifacts("artifact \"" + n + "\" is " + std::to_string(size) + " bytes (limit " +
                               std::to_string(limits.max_artifact_bytes) + ")");
    }
    file_total += size;
    if (file_total > limits.max_total_bytes) {
      return invalid_artifacts("artifacts total more than " + std::to_string(limits.max_total_bytes) +
                               " bytes");
    }
  }
  return stats;
}

struct stored {
  std::uint64_t size = 0;
  std::string digest;
  std::string content_type;
};

// Copies the file (or archives the directory) `name` of the staging
// directory to dst, at most `room` bytes. It is opened afresh without
// following links, and what was opened must still be what was checked.
krt::result<stored, artifact_error> store_one(int staging_fd, const std::string& dst, const std::string& name,
                                              const struct stat& checked, std::uint64_t room,
                                              const artifact_limits& limits) {
  using art::fail;
  std::optional<fail> failure;
  stored out;
  const bool is_dir = S_ISDIR(checked.st_mode);
  art::fd_guard src(art::open_entry(staging_fd, name, is_dir));
  struct stat st {};
  if (src.fd < 0) {
    failure = fail{art::fail_kind::invalid, art::open_error(name, errno)};
  } else if (::fstat(src.fd, &st) != 0 || (st.st_mode & S_IFMT) != (checked.st_mode & S_IFMT) ||
             st.st_ino != checked.st_ino || st.st_dev != checked.st_dev) {
    failure = fail{art::fail_kind::invalid, "it changed while it was being stored"};
  }
  if (!failure) {
    art::fd_guard fd(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd.fd < 0) {
      failure = fail{art::fail_kind::store, "create " + dst + ": " + art::sys_error(errno)};
    } else {
      art::sink s(fd.fd, room);
      if (is_dir) {
        failure = art::write_archive(src.fd, name, s);
        out.content_type = "application/gzip";
      } else {
        out.content_type = art::content_type_of(src.fd, name);
        failure = art::stream_file(src.fd, name, static_cast<std::uint64_t>(st.st_size),
                                   [&](const char* p, std::size_t k) -> std::optional<fail> {
                                     if (!s.write(p, k)) return art::sink_failure(s, name);
                                     return std::nullopt;
                                   });
      }
      if (!failure && ::fsync(fd.fd) != 0) {
        failure = fail{art::fail_kind::store, "sync " + dst + ": " + art::sys_error(errno)};
      }
      out.size = s.written();
      out.digest = s.digest();
    }
  }
  if (!failure) return out;
  switch (failure->kind) {
    case art::fail_kind::too_large:
      return invalid_artifacts("artifact \"" + name + "\" is larger than the limit (" +
                               std::to_string(limits.max_artifact_bytes) + " bytes per artifact, " +
                               std::to_string(limits.max_total_bytes) + " in total)");
    case art::fail_kind::invalid:
      return invalid_artifacts("artifact \"" + name + "\": " + failure->message);
    case art::fail_kind::store:
      break;
  }
  return krt::unexpected(artifact_error{true, "store artifact \"" + name + "\": " + failure->message});
}

krt::result<std::vector<api::artifact_ref>, artifact_error> collect_into_store(
    const std::string& staging_dir, const std::string& trusted_root, const filesystem_store& store,
    std::string_view ns, std::string_view uid, const artifact_limits& limits) {
  if (!art::valid_component(ns) || !art::valid_component(uid)) {
    return invalid_artifacts("invalid namespace \"" + std::string(ns) + "\" or Run uid \"" +
                             std::string(uid) + "\"");
  }
  std::vector<api::artifact_ref> refs;
  art::fd_guard staging(art::open_dir_beneath(trusted_root, staging_dir));
  if (staging.fd < 0) {
    if (errno == ENOENT) return refs;
    if (errno == ELOOP || errno == ENOTDIR)
      return invalid_artifacts("artifacts path " + staging_dir +
                               " is not a directory, or a symbolic link is on its way");
    return invalid_artifacts("artifacts directory " + staging_dir + ": " + art::sys_error(errno));
  }
  auto names = art::list_dir(staging.fd, "read artifacts directory " + staging_dir);
  if (!names) return invalid_artifacts(names.error());
  if (names->empty()) return refs;
  auto stats = check_entries(staging.fd, staging_dir, *names, limits);
  if (!stats) return krt::unexpected(std::move(stats).error());

  const std::string dest_dir = art::run_dir_of(store, ns, uid);
  std::error_code ec;
  std::filesystem::remove_all(dest_dir, ec);  // a previous partial attempt
  std::filesystem::create_directories(dest_dir, ec);
  if (ec) return krt::unexpected(artifact_error{true, "create " + dest_dir + ": " + ec.message()});
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < names->size(); ++i) {
    const std::string& n = (*names)[i];
    const bool is_dir = S_ISDIR((*stats)[i].st_mode);
    const std::uint64_t room = std::min(limits.max_artifact_bytes, limits.max_total_bytes - total);
    auto one = store_one(staging.fd, dest_dir + "/" + n, n, (*stats)[i], room, limits);
    if (!one) return krt::unexpected(std::move(one).error());
    total += one->size;
    api::artifact_ref ref;
    ref.name = n;
    ref.driver = "filesystem";
    ref.type = is_dir ? "directory" : "file";
    ref.fs_path = artifact_relative_path(ns, uid, n);
    ref.fs_volume_claim = store.volume_claim;
    ref.size_bytes = static_cast<std::int64_t>(one->size);
    ref.digest = std::move(one->digest);
    ref.content_type = std::move(one->content_type);
    ref.created_at = wall_now();
    refs.push_back(std::move(ref));
  }
  return refs;
}

}  // namespace

krt::result<std::vector<api::artifact_ref>, artifact_error> collect_artifacts(const std::string& staging_dir,
                                                                              const filesystem_store& store,
                                                                              std::string_view ns,
                                                                              std::string_view uid,
                                                                              const artifact_limits& limits,
                                                                              const std::string& trusted_root) {
  auto refs = collect_into_store(staging_dir, trusted_root, store, ns, uid, limits);
  if (!refs) delete_run_artifacts(store, ns, uid);  // nothing half-stored survives a failure
  return refs;
}

}  // namespace krt::runtimed
