// krt artifact list <run> | download <run> <name> [-o path]: a Run's
// artifacts (status.artifactRefs), and their bytes through the API server
// (runtimed's artifacts endpoint behind pods/proxy, docs/run-path.md),
// checked against the recorded size and sha256 digest before they land.
#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "commands.hpp"
#include "common.hpp"
#include "lib/api/pod.hpp"
#include "runs.hpp"

namespace krt::cli {

namespace fs = std::filesystem;
namespace bj = boost::json;

namespace {

awaitable<int> artifact_list_main(session& s, std::string name, out_format f) {
  auto doc = co_await get_run(s, s.ns, name);
  if (!doc) co_return fail(s, doc.error());
  if (f == out_format::json || f == out_format::yaml) {
    bj::value refs = bj::array();
    if (const auto* a = at_path(doc->json, {"status", "artifactRefs"}); a != nullptr) refs = *a;
    if (f == out_format::json)
      print_json(refs);
    else
      print_yaml(refs);
    co_return 0;
  }
  const auto& refs = doc->run.status.artifact_refs;
  if (refs.empty()) {
    std::cerr << "Run " << name << " has no artifacts.\n";
    co_return 0;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"NAME", "TYPE", "SIZE", "CONTENT-TYPE", "DIGEST"};
  rows.push_back(header);
  for (const auto& a : refs) {
    std::vector<std::string> row;
    row.push_back(a.name);
    row.push_back(a.type);
    row.push_back(std::to_string(a.size_bytes));
    row.push_back(or_dash(a.content_type));
    row.push_back(or_dash(a.digest));
    rows.push_back(std::move(row));
  }
  print_table(rows);
  co_return 0;
}

std::string hex_of(const unsigned char* p, unsigned n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

std::string to_lower_copy(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Pods that may serve the artifact: the assigned one first, then the ready
// Pods of the Runtime by name.
awaitable<std::vector<std::string>> candidate_pods(session& s, const api::run& r) {
  std::vector<std::string> out;
  if (!r.status.assigned_pod.empty()) out.push_back(r.status.assigned_pod);
  kube::list_options lo;
  lo.label_selector = std::string(api::runtime_label) + "=" + r.spec.runtime;
  auto body = co_await s.client->list(kube::resources::pods, s.ns, lo);
  if (!body) co_return out;
  boost::system::error_code ec;
  auto v = bj::parse(*body, ec);
  if (ec) co_return out;
  std::vector<std::string> ready;
  if (const auto* items = at_path(v, {"items"}); items != nullptr && items->is_array())
    for (const auto& p : items->get_array()) {
      if (str_at(p, {"status", "phase"}) != "Running" || at_path(p, {"metadata", "deletionTimestamp"}) != nullptr)
        continue;
      bool is_ready = false;
      if (const auto* cs = at_path(p, {"status", "conditions"}); cs != nullptr && cs->is_array())
        for (const auto& c : cs->get_array())
          if (str_at(c, {"type"}) == "Ready" && str_at(c, {"status"}) == "True") is_ready = true;
      auto n = str_at(p, {"metadata", "name"});
      if (is_ready && n != r.status.assigned_pod) ready.push_back(n);
    }
  std::sort(ready.begin(), ready.end());
  out.insert(out.end(), ready.begin(), ready.end());
  co_return out;
}

struct download_job {
  std::string run;
  std::string artifact;
  std::string path;  // -o, may be empty
};

awaitable<int> download_main(session& s, download_job job) {
  auto doc = co_await get_run(s, s.ns, job.run);
  if (!doc) co_return fail(s, doc.error());
  const auto& r = doc->run;
  const api::artifact_ref* ref = nullptr;
  std::string names;
  for (const auto& a : r.status.artifact_refs) {
    if (a.name == job.artifact) ref = &a;
    names += (names.empty() ? "" : ", ") + a.name;
  }
  if (ref == nullptr)
    co_return fail("run " + job.run + " has no artifact \"" + job.artifact + "\"" +
                   (names.empty() ? std::string(" (it has none)") : " (it has: " + names + ")"));
  fs::path dest = job.path.empty() ? fs::path(ref->name + (ref->type == "directory" ? ".tar.gz" : "")) : fs::path(job.path);
  if (!job.path.empty() && fs::is_directory(dest))
    dest /= fs::path(ref->name + (ref->type == "directory" ? ".tar.gz" : "")).filename();
  dest = fs::absolute(dest);
  auto pods = co_await candidate_pods(s, r);
  if (pods.empty()) co_return fail("no runtime pod can serve the artifacts of run " + job.run + " (runtime " + r.spec.runtime + " has no ready pods)");
  std::string last_error;
  for (const auto& pod : pods) {
    auto req = raw_request(s, "GET", "/api/v1/namespaces/" + s.ns + "/pods/" + pod + ":" +
                                         std::to_string(runtimed_http_port) + "/proxy/runs/" + r.metadata.uid +
                                         "/artifacts/" + ref->name);
    req.timeout = std::chrono::minutes(5);
    auto opened = co_await s.client->get_transport().open_stream(std::move(req));
    if (!opened) {
      last_error = describe(s, opened.error());
      continue;
    }
    if (!opened->body) {
      last_error = describe(s, kube::error_from_response(opened->status, opened->error_body, opened->retry_after));
      continue;
    }
    // Write next to the destination, then rename: no half files under the real name.
    std::random_device rd;
    std::string tmp_name = "." + dest.filename().string() + ".part-" + std::to_string(rd() % 1000000);
    fs::path tmp = dest.parent_path() / tmp_name;
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) co_return fail("cannot write " + tmp.string() + ": check that the directory exists and is writable");
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
    std::int64_t total = 0;
    std::vector<char> buf(65536);
    bool broken = false;
    for (;;) {
      auto n = co_await opened->body->read_some(buf.data(), buf.size(), std::chrono::minutes(2));
      if (!n) {
        last_error = describe(s, n.error());
        broken = true;
        break;
      }
      if (*n == 0) break;
      out.write(buf.data(), static_cast<std::streamsize>(*n));
      EVP_DigestUpdate(md.get(), buf.data(), *n);
      total += static_cast<std::int64_t>(*n);
    }
    out.close();
    std::error_code ec;
    if (broken || !out) {
      fs::remove(tmp, ec);
      if (!broken) co_return fail("writing " + tmp.string() + " failed (disk full?)");
      continue;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(md.get(), digest, &len);
    std::string got = "sha256:" + hex_of(digest, len);
    if (total != ref->size_bytes) {
      fs::remove(tmp, ec);
      co_return fail("artifact " + ref->name + " of run " + job.run + " is " + std::to_string(total) +
                     " bytes, but the Run recorded " + std::to_string(ref->size_bytes) + "; nothing was written");
    }
    std::string want = to_lower_copy(ref->digest);
    if (!want.empty() && want != got && "sha256:" + want != got) {
      fs::remove(tmp, ec);
      co_return fail("artifact " + ref->name + " of run " + job.run + " has digest " + got + ", but the Run recorded " +
                     ref->digest + "; nothing was written");
    }
    fs::rename(tmp, dest, ec);
    if (ec) {
      fs::remove(tmp, ec);
      co_return fail("cannot create " + dest.string() + ": " + ec.message());
    }
    std::cout << "Downloaded " << ref->name << " (" << ref->type << ", " << total << " bytes) to " << dest.string()
              << "\n";
    co_return 0;
  }
  co_return fail("cannot download artifact " + ref->name + " of run " + job.run + ": " + last_error);
}

int artifact_list(int argc, char** argv) {
  return run_view_command(argc, argv, "krt artifact list", "List a Run's artifacts.", artifact_list_main);
}

int artifact_download(int argc, char** argv) {
  cxxopts::Options o("krt artifact download",
                     "Download one artifact of a Run, verifying its size and sha256 digest.\n"
                     "  krt artifact download my-run report.txt -o /tmp/report.txt");
  o.custom_help("[flags] <run> <artifact>");
  o.add_options()("o,output", "Where to write it (a file, or a directory; default: ./<artifact name>)",
                  cxxopts::value<std::string>())("status-port",
                                                 "Accepted for compatibility with the Go krt and ignored",
                                                 cxxopts::value<int>());
  add_global_flags(o, "");
  cxxopts::ParseResult args;
  int rc = 0;
  std::vector<std::string> pos;
  if (!parse_args(o, argc, argv, args, rc, pos, 2, 2, "the name of a Run and of an artifact")) return rc;
  download_job job;
  job.run = pos[0];
  job.artifact = pos[1];
  if (args.count("output")) job.path = args["output"].as<std::string>();
  auto s = open_session(args);
  if (!s) return 1;
  return run_main(*s, download_main(*s, job));
}

void artifact_usage(std::ostream& out) {
  out << "A Run's artifacts.\n\nUsage:\n  krt artifact <command> [flags]\n\nCommands:\n"
         "  list        List a Run's artifacts\n"
         "  download    Download one artifact, verifying size and digest\n\n"
         "Run 'krt artifact <command> --help' for the flags of a command.\n";
}

}  // namespace

int cmd_artifact(int argc, char** argv) {
  if (argc < 2) {
    artifact_usage(std::cerr);
    return 1;
  }
  std::string_view sub = argv[1];
  if (sub == "-h" || sub == "--help" || sub == "help") {
    artifact_usage(std::cout);
    return 0;
  }
  if (sub == "list" || sub == "ls") return artifact_list(argc - 1, argv + 1);
  if (sub == "download" || sub == "get") return artifact_download(argc - 1, argv + 1);
  std::cerr << "Error: unknown command \"" << sub << "\" for \"krt artifact\"\n\n";
  artifact_usage(std::cerr);
  return 1;
}

}  // namespace krt::cli
