#include "lib/kube/leader_election.hpp"

#include <unistd.h>

#include <boost/system/system_error.hpp>
#include <cstdio>
#include <random>

#include "lib/core/strings.hpp"
#include "lib/json/writer.hpp"

namespace krt::kube {
namespace {

reactor::clock::duration jitter(std::chrono::seconds period) {
  // client-go's JitterUntil with factor 1.2 adds up to 1.2×period; we add up
  // to 20% so candidates do not retry in lockstep.
  thread_local std::mt19937 gen{std::random_device{}()};
  std::uniform_real_distribution<double> f(1.0, 1.2);
  return std::chrono::duration_cast<reactor::clock::duration>(std::chrono::duration<double>(
      static_cast<double>(period.count()) * f(gen)));
}

std::string encode_lease(const lease& l) {
  json::writer w;
  encode(w, l);
  return w.take();
}

}  // namespace

std::string candidate_identity(std::string_view fallback) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string name = env_or("POD_NAME", host[0] != '\0' ? std::string(host) : std::string(fallback));
  std::random_device rd;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", rd());
  return name + "_" + suffix;
}

leader_elector::leader_elector(client& c, leader_election_options opts, leader_callbacks cb)
    : client_(c), opts_(std::move(opts)), cb_(std::move(cb)), log_("leader-election") {
  log_ = log_.with("lease", opts_.lease_namespace + "/" + opts_.lease_name).with("identity", opts_.identity);
}

void leader_elector::set_leading(bool leading) {
  if (leading == leading_) return;
  leading_ = leading;
  if (leading) {
    log_.info("became leader");
    if (cb_.on_started_leading) cb_.on_started_leading();
  } else {
    log_.warn("lost leadership");
    if (cb_.on_stopped_leading) cb_.on_stopped_leading();
  }
}

awaitable<bool> leader_elector::try_acquire_or_renew() {
  auto& clk = client_.get_clock();
  const auto& codec = codec_of<lease>();
  auto now_wall = clk.wall();
  auto got = co_await get_as<lease>(client_, opts_.lease_namespace, opts_.lease_name);
  if (!got) {
    if (got.error().code != errc::not_found) {
      log_.warn("cannot read lease", {{"error", got.error().describe()}});
      co_return false;
    }
    lease fresh;
    fresh.metadata.name = opts_.lease_name;
    fresh.metadata.namespace_ = opts_.lease_namespace;
    fresh.holder_identity = opts_.identity;
    fresh.lease_duration_seconds = static_cast<std::int32_t>(opts_.lease_duration.count());
    fresh.acquire_time = now_wall;
    fresh.renew_time = now_wall;
    auto created = co_await client_.create(*codec.res, opts_.lease_namespace, encode_lease(fresh));
    if (!created) {
      log_.info("lease create lost", {{"error", created.error().describe()}});
      co_return false;
    }
    observed_holder_ = opts_.identity;
    observed_renew_ = now_wall;
    observed_at_ = clk.now();
    if (cb_.on_new_leader) cb_.on_new_leader(opts_.identity);
    co_return true;
  }
  const lease& current = **got;
  // A record we have not seen before restarts our expiry clock.
  if (current.holder_identity != observed_holder_ || current.renew_time != observed_renew_ ||
      current.metadata.resource_version != observed_rv_) {
    if (current.holder_identity != observed_holder_ && cb_.on_new_leader && !current.holder_identity.empty())
      cb_.on_new_leader(current.holder_identity);
    observed_holder_ = current.holder_identity;
    observed_renew_ = current.renew_time;
    observed_rv_ = current.metadata.resource_version;
    observed_at_ = clk.now();
  }
  auto duration = current.lease_duration_seconds > 0 ? std::chrono::seconds(current.lease_duration_seconds)
                                                     : opts_.lease_duration;
  bool held_by_other = !current.holder_identity.empty() && current.holder_identity != opts_.identity;
  if (held_by_other && observed_at_ + duration > clk.now()) co_return false;

  lease next = current;
  next.holder_identity = opts_.identity;
  next.lease_duration_seconds = static_cast<std::int32_t>(opts_.lease_duration.count());
  next.renew_time = now_wall;
  if (current.holder_identity != opts_.identity) {
    next.acquire_time = now_wall;
    next.lease_transitions = current.lease_transitions + 1;
  }
  auto updated = co_await client_.update(*codec.res, opts_.lease_namespace, opts_.lease_name, encode_lease(next));
  if (!updated) {
    if (updated.error().code != errc::conflict) log_.warn("cannot update lease", {{"error", updated.error().describe()}});
    co_return false;
  }
  auto decoded = decode_object(codec, *updated);
  observed_holder_ = opts_.identity;
  observed_renew_ = next.renew_time;
  observed_rv_ = decoded ? decoded->meta->resource_version : std::string();
  observed_at_ = clk.now();
  co_return true;
}

awaitable<void> leader_elector::release() {
  const auto& codec = codec_of<lease>();
  auto got = co_await get_as<lease>(client_, opts_.lease_namespace, opts_.lease_name);
  if (!got || (*got)->holder_identity != opts_.identity) co_return;
  lease next = **got;
  next.holder_identity.clear();
  next.lease_duration_seconds = 1;
  next.renew_time = client_.get_clock().wall();
  auto r = co_await client_.update(*codec.res, opts_.lease_namespace, opts_.lease_name, encode_lease(next));
  if (r) log_.info("released lease");
}

awaitable<void> leader_elector::run() {
  auto& clk = client_.get_clock();
  try {
    for (;;) {
      // Acquire.
      while (!co_await try_acquire_or_renew()) co_await clk.sleep_for(jitter(opts_.retry_period));
      set_leading(true);
      // Renew until a renewal deadline passes without success.
      auto last_renew = clk.now();
      for (;;) {
        co_await clk.sleep_for(opts_.retry_period);
        if (co_await try_acquire_or_renew()) {
          last_renew = clk.now();
          continue;
        }
        // Someone else holds it now (we were too slow): step down at once.
        if (!observed_holder_.empty() && observed_holder_ != opts_.identity) break;
        if (clk.now() - last_renew >= opts_.renew_deadline) break;
      }
      set_leading(false);
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted) throw;
  }
  // Cancelled (shutdown): step down, and let a successor in at once.
  if (leading_ && opts_.release_on_cancel) {
    co_await asio::this_coro::reset_cancellation_state();
    co_await release();
  }
  set_leading(false);
}

}  // namespace krt::kube
