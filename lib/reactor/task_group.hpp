#pragma once
// A gate for background coroutines (STYLE rule 6: no bare `detached`).
// spawn() starts a coroutine with its own cancellation signal; close() refuses
// new work, emits cancellation to every running task and waits until all have
// finished. An exception escaping a task is reported through the
// unhandled-exception hook (lib/obs installs one that logs a JSON line), never
// lost and never fatal.
//
// Affinity: per-shard. Construct, spawn and close on one shard's executor.
// Lifetime: close() must have completed before destruction if tasks ran.

#include <cstddef>
#include <exception>
#include <functional>
#include <list>
#include <string>
#include <string_view>

#include "lib/reactor/asio.hpp"
#include "lib/reactor/event.hpp"

namespace krt::reactor {

class task_group {
 public:
  explicit task_group(executor ex, std::string name = "tasks");
  ~task_group();
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // Starts `task`; returns false (and drops it unstarted) once closed.
  bool spawn(awaitable<void> task, std::string_view what);

  // Stops accepting, cancels every task with `type`, waits for all to finish.
  // Idempotent; concurrent callers all wait. A caller cancelled meanwhile
  // still waits for the tasks, then gets operation_aborted.
  awaitable<void> close(asio::cancellation_type type = asio::cancellation_type::terminal);
  // Waits until no task is running, without cancelling anything.
  awaitable<void> drain();

  bool closed() const { return closed_; }
  std::size_t size() const { return tasks_.size(); }
  const executor& get_executor() const { return ex_; }

 private:
  struct entry {
    asio::cancellation_signal signal;
    std::string what;
  };
  void finished(std::list<entry>::iterator it, std::exception_ptr e);

  executor ex_;
  std::string name_;
  std::list<entry> tasks_;
  event idle_;
  bool closed_ = false;
};

// Called with (group name, task description, exception) for every exception
// that escapes a task other than cancellation at close. The default prints one
// line to stderr. Set once at startup, before any shard runs.
using unhandled_exception_hook =
    std::function<void(std::string_view group, std::string_view task, std::exception_ptr)>;
void set_unhandled_exception_hook(unhandled_exception_hook hook);
void report_unhandled_exception(std::string_view group, std::string_view task, std::exception_ptr e);

}  // namespace krt::reactor
