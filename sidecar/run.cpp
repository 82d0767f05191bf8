// The life of one Run in runtimed: claim, execute, wait for the outcome,
// retry or finish, clean up (SPEC.md §2, §4; docs/runtimed.md).
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "lib/api/phase.hpp"
#include "lib/api/pod.hpp"
#include "lib/api/retry.hpp"
#include "lib/core/time.hpp"
#include "lib/json/writer.hpp"
#include "lib/kube/events.hpp"
#include "sidecar/daemon_internal.hpp"

namespace krt::runtimed {

using namespace asio::experimental::awaitable_operators;
using namespace internal;

// ------------------------------------------------------------------ one Run

awaitable<void> daemon::run_one(std::shared_ptr<active_run> a, bool recover) {
  try {
    co_await drive(a, recover);
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted) a->log.error("run handling failed", {{"error", e.what()}});
  }
  // Release the slot even when cancelled at shutdown (no awaits from here on).
  active_.erase(a->uid);
  if (a->takes_slot) --slots_used_;
  set_active_gauge();
  // Still Scheduled (the claim lost to another change): it may start again.
  if (informer_ && a->latest)
    if (auto cur = informer_->get(a->latest->metadata.namespace_ + "/" + a->latest->metadata.name))
      note_waiting(cur);
  start_pending();
}

awaitable<daemon::early_start> daemon::prepare_and_execute(std::shared_ptr<active_run> a) {
  early_start out;
  prepare_fn job = prepare_job(*a->latest, ws_opts_);
  auto prepared = co_await blocking<krt::result<workspace, std::string>>(std::move(job));
  if (!prepared) {
    out.prep_error = prepared.error();
    co_return out;
  }
  out.prepared = true;
  a->ws = *prepared;
  a->timing.prepared = wall_now();
  a->terminal_status.reset();
  a->need_fresh = false;
  a->fresh_seen = false;
  out.exec_error = co_await execute(a);
  out.executed = true;
  if (!out.exec_error) observe_dispatch(a->latest->spec.runtime, steady::now() - a->claimed_at);
  co_return out;
}

