#include "local/apiserver/manifests.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

namespace krt::local {

namespace {

namespace fs = std::filesystem;

bj::value scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return bj::value(bj::string_view(s));  // quoted
  if (s == "null" || s == "Null" || s == "NULL" || s == "~" || s.empty()) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex int_re("^[-+]?[0-9]+$");
  static const std::regex float_re("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$");
  if (std::regex_match(s, int_re)) {
    std::int64_t v = 0;
    const char* b = s.data() + (s.front() == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(b, s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size()) return v;
  }
  if (std::regex_match(s, float_re)) return std::stod(s);
  return bj::value(bj::string_view(s));
}

bj::value to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      bj::object o;
      for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      bj::array a;
      for (const auto& e : n) a.push_back(to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar:
      return scalar(n);
    default:
      return nullptr;
  }
}

std::string str(const bj::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string to_lower_kind(std::string k) {
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return k;
}

}  // namespace

krt::result<std::vector<bj::object>, std::string> parse_manifests(const std::string& yaml_text,
                                                                  const std::string& source) {
  std::vector<bj::object> out;
  try {
    for (const auto& doc : YAML::LoadAll(yaml_text)) {
      if (!doc || doc.IsNull()) continue;
      bj::value v = to_json(doc);
      if (!v.is_object()) return krt::unexpected(source + ": a document is not a mapping");
      bj::object& o = v.as_object();
      if (str(o, "kind") == "List" || str(o, "kind").ends_with("List")) {
        if (const auto* items = o.if_contains("items"); items != nullptr && items->is_array())
          for (const auto& i : items->as_array())
            if (i.is_object()) out.push_back(i.as_object());
        continue;
      }
      out.push_back(std::move(o));
    }
  } catch (const YAML::Exception& e) {
    return krt::unexpected(source + ": invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return out;
}

namespace {

// The files a kustomization lists, in its order: `resources` entries are
// files or directories with their own kustomization (followed recursively).
// Only what our own k8s/ overlays use is understood; anything that needs
// kustomize's transformers is refused with a hint rather than half-applied.
krt::result<void, std::string> kustomize_files(const fs::path& dir, std::vector<fs::path>& out, int depth) {
  if (depth > 16) return krt::unexpected(dir.string() + ": kustomization resources nest too deeply (a cycle?)");
  fs::path k = dir / "kustomization.yaml";
  if (!fs::exists(k)) k = dir / "kustomization.yml";
  YAML::Node root;
  try {
    root = YAML::LoadFile(k.string());
  } catch (const YAML::Exception& e) {
    return krt::unexpected(k.string() + ": " + e.what());
  }
  if (!root.IsMap()) return krt::unexpected(k.string() + ": not a kustomization (expected a mapping)");
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    if (key != "apiVersion" && key != "kind" && key != "resources")
      return krt::unexpected(k.string() + ": uses \"" + key + "\", which the built-in apply does not support "
                             "(only resources); apply it with: kubectl apply -k " + dir.string());
  }
  for (const auto& r : root["resources"]) {
    fs::path p = dir / r.as<std::string>();
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      if (!fs::exists(p / "kustomization.yaml") && !fs::exists(p / "kustomization.yml"))
        return krt::unexpected(k.string() + ": resource " + p.string() + " is a directory without a kustomization");
      auto sub = kustomize_files(p, out, depth + 1);
      if (!sub) return sub;
    } else if (fs::is_regular_file(p, ec)) {
      out.push_back(p);
    } else {
      return krt::unexpected(k.string() + ": resource " + p.string() + " does not exist");
    }
  }
  return {};
}

}  // namespace

krt::result<std::vector<std::string>, std::string> manifest_files(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "kustomization.yaml") || fs::exists(fs::path(dir) / "kustomization.yml")) {
    auto listed = kustomize_files(dir, files, 0);
    if (!listed) return krt::unexpected(listed.error());
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      auto ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(e.path());
    }
    if (ec) return krt::unexpected("cannot read manifests in " + dir + ": " + ec.message());
    std::sort(files.begin(), files.end());
  }
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.lexically_normal().string());
  return out;
}

awaitable<krt::result<std::vector<std::string>, std::string>> apply_manifests(api_server& server, std::string dir) {
  auto files = manifest_files(dir);
  if (!files) co_return krt::unexpected(files.error());
  std::vector<std::string> applied;
  for (const auto& f : *files) {
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    auto docs = parse_manifests(text.str(), f);
    if (!docs) co_return krt::unexpected(docs.error());
    for (auto& obj : *docs) {
      std::string api_version = str(obj, "apiVersion"), kind = str(obj, "kind");
      resource_ptr r = server.registry().find_kind(api_version, kind);
      if (!r) co_return krt::unexpected(f + ": no resource serves " + api_version + " " + kind);
      std::string name, ns;
      if (const auto* m = obj.if_contains("metadata"); m != nullptr && m->is_object()) {
        name = str(m->as_object(), "name");
        ns = str(m->as_object(), "namespace");
      }
      if (r->namespaced && ns.empty()) ns = "default";
      std::string base = (r->group.empty() ? "/api/v1" : "/apis/" + r->group + "/" + r->version) +
                         (r->namespaced ? "/namespaces/" + ns : "") + "/" + r->plural;
      std::string label = to_lower_kind(kind) + "/" + name;
      auto current = co_await server.call("GET", base + "/" + name);
      api_server::outcome o;
      if (current.code == 404) {
        o = co_await server.call("POST", base, bj::serialize(obj), "application/json");
        label = (o.code == 201 ? "created " : "failed ") + label;
      } else {
        bj::value& meta = obj["metadata"];
        if (!meta.is_object()) meta = bj::object{};
        if (current.body.is_object())
          if (const auto* cm = current.body.as_object().if_contains("metadata"); cm != nullptr && cm->is_object())
            meta.as_object()["resourceVersion"] = str(cm->as_object(), "resourceVersion");
        o = co_await server.call("PUT", base + "/" + name, bj::serialize(obj), "application/json");
        label = (o.code == 200 ? "applied " : "failed ") + label;
      }
      if (o.code >= 300) {
        std::string why = o.body.is_object() ? str(o.body.as_object(), "message") : std::string();
        co_return krt::unexpected(f + ": " + kind + " " + name + ": " + why);
      }
      applied.push_back(label);
    }
  }
  co_return applied;
}

}  // namespace krt::local
