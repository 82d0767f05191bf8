#include <cxxopts.hpp>
#include <iostream>

#include "commands.hpp"
#include "krt_build_info.hpp"
#include "krt_commit.hpp"
#include "lib/json/writer.hpp"

namespace krt::cli {

int cmd_version(int argc, char** argv) {
  cxxopts::Options opts("krt version", "Print the version of krt and how it was built.");
  opts.add_options()("o,output", "Output format: text or json", cxxopts::value<std::string>()->default_value("text"))(
      "h,help", "Show this help");
  cxxopts::ParseResult args;
  try {
    args = opts.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "Error: " << e.what() << "\nRun 'krt version --help' for usage.\n";
    return 1;
  }
  if (args.count("help")) {
    std::cout << opts.help() << "\n";
    return 0;
  }
  if (!args.unmatched().empty()) {
    std::cerr << "Error: unexpected argument \"" << args.unmatched().front()
              << "\": krt version takes no arguments\nRun 'krt version --help' for usage.\n";
    return 1;
  }
  const auto& format = args["output"].as<std::string>();
  if (format == "json") {
    json::writer w;
    w.begin_object()
        .field("version", KRT_VERSION)
        .field("commit", KRT_GIT_COMMIT_TAG)
        .field("built", KRT_BUILD_DATE)
        .field("buildType", KRT_BUILD_TYPE)
        .field("compiler", KRT_COMPILER)
        .end_object();
    std::cout << json::pretty(w.str()) << "\n";
    return 0;
  }
  if (format != "text") {
    std::cerr << "Error: unsupported output format \"" << format << "\" (use text or json)\n";
    return 1;
  }
  // The Go krt's format (SPEC §9), so scripts that parse it keep working.
  std::cout << "krt " << KRT_VERSION << "\ncommit: " << KRT_GIT_COMMIT_TAG << "\nbuilt: " << KRT_BUILD_DATE << "\n";
  return 0;
}

}  // namespace krt::cli
