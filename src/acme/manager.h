// Keeps the server's certificate issued and renewed by an ACME CA: a thread that, at start and then
// hourly (or when woken, e.g. by SIGHUP), checks the certificate file — self-signed, for another
// name, or expiring within `renew_before` — and if needed obtains a new one (acme/client.h) and
// writes the key and then the chain (0600, atomically); the running server picks the new files up
// by their modification time. Failures are logged and retried with a growing delay.
// Thread model: its own thread; start/stop/wake from any one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "acme/client.h"

namespace culvert::acme {

struct ManagerOptions {
  OrderOptions order;
  std::string certificate_file;
  std::string key_file;
  std::chrono::hours renew_before{24 * 30};
  std::chrono::seconds check_interval{3600};
};

class Manager {
 public:
  explicit Manager(ManagerOptions options);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  void start();
  void stop();
  // New options (a reloaded configuration) and an immediate check.
  void update(ManagerOptions options);
  void wake();

  // Whether `certificate_file` holds a CA-issued certificate for `name` valid for longer than
  // `renew_before`.
  static bool certificate_is_current(const std::string& certificate_file, const std::string& name,
                                     std::chrono::hours renew_before);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable cv_;
  ManagerOptions options_;
  bool stopping_ = false;
  std::atomic<bool> cancelled_{false};  // ends an order in progress at the next step
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace culvert::acme
