// A tiny container for the local node's tests: an HTTP server on
// $POD_IP:$PORT (127.0.0.1 without POD_IP) answering /healthz (200) and /ready (200 once the file
// $READY_FILE exists, if set), logging each request to stdout and its start
// and stop to stderr; SIGTERM makes it log "terminating" and exit 0.
// Plain POSIX sockets, so it builds in a second.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

volatile std::sig_atomic_t stop = 0;
void on_term(int) { stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  const char* port_env = std::getenv("PORT");
  int port = port_env != nullptr ? std::atoi(port_env) : 8080;
  const char* ready_file = std::getenv("READY_FILE");
  std::signal(SIGTERM, on_term);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  const char* ip = std::getenv("POD_IP");
  if (ip == nullptr || ::inet_pton(AF_INET, ip, &sa.sin_addr) != 1) sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 16) != 0) {
    std::fprintf(stderr, "testpod: cannot listen on %d: %s\n", port, std::strerror(errno));
    return 2;
  }
  std::fprintf(stderr, "testpod: listening on %d (args:", port);
  for (int i = 1; i < argc; ++i) std::fprintf(stderr, " %s", argv[i]);
  std::fprintf(stderr, ")\n");
  while (!stop) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    char buf[2048];
    ssize_t n = ::read(c, buf, sizeof buf - 1);
    std::string req(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    std::string path = req.substr(req.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    path = path.substr(0, path.find('?'));
    struct stat st;
    bool ready = ready_file == nullptr || ::stat(ready_file, &st) == 0;
    bool ok = path == "/healthz" || (path == "/ready" && ready);
    std::printf("request %s -> %d\n", path.c_str(), ok ? 200 : 503);
    std::string body = ok ? "ok\n" : "not ready\n";
    std::string resp = std::string("HTTP/1.1 ") + (ok ? "200 OK" : "503 Service Unavailable") +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    (void)::write(c, resp.data(), resp.size());
    ::close(c);
  }
  std::fprintf(stderr, "testpod: terminating\n");
  return 0;
}
