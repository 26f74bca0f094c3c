#include "acme/manager.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "core/file.h"

namespace culvert::acme {

Manager::Manager(ManagerOptions options) : options_(std::move(options)) {}

Manager::~Manager() { stop(); }

void Manager::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void Manager::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cancelled_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Manager::update(ManagerOptions options) {
  {
    std::lock_guard lock(mutex_);
    options_ = std::move(options);
    woken_ = true;
  }
  cv_.notify_all();
}

void Manager::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool Manager::certificate_is_current(const std::string& certificate_file, const std::string& name,
                                     std::chrono::hours renew_before) {
  auto text = read_file(certificate_file);
  if (!text) return false;
  BIO* bio = BIO_new_mem_buf(text->data(), static_cast<int>(text->size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!cert) return false;
  // Signed by its own key (init's certificate): not a CA's.
  bool self_signed = X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(cert)) == 0 &&
                     X509_verify(cert, X509_get0_pubkey(cert)) == 1;
  bool for_name = X509_check_host(cert, name.c_str(), name.size(), 0, nullptr) == 1;
  std::time_t limit = std::time(nullptr) +
                      static_cast<std::time_t>(std::chrono::duration_cast<std::chrono::seconds>(renew_before).count());
  bool lasts = X509_cmp_time(X509_get0_notAfter(cert), &limit) > 0;
  X509_free(cert);
  return !self_signed && for_name && lasts;
}

void Manager::run() {
  std::chrono::seconds retry{60};
  for (;;) {
    ManagerOptions o;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      o = options_;
      woken_ = false;
      o.order.cancelled = &cancelled_;
    }
    auto wait = o.check_interval;
    if (!certificate_is_current(o.certificate_file, o.order.name, o.renew_before)) {
      spdlog::info("acme: requesting a certificate for {} from {}", o.order.name, o.order.directory);
      std::string error;
      auto issued = obtain_certificate(o.order, error);
      if (issued && write_private_file(o.key_file, issued->key_pem) &&
          write_private_file(o.certificate_file, issued->certificate_pem)) {
        spdlog::info("acme: new certificate for {} installed", o.order.name);
        retry = std::chrono::seconds(60);
      } else {
        if (error.empty()) error = "cannot write " + o.certificate_file;
        spdlog::warn("acme: no certificate for {} yet: {} (retry in {} s)", o.order.name, error, retry.count());
        wait = retry;
        retry = std::min<std::chrono::seconds>(retry * 2, std::chrono::hours(6));
      }
    }
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, wait, [this] { return stopping_ || woken_; });
  }
}

}  // namespace culvert::acme
