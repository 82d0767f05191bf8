#include "lib/kube/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/core/strings.hpp"

namespace krt::kube {
namespace {

namespace fs = std::filesystem;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("krt-kubeconfig-" + random_suffix(8));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  load_options opts_with_env(std::map<std::string, std::string> env) {
    load_options o;
    o.env = std::move(env);
    return o;
  }
  fs::path dir_;
};

const char* two_contexts = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: Q0EtUEVN
- name: prod-cluster
  cluster:
    server: https://[::1]:8443/prefix/
    insecure-skip-tls-verify: true
    tls-server-name: api.example
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
)";

TEST_F(KubeconfigTest, CurrentContextWithTokenAndCaData) {
  auto cfg = parse_kubeconfig(two_contexts, "", "", "test");
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->context, "dev");
  EXPECT_EQ(cfg->host, "127.0.0.1");
  EXPECT_EQ(cfg->port, 6443);
  EXPECT_TRUE(cfg->tls);
  EXPECT_EQ(cfg->ca_pem, "CA-PEM");
  EXPECT_EQ(cfg->token, "dev-token");
  EXPECT_EQ(cfg->namespace_, "team-a");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  credentials creds(*cfg);
  EXPECT_EQ(creds.authorization(), "Bearer dev-token");
}

TEST_F(KubeconfigTest, ExplicitContextWithClientCertificateAndIpv6Prefix) {
  auto cfg = parse_kubeconfig(two_contexts, "prod", "", "test");
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->host, "::1");
  EXPECT_EQ(cfg->port, 8443);
  EXPECT_EQ(cfg->base_path, "/prefix");
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->tls_server_name, "api.example");
  EXPECT_EQ(cfg->client_cert_pem, "CERT");
  EXPECT_EQ(cfg->client_key_pem, "KEY");
  EXPECT_EQ(cfg->namespace_, "default");
  credentials creds(*cfg);
  EXPECT_EQ(creds.authorization(), "");
}

TEST_F(KubeconfigTest, FilesResolvedRelativeToTheKubeconfig) {
  write("ca.crt", "FILE-CA");
  write("client.crt", "FILE-CERT");
  write("client.key", "FILE-KEY");
  write("token", "  file-token\n");
  auto path = write("config", R"(current-context: c
clusters: [{name: k, cluster: {server: "http://localhost:8080", certificate-authority: ca.crt}}]
users: [{name: u, user: {client-certificate: client.crt, client-key: client.key, tokenFile: token}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
  load_options o;
  o.kubeconfig = path;
  auto cfg = load_config(o);
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_FALSE(cfg->tls);
  EXPECT_EQ(cfg->port, 8080);
  EXPECT_EQ(cfg->ca_pem, "FILE-CA");
  EXPECT_EQ(cfg->client_cert_pem, "FILE-CERT");
  EXPECT_EQ(cfg->client_key_pem, "FILE-KEY");
  credentials creds(*cfg);
  EXPECT_EQ(creds.authorization(), "Bearer file-token");
}

TEST_F(KubeconfigTest, BasicAuth) {
  auto cfg = parse_kubeconfig(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {username: admin, password: s3cret}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)",
                              "", "", "t");
  ASSERT_TRUE(cfg) << cfg.error();
  credentials creds(*cfg);
  EXPECT_EQ(creds.authorization(), "Basic " + base64_encode("admin:s3cret"));
}

// Issue #14 item 12: a token or password over plain http to another
// machine is refused, as kubectl refuses it; loopback stays allowed.
TEST_F(KubeconfigTest, CredentialsOverPlainHttpOnlyToLoopback) {
  auto config = [](const std::string& server, const std::string& user) {
    return "current-context: c\nclusters: [{name: k, cluster: {server: \"" + server +
           "\"}}]\nusers: [{name: u, user: " + user + "}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n";
  };
  for (const char* user : {"{token: t}", "{username: a, password: b}"}) {
    auto remote = parse_kubeconfig(config("http://10.0.0.5:8080", user), "", "", "t");
    ASSERT_FALSE(remote) << user;
    EXPECT_NE(remote.error().find("refusing to send credentials"), std::string::npos) << remote.error();
    EXPECT_NE(remote.error().find("https://"), std::string::npos);
    for (const char* server : {"http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080",
                               "https://10.0.0.5:6443"})
      EXPECT_TRUE(parse_kubeconfig(config(server, user), "", "", "t")) << server << " " << user;
  }
  // No credentials: nothing to protect.
  EXPECT_TRUE(parse_kubeconfig(config("http://10.0.0.5:8080", "{}"), "", "", "t"));
}

TEST_F(KubeconfigTest, KubeconfigEnvMergesFilesFirstWins) {
  auto a = write("a", R"(current-context: from-a
clusters: [{name: shared, cluster: {server: "https://a:1"}}]
contexts: [{name: from-a, context: {cluster: shared}}]
)");
  auto b = write("b", R"(current-context: from-b
clusters:
- {name: shared, cluster: {server: "https://b:2"}}
- {name: only-b, cluster: {server: "https://b:3", certificate-authority: ca-b.crt}}
contexts: [{name: from-b, context: {cluster: only-b}}]
)");
  write("ca-b.crt", "CA-B");
  auto cfg = load_config(opts_with_env({{"KUBECONFIG", a + ":" + dir_.string() + "/missing:" + b}}));
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->context, "from-a");
  EXPECT_EQ(cfg->host, "a") << "the first file's definition of a name wins";
  auto o = opts_with_env({{"KUBECONFIG", a + ":" + b}});
  o.context = "from-b";
  auto cfg_b = load_config(o);
  ASSERT_TRUE(cfg_b) << cfg_b.error();
  EXPECT_EQ(cfg_b->host, "b");
  EXPECT_EQ(cfg_b->port, 3);
  EXPECT_EQ(cfg_b->ca_pem, "CA-B") << "relative paths resolve against the file that defined them";
}

TEST_F(KubeconfigTest, InClusterWhenServiceHostIsSet) {
  auto sa = dir_ / "sa";
  fs::create_directories(sa);
  std::ofstream(sa / "token") << "sa-token";
  std::ofstream(sa / "ca.crt") << "SA-CA";
  std::ofstream(sa / "namespace") << "kruntimes-system\n";
  load_options o = opts_with_env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  o.in_cluster_dir = sa.string();
  auto cfg = load_config(o);
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->context, "in-cluster");
  EXPECT_EQ(cfg->host, "10.0.0.1");
  EXPECT_EQ(cfg->port, 443);
  EXPECT_EQ(cfg->ca_pem, "SA-CA");
  EXPECT_EQ(cfg->namespace_, "kruntimes-system");
  credentials creds(*cfg);
  EXPECT_EQ(creds.authorization(), "Bearer sa-token");
}

