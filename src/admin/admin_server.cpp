#include "admin/admin_server.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <fstream>
#include <sstream>

#include "admin/qr.h"
#include "admin/users.h"
#include "core/await.h"
#include "core/tcp_stream.h"
#include "crypto/crypto.h"

namespace culvert::admin {
namespace {

using namespace asio::experimental::awaitable_operators;

std::string json_response(int status, const std::string& body) {
  return http_response(status, "application/json", body + "\n");
}

std::string error(int status, const std::string& message) {
  return json_response(status, "{\"error\":" + json_string(message) + "}");
}

bool token_matches(const std::string& header, const std::string& token) {
  constexpr std::string_view kBearer = "Bearer ";
  if (!header.starts_with(kBearer) || token.empty()) return false;
  auto given = std::string_view(header).substr(kBearer.size());
  // Constant time in the token's length; a wrong length fails without comparing bytes.
  if (given.size() != token.size()) return false;
  return CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

}  // namespace

Result<std::string> load_or_create_token(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::string token;
    std::getline(in, token);
    if (token.size() >= 16) return token;
    return fail(Errc::bad_config);
  }
  std::array<std::uint8_t, 32> bytes{};
  crypto::random_bytes(bytes);
  auto token = crypto::base64url_encode(bytes);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return fail(Errc::bad_config);
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) return fail(Errc::bad_config);
  return token;
}

AdminServer::AdminServer(asio::io_context& io, ServerConfig config, std::unique_ptr<UserStore> store,
                         AdminOptions options)
    : io_(io), config_(std::move(config)), store_(std::move(store)), options_(std::move(options)), acceptor_(io) {}

Result<void> AdminServer::start(std::string& message) {
  if (auto listening = listen_on(acceptor_, options_.listen, message); !listening) return listening;
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return {};
}

