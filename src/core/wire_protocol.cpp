// wire_protocol.cpp -- the replication protocol's version handshake, and the
// rules the encoder (wire_encoder.cpp) and decoder (wire_decoder.cpp) share.
// The output plugin negotiates at startup, before it ships anything.
#include "locality/wire_protocol.hpp"

#include <cstdio>
#include <string>

#include "locality/status.hpp"

namespace locality {
namespace wire {

const char* message_name(char type) noexcept {
  switch (type) {
    case LOCALITY_WIRE_STARTUP:
      return "STARTUP";
    case LOCALITY_WIRE_BEGIN:
      return "BEGIN";
    case LOCALITY_WIRE_COMMIT:
      return "COMMIT";
    case LOCALITY_WIRE_RELATION:
      return "RELATION";
    case LOCALITY_WIRE_INSERT:
      return "INSERT";
    case LOCALITY_WIRE_UPDATE:
      return "UPDATE";
    case LOCALITY_WIRE_DELETE:
      return "DELETE";
    case LOCALITY_WIRE_TRUNCATE:
      return "TRUNCATE";
  }
  return nullptr;
}

bool is_replident(char replident) noexcept {
  return replident == LOCALITY_WIRE_REPLIDENT_DEFAULT ||
         replident == LOCALITY_WIRE_REPLIDENT_NOTHING ||
         replident == LOCALITY_WIRE_REPLIDENT_FULL || replident == LOCALITY_WIRE_REPLIDENT_INDEX;
}

bool is_old_kind(char kind, bool update) noexcept {
  return kind == LOCALITY_WIRE_OLD_KEY || kind == LOCALITY_WIRE_OLD_FULL ||
         (update && kind == LOCALITY_WIRE_OLD_NONE);
}

std::string describe_byte(char byte) {
  unsigned char b = static_cast<unsigned char>(byte);
  char text[16];
  if (b >= 0x21 && b <= 0x7e)
    std::snprintf(text, sizeof text, "'%c'", byte);
  else
    std::snprintf(text, sizeof text, "0x%02X", b);
  return text;
}

}  // namespace wire

namespace {

std::string range(int min, int max) { return std::to_string(min) + ".." + std::to_string(max); }

}  // namespace

int negotiate_wire_version(int client_min, int client_max) {
  if (client_min > client_max)
    throw Error(sqlstate::kProtocolViolation,
                "invalid pg_locality protocol version range " + range(client_min, client_max),
                "min_protocol_version " + std::to_string(client_min) +
                    " is above protocol_version " + std::to_string(client_max) + ".");
  int high = client_max < LOCALITY_WIRE_VERSION_MAX ? client_max : LOCALITY_WIRE_VERSION_MAX;
  int low = client_min > LOCALITY_WIRE_VERSION_MIN ? client_min : LOCALITY_WIRE_VERSION_MIN;
  if (high < low)
    throw Error(sqlstate::kProtocolViolation,
                "pg_locality protocol version mismatch: server speaks " +
                    range(LOCALITY_WIRE_VERSION_MIN, LOCALITY_WIRE_VERSION_MAX) +
                    ", client asked " + range(client_min, client_max),
                "The server is the sending region's output plugin, the client the receiving "
                "region's apply worker.",
                "Run pg_locality releases that share a protocol version on both regions.");
  return high;
}

}  // namespace locality

extern "C" int locality_wire_negotiate(int client_min, int client_max, int* chosen,
                                       LocalityStatus* status) noexcept {
  if (chosen != nullptr) *chosen = 0;
  return locality::call_guarded(status, [&] {
    int version = locality::negotiate_wire_version(client_min, client_max);
    if (chosen != nullptr) *chosen = version;
  });
}