TEST_F(KubeconfigTest, ClearErrors) {
  auto no_config = load_config(opts_with_env({{"HOME", dir_.string()}}));
  ASSERT_FALSE(no_config);
  EXPECT_NE(no_config.error().find("krt local up"), std::string::npos) << no_config.error();

  auto bad_yaml = parse_kubeconfig("clusters: [\n  - {", "", "", "bad.yaml");
  ASSERT_FALSE(bad_yaml);
  EXPECT_NE(bad_yaml.error().find("not valid YAML"), std::string::npos) << bad_yaml.error();

  auto missing_ctx = parse_kubeconfig(two_contexts, "nope", "", "t");
  ASSERT_FALSE(missing_ctx);
  EXPECT_NE(missing_ctx.error().find("context \"nope\" not found"), std::string::npos) << missing_ctx.error();

  auto exec = parse_kubeconfig(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)",
                               "", "", "t");
  ASSERT_FALSE(exec);
  EXPECT_NE(exec.error().find("exec or auth-provider"), std::string::npos) << exec.error();

  auto bad_server = parse_kubeconfig(R"(current-context: c
clusters: [{name: k, cluster: {server: "ftp://h"}}]
contexts: [{name: c, context: {cluster: k}}]
)",
                                     "", "", "t");
  ASSERT_FALSE(bad_server);
  EXPECT_NE(bad_server.error().find("https://"), std::string::npos) << bad_server.error();

  auto bad_b64 = parse_kubeconfig(R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h", certificate-authority-data: "!!!"}}]
contexts: [{name: c, context: {cluster: k}}]
)",
                                  "", "", "t");
  ASSERT_FALSE(bad_b64);
  EXPECT_NE(bad_b64.error().find("base64"), std::string::npos) << bad_b64.error();

  load_options missing_file;
  missing_file.kubeconfig = (dir_ / "absent").string();
  auto absent = load_config(missing_file);
  ASSERT_FALSE(absent);
  EXPECT_NE(absent.error().find("cannot read kubeconfig"), std::string::npos);
}

TEST(ServerUrl, Forms) {
  rest_config c;
  ASSERT_TRUE(parse_server_url("https://example.com", c));
  EXPECT_EQ(c.port, 443);
  ASSERT_TRUE(parse_server_url("http://example.com", c));
  EXPECT_EQ(c.port, 80);
  EXPECT_FALSE(parse_server_url("https://host:99999", c));
  EXPECT_FALSE(parse_server_url("https://[::1", c));
  EXPECT_FALSE(parse_server_url("https://:80", c));
}

}  // namespace
}  // namespace krt::kube
