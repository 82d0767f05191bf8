#pragma once
// The per-Run workspace /workspace/<uid> (SPEC.md §4 "Workspace", "Execute
// request"): inline scripts, git clones, the outputs file and the artifacts
// staging directory.
//
// Affinity: none. prepare_workspace blocks (it runs git); call it off the shards.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/api/types.hpp"
#include "lib/core/result.hpp"

namespace krt::runtimed {

struct workspace_options {
  std::string root = "/workspace";
  bool artifacts = false;  // create <root>/<uid>/artifacts (0750), emptied first
  std::chrono::seconds clone_timeout{30}, checkout_timeout{15};
  std::uint64_t max_repo_bytes = 100ull << 20;
  std::size_t max_command_output = 64 << 10;
  std::string git = "git";
  // SPEC allows only https://, ssh:// and git@host:path; tests also need file://.
  bool allow_file_urls = false;
};

struct workspace {
  std::string run_dir;      // <root>/<uid>
  std::string working_dir;  // run_dir, or run_dir/repo for git sources
  std::string entrypoint;   // "script" for inline; the cleaned task entrypoint otherwise
  std::vector<std::string> args;
  std::string outputs_path;   // <working_dir>/outputs (deleted first)
  std::string artifacts_dir;  // "" unless options.artifacts
};

// Errors are the texts runtimed wraps as PrepareSource "prepare source: <err>"
// ("git clone: ...", "git checkout: ...", "write inline: ...", "mkdir: ...",
// an invalid entrypoint or repository URL).
krt::result<workspace, std::string> prepare_workspace(const api::run& r, const workspace_options& o);

// rm -rf <root>/<uid>; does nothing for a uid that would leave the root.
void remove_workspace(const workspace_options& o, std::string_view uid);

// The cleaned task entrypoint ("script" when empty), or an error when it is
// absolute or escapes the working directory.
krt::result<std::string, std::string> clean_entrypoint(std::string_view entrypoint);

}  // namespace krt::runtimed
