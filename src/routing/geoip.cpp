#include "routing/geoip.h"

#include <maxminddb.h>

#include <cstring>

namespace culvert::routing {

struct GeoIp::Db {
  MMDB_s mmdb{};
  bool open = false;
  ~Db() {
    if (open) MMDB_close(&mmdb);
  }
};

GeoIp::GeoIp() : db_(std::make_unique<Db>()) {}
GeoIp::~GeoIp() = default;

Result<std::shared_ptr<GeoIp>> GeoIp::open(const std::string& path, std::string& message) {
  std::shared_ptr<GeoIp> geoip(new GeoIp());
  int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &geoip->db_->mmdb);
  if (status != MMDB_SUCCESS) {
    message = "cannot open GeoIP database " + path + ": " + MMDB_strerror(status);
    return fail(Errc::malformed);
  }
  geoip->db_->open = true;
  return geoip;
}

std::optional<CountryCode> GeoIp::country(const asio::ip::address& address) const {
  sockaddr_storage storage{};
  if (address.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    auto bytes = address.to_v4().to_bytes();
    std::memcpy(&in->sin_addr, bytes.data(), bytes.size());
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    auto bytes = address.to_v6().to_bytes();
    std::memcpy(&in6->sin6_addr, bytes.data(), bytes.size());
  }
  int error = 0;
  auto result = MMDB_lookup_sockaddr(&db_->mmdb, reinterpret_cast<sockaddr*>(&storage), &error);
  if (error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;
  for (const char* field : {"country", "registered_country"}) {
    MMDB_entry_data_s data{};
    if (MMDB_get_value(&result.entry, &data, field, "iso_code", nullptr) != MMDB_SUCCESS) continue;
    if (!data.has_data || data.type != MMDB_DATA_TYPE_UTF8_STRING) continue;
    if (auto code = parse_country(std::string_view(data.utf8_string, data.data_size))) return code;
  }
  return std::nullopt;
}

}  // namespace culvert::routing
