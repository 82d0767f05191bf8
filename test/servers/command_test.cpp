// The argument rules of the built-in Runtime Servers (servers/engine/command):
// which argv an Execute request becomes, for bash and for python.
#include "servers/engine/command.hpp"

#include <gtest/gtest.h>

#include <set>

namespace krt::servers {
namespace {

using argv_t = std::vector<std::string>;

struct fake_fs {
  std::set<std::string> files;
  bool operator()(const std::string& p) const { return files.count(p) > 0; }
};

command_request bash_req(argv_t args, std::string entrypoint = "") {
  command_request r;
  r.kind = runtime_kind::bash;
  r.interpreter = "bash";
  r.working_dir = "/w/run1";
  r.entrypoint = std::move(entrypoint);
  r.args = std::move(args);
  return r;
}

command_request python_req(argv_t args, std::string entrypoint = "") {
  command_request r = bash_req(std::move(args), std::move(entrypoint));
  r.kind = runtime_kind::python;
  r.interpreter = "python3";
  return r;
}

TEST(BashCommand, ScriptFileWinsAndGetsTheArgs) {
  fake_fs fs{{"/w/run1/script"}};
  auto argv = select_command(bash_req({"a", "b"}), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"bash", "/w/run1/script", "a", "b"}));
}

TEST(BashCommand, NamedEntrypoint) {
  fake_fs fs{{"/w/run1/bin/run.sh"}};
  auto argv = select_command(bash_req({}, "bin/run.sh"), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"bash", "/w/run1/bin/run.sh"}));
}

TEST(BashCommand, ShellDashCIsExecutedAsGiven) {
  fake_fs fs;
  auto argv = select_command(bash_req({"sh", "-c", "echo hi", "zero"}), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"sh", "-c", "echo hi", "zero"}));
  argv = select_command(bash_req({"bash", "-c", "echo hi"}), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"bash", "-c", "echo hi"}));
}

TEST(BashCommand, TwoArgsShellDashCIsNotSpecial) {
  fake_fs fs;
  auto argv = select_command(bash_req({"sh", "-c"}), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"bash", "-c", "sh\n-c\n"}));
}

TEST(BashCommand, NoArgsNoScriptFails) {
  fake_fs fs;
  auto argv = select_command(bash_req({}), fs);
  ASSERT_FALSE(argv);
  EXPECT_EQ(argv.error(), "no args or script provided");
}

TEST(BashCommand, OneArgIsAScript) {
  fake_fs fs;
  auto argv = select_command(bash_req({"echo hi; exit 3"}), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"bash", "-c", "echo hi; exit 3"}));
}

TEST(BashCommand, SeveralArgsAreJoinedByNewlines) {
  fake_fs fs;
  auto argv = select_command(bash_req({"echo a", "echo b"}), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"bash", "-c", "echo a\necho b\n"}));
}

TEST(BashCommand, ConfiguredInterpreter) {
  fake_fs fs{{"/w/run1/script"}};
  auto req = bash_req({});
  req.interpreter = "/opt/bash5/bin/bash";
  auto argv = select_command(req, fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(argv->front(), "/opt/bash5/bin/bash");
}

TEST(Entrypoint, MustStayInsideTheWorkingDirectory) {
  fake_fs fs{{"/etc/passwd"}};
  for (const char* bad : {"/etc/passwd", "../x", "a/../../x", "./.."}) {
    auto argv = select_command(bash_req({"echo"}, bad), fs);
    ASSERT_FALSE(argv) << bad;
    EXPECT_NE(argv.error().find("invalid entrypoint"), std::string::npos) << argv.error();
    auto py = select_command(python_req({"x.py"}, bad), fs);
    ASSERT_FALSE(py) << bad;
  }
  fake_fs ok{{"/w/run1/a/../b.sh"}};
  EXPECT_TRUE(select_command(bash_req({}, "a/../b.sh"), ok));
}

TEST(PythonCommand, ScriptFileWithArgs) {
  fake_fs fs{{"/w/run1/script"}};
  auto argv = select_command(python_req({"--n", "3"}), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"python3", "/w/run1/script", "--n", "3"}));
}

TEST(PythonCommand, ArgsGoToTheInterpreter) {
  fake_fs fs;
  auto argv = select_command(python_req({"-c", "print(1)"}), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"python3", "-c", "print(1)"}));
  argv = select_command(python_req({"main.py", "x"}, "missing.py"), fs);
  ASSERT_TRUE(argv);
  EXPECT_EQ(*argv, (argv_t{"python3", "main.py", "x"}));
}

TEST(PythonCommand, NothingToRunFails) {
  fake_fs fs;
  auto argv = select_command(python_req({}), fs);
  ASSERT_FALSE(argv);
  EXPECT_EQ(argv.error(), "no script or args provided");
}

TEST(PythonCommand, HandlerIsNotSupportedInTaskMode) {
  fake_fs fs{{"/w/run1/script"}};
  auto req = python_req({"x"});
  req.handler = "main.handle";
  auto argv = select_command(req, fs);
  ASSERT_FALSE(argv);
  EXPECT_NE(argv.error().find("handler \"main.handle\" is not supported"), std::string::npos) << argv.error();
}

}  // namespace
}  // namespace krt::servers
