#pragma once
// A small in-memory API server for one namespaced resource (Leases), served
// over real sockets: paged lists, watches from a resourceVersion with
// history, bookmarks, and the faults informers must survive (compacted
// history → 410, ERROR 410 events, connections dropped mid-stream). The
// real embedded control plane is local/; this is only for client tests.
//
// Affinity: the test's io_context.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/kube/types.hpp"
#include "lib/reactor/event.hpp"
#include "test/support/scripted_server.hpp"

namespace krt::testing {

class fake_api {
 public:
  explicit fake_api(executor ex);

  std::string url() const { return server_.url(); }
  awaitable<void> stop();

  // Test-side mutations; each bumps the global resourceVersion and is
  // delivered to open watches.
  void put(const std::string& ns, const std::string& name, const std::string& holder);
  void remove(const std::string& ns, const std::string& name);
  // Adds or replaces an object that is well-formed JSON but not a valid
  // Lease (a label whose value is a number), as a careless writer could.
  void put_malformed(const std::string& ns, const std::string& name);
  // Forgets history: watches resuming from an older resourceVersion get 410.
  void compact();
  // Drops every open watch connection without finishing the response.
  void break_watches();
  // Sends an ERROR event with a 410 Status to every open watch.
  void send_gone();
  // Goes back to an older resourceVersion, as a server restored from a
  // backup would, and drops the open watches: a watch resuming from a newer
  // version gets 504 ResourceVersionTooLarge, as from the real server.
  void rewind(std::int64_t by);
  // Sends a BOOKMARK event with the current resourceVersion.
  void bookmark();

  // key ("ns/name") → resourceVersion of the current objects.
  std::map<std::string, std::string> state() const;
  std::int64_t resource_version() const { return rv_; }
  std::size_t open_watches() const { return open_watches_; }

  // Pulsed whenever a watch opens or closes (tests wait on it).
  reactor::event* observer = nullptr;

  std::int64_t page_size = 2;  // server-side page limit applied when a client asks for paging
  std::uint64_t lists = 0;
  std::uint64_t watches = 0;
  std::uint64_t gone_replies = 0;

 private:
  struct object {
    std::int64_t rv;
    std::string json;
  };
  struct history_entry {
    std::uint64_t seq;
    std::int64_t rv;
    std::string line;  // full watch event line
  };
  awaitable<void> handle(net::http_request& req, net::response_writer& w);
  awaitable<void> serve_list(net::http_request& req, net::response_writer& w);
  awaitable<void> serve_watch(net::http_request& req, net::response_writer& w);
  std::string encode(const std::string& ns, const std::string& name, const std::string& holder, std::int64_t rv);
  void record(const std::string& type, const std::string& object_json);

  std::int64_t rv_ = 100;
  std::int64_t compacted_rv_ = 0;
  std::uint64_t seq_ = 0;
  std::map<std::string, object> objects_;  // sorted: list order and paging
  std::vector<history_entry> history_;
  std::uint64_t break_gen_ = 0;
  std::uint64_t gone_gen_ = 0;
  std::size_t open_watches_ = 0;
  bool stopping_ = false;
  reactor::event changed_;
  scripted_server server_;
};

}  // namespace krt::testing
