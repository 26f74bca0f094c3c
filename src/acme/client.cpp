#include "acme/client.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

#include "acme/https.h"
#include "acme/jws.h"
#include "transport/tls/acme_challenges.h"

namespace culvert::acme {
namespace {

using json = nlohmann::json;

class Session {
 public:
  Session(const OrderOptions& o, EVP_PKEY* account, std::string& error) : o_(o), account_(account), error_(error) {
    http_.ca_file = o.ca_file;
  }

  bool start() {
    auto dir = https_request("GET", o_.directory, "", http_, error_);
    if (!dir) return false;
    if (dir->status != 200) return failed("the ACME directory answered " + std::to_string(dir->status));
    auto d = json::parse(dir->body, nullptr, false);
    if (d.is_discarded() || !d.contains("newNonce") || !d.contains("newAccount") || !d.contains("newOrder"))
      return failed("the ACME directory is not one");
    new_nonce_ = d["newNonce"];
    new_account_ = d["newAccount"];
    new_order_ = d["newOrder"];
    return true;
  }

  // POST with a fresh nonce; a badNonce error is retried with the nonce it brought.
  Result<HttpResponse> post(const std::string& url, const std::string& payload) {
    if (o_.cancelled && o_.cancelled->load()) {
      error_ = "stopped";
      return fail(Errc::tunnel_closed);
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (nonce_.empty() && !fetch_nonce()) return fail(Errc::dial_failed);
      std::string body = sign(account_, kid_, nonce_, url, payload);
      nonce_.clear();
      auto r = https_request("POST", url, body, http_, error_);
      if (!r) return r;
      nonce_ = r->header("replay-nonce");
      if (r->status == 400 && r->body.find("badNonce") != std::string::npos) continue;
      return r;
    }
    error_ = "the ACME server kept rejecting nonces";
    return fail(Errc::malformed);
  }

  bool register_account() {
    json payload = {{"termsOfServiceAgreed", true}};
    if (!o_.email.empty()) payload["contact"] = {"mailto:" + o_.email};
    auto r = post(new_account_, payload.dump());
    if (!r) return false;
    if (r->status != 200 && r->status != 201) return failed("account: " + problem(*r));
    kid_ = r->header("location");
    return !kid_.empty() || failed("account: no account URL");
  }

  Result<Issued> order() {
    json payload = {{"identifiers", {{{"type", "dns"}, {"value", o_.name}}}}};
    auto r = post(new_order_, payload.dump());
    if (!r) return fail(r.error());
    if (r->status != 201 && r->status != 200) return failure("order: " + problem(*r));
    std::string order_url = r->header("location");
    auto order = json::parse(r->body, nullptr, false);
    if (order.is_discarded() || !order.contains("authorizations") || !order.contains("finalize"))
      return failure("order: unexpected answer");
    for (const auto& authz : order["authorizations"]) {
      if (!authorize(authz.get<std::string>())) return fail(Errc::malformed);
    }
    auto key = generate_p256();
    auto csr = csr_der(key.get(), o_.name);
    json finalize = {{"csr", base64url(csr)}};
    auto f = post(order["finalize"].get<std::string>(), finalize.dump());
    if (!f) return fail(f.error());
    if (f->status != 200) return failure("finalize: " + problem(*f));
    auto state = json::parse(f->body, nullptr, false);
    for (int i = 0; i < 60 && !state.is_discarded() && state.value("status", "") != "valid"; ++i) {
      if (state.value("status", "") == "invalid") return failure("the order became invalid");
      std::this_thread::sleep_for(std::chrono::seconds(1));
      auto again = post(order_url, "");
      if (!again) return fail(again.error());
      state = json::parse(again->body, nullptr, false);
    }
    if (state.is_discarded() || state.value("status", "") != "valid" || !state.contains("certificate"))
      return failure("the order did not become valid");
    auto cert = post(state["certificate"].get<std::string>(), "");
    if (!cert) return fail(cert.error());
    if (cert->status != 200 || cert->body.find("BEGIN CERTIFICATE") == std::string::npos)
      return failure("certificate download: " + problem(*cert));
    return Issued{cert->body, private_key_pem(key.get())};
  }

 private:
  bool fetch_nonce() {
    auto r = https_request("HEAD", new_nonce_, "", http_, error_);
    if (!r) return false;
    nonce_ = r->header("replay-nonce");
    return !nonce_.empty() || failed("no nonce from the ACME server");
  }

  bool authorize(const std::string& url) {
    auto r = post(url, "");
    if (!r) return false;
    auto authz = json::parse(r->body, nullptr, false);
    if (authz.is_discarded()) return failed("authorization: unexpected answer");
    if (authz.value("status", "") == "valid") return true;
    const json* challenge = nullptr;
    for (const auto& c : authz["challenges"])
      if (c.value("type", "") == "tls-alpn-01") challenge = &c;
    if (!challenge) return failed("the CA offers no tls-alpn-01 challenge");
    std::string token = challenge->value("token", "");
    auto key = generate_p256();
    auto cert = tls_alpn_certificate(key.get(), o_.name, key_authorization(token, account_));
    tls::AcmeChallenges::instance().add(o_.name, cert.release(), key.release());
    struct Cleanup {
      const std::string& name;
      ~Cleanup() { tls::AcmeChallenges::instance().remove(name); }
    } cleanup{o_.name};
    auto answered = post(challenge->value("url", ""), "{}");
    if (!answered) return false;
    if (answered->status != 200) return failed("challenge: " + problem(*answered));
    for (int i = 0; i < 60; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(i == 0 ? 200 : 1000));
      auto poll = post(url, "");
      if (!poll) return false;
      auto state = json::parse(poll->body, nullptr, false);
      auto status = state.is_discarded() ? "" : state.value("status", "");
      if (status == "valid") return true;
      if (status == "invalid") return failed("the CA could not validate " + o_.name + ": " + poll->body.substr(0, 300));
    }
    return failed("the challenge was not validated in time");
  }

  static std::string problem(const HttpResponse& r) {
    auto p = json::parse(r.body, nullptr, false);
    std::string detail = p.is_discarded() ? r.body.substr(0, 200) : p.value("detail", p.value("type", ""));
    return std::to_string(r.status) + " " + detail;
  }
  bool failed(std::string why) {
    error_ = std::move(why);
    return false;
  }
  Result<Issued> failure(std::string why) {
    error_ = std::move(why);
    return fail(Errc::malformed);
  }

  const OrderOptions& o_;
  EVP_PKEY* account_;
  std::string& error_;
  HttpsOptions http_;
  std::string new_nonce_, new_account_, new_order_;
  std::string nonce_, kid_;
};

}  // namespace

Result<Issued> obtain_certificate(const OrderOptions& options, std::string& error) {
  auto account = load_or_create_key(options.account_key_file);
  if (!account) {
    error = "cannot read or create the ACME account key " + options.account_key_file;
    return fail(account.error());
  }
  Session session(options, account->get(), error);
  if (!session.start() || !session.register_account()) return fail(Errc::dial_failed);
  return session.order();
}

}  // namespace culvert::acme
