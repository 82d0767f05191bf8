#include "local/apiserver/table.hpp"

#include <charconv>

namespace krt::local {

namespace {

struct path_step {
  enum class kind { field, index, all, filter } k = kind::field;
  std::string name;          // field
  long index = 0;            // index
  std::string filter_field;  // filter: @.<filter_field> == filter_value
  std::string filter_value;
};

krt::result<std::vector<path_step>, std::string> parse_path(std::string_view p) {
  if (p.size() >= 2 && p.front() == '{' && p.back() == '}') p = p.substr(1, p.size() - 2);
  std::vector<path_step> steps;
  std::size_t i = 0;
  if (p.empty() || p[0] != '.') return krt::unexpected(std::string("a JSONPath must start with '.'"));
  while (i < p.size()) {
    if (p[i] == '.') {
      ++i;
      std::size_t start = i;
      while (i < p.size() && p[i] != '.' && p[i] != '[') ++i;
      if (i == start) {
        if (i == p.size() && steps.empty()) break;  // "." alone: the root
        return krt::unexpected("empty field name at position " + std::to_string(start));
      }
      path_step s;
      s.name = std::string(p.substr(start, i - start));
      steps.push_back(std::move(s));
    } else if (p[i] == '[') {
      auto close = p.find(']', i);
      if (close == std::string_view::npos) return krt::unexpected(std::string("unterminated '['"));
      std::string_view inner = p.substr(i + 1, close - i - 1);
      path_step s;
      if (inner == "*") {
        s.k = path_step::kind::all;
      } else if (inner.starts_with("?(@.") && inner.ends_with(")")) {
        std::string_view cond = inner.substr(4, inner.size() - 5);
        auto eq = cond.find("==");
        if (eq == std::string_view::npos) return krt::unexpected("unsupported filter [" + std::string(inner) + "]");
        s.k = path_step::kind::filter;
        s.filter_field = std::string(cond.substr(0, eq));
        std::string_view v = cond.substr(eq + 2);
        if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
          v = v.substr(1, v.size() - 2);
        s.filter_value = std::string(v);
      } else if (inner.size() >= 2 && (inner.front() == '\'' || inner.front() == '"') && inner.back() == inner.front()) {
        s.name = std::string(inner.substr(1, inner.size() - 2));
      } else {
        auto [ptr, ec] = std::from_chars(inner.data(), inner.data() + inner.size(), s.index);
        if (ec != std::errc() || ptr != inner.data() + inner.size())
          return krt::unexpected("unsupported subscript [" + std::string(inner) + "]");
        s.k = path_step::kind::index;
      }
      steps.push_back(std::move(s));
      i = close + 1;
    } else {
      return krt::unexpected("unexpected character '" + std::string(1, p[i]) + "' at position " + std::to_string(i));
    }
  }
  return steps;
}

std::string cell_text(const bj::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return bj::serialize(v);
}

std::int64_t int_at(const bj::object& o, std::initializer_list<std::string_view> path, std::int64_t dflt = 0) {
  return int_of(field_at(o, path), dflt);
}

bj::value text(const std::string& s) { return bj::value(bj::string_view(s)); }

bj::value computed_cell(std::string_view fn, const bj::object& o) {
  if (fn == "#pod-ready" || fn == "#pod-restarts") {
    std::int64_t total = 0, ready = 0, restarts = 0;
    if (const auto* cs = field_at(o, {"spec", "containers"}); cs != nullptr && cs->is_array())
      total = static_cast<std::int64_t>(cs->as_array().size());
    if (const auto* st = field_at(o, {"status", "containerStatuses"}); st != nullptr && st->is_array())
      for (const auto& c : st->as_array()) {
        if (!c.is_object()) continue;
        if (const auto* r = c.as_object().if_contains("ready"); r != nullptr && r->is_bool() && r->as_bool()) ++ready;
        if (const auto* r = c.as_object().if_contains("restartCount"); r != nullptr && r->is_int64())
          restarts += r->as_int64();
      }
    if (fn == "#pod-restarts") return restarts;
    return text(std::to_string(ready) + "/" + std::to_string(total));
  }
  if (fn == "#pod-status") {
    if (!meta_string(o, "deletionTimestamp").empty()) return "Terminating";
    if (const auto* st = field_at(o, {"status", "containerStatuses"}); st != nullptr && st->is_array())
      for (const auto& c : st->as_array()) {
        const auto* w = c.is_object() ? field_at(c.as_object(), {"state", "waiting", "reason"}) : nullptr;
        if (w != nullptr && w->is_string() && !w->as_string().empty()) return *w;
        const auto* t = c.is_object() ? field_at(c.as_object(), {"state", "terminated", "reason"}) : nullptr;
        if (t != nullptr && t->is_string() && !t->as_string().empty()) return *t;
      }
    if (const auto* r = field_at(o, {"status", "reason"}); r != nullptr && r->is_string()) return *r;
    if (const auto* p = field_at(o, {"status", "phase"}); p != nullptr && p->is_string()) return *p;
    return "Pending";
  }
  if (fn == "#deploy-ready")
    return text(std::to_string(int_at(o, {"status", "readyReplicas"})) + "/" +
                std::to_string(int_at(o, {"spec", "replicas"}, 1)));
  if (fn == "#data-count") {
    std::int64_t n = 0;
    for (const char* f : {"data", "binaryData", "stringData"})
      if (const auto* d = o.if_contains(f); d != nullptr && d->is_object())
        n += static_cast<std::int64_t>(d->as_object().size());
    return n;
  }
  if (fn == "#event-object") {
    const auto* kind = field_at(o, {"involvedObject", "kind"});
    const auto* name = field_at(o, {"involvedObject", "name"});
    std::string k = kind != nullptr && kind->is_string() ? std::string(kind->as_string()) : "";
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text(k + "/" + (name != nullptr && name->is_string() ? std::string(name->as_string()) : ""));
  }
  if (fn == "#binding-role") {
    const auto* kind = field_at(o, {"roleRef", "kind"});
    const auto* name = field_at(o, {"roleRef", "name"});
    if (kind == nullptr || name == nullptr || !kind->is_string() || !name->is_string()) return nullptr;
    return text(std::string(kind->as_string()) + "/" + std::string(name->as_string()));
  }
  if (fn == "#service-ports") {
    std::string out;
    if (const auto* ps = field_at(o, {"spec", "ports"}); ps != nullptr && ps->is_array())
      for (const auto& p : ps->as_array()) {
        if (!p.is_object()) continue;
        if (!out.empty()) out += ",";
        out += std::to_string(int_at(p.as_object(), {"port"})) + "/";
        const auto* proto = p.as_object().if_contains("protocol");
        out += proto != nullptr && proto->is_string() ? std::string(proto->as_string()) : "TCP";
      }
    return out.empty() ? bj::value("<none>") : bj::value(out);
  }
  if (fn == "#netpol-selector") {
    const auto* sel = field_at(o, {"spec", "podSelector", "matchLabels"});
    if (sel == nullptr || !sel->is_object() || sel->as_object().empty()) return "<none>";
    std::string out;
    for (const auto& [k, v] : sel->as_object()) {
      if (!out.empty()) out += ",";
      out += std::string(k) + "=" + cell_text(v);
    }
    return text(out);
  }
  return nullptr;
}

}  // namespace

krt::result<void, std::string> check_json_path(std::string_view path) {
  auto r = parse_path(path);
  if (!r) return krt::unexpected(r.error());
  return {};
}

std::vector<const bj::value*> eval_json_path(const bj::value& root, std::string_view path) {
  auto steps = parse_path(path);
  std::vector<const bj::value*> cur{&root};
  if (!steps) return {};
  for (const auto& s : *steps) {
    std::vector<const bj::value*> next;
    for (const bj::value* v : cur) {
      switch (s.k) {
        case path_step::kind::field:
          if (v->is_object())
            if (const auto* f = v->as_object().if_contains(s.name)) next.push_back(f);
          break;
        case path_step::kind::index:
          if (v->is_array()) {
            const auto& a = v->as_array();
            long i = s.index < 0 ? static_cast<long>(a.size()) + s.index : s.index;
            if (i >= 0 && static_cast<std::size_t>(i) < a.size()) next.push_back(&a[static_cast<std::size_t>(i)]);
          }
          break;
        case path_step::kind::all:
          if (v->is_array())
            for (const auto& e : v->as_array()) next.push_back(&e);
          else if (v->is_object())
            for (const auto& [k, e] : v->as_object()) next.push_back(&e);
          break;
        case path_step::kind::filter:
          if (v->is_array())
            for (const auto& e : v->as_array()) {
              if (!e.is_object()) continue;
              const auto* f = e.as_object().if_contains(s.filter_field);
              if (f != nullptr && cell_text(*f) == s.filter_value) next.push_back(&e);
            }
          break;
      }
    }
    cur = std::move(next);
  }
  return cur;
}

bj::array table_columns(const resource_info& r) {
  bj::array cols;
  cols.push_back(bj::object{{"name", "Name"},
                            {"type", "string"},
                            {"format", "name"},
                            {"description", "Name must be unique within a namespace."},
                            {"priority", 0}});
  for (const auto& c : r.columns)
    cols.push_back(bj::object{{"name", c.name},
                              {"type", c.type == "date" ? "string" : c.type},
                              {"format", c.format},
                              {"description", c.description},
                              {"priority", c.priority}});
  return cols;
}

bj::object table_row(const resource_info& r, const bj::object& object, include_object inc, wall_time now) {
  bj::array cells;
  cells.emplace_back(meta_string(object, "name"));
  bj::value root(object);
  for (const auto& c : r.columns) {
    if (!c.json_path.empty() && c.json_path.front() == '#') {
      cells.push_back(computed_cell(c.json_path, object));
      continue;
    }
    auto found = eval_json_path(root, c.json_path);
    if (found.empty() || found.front()->is_null()) {
      cells.emplace_back(nullptr);
      continue;
    }
    if (c.type == "date") {
      const bj::value& v = *found.front();
      auto t = v.is_string() ? parse_rfc3339(v.as_string()) : std::nullopt;
      if (!t) {
        cells.emplace_back(cell_text(v));
      } else {
        auto age = std::chrono::duration_cast<std::chrono::seconds>(now - *t);
        cells.emplace_back(age.count() < 0 ? std::string("0s") : format_age(age));
      }
      continue;
    }
    if (found.size() == 1 && (c.type == "integer" || c.type == "number" || c.type == "boolean")) {
      cells.push_back(*found.front());
      continue;
    }
    std::string joined;
    for (const auto* v : found) {
      if (!joined.empty()) joined += ",";
      joined += cell_text(*v);
    }
    cells.emplace_back(joined);
  }
  bj::object row{{"cells", std::move(cells)}};
  if (inc == include_object::object) {
    row["object"] = object;
  } else if (inc == include_object::metadata) {
    bj::object meta;
    if (const auto* m = object.if_contains("metadata"); m != nullptr && m->is_object()) meta = m->as_object();
    meta.erase("managedFields");
    row["object"] = bj::object{
        {"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", std::move(meta)}};
  }
  return row;
}

bj::object make_table(const resource_info& r, bj::array rows, bool with_columns, std::string_view resource_version,
                      std::string_view continue_token) {
  bj::object meta{{"resourceVersion", resource_version}};
  if (!continue_token.empty()) meta["continue"] = continue_token;
  bj::object t{{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", std::move(meta)}};
  t["columnDefinitions"] = with_columns ? table_columns(r) : bj::array{};
  t["rows"] = std::move(rows);
  return t;
}

}  // namespace krt::local
