#include "lib/kube/workqueue.hpp"

#include <boost/system/system_error.hpp>

namespace krt::kube {

work_queue::work_queue(executor ex, reactor::clock& clk, work_queue_options opts)
    : ex_(ex), clock_(clk), opts_(opts), ready_(ex), delay_changed_(ex), tasks_(ex, "workqueue") {}

void work_queue::start() { tasks_.spawn(delay_loop(), "delay loop"); }

awaitable<void> work_queue::stop() {
  shut_down();
  co_await tasks_.close();
}

void work_queue::add(const std::string& key) {
  if (shut_down_ || dirty_.count(key)) return;
  dirty_.insert(key);
  if (processing_.count(key)) return;  // re-queued by done()
  queue_.push_back(key);
  ready_.notify_all();
}

void work_queue::add_after(const std::string& key, reactor::clock::duration delay) {
  if (shut_down_) return;
  if (delay <= reactor::clock::duration::zero()) {
    add(key);
    return;
  }
  auto when = clock_.now() + delay;
  bool earlier = delayed_.empty() || when < delayed_.top().when;
  delayed_.push({when, key});
  if (earlier) delay_changed_.notify_all();
}

void work_queue::add_rate_limited(const std::string& key) {
  int n = failures_[key]++;
  auto delay = opts_.base_delay * (1LL << std::min(n, 30));
  if (delay > opts_.max_delay || delay < opts_.base_delay) delay = opts_.max_delay;
  add_after(key, delay);
}

int work_queue::num_requeues(const std::string& key) const {
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

awaitable<std::optional<std::string>> work_queue::get() {
  while (queue_.empty() && !shut_down_) co_await ready_.wait();
  if (queue_.empty()) co_return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  co_return key;
}

void work_queue::done(const std::string& key) {
  processing_.erase(key);
  if (dirty_.count(key) && !shut_down_) {
    queue_.push_back(key);
    ready_.notify_all();
  }
}

void work_queue::shut_down() {
  if (shut_down_) return;
  shut_down_ = true;
  ready_.set();
  delay_changed_.set();
}

awaitable<void> work_queue::delay_loop() {
  using namespace asio::experimental::awaitable_operators;
  while (!shut_down_) {
    if (delayed_.empty()) {
      co_await delay_changed_.wait();
      continue;
    }
    auto next = delayed_.top().when;
    if (next <= clock_.now()) {
      std::string key = delayed_.top().key;
      delayed_.pop();
      add(key);
      continue;
    }
    co_await (clock_.sleep_until(next) || delay_changed_.wait());
  }
}

}  // namespace krt::kube
