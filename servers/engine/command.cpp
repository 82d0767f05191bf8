#include "servers/engine/command.hpp"

#include <sys/stat.h>

#include <string_view>

namespace krt::servers {
namespace {

// The entrypoint's path inside the working directory, or an error when it is
// absolute or climbs out of it (a Runtime Server stays inside working_dir).
result<std::string, std::string> entrypoint_path(const command_request& req) {
  std::string ep = req.entrypoint.empty() ? std::string("script") : req.entrypoint;
  if (ep.front() == '/')
    return unexpected("invalid entrypoint \"" + ep + "\": it must be a path relative to the working directory");
  int depth = 0;
  std::string_view rest = ep;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part == "..") {
      if (--depth < 0)
        return unexpected("invalid entrypoint \"" + ep + "\": it must not leave the working directory");
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  std::string dir = req.working_dir;
  if (!dir.empty() && dir.back() != '/') dir += '/';
  return dir + ep;
}

result<std::vector<std::string>, std::string> bash_command(const command_request& req, const std::string& script,
                                                           bool script_exists) {
  const auto& args = req.args;
  std::vector<std::string> argv;
  if (script_exists) {
    argv.push_back(req.interpreter);
    argv.push_back(script);
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  if (args.size() >= 3 && (args[0] == "sh" || args[0] == "bash") && args[1] == "-c") return args;
  if (args.empty()) return unexpected(std::string("no args or script provided"));
  argv.push_back(req.interpreter);
  argv.push_back("-c");
  if (args.size() == 1) {
    argv.push_back(args[0]);
    return argv;
  }
  std::string joined;
  for (const auto& a : args) {
    joined += a;
    joined += '\n';
  }
  argv.push_back(std::move(joined));
  return argv;
}

result<std::vector<std::string>, std::string> python_command(const command_request& req, const std::string& script,
                                                             bool script_exists) {
  std::vector<std::string> argv{req.interpreter};
  if (script_exists) argv.push_back(script);
  else if (req.args.empty()) return unexpected(std::string("no script or args provided"));
  argv.insert(argv.end(), req.args.begin(), req.args.end());
  return argv;
}

}  // namespace

result<std::vector<std::string>, std::string> select_command(const command_request& req,
                                                             const std::function<bool(const std::string&)>& is_file) {
  if (req.kind == runtime_kind::python && !req.handler.empty())
    return unexpected("handler \"" + req.handler +
                      "\" is not supported: this Runtime Server runs tasks only (leave handler empty and pass a "
                      "script or args)");
  auto script = entrypoint_path(req);
  if (!script) return unexpected(std::move(script).error());
  bool exists = is_file(*script);
  if (req.kind == runtime_kind::bash) return bash_command(req, *script, exists);
  return python_command(req, *script, exists);
}

bool regular_file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace krt::servers