awaitable<void> daemon::drive(std::shared_ptr<active_run> a, bool recover) {
  const auto runtime = a->latest->spec.runtime;
  bool pre_started = false;  // the first execution began with the claim
  std::optional<std::string> pre_error;
  if (!recover) {
    if (a->latest->spec.cancel_requested) {
      a->log.info("cancelled before claim");
      (void)co_await terminal(a, api::phase::cancelled, std::string(api::reason::cancelled), "cancelled by user",
                              nullptr);
      co_return;
    }
    // The claim (write 3) is pipelined with preparing the workspace and
    // starting the execution (DESIGN §5). If the claim is lost (the Run was
    // cancelled, deleted or re-assigned meanwhile), the execution is stopped
    // and forgotten: at least once, never silently twice in one pod.
    // A Run whose claim was lost once is claimed first from then on, so a
    // claim that keeps failing (a rejected write) never repeats executions.
    a->claimed_at = steady::now();
    const bool interrupted = interrupted_.erase(a->uid) > 0;
    bool pipelined = !interrupted && !claim_first_.count(a->uid);
    bool claimed = false;
    early_start es;
    if (interrupted) {
      // An earlier start of this Run on this pod ran with a claim that never
      // became durable (runtimed restarted in between): count it as a failed
      // attempt, then go again only if the retry policy allows.
      claimed = co_await claim(a);
      if (claimed) {
        a->ws = workspace_paths(*a->latest, ws_opts_);
        bool again = co_await fail_or_retry(
            a, std::string(api::reason::execution_lost),
            "runtimed restarted after starting this Run and before its claim was recorded; that start counts as an "
            "attempt",
            nullptr);
        if (!again) co_return;
        es = co_await prepare_and_execute(a);
      }
    } else if (pipelined) {
      auto both = co_await (claim(a) && prepare_and_execute(a));
      claimed = std::get<0>(both);
      es = std::move(std::get<1>(both));
    } else {
      claimed = co_await claim(a);
      if (claimed) es = co_await prepare_and_execute(a);
    }
    if (!claimed) {
      if (es.executed && !es.exec_error) {
        a->log.info("claim lost: stopping the execution started with it");
        claim_first_.insert(a->uid);
        auto [st, resp] = co_await rc_->cancel(a->uid, rpc_timeout);
        (void)st;
        (void)resp;
      }
      co_await cleanup(a);
      co_return;
    }
    pre_started = es.executed;
    pre_error = es.exec_error;
    krt::result<workspace, std::string> prepared = es.prepared ? krt::result<workspace, std::string>(a->ws)
                                                                : krt::unexpected(es.prep_error);
    if (!prepared) {
      bool again = co_await fail_or_retry(a, std::string(api::reason::prepare_source),
                                          "prepare source: " + prepared.error(), nullptr);
      if (!again) co_return;
      // A retry prepares again below.
      prepare_fn job2 = prepare_job(*a->latest, ws_opts_);
      prepared = co_await blocking<krt::result<workspace, std::string>>(std::move(job2));
      if (!prepared) {
        (void)co_await terminal(a, api::phase::failed, std::string(api::reason::prepare_source),
                                "prepare source: " + prepared.error(), nullptr);
        co_await cleanup(a);
        co_return;
      }
    }
    if (!es.prepared) {
      a->ws = *prepared;
      a->timing.prepared = wall_now();
    }
  } else {
    a->ws = workspace_paths(*a->latest, ws_opts_);
    a->log.info("resuming a Run after restart");
  }

  bool first = true;
  for (;;) {
    auto attempt_start = steady::now();
    if (recover && first) {
      // Deadline from the Run's startTime (we do not know when this attempt began).
      if (a->latest->status.start_time) {
        auto since = wall_now() - *a->latest->status.start_time;
        attempt_start -= std::chrono::duration_cast<steady::duration>(since);
      }
      const auto* running = api::find_condition(a->latest->status.conditions, api::condition_type::running);
      if (!a->executing && running != nullptr && running->status == "False") {
        // runtimed stopped during a retry's backoff: go on with that retry.
        a->log.info("resuming a retry after restart", {{"attempt", a->latest->status.attempt}});
        if (!co_await resume_retry(a)) co_return;
        first = false;
        continue;
      }
      if (!a->executing) {
        auto [st, resp] = co_await rc_->status(a->uid, rpc_timeout);
        if (is_not_found(st)) {
          // The Runtime Server restarted too (or forgot it): the attempt is
          // lost, and the retry policy decides, as for a loss seen live.
          bool again = co_await fail_or_retry(a, std::string(api::reason::execution_lost),
                                              "runtime execution not found after runtimed restart", nullptr);
          if (!again) co_return;
          first = false;
          continue;
        }
        a->executing = true;
        a->started = true;
        if (st.ok() && is_terminal_state(resp.state())) a->terminal_status = resp;
      }
    } else {
      std::optional<std::string> err;
      bool early = pre_started;
      if (pre_started) {
        pre_started = false;
        err = pre_error;
      } else {
        a->terminal_status.reset();
        a->need_fresh = !first || recover;
        a->fresh_seen = false;
        err = co_await execute(a);
      }
      if (err) {
        if (co_await fail_or_retry(a, std::string(api::reason::runtime_execute), "runtime Execute: " + *err, nullptr))
          continue;
        co_return;
      }
      if (first && !early && a->claimed_at != steady::time_point{}) {
        observe_dispatch(runtime, steady::now() - a->claimed_at);
      }
    }
    first = false;

    auto limit = run_timeout(*a->latest);
    auto deadline = steady::time_point::max();
    if (limit) deadline = attempt_start + std::chrono::duration_cast<steady::duration>(*limit);
    auto out = co_await wait_outcome(a, deadline);
    switch (out.kind) {
      case outcome_kind::shutdown:
        co_return;  // the next runtimed resumes it
      case outcome_kind::deleted:
        a->log.info("Run deleted; stopping its execution");
        {
          auto [st, resp] = co_await rc_->cancel(a->uid, rpc_timeout);
          (void)st;
          (void)resp;
        }
        co_await cleanup(a);
        co_return;
      case outcome_kind::cancel: {
        a->log.info("cancellation requested");
        auto [st, resp] = co_await rc_->cancel(a->uid, rpc_timeout);
        (void)resp;
        if (!st.ok() && !is_not_found(st)) a->log.warn("Cancel failed", {{"error", st.error_message()}});
        (void)co_await terminal(a, api::phase::cancelled, std::string(api::reason::cancelled), "cancelled by user",
                                nullptr);
        co_await cleanup(a);
        co_return;
      }
      case outcome_kind::deadline: {
        auto [st, resp] = co_await rc_->cancel(a->uid, rpc_timeout);
        (void)st;
        (void)resp;
        std::string msg = "timeout after " + format_go_duration(*limit);
        a->log.info("execution timed out", {{"timeout", format_go_duration(*limit)}});
        if (co_await fail_or_retry(a, std::string(api::reason::timeout), msg, nullptr)) continue;
        co_return;
      }
      case outcome_kind::lost:
        if (co_await fail_or_retry(a, std::string(api::reason::execution_lost), "runtime execution not found",
                                   nullptr))
          continue;
        co_return;
      case outcome_kind::terminal:
        if (out.status.state() == pb::EXECUTION_STATE_SUCCEEDED) {
          co_await succeed(a, std::move(out.status));
          co_return;
        } else {
          std::string reason = api::classify_failure(out.status.error_message(), out.status.exit_code());
          std::string msg = api::failure_message(out.status.error_message(), out.status.stderr());
          // The server's own timeout raced ours: word it as ours.
          if (reason == api::reason::timeout && limit) msg = "timeout after " + format_go_duration(*limit);
          if (co_await fail_or_retry(a, std::move(reason), std::move(msg), &out.status)) continue;
          co_return;
        }
    }
  }
}

