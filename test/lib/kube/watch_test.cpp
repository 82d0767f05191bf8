#include "lib/kube/watch.hpp"

#include <gtest/gtest.h>

#include "lib/json/writer.hpp"
#include "lib/kube/client.hpp"
#include "test/support/async.hpp"
#include "test/support/scripted_server.hpp"

namespace krt::kube {
namespace {

std::string lease_json(const std::string& name, const std::string& rv, const std::string& holder) {
  lease l;
  l.metadata.name = name;
  l.metadata.namespace_ = "default";
  l.metadata.uid = "uid-" + name;
  l.metadata.resource_version = rv;
  l.holder_identity = holder;
  json::writer w;
  encode(w, l);
  return w.take();
}

std::string event_line(const std::string& type, const std::string& object) {
  return R"({"type":")" + type + R"(","object":)" + object + "}\n";
}

// A realistic stream: adds, an update, a bookmark, a delete, then 410.
std::string sample_stream() {
  std::string s;
  s += event_line("ADDED", lease_json("alpha", "11", "node-a"));
  s += event_line("ADDED", lease_json("beta", "12", "node-b"));
  s += event_line("MODIFIED", lease_json("alpha", "13", "node-c \"quoted\" \\ \u00e9"));
  s += R"({"type":"BOOKMARK","object":{"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"resourceVersion":"14","annotations":{"k8s.io/initial-events-end":"true"}}}})"
       "\n";
  s += event_line("DELETED", lease_json("beta", "15", "node-b"));
  s += event_line("ERROR", testing::status_body(410, "Expired", "too old resource version: 1 (15)"));
  return s;
}

struct seen {
  event_type type;
  std::string name;
  std::string rv;
  std::string holder;
  errc error_code = errc::other;
  bool operator==(const seen&) const = default;
};

std::vector<seen> drain(watch_decoder& d) {
  std::vector<seen> out;
  for (;;) {
    auto ev = d.next();
    EXPECT_TRUE(ev) << ev.error().describe();
    if (!ev || !*ev) return out;
    const auto& e = **ev;
    seen s{e.type, "", e.resource_version, "", errc::other};
    if (e.object) {
      auto l = object_as<lease>(e.object);
      s.name = l->metadata.name;
      s.holder = l->holder_identity;
    }
    if (e.type == event_type::error) s.error_code = e.status.code;
    out.push_back(s);
  }
}

std::vector<seen> expected_events() {
  return {
      {event_type::added, "alpha", "11", "node-a"},
      {event_type::added, "beta", "12", "node-b"},
      {event_type::modified, "alpha", "13", "node-c \"quoted\" \\ \u00e9"},
      {event_type::bookmark, "", "14", ""},
      {event_type::deleted, "beta", "15", "node-b"},
      {event_type::error, "", "", "", errc::gone},
  };
}

TEST(WatchDecoder, WholeStream) {
  watch_decoder d(codec_of<lease>());
  d.feed(sample_stream());
  EXPECT_EQ(drain(d), expected_events());
  EXPECT_EQ(d.pending(), 0U);
}

TEST(WatchDecoder, SplitAtEveryByteOffset) {
  const std::string stream = sample_stream();
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    watch_decoder d(codec_of<lease>());
    std::vector<seen> got;
    d.feed(std::string_view(stream).substr(0, cut));
    for (auto& s : drain(d)) got.push_back(s);
    d.feed(std::string_view(stream).substr(cut));
    for (auto& s : drain(d)) got.push_back(s);
    ASSERT_EQ(got, expected_events()) << "cut at byte " << cut;
  }
}

TEST(WatchDecoder, OneByteAtATime) {
  const std::string stream = sample_stream();
  watch_decoder d(codec_of<lease>());
  std::vector<seen> got;
  for (char c : stream) {
    d.feed(std::string_view(&c, 1));
    for (auto& s : drain(d)) got.push_back(s);
  }
  EXPECT_EQ(got, expected_events());
}

TEST(WatchDecoder, ObjectBeforeType) {
  watch_decoder d(codec_of<lease>());
  d.feed(R"({"object":)" + lease_json("gamma", "21", "x") + R"(,"type":"MODIFIED"})" + "\n");
  auto got = drain(d);
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0], (seen{event_type::modified, "gamma", "21", "x"}));
}

TEST(WatchDecoder, BadLinesAreErrorsNotCrashes) {
  const char* bad[] = {
      "not json\n",
      "{\"type\":\"ADDED\"}\n",
      "{\"object\":{}}\n",
      "{\"type\":\"EXPLODED\",\"object\":{}}\n",
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}} trailing\n",
      "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":7}}}\n",
      "[1,2,3]\n",
  };
  for (const char* line : bad) {
    watch_decoder d(codec_of<lease>());
    d.feed(line);
    auto ev = d.next();
    EXPECT_FALSE(ev) << "accepted: " << line;
    if (!ev) {
      EXPECT_EQ(ev.error().code, errc::decode);
    }
  }
}

