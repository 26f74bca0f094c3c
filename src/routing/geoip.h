// GeoIP: the country of an IP address, from a MaxMind DB (.mmdb) file read with libmaxminddb
// (GeoLite2-Country, DB-IP Country Lite and the community CN lists use this format). The file is
// memory-mapped once; lookups do not allocate.
// Thread model: lookups are const and may run on any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/result.h"
#include "routing/rule.h"

namespace culvert::routing {

class GeoIp {
 public:
  // Errors carry the library's reason in `message`.
  static Result<std::shared_ptr<GeoIp>> open(const std::string& path, std::string& message);
  ~GeoIp();
  GeoIp(const GeoIp&) = delete;
  GeoIp& operator=(const GeoIp&) = delete;

  // The country's ISO code (falling back to the registered country); nullopt when unknown.
  std::optional<CountryCode> country(const asio::ip::address& address) const;

 private:
  GeoIp();
  struct Db;
  std::unique_ptr<Db> db_;
};

}  // namespace culvert::routing