awaitable<bool> daemon::claim(std::shared_ptr<active_run> a) {
  auto now = wall_now();
  std::function<bool(api::run&)> mutate1 = [now](api::run& r) {
    if (r.spec.cancel_requested) return false;  // re-decided by the caller's next look
    r.status.phase_text = std::string(api::to_string(api::phase::running));
    r.status.start_time = now;
    kube::condition c;
    c.type = std::string(api::condition_type::running);
    c.status = "True";
    c.reason = std::string(api::reason::claimed);
    c.message = "claimed by runtimed";
    api::set_condition(r.status.conditions, c, now);
    return true;
  };
  bool ok = co_await write_status(a, api::phase::scheduled, std::move(mutate1));
  if (!ok) {
    // A conflicting writer may have cancelled it; settle that here.
    if (!a->deleted && a->latest && a->latest->spec.cancel_requested && is_ours(*a->latest) &&
        api::phase_of(a->latest->status) == api::phase::scheduled) {
      (void)co_await terminal(a, api::phase::cancelled, std::string(api::reason::cancelled), "cancelled by user",
                              nullptr);
    } else {
      a->log.info("not claimed: the Run changed under us");
    }
    co_return false;
  }
  a->timing.claim = now;
  a->timing.claimed = wall_now();
  a->log.info("claimed");
  co_return true;
}

awaitable<bool> daemon::write_status(std::shared_ptr<active_run> a, api::phase expected,
                                     std::function<bool(api::run&)> mutate) {
  api::run cur = *a->latest;
  for (int i = 0; i < 10 && !stopping_; ++i) {
    if (!is_ours(cur) || api::phase_of(cur.status) != expected) co_return false;
    api::run next = cur;
    if (!mutate(next)) co_return false;
    auto r = co_await kc_.patch(api::runs, cur.metadata.namespace_, cur.metadata.name, kube::patch_type::merge,
                                api::encode_status_patch(next), "status");
    if (r) {
      std::string text = std::move(*r);
      auto d = api::decode_run(text);
      if (d) {
        set_latest(*a, std::make_shared<const api::run>(std::move(*d)));
      } else {
        next.metadata.resource_version.clear();
        set_latest(*a, std::make_shared<const api::run>(std::move(next)));
      }
      co_return true;
    }
    auto code = r.error().code;
    if (code == kube::errc::not_found) {
      a->deleted = true;
      co_return false;
    }
    if (code == kube::errc::conflict) {
      auto g = co_await kc_.get(api::runs, cur.metadata.namespace_, cur.metadata.name);
      if (!g) {
        if (g.error().code == kube::errc::not_found) {
          a->deleted = true;
          co_return false;
        }
      } else {
        std::string text = std::move(*g);
        auto d = api::decode_run(text);
        if (d) {
          cur = std::move(*d);
          set_latest(*a, std::make_shared<const api::run>(cur));
          continue;
        }
      }
    } else {
      a->log.warn("status write failed; retrying", {{"error", r.error().describe()}});
    }
    asio::steady_timer t(ex_, std::chrono::milliseconds(100 * (i + 1)));
    co_await t.async_wait(asio::use_awaitable);
  }
  co_return false;
}

