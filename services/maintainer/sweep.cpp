#include "services/maintainer/sweep.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "lib/api/store_hash.hpp"
#include "lib/json/writer.hpp"

namespace krt::maintainer {

namespace fs = std::filesystem;

bool valid_segment(std::string_view s) {
  if (s.empty() || s.size() > 253 || s == "." || s == "..") return false;
  return s.find_first_of(std::string_view("/\\\0", 3)) == std::string_view::npos;
}

fs::path runs_dir(const std::string& root, std::string_view ns) {
  return fs::path(root) / "namespaces" / std::string(ns) / "runs";
}

bool should_clean(const api::run& r, std::string_view store_hash) {
  if (!r.metadata.deletion_timestamp) return false;
  const auto& f = r.metadata.finalizers;
  if (std::find(f.begin(), f.end(), api::artifact_cleanup_finalizer) == f.end()) return false;
  if (!r.status.artifact_store) return false;
  auto spec = api::parse_store_snapshot(*r.status.artifact_store);
  return spec && api::store_hash(*spec) == store_hash;
}

namespace {

// "missing", "dir" or an error for anything else (a symlink above all).
krt::result<bool, std::string> real_directory(const fs::path& p) {
  std::error_code ec;
  auto st = fs::symlink_status(p, ec);
  if (ec || st.type() == fs::file_type::not_found) return false;
  if (st.type() == fs::file_type::symlink)
    return krt::unexpected(p.string() + " is a symbolic link; refusing to delete through it");
  if (st.type() != fs::file_type::directory) return krt::unexpected(p.string() + " is not a directory");
  return true;
}

}  // namespace

krt::result<bool, std::string> remove_run_dir(const std::string& root, std::string_view ns, std::string_view uid) {
  if (!valid_segment(ns)) return krt::unexpected("invalid namespace \"" + std::string(ns) + "\"");
  if (!valid_segment(uid)) return krt::unexpected("invalid run uid \"" + std::string(uid) + "\"");
  // The root itself may be a link (a mounted volume); below it nothing may be.
  fs::path p = fs::path(root);
  for (std::string_view part : {std::string_view("namespaces"), ns, std::string_view("runs")}) {
    p /= std::string(part);
    auto d = real_directory(p);
    if (!d) return krt::unexpected(d.error());
    if (!*d) return false;
  }
  p /= std::string(uid);
  std::error_code ec;
  auto st = fs::symlink_status(p, ec);
  if (ec || st.type() == fs::file_type::not_found) return false;
  // remove_all removes symlinks themselves and never descends through them.
  fs::remove_all(p, ec);
  if (ec) return krt::unexpected("deleting " + p.string() + ": " + ec.message());
  return true;
}

std::vector<std::string> find_orphans(const std::string& root, std::string_view ns, const std::set<std::string>& live,
                                      std::chrono::system_clock::time_point now, std::chrono::seconds grace) {
  std::vector<std::string> out;
  if (!valid_segment(ns)) return out;
  fs::path p = fs::path(root);
  for (std::string_view part : {std::string_view("namespaces"), ns, std::string_view("runs")}) {
    p /= std::string(part);
    auto d = real_directory(p);
    if (!d || !*d) return out;
  }
  std::error_code ec;
  for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!valid_segment(name) || live.count(name) != 0) continue;
    // lstat: the entry's own time, never a link target's.
    struct stat sb {};
    if (::lstat(it->path().c_str(), &sb) != 0) continue;
    auto mtime = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::seconds(sb.st_mtim.tv_sec) +
                                                                         std::chrono::nanoseconds(sb.st_mtim.tv_nsec)));
    if (mtime + grace < now) out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string finalizer_removal_patch(const api::run& r) {
  json::writer w;
  w.begin_object().key("metadata").begin_object().field("resourceVersion", r.metadata.resource_version);
  w.key("finalizers").begin_array();
  for (const auto& f : r.metadata.finalizers)
    if (f != api::artifact_cleanup_finalizer) w.value(f);
  w.end_array().end_object().end_object();
  return w.take();
}

}  // namespace krt::maintainer
