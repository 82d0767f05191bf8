// krt completion bash|zsh: shell completion scripts for every command, its
// subcommands and flags, and Run/Runtime names (asked of the API server with
// krt itself when a name is expected).
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"

namespace krt::cli {

namespace {

struct completion_entry {
  const char* path;   // "run", "artifact list", ...
  const char* flags;  // space-separated
  const char* names;  // what positional arguments are: "runs", "runtimes", "" (nothing), "files"
};

constexpr const char* global_flags = "--kubeconfig --context -n --namespace -h --help";

constexpr completion_entry entries[] = {
    {"run",
     "-r --runtime -f --file --env --timeout --retry-attempts --retry-backoff --entrypoint --handler --repo-url "
     "--commit-sha --name --wait --detach",
     ""},
    {"get", "-o --output", "runs"},
    {"list", "-A --all-namespaces --runtime --phase -o --output", ""},
    {"describe", "", "runs"},
    {"watch", "-A --all-namespaces", "runs"},
    {"logs", "-f --follow --tail --status-port", "runs"},
    {"cancel", "", "runs"},
    {"delete", "--all --ignore-not-found", "runs"},
    {"wait", "--for --timeout", "runs"},
    {"outputs", "-o --output", "runs"},
    {"artifact list", "-o --output", "runs"},
    {"artifact download", "-o --output --status-port", "runs"},
    {"runtime list", "-A --all-namespaces -o --output", ""},
    {"runtime get", "-o --output", "runtimes"},
    {"completion", "", "shells"},
    {"bench",
     "--runs -c --concurrency --warmup -r --runtime --image --replicas --capacity --sleep -f --file --floor-samples "
     "--run-timeout --setup-timeout --keep --plot -o --output",
     ""},
    {"version", "-o --output", ""},
    {"local up", "--state-dir --port --durability --timeout --manifests --image", ""},
    {"local down", "--state-dir --timeout", ""},
    {"local status", "--state-dir", ""},
    {"local kubeconfig", "--state-dir --raw", ""},
    {"local logs", "--state-dir -f --follow --tail", ""},
    {"local serve",
     "--state-dir --address --port --durability --insecure-http --history --image --no-node --bookmark-interval "
     "--apply",
     ""},
};

constexpr const char* top_commands =
    "run get list describe watch logs cancel delete wait outputs artifact runtime completion bench local version";

std::string bash_script() {
  std::string s = R"SH(# bash completion for krt. Load it with:
#   source <(krt completion bash)
# or install it: krt completion bash > /etc/bash_completion.d/krt

__krt_names() {
  # $1: runs | runtimes. Passes on -n/--namespace, --context and --kubeconfig.
  local i ns_args=()
  for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
    case "${COMP_WORDS[i]}" in
      -n|--namespace|--context|--kubeconfig) ns_args+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}") ;;
    esac
  done
  if [[ "$1" == runs ]]; then
    "${COMP_WORDS[0]}" list "${ns_args[@]}" 2>/dev/null | awk 'NR > 1 { print $1 }'
  else
    "${COMP_WORDS[0]}" runtime list "${ns_args[@]}" 2>/dev/null | awk 'NR > 1 { print $1 }'
  fi
}

__krt_flags_for() {
  case "$1" in
)SH";
  for (const auto& e : entries)
    s += std::string("    \"") + e.path + "\") echo \"" + e.flags + " " + global_flags + "\" ;;\n";
  s += R"SH(    *) echo "-h --help" ;;
  esac
}

__krt_names_for() {
  case "$1" in
)SH";
  for (const auto& e : entries)
    s += std::string("    \"") + e.path + "\") echo \"" + e.names + "\" ;;\n";
  s += R"SH(    *) echo "" ;;
  esac
}