awaitable<std::optional<std::string>> daemon::execute(std::shared_ptr<active_run> a) {
  const api::run& r = *a->latest;
  pb::ExecuteRequest req;
  req.set_id(r.metadata.uid);
  auto& env = *req.mutable_env();
  if (r.spec.env)
    for (const auto& e : *r.spec.env)
      if (e.value) env[e.name] = *e.value;
  env["KRUNTIME_OUTPUTS"] = a->ws.outputs_path;
  if (store_) env["KRUNTIME_ARTIFACTS_DIR"] = a->ws.artifacts_dir;
  if (auto t = run_timeout(r)) req.set_timeout_seconds(std::chrono::duration_cast<std::chrono::seconds>(*t).count());
  req.set_working_dir(a->ws.working_dir);
  req.set_entrypoint(a->ws.entrypoint);
  for (const auto& arg : a->ws.args) req.add_args(arg);
  if (r.spec.mode && r.spec.mode->function) req.set_handler(r.spec.mode->function->handler);
  a->executing = true;
  a->started = false;
  a->timing.exec_started.reset();
  a->timing.exited.reset();
  auto [st, resp] = co_await rc_->execute(std::move(req), execute_timeout);
  (void)resp;
  if (!st.ok()) {
    a->executing = false;
    co_return "rpc error: code = " + std::to_string(static_cast<int>(st.error_code())) + " desc = " +
        st.error_message();
  }
  a->started = true;
  // A short process may have ended (and its push event arrived) before the
  // reply: it had started by then.
  a->timing.exec_started = a->timing.exited ? std::min(*a->timing.exited, wall_now()) : wall_now();
  if (a->need_fresh && !a->fresh_seen && !a->terminal_status) a->verify = true;
  a->log.info("execution started");
  co_return std::nullopt;
}

awaitable<daemon::outcome> daemon::wait_outcome(std::shared_ptr<active_run> a, steady::time_point deadline) {
  auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(poll_min);
  outcome out;
  for (;;) {
    a->wake.reset();
    if (stopping_) co_return out;
    if (a->deleted) {
      out.kind = outcome_kind::deleted;
      co_return out;
    }
    if (a->latest->spec.cancel_requested) {
      out.kind = outcome_kind::cancel;
      co_return out;
    }
    if (a->terminal_status) {
      out.kind = outcome_kind::terminal;
      out.status = std::move(*a->terminal_status);
      a->terminal_status.reset();
      co_return out;
    }
    if (steady::now() >= deadline) {
      out.kind = outcome_kind::deadline;
      co_return out;
    }
    bool poll = !push_live_ || a->verify;
    if (poll) {
      a->verify = false;
      auto [st, resp] = co_await rc_->status(a->uid, rpc_timeout);
      if (st.ok() && is_terminal_state(resp.state()) && !a->terminal_status) {
        a->terminal_status = std::move(resp);
        if (!a->timing.exited) a->timing.exited = wall_now();
        continue;
      }
      if (st.ok()) a->fresh_seen = true;  // Status speaks for the current execution
      if (is_not_found(st)) {
        out.kind = outcome_kind::lost;
        co_return out;
      }
      if (a->wake.is_set()) continue;
    }
    auto until = deadline;
    if (!push_live_) until = std::min(until, steady::now() + interval);
    if (until == steady::time_point::max()) {
      co_await a->wake.wait();
    } else {
      asio::steady_timer t(ex_, until);
      co_await (a->wake.wait() || t.async_wait(asio::use_awaitable));
    }
    if (!push_live_) interval = std::min<std::chrono::milliseconds>(interval * 2, poll_max);
  }
}