// A well-formed event whose object is not a valid object of the type is
// reported as undecodable, with what of its identity can be read, and the
// stream goes on (one bad object must not break every watch of its type).
TEST(WatchDecoder, AnObjectThatDoesNotDecodeIsReportedAndTheStreamGoesOn) {
  watch_decoder d(codec_of<lease>());
  d.feed(std::string("{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"bad\",\"namespace\":\"ns\","
         "\"resourceVersion\":\"9\",\"labels\":{\"x\":5}}}}\n"
         "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":7}}}\n") +
         R"({"type":"ADDED","object":)" + lease_json("good", "10", "h") + "}\n");
  auto first = d.next();
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->type, event_type::modified);
  ASSERT_TRUE((*first)->undecodable);
  EXPECT_EQ((*first)->undecodable->namespace_, "ns");
  EXPECT_EQ((*first)->undecodable->name, "bad");
  EXPECT_EQ((*first)->resource_version, "9");
  EXPECT_NE((*first)->undecodable->error.find("labels"), std::string::npos) << (*first)->undecodable->error;
  EXPECT_FALSE((*first)->object);
  auto second = d.next();
  ASSERT_TRUE(second && *second);
  ASSERT_TRUE((*second)->undecodable);
  EXPECT_EQ((*second)->undecodable->name, "");
  auto third = d.next();
  ASSERT_TRUE(third && *third);
  EXPECT_FALSE((*third)->undecodable);
  EXPECT_EQ((*third)->object.meta->name, "good");
}

TEST(WatchDecoder, OversizedEventIsAnError) {
  watch_decoder d(codec_of<lease>(), 64);
  d.feed(std::string(200, ' ') + "{");
  auto ev = d.next();
  EXPECT_FALSE(ev);
}

// ------------------------------------------------------------ over sockets

// Serves `stream` as a chunked body in two chunks cut at `cut`.
awaitable<void> serve_split(const std::string& stream, std::size_t cut, net::response_writer& w) {
  co_await w.start_stream(200, "application/json");
  if (cut > 0) co_await w.write(std::string_view(stream).substr(0, cut));
  if (cut < stream.size()) co_await w.write(std::string_view(stream).substr(cut));
  co_await w.finish();
}

awaitable<void> read_all_cuts(executor ex, const std::string& stream, std::size_t& checked) {
  std::size_t cut = 0;
  testing::scripted_server server(ex, [&](net::http_request&, net::response_writer& w) {
    return serve_split(stream, cut, w);
  });
  rest_config cfg;
  EXPECT_TRUE(parse_server_url(server.url(), cfg));
  auto c = client::connect(ex, cfg, {.qps = 0});
  EXPECT_TRUE(c);
  for (cut = 0; cut <= stream.size(); ++cut) {
    list_options lo{.resource_version = "10"};  // named: see client_test.cpp
    auto body = co_await (*c)->watch(resources::leases, "default", lo);
    EXPECT_TRUE(body);
    if (!body) break;
    watch_stream ws(std::move(*body), codec_of<lease>());
    std::vector<seen> got;
    for (;;) {
      auto ev = co_await ws.next(std::chrono::seconds(10));
      EXPECT_TRUE(ev) << ev.error().describe();
      if (!ev || !*ev) break;
      const auto& e = **ev;
      seen s{e.type, "", e.resource_version, "", errc::other};
      if (e.object) {
        s.name = object_as<lease>(e.object)->metadata.name;
        s.holder = object_as<lease>(e.object)->holder_identity;
      }
      if (e.type == event_type::error) s.error_code = e.status.code;
      got.push_back(s);
    }
    EXPECT_EQ(got, expected_events()) << "cut at byte " << cut;
    if (got != expected_events()) break;
    ++checked;
  }
  EXPECT_EQ(server.requests.size(), stream.size() + 1);
  if (!server.requests.empty()) {
    EXPECT_EQ(server.requests[0].path, "/apis/coordination.k8s.io/v1/namespaces/default/leases");
    EXPECT_NE(server.requests[0].query.find("watch=true"), std::string::npos);
    EXPECT_NE(server.requests[0].query.find("resourceVersion=10"), std::string::npos);
  }
  co_await server.stop();
}

TEST(WatchStream, ChunkedStreamCutAtEveryByteOffset) {
  asio::io_context ctx{1};
  std::size_t checked = 0;
  const std::string stream = sample_stream();
  testing::run_on(ctx, read_all_cuts(ctx.get_executor(), stream, checked));
  EXPECT_EQ(checked, stream.size() + 1);
}

awaitable<void> serve_broken(net::response_writer& w, bool mid_event) {
  co_await w.start_stream(200, "application/json");
  std::string first = event_line("ADDED", lease_json("a", "1", "h"));
  co_await w.write(first);
  if (mid_event) co_await w.write(R"({"type":"ADDED","obj)");
  w.abort();
}

awaitable<void> read_broken(executor ex, bool mid_event, std::vector<std::string>& outcome) {
  testing::scripted_server server(ex, [mid_event](net::http_request&, net::response_writer& w) {
    return serve_broken(w, mid_event);
  });
  rest_config cfg;
  EXPECT_TRUE(parse_server_url(server.url(), cfg));
  auto c = client::connect(ex, cfg, {.qps = 0});
  list_options lo;
  auto body = co_await (*c)->watch(resources::leases, "", lo);
  EXPECT_TRUE(body);
  if (body) {
    watch_stream ws(std::move(*body), codec_of<lease>());
    for (;;) {
      auto ev = co_await ws.next(std::chrono::seconds(10));
      if (!ev) {
        outcome.push_back("error:" + std::string(to_string(ev.error().code)));
        break;
      }
      if (!*ev) {
        outcome.push_back("end");
        break;
      }
      outcome.push_back(std::string(to_string((*ev)->type)));
    }
  }
  co_await server.stop();
}

TEST(WatchStream, ServerClosingTheStreamIsAnErrorNotAHang) {
  for (bool mid_event : {false, true}) {
    asio::io_context ctx{1};
    std::vector<std::string> outcome;
    testing::run_on(ctx, read_broken(ctx.get_executor(), mid_event, outcome));
    ASSERT_EQ(outcome.size(), 2U);
    EXPECT_EQ(outcome[0], "ADDED");
    EXPECT_EQ(outcome[1], "error:TransportError") << "mid_event=" << mid_event;
  }
}

}  // namespace
}  // namespace krt::kube