void AdminServer::stop() {
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> AdminServer::accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (stopping_) co_return;
    if (ec) continue;
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::serve(asio::ip::tcp::socket socket) {
  try {
    TcpStream stream(std::move(socket));
    asio::steady_timer deadline(io_);
    deadline.expires_after(std::chrono::seconds(10));
    Bytes buffer;
    std::string response;
    for (;;) {
      auto parsed = parse_http_request(buffer);
      if (parsed) {
        response = respond(*parsed);
        break;
      }
      if (parsed.error() == Errc::too_large) {
        response = error(413, "request too large");
        break;
      }
      if (parsed.error() != Errc::truncated) {
        response = error(400, "malformed request");
        break;
      }
      std::uint8_t chunk[4096];
      auto r = co_await (stream.read_some(asio::buffer(chunk)) || deadline.async_wait(use_tuple));
      if (r.index() == 1) co_return;
      auto [ec, n] = std::get<0>(r);
      if (ec) co_return;
      buffer.insert(buffer.end(), chunk, chunk + n);
    }
    co_await stream.write_all(asio::buffer(response));
    co_await stream.shutdown_send();
  } catch (const std::exception& e) {
    spdlog::error("admin request failed: {}", e.what());
  }
}

std::string AdminServer::respond(const HttpRequest& request) {
  if (!token_matches(request.authorization, options_.token))
    return http_response(401, "application/json", "{\"error\":\"missing or wrong token\"}\n",
                         "WWW-Authenticate: Bearer realm=\"culvert\"\r\n");
  if (request.path == "/metrics") {
    if (request.method != "GET") return error(405, "use GET");
    return http_response(200, "text/plain; version=0.0.4", options_.metrics ? options_.metrics() : "");
  }
  auto now = unix_now();
  if (request.path == "/api/users" || request.path == "/api/usage") {
    if (request.method != "GET") return error(405, "use GET");
    auto users = store_->list();
    if (!users) return error(500, "user store failed");
    std::string body = "[";
    for (std::size_t i = 0; i < users->size(); ++i) body += (i ? "," : "") + user_json((*users)[i], now);
    return json_response(200, body + "]");
  }
  constexpr std::string_view kPrefix = "/api/users/";
  if (!request.path.starts_with(kPrefix)) return error(404, "no such endpoint");
  auto rest = request.path.substr(kPrefix.size());
  auto slash = rest.find('/');
  auto name = rest.substr(0, slash);
  auto action = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  if (!valid_user_name(name)) return error(400, "invalid user name");
  return users_endpoint(request, name, action);
}

std::string AdminServer::users_endpoint(const HttpRequest& r, const std::string& name, const std::string& action) {
  auto now = unix_now();
  auto arg = [&](const char* key) -> std::string {
    auto it = r.query.find(key);
    return it == r.query.end() ? std::string() : it->second;
  };
  auto with_link = [&](const User& u, int status) {
    auto link = share_link(config_, u);
    if (!link) return error(500, "cannot read the server's certificate or key");
    return json_response(status, user_json(u, now, *link));
  };
  if (action.empty() && r.method == "POST") {
    UserChanges changes;
    if (!arg("quota").empty() && !(changes.quota_bytes = parse_bytes(arg("quota")))) return error(400, "bad quota");
    if (!arg("expires").empty() && !(changes.expires_at = parse_expiry(arg("expires"), now)))
      return error(400, "bad expires");
    if (!arg("tunnels").empty()) {
      auto n = parse_bytes(arg("tunnels"));
      if (!n || *n > 100000) return error(400, "bad tunnels");
      changes.max_tunnels = static_cast<std::uint32_t>(*n);
    }
    if (!arg("notes").empty()) changes.notes = arg("notes");
    if (!store_->add(name)) return error(409, "user exists or store failed");
    auto user = store_->update(name, changes);
    if (!user) return error(500, "user store failed");
    return with_link(*user, 201);
  }
  auto user = store_->get(name);
  if (!user) return error(404, "no such user");
  if (r.method == "GET") {
    if (action.empty()) return json_response(200, user_json(*user, now));
    if (action == "link") return with_link(*user, 200);
    if (action == "qr.png") {
      auto link = share_link(config_, *user);
      if (!link) return error(500, "cannot read the server's certificate or key");
      auto png = render_qr_png(*link);
      if (png.empty()) return error(500, "cannot render the QR code");
      return http_response(200, "image/png", png);
    }
    return error(404, "no such endpoint");
  }
  if (r.method == "DELETE" && action.empty()) {
    if (!store_->remove(name)) return error(500, "user store failed");
    return json_response(200, "{\"name\":" + json_string(name) + ",\"status\":\"deleted\"}");
  }
  if (r.method != "POST") return error(405, "use GET, POST or DELETE");
  if (action == "delete") {
    if (!store_->remove(name)) return error(500, "user store failed");
    return json_response(200, "{\"name\":" + json_string(name) + ",\"status\":\"deleted\"}");
  }
  if (action == "restore") {
    if (!store_->restore(name)) return error(500, "user store failed");
    return json_response(200, user_json(store_->get(name).value_or(*user), now));
  }
  if (action == "revoke") {
    if (!store_->revoke(name)) return error(500, "user store failed");
    return json_response(200, user_json(store_->get(name).value_or(*user), now));
  }
  if (action == "rotate") {
    auto grace = parse_duration(arg("grace").empty() ? "7d" : arg("grace"));
    if (!grace) return error(400, "bad grace");
    auto rotated = store_->rotate(name, *grace, now);
    if (!rotated) return error(500, "user store failed");
    return with_link(*rotated, 200);
  }
  UserChanges changes;
  if (action == "quota") {
    if (!(changes.quota_bytes = parse_bytes(arg("bytes")))) return error(400, "bad bytes");
  } else if (action == "expiry") {
    if (!(changes.expires_at = parse_expiry(arg("when"), now))) return error(400, "bad when");
  } else if (action == "tunnels") {
    auto n = parse_bytes(arg("count"));
    if (!n || *n > 100000) return error(400, "bad count");
    changes.max_tunnels = static_cast<std::uint32_t>(*n);
  } else if (action == "notes") {
    changes.notes = arg("text");
  } else {
    return error(404, "no such endpoint");
  }
  auto updated = store_->update(name, changes);
  if (!updated) return error(500, "user store failed");
  return json_response(200, user_json(*updated, now));
}

}  // namespace culvert::admin