awaitable<bool> daemon::fail_or_retry(std::shared_ptr<active_run> a, std::string reason, std::string message,
                                      const pb::StatusResponse* output) {
  const auto runtime = a->latest->spec.runtime;
  message = api::cap_message(message);
  std::int32_t current = std::max(1, a->latest->status.attempt);
  if (!api::should_retry(a->latest->spec.retry, current, reason)) {
    auto p = api::phase_for_failure(reason);
    (void)co_await terminal(a, p, reason, message, output);
    co_await cleanup(a);
    co_return false;
  }
  // In-pod retry (SPEC §2): forget the old execution so every runtime accepts
  // the same id again; record the failure; wait out the backoff; go again.
  a->log.info("attempt failed; retrying", {{"reason", reason}, {"message", message}, {"attempt", current}});
  co_await forget(a);
  a->executing = false;
  a->started = false;
  auto now = wall_now();
  std::function<bool(api::run&)> mutate2 = [&](api::run& r) {
    r.status.attempt = current + 1;
    kube::condition c;
    c.type = std::string(api::condition_type::running);
    c.status = "False";
    c.reason = reason;
    c.message = message;
    api::set_condition(r.status.conditions, c, now);
    return true;
  };
  bool ok = co_await write_status(a, api::phase::running, std::move(mutate2));
  if (!ok) {
    co_await cleanup(a);
    co_return false;
  }
  count_retry(runtime, reason);
  record_event(*a, "Warning", "RunFailedRetrying",
               "attempt " + std::to_string(current) + " failed (" + reason + "): " + message);
  co_return co_await resume_retry(a);
}

awaitable<bool> daemon::resume_retry(std::shared_ptr<active_run> a) {
  // status.attempt is already the attempt about to run; the backoff counts
  // from the Running=False condition's lastTransitionTime.
  const std::int32_t next = std::max(2, a->latest->status.attempt);
  auto delay = api::retry_backoff(a->latest->spec.retry, next);
  wall_time from = wall_now();
  if (const auto* c = api::find_condition(a->latest->status.conditions, api::condition_type::running);
      c != nullptr && c->last_transition_time)
    from = *c->last_transition_time;
  bool ok = false;
  auto until = steady::now() + std::chrono::duration_cast<steady::duration>(from + delay - wall_now());
  for (;;) {
    a->wake.reset();
    if (stopping_) co_return false;
    if (a->deleted) {
      co_await cleanup(a);
      co_return false;
    }
    if (a->latest->spec.cancel_requested) {
      (void)co_await terminal(a, api::phase::cancelled, std::string(api::reason::cancelled), "cancelled by user",
                              nullptr);
      co_await cleanup(a);
      co_return false;
    }
    if (steady::now() >= until) break;
    asio::steady_timer t(ex_, until);
    co_await (a->wake.wait() || t.async_wait(asio::use_awaitable));
  }
  auto now2 = wall_now();
  std::function<bool(api::run&)> mutate3 = [now2](api::run& r) {
    kube::condition c;
    c.type = std::string(api::condition_type::running);
    c.status = "True";
    c.reason = std::string(api::reason::retrying);
    c.message = "Retry after failure";
    api::set_condition(r.status.conditions, c, now2);
    return true;
  };
  ok = co_await write_status(a, api::phase::running, std::move(mutate3));
  if (!ok) {
    co_await cleanup(a);
    co_return false;
  }
  record_event(*a, "Normal", "RunRetrying", "starting attempt " + std::to_string(next));
  co_return true;
}

