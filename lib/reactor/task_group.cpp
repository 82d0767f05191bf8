#include "lib/reactor/task_group.hpp"

#include "lib/core/result.hpp"

#include <boost/system/system_error.hpp>
#include <cassert>
#include <cstdio>

namespace krt::reactor {
namespace {

unhandled_exception_hook& hook_slot() {
  static unhandled_exception_hook hook;
  return hook;
}

bool is_cancellation(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& err) {
    return err.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

}  // namespace

void set_unhandled_exception_hook(unhandled_exception_hook hook) { hook_slot() = std::move(hook); }

void report_unhandled_exception(std::string_view group, std::string_view task, std::exception_ptr e) {
  if (auto& hook = hook_slot()) {
    hook(group, task, e);
    return;
  }
  std::string what = describe_exception(e);
  std::fprintf(stderr, "task %.*s/%.*s failed: %s\n", static_cast<int>(group.size()), group.data(),
               static_cast<int>(task.size()), task.data(), what.c_str());
}

task_group::task_group(executor ex, std::string name)
    : ex_(std::move(ex)), name_(std::move(name)), idle_(ex_) {
  idle_.set();
}

task_group::~task_group() { assert(tasks_.empty() && "task_group destroyed with running tasks"); }

bool task_group::spawn(awaitable<void> task, std::string_view what) {
  if (closed_) return false;
  auto it = tasks_.emplace(tasks_.end());
  it->what = what;
  idle_.reset();
  asio::co_spawn(ex_, std::move(task),
                 asio::bind_cancellation_slot(
                     it->signal.slot(), [this, it](std::exception_ptr e) { finished(it, e); }));
  return true;
}

void task_group::finished(std::list<entry>::iterator it, std::exception_ptr e) {
  if (e && !(closed_ && is_cancellation(e))) report_unhandled_exception(name_, it->what, e);
  tasks_.erase(it);
  if (tasks_.empty()) idle_.set();
}

awaitable<void> task_group::close(asio::cancellation_type type) {
  if (!closed_) {
    closed_ = true;
    // Emitting may complete a task synchronously and erase it: advance first.
    for (auto it = tasks_.begin(); it != tasks_.end();) {
      auto cur = it++;
      cur->signal.emit(type);
    }
  }
  // Wait for the tasks even when our caller is cancelled meanwhile (or
  // already was): returning early would let the group be destroyed while its
  // cancelled tasks still run. The caller's cancellation is reported once
  // they have finished.
  bool cancelled = false;
  for (;;) {
    try {
      co_await drain();
      break;
    } catch (const boost::system::system_error& e) {
      if (e.code() != asio::error::operation_aborted) throw;
      cancelled = true;
    }
    co_await asio::this_coro::reset_cancellation_state();
  }
  if (cancelled) throw boost::system::system_error(asio::error::operation_aborted);
}

awaitable<void> task_group::drain() {
  while (!tasks_.empty()) co_await idle_.wait();
}

}  // namespace krt::reactor