_krt() {
  local cur prev words cword
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  COMPREPLY=()
  # The command path: the first one or two words that are not flags.
  local cmd="" i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    [[ "$w" == "--" ]] && return 0
    [[ "$w" == -* ]] && continue
    case "${COMP_WORDS[i-1]}" in
      -n|--namespace|--context|--kubeconfig|-o|--output|-r|--runtime|-f|--file|--env|--timeout|--retry-attempts|--retry-backoff|--entrypoint|--handler|--repo-url|--commit-sha|--name|--tail|--for|--phase|--state-dir|--port|--durability|--manifests|--image|--status-port|--address|--history|--bookmark-interval|--apply|--runs|-c|--concurrency|--warmup|--replicas|--capacity|--sleep|--floor-samples|--run-timeout|--setup-timeout|--plot) continue ;;
    esac
    if [[ -z "$cmd" ]]; then
      cmd="$w"
    elif [[ "$cmd" == artifact || "$cmd" == runtime || "$cmd" == local ]] && [[ "$cmd" != *" "* ]]; then
      cmd="$cmd $w"
    else
      break
    fi
  done
  case "$prev" in
    -o|--output)
      if [[ "$cmd" == "artifact download" ]]; then COMPREPLY=($(compgen -f -- "$cur")); else COMPREPLY=($(compgen -W "table wide json yaml" -- "$cur")); fi
      return 0 ;;
    -f|--file|--kubeconfig|--state-dir|--manifests|--apply) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    -r|--runtime) COMPREPLY=($(compgen -W "$(__krt_names runtimes)" -- "$cur")); return 0 ;;
    --phase) COMPREPLY=($(compgen -W "Pending Scheduled Running Succeeded Failed Timeout Cancelled" -- "$cur")); return 0 ;;
    --for) COMPREPLY=($(compgen -W "phase=Succeeded phase=Failed phase=Running condition=Completed" -- "$cur")); return 0 ;;
    --durability) COMPREPLY=($(compgen -W "process fsync" -- "$cur")); return 0 ;;
    -n|--namespace|--context|--env|--timeout|--retry-attempts|--retry-backoff|--entrypoint|--handler|--repo-url|--commit-sha|--name|--tail|--port|--image|--status-port) return 0 ;;
  esac
  if [[ -z "$cmd" ]]; then
    COMPREPLY=($(compgen -W ")SH";
  s += top_commands;
  s += R"SH( help" -- "$cur"))
    return 0
  fi
  case "$cmd" in
    artifact) COMPREPLY=($(compgen -W "list download" -- "$cur")); return 0 ;;
    runtime) COMPREPLY=($(compgen -W "list get" -- "$cur")); return 0 ;;
    local) COMPREPLY=($(compgen -W "up down status kubeconfig logs serve" -- "$cur")); return 0 ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(__krt_flags_for "$cmd")" -- "$cur"))
    return 0
  fi
  case "$(__krt_names_for "$cmd")" in
    runs) COMPREPLY=($(compgen -W "$(__krt_names runs)" -- "$cur")) ;;
    runtimes) COMPREPLY=($(compgen -W "$(__krt_names runtimes)" -- "$cur")) ;;
    shells) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")) ;;
  esac
  return 0
}

complete -o default -F _krt krt
)SH";
  return s;
}

std::string zsh_script() {
  std::string s = R"SH(#compdef krt
# zsh completion for krt. Load it with:
#   source <(krt completion zsh)
# or put it in a directory on $fpath as _krt.

__krt_names() {
  local -a ns_args
  local i
  for ((i = 2; i < CURRENT; i++)); do
    case "${words[i]}" in
      -n|--namespace|--context|--kubeconfig) ns_args+=("${words[i]}" "${words[i+1]}") ;;
    esac
  done
  if [[ "$1" == runs ]]; then
    ${words[1]} list "${ns_args[@]}" 2>/dev/null | awk 'NR > 1 { print $1 }'
  else
    ${words[1]} runtime list "${ns_args[@]}" 2>/dev/null | awk 'NR > 1 { print $1 }'
  fi
}