awaitable<void> daemon::succeed(std::shared_ptr<active_run> a, pb::StatusResponse st) {
  // Outputs (and artifacts) are read off the shard.
  outputs_fn read_job = outputs_job(a->ws.outputs_path);
  auto outs = co_await blocking<outputs_result>(std::move(read_job));
  if (!outs) {
    (void)co_await terminal(a, api::phase::failed, outs.error().reason, api::cap_message(outs.error().message), &st);
    co_await cleanup(a);
    co_return;
  }
  std::vector<api::artifact_ref> refs;
  if (store_) {
    // Before anything is stored (SPEC §4): the store snapshot, then the
    // cleanup finalizer, so the artifacts can always be found and removed.
    std::string store_json = store_snapshot_json();
    std::function<bool(api::run&)> snapshot = [&store_json](api::run& r) {
      if (r.status.artifact_store) return false;
      r.status.artifact_store = store_json;
      return true;
    };
    if (!a->latest->status.artifact_store) (void)co_await write_status(a, api::phase::running, std::move(snapshot));
    if (!co_await add_artifact_finalizer(a)) {
      co_await cleanup(a);
      co_return;
    }
    for (int tries = 0;; ++tries) {
      artifact_limits lim;
      lim.max_artifact_bytes = opts_.max_artifact_bytes;
      lim.max_total_bytes = opts_.max_artifacts_bytes;
      artifacts_fn art_job = artifacts_job(a->ws.artifacts_dir, *store_, a->latest->metadata.namespace_, a->uid, lim,
                                             ws_opts_.root);
      auto got = co_await blocking<artifacts_result>(std::move(art_job));
      if (got) {
        refs = std::move(*got);
        break;
      }
      if (!got.error().transient || tries >= 5) {
        (void)co_await terminal(a, api::phase::failed, std::string(api::reason::artifact_invalid),
                                api::cap_message(got.error().message), &st);
        co_await cleanup(a);
        co_return;
      }
      a->log.warn("storing artifacts failed; retrying", {{"error", got.error().message}});
      if (!co_await sleep_or_stop(1s)) co_return;
    }
  }
  write_output_lines(*a, st);
  a->stdout_text = st.stdout();
  a->stderr_text = st.stderr();
  auto now = wall_now();
  auto values = std::move(*outs);
  std::function<bool(api::run&)> mutate4 = [&](api::run& r) {
    r.status.attempt = std::max(1, r.status.attempt);
    r.status.outputs = values;
    r.status.artifact_refs = refs;
    api::set_succeeded(r.status, now);
    return true;
  };
  bool ok = co_await write_status(a, api::phase::running, std::move(mutate4));
  record_timing(*a, api::phase::succeeded, now, ok);
  if (ok) {
    a->log.info("Run succeeded", {{"attempt", a->latest->status.attempt}});
    const auto runtime = a->latest->spec.runtime;
    count_finished(runtime, api::phase::succeeded, "", a->latest->status.start_time, now);
    if (a->latest->status.attempt > 1)
      record_event(*a, "Normal", "RunSucceeded",
                   "succeeded on attempt " + std::to_string(a->latest->status.attempt));
  }
  finished_run f;
  f.uid = a->uid;
  f.name = a->latest->metadata.name;
  f.namespace_ = a->latest->metadata.namespace_;
  f.runtime = a->latest->spec.runtime;
  f.stdout_text = a->stdout_text;
  f.stderr_text = a->stderr_text;
  f.artifacts = refs;
  finished_.put(std::move(f));
  co_await cleanup(a);
}

std::string daemon::store_snapshot_json() const {
  json::writer w;
  w.begin_object().field("driver", "filesystem");
  if (!store_->volume_claim.empty())
    w.key("filesystem").begin_object().field("volumeClaimName", store_->volume_claim).end_object();
  w.end_object();
  return w.take();
}

awaitable<bool> daemon::add_artifact_finalizer(std::shared_ptr<active_run> a) {
  for (int i = 0; i < 5; ++i) {
    const auto& m = a->latest->metadata;
    if (std::find(m.finalizers.begin(), m.finalizers.end(), api::artifact_cleanup_finalizer) != m.finalizers.end())
      co_return true;
    json::writer w;
    w.begin_object().key("metadata").begin_object().field("resourceVersion", m.resource_version);
    w.key("finalizers").begin_array();
    for (const auto& f : m.finalizers) w.value(f);
    w.value(api::artifact_cleanup_finalizer);
    w.end_array().end_object().end_object();
    auto r = co_await kc_.patch(api::runs, m.namespace_, m.name, kube::patch_type::merge, w.take());
    if (r) {
      std::string text = std::move(*r);
      auto d = api::decode_run(text);
      if (d) set_latest(*a, std::make_shared<const api::run>(std::move(*d)));
      co_return true;
    }
    if (r.error().code == kube::errc::not_found) co_return false;
    auto g = co_await kc_.get(api::runs, m.namespace_, m.name);
    if (g) {
      std::string text = std::move(*g);
      auto d = api::decode_run(text);
      if (d) set_latest(*a, std::make_shared<const api::run>(std::move(*d)));
    }
  }
  co_return false;
}

