// wire_protocol.hpp -- the replication wire protocol: what the output plugin
// (src/shim, encoder) ships over the walsender and the apply workers (decoder)
// read back.  Pure codec: no I/O, no PostgreSQL, no state between messages.
//
//   WAL -> output plugin --encode--> walsender --WAN--> apply worker --decode--> heap
//
// Protocol version 1.  Every message is one CopyData payload (after the
// walsender's 'w' header); its first byte is its type.  Integers are big-endian
// (network byte order), fixed width: u8 u16 u32 u64 unsigned, i32 i64 two's
// complement.  A string is a u16 length then that many bytes, no NUL.
//
//   'S' STARTUP   version u16                              (3 bytes)
//   'B' BEGIN     final_lsn u64, commit_time i64, xid u32,
//                 origin_region_id u16, hlc u64            (31 bytes)
//   'C' COMMIT    commit_lsn u64, end_lsn u64, commit_time i64,
//                 flags u8 (none defined, 0)               (26 bytes)
//   'R' RELATION  relid u32, replident u8 ('d' 'n' 'f' 'i'), schema string,
//                 table string, natts u16, then natts times:
//                 flags u8 (bit 0: replica identity key), name string,
//                 type name string, typmod i32
//   'I' INSERT    relid u32, new tuple
//   'U' UPDATE    relid u32, old kind u8 ('K' key, 'O' full old row, 'N' none),
//                 old tuple unless 'N', new tuple
//   'D' DELETE    relid u32, old kind u8 ('K' or 'O'), old tuple
//   'T' TRUNCATE  flags u8 (bit 0 CASCADE, bit 1 RESTART IDENTITY), nrels u16,
//                 nrels times relid u32
//
//   tuple         natts u16, then natts times a kind byte:
//                 'n' null | 'u' unchanged TOASTed value, not sent (UPDATE's
//                 new tuple only) | 't' text value | 'b' binary value,
//                 't' and 'b' followed by length u32 and the bytes.
//
// Commit times are TimestampTz (microseconds since 2000-01-01 UTC).  relid is
// the sender's OID; it means nothing to the receiver beyond naming the
// RELATION message that came before in the same stream, so apply maps tables
// and columns by name and type name, not OID or position.
//
// The encoding is canonical: the decoder refuses everything the encoder
// refuses (unknown kinds, unknown flag bits, trailing bytes, a NUL in a name
// or text value), so decode-then-encode reproduces the input byte for byte.
// docs/replication-protocol.md has the full description and the handshake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "locality/status.hpp"
#include "locality_core.h"

namespace locality {

namespace sqlstate {
inline constexpr const char* kProtocolViolation = "08P01";
}  // namespace sqlstate

// What both the encoder and the decoder check, so they accept exactly the
// same messages.
namespace wire {

inline constexpr std::uint8_t kAttrFlags = LOCALITY_WIRE_ATTR_KEY;
inline constexpr std::uint8_t kTruncateFlags =
    LOCALITY_WIRE_TRUNCATE_CASCADE | LOCALITY_WIRE_TRUNCATE_RESTART_IDENTITY;
inline constexpr std::uint8_t kCommitFlags = 0;

// "INSERT" for 'I', and so on; nullptr for an unknown type.
const char* message_name(char type) noexcept;
bool is_replident(char replident) noexcept;
// 'K' or 'O', and for UPDATE also 'N'.
bool is_old_kind(char kind, bool update) noexcept;
// A byte as the error texts print it: 'x' when printable, else 0xNN.
std::string describe_byte(char byte);

}  // namespace wire

// Picks the highest version in both client_min..client_max and the range this
// build speaks.  Throws 08P01 on a mismatch or an empty client range.
int negotiate_wire_version(int client_min, int client_max);

// Exact encoded length of msg; checks msg (XX000 for what the protocol cannot
// express, 54000 for over-long names).
std::size_t wire_encoded_size(const LocalityWireMessage& msg);

// Writes msg into out[0..cap) and returns its length.  Throws (before writing
// anything) what wire_encoded_size throws, or 54000 when cap is too small.
std::size_t wire_encode(const LocalityWireMessage& msg, char* out, std::size_t cap);

// Decodes single messages into caller-visible plain structs.  Names and values
// point into the input; the arrays of columns, attributes and relids live
// here and are reused, so once the decoder has seen the widest message of a
// stream it decodes without allocating (ARCHITECTURE.md, rule 6).
class WireDecoder {
 public:
  WireDecoder();

  // Decodes data[0..len) into *out (zeroed first).  Throws 08P01, with the
  // byte offset in the detail, on any malformed input.  With consumed, the
  // message may be followed by others (protocol version 2 batches them):
  // its length goes to *consumed and the bytes after it are not looked at.
  void decode(const char* data, std::size_t len, LocalityWireMessage* out,
              std::size_t* consumed = nullptr);

  // Bytes of scratch space held; constant once warmed up.
  std::size_t capacity_bytes() const noexcept;

  // How many times the scratch space has had to grow since construction.
  std::size_t growths() const noexcept { return growths_; }

 private:
  class Reader;

  // which: "old tuple" or "new tuple"; 'u' columns only where allow_unchanged.
  LocalityWireTuple read_tuple(Reader& in, std::vector<LocalityWireColumn>& scratch,
                               const char* which, bool allow_unchanged);
  template <typename T>
  T* reserve(std::vector<T>& scratch, std::size_t n);

  std::vector<LocalityWireColumn> old_columns_;
  std::vector<LocalityWireColumn> new_columns_;
  std::vector<LocalityWireAttr> attrs_;
  std::vector<std::uint32_t> relids_;
  std::size_t growths_ = 0;
};

}  // namespace locality

// The C API's opaque decoder handle (locality_core.h).
struct LocalityWireDecoder {
  locality::WireDecoder decoder;
};