_krt() {
  local -a commands
  commands=(
    'run:Create a Run and follow it to the end'
    'get:Show one Run'
    'list:List Runs'
    'describe:Show a Run in detail, with its events'
    'watch:Print a line for every change of Runs'
    'logs:Print a Run'"'"'s output'
    'cancel:Request cancellation of Runs'
    'delete:Delete Runs'
    'wait:Wait until a Run reaches a phase or condition'
    'outputs:Print a Run'"'"'s outputs'
    'artifact:List and download a Run'"'"'s artifacts'
    'runtime:List and show Runtimes'
    'completion:Print a shell completion script'
    'local:Run the embedded local control plane'
    'version:Print the version of krt'
  )
  local cmd="" i w
  for ((i = 2; i < CURRENT; i++)); do
    w="${words[i]}"
    [[ "$w" == "--" ]] && return 0
    [[ "$w" == -* ]] && continue
    case "${words[i-1]}" in
      -n|--namespace|--context|--kubeconfig|-o|--output|-r|--runtime|-f|--file|--env|--timeout|--retry-attempts|--retry-backoff|--entrypoint|--handler|--repo-url|--commit-sha|--name|--tail|--for|--phase|--state-dir|--port|--durability|--manifests|--image|--status-port|--address|--history|--bookmark-interval|--apply|--runs|-c|--concurrency|--warmup|--replicas|--capacity|--sleep|--floor-samples|--run-timeout|--setup-timeout|--plot) continue ;;
    esac
    if [[ -z "$cmd" ]]; then
      cmd="$w"
    elif [[ "$cmd" == (artifact|runtime|local) ]]; then
      cmd="$cmd $w"
    else
      break
    fi
  done
  local prev="${words[CURRENT-1]}"
  case "$prev" in
    -o|--output)
      if [[ "$cmd" == "artifact download" ]]; then _files; else compadd table wide json yaml; fi
      return ;;
    -f|--file|--kubeconfig|--state-dir|--manifests|--apply) _files; return ;;
    -r|--runtime) compadd -- $(__krt_names runtimes); return ;;
    --phase) compadd Pending Scheduled Running Succeeded Failed Timeout Cancelled; return ;;
    --for) compadd phase=Succeeded phase=Failed phase=Running condition=Completed; return ;;
    --durability) compadd process fsync; return ;;
  esac
  if [[ -z "$cmd" ]]; then
    _describe -t commands 'krt command' commands
    return
  fi
  case "$cmd" in
    artifact) compadd list download; return ;;
    runtime) compadd list get; return ;;
    local) compadd up down status kubeconfig logs serve; return ;;
  esac
  local flags="" names=""
  case "$cmd" in
)SH";
  for (const auto& e : entries)
    s += std::string("    \"") + e.path + "\") flags=\"" + e.flags + " " + global_flags + "\"; names=\"" + e.names +
         "\" ;;\n";
  s += R"SH(  esac
  if [[ "${words[CURRENT]}" == -* ]]; then
    compadd -- ${=flags}
    return
  fi
  case "$names" in
    runs) compadd -- $(__krt_names runs) ;;
    runtimes) compadd -- $(__krt_names runtimes) ;;
    shells) compadd bash zsh ;;
  esac
}

if [[ "$(basename -- "${(%):-%x}")" != _krt ]]; then
  compdef _krt krt
fi
)SH";
  return s;
}

}  // namespace

int cmd_completion(int argc, char** argv) {
  const char* usage =
      "Print a shell completion script for krt.\n\n"
      "Usage:\n  krt completion bash|zsh\n\n"
      "Examples:\n"
      "  source <(krt completion bash)            # bash, this shell\n"
      "  krt completion bash > /etc/bash_completion.d/krt\n"
      "  source <(krt completion zsh)             # zsh (after compinit)\n"
      "  krt completion zsh > \"${fpath[1]}/_krt\"\n";
  if (argc == 2 && (std::string_view(argv[1]) == "-h" || std::string_view(argv[1]) == "--help")) {
    std::cout << usage;
    return 0;
  }
  if (argc != 2) {
    std::cerr << "Error: krt completion needs one shell: bash or zsh\nRun 'krt completion --help' for usage.\n";
    return 1;
  }
  std::string_view shell = argv[1];
  if (shell == "bash") {
    std::cout << bash_script();
    return 0;
  }
  if (shell == "zsh") {
    std::cout << zsh_script();
    return 0;
  }
  std::cerr << "Error: unsupported shell \"" << shell << "\" (use bash or zsh)\n";
  return 1;
}

}  // namespace krt::cli