void daemon::write_output_lines(const active_run& a, const pb::StatusResponse& st) const {
  // SPEC §4 Logs: one JSON line per non-empty output line, stdout then stderr,
  // written before the terminal status so a reader of the phase finds them.
  const auto& r = *a.latest;
  auto emit = [&](std::string_view stream, const std::string& text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
      auto nl = text.find('\n', pos);
      std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
      pos = nl == std::string::npos ? text.size() : nl + 1;
      if (line.empty()) continue;
      json::writer w;
      w.begin_object()
          .field("run_uid", r.metadata.uid)
          .field("run_name", r.metadata.name)
          .field("namespace", r.metadata.namespace_)
          .field("runtime", r.spec.runtime)
          .field("pod", opts_.pod_name)
          .field("stream", stream)
          .field("message", line)
          .end_object();
      std::string out = w.take();
      out += '\n';
      std::size_t off = 0;
      while (off < out.size()) {
        auto n = ::write(1, out.data() + off, out.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
    }
  };
  emit("stdout", st.stdout());
  emit("stderr", st.stderr());
}

awaitable<bool> daemon::terminal(std::shared_ptr<active_run> a, api::phase p, std::string reason,
                                 std::string message, const pb::StatusResponse* output) {
  if (output != nullptr) {
    write_output_lines(*a, *output);
    a->stdout_text = output->stdout();
    a->stderr_text = output->stderr();
  }
  auto expected = api::phase_of(a->latest->status);
  if (expected != api::phase::scheduled) expected = api::phase::running;
  auto now = wall_now();
  std::function<bool(api::run&)> mutate5 = [&](api::run& r) {
    if (expected == api::phase::running) r.status.attempt = std::max(1, r.status.attempt);
    api::set_terminal(r.status, p, reason, message, now);
    return true;
  };
  bool ok = co_await write_status(a, expected, std::move(mutate5));
  record_timing(*a, p, now, ok);
  if (ok) {
    const auto runtime = a->latest->spec.runtime;
    a->log.info("Run finished", {{"phase", api::to_string(p)}, {"reason", reason}, {"message", message}});
    count_finished(runtime, p, reason, a->latest->status.start_time, now);
    record_event(*a, "Warning", "RunRetriesExhausted",
                 std::string(api::to_string(p)) + " after attempt " + std::to_string(a->latest->status.attempt) +
                     " (" + reason + "): " + message);
    finished_run f;
    f.uid = a->uid;
    f.name = a->latest->metadata.name;
    f.namespace_ = a->latest->metadata.namespace_;
    f.runtime = runtime;
    f.stdout_text = a->stdout_text;
    f.stderr_text = a->stderr_text;
    finished_.put(std::move(f));
  }
  co_return ok;
}

awaitable<void> daemon::forget(std::shared_ptr<active_run> a) {
  // Retried for up to 5 s: a cancelled execution may still be stopping.
  auto until = steady::now() + 5s;
  for (;;) {
    auto [st, resp] = co_await rc_->forget(a->uid, rpc_timeout);
    (void)resp;
    if (st.ok() || is_not_found(st) || st.error_code() == grpc::StatusCode::UNIMPLEMENTED) co_return;
    if (steady::now() >= until) {
      a->log.warn("Forget failed", {{"error", st.error_message()}});
      co_return;
    }
    asio::steady_timer t(ex_, 100ms);
    co_await t.async_wait(asio::use_awaitable);
  }
}

awaitable<void> daemon::cleanup(std::shared_ptr<active_run> a) {
  if (a->executing || a->started) co_await forget(a);
  a->executing = false;
  a->started = false;
  std::function<bool()> rm_job = remove_job(ws_opts_, a->uid);
  (void)co_await blocking<bool>(std::move(rm_job));
}


}  // namespace krt::runtimed
