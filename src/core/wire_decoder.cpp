// wire_decoder.cpp -- decodes replication messages for the apply workers.
//
// The input is whatever arrived from the network, so every read is bounds
// checked and every enumerated byte validated: malformed input is an 08P01
// error naming the byte offset, never a crash or a read past the end.  Names
// and values are handed out as pointers into the input (zero copy); the
// arrays that describe a message live in the decoder and are reused, so the
// per-change apply path allocates nothing once warmed up (ARCHITECTURE.md,
// rule 6).
#include <cstdint>
#include <cstring>
#include <string>

#include "locality/status.hpp"
#include "locality/wire_protocol.hpp"

namespace locality {
namespace {

// Scratch entries a new decoder starts with: most tables are narrower.
constexpr std::size_t kInitialColumns = 64;
constexpr std::size_t kInitialRelids = 16;

// Smallest encoding of one relation attribute: flags, two empty strings,
// typmod.
constexpr std::size_t kMinAttrBytes = 1 + 2 + 2 + 4;

// "1 byte", "2 bytes"
std::string byte_count(std::size_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

// "1 byte follows", "2 bytes follow"
std::string bytes_follow(std::size_t n) {
  return byte_count(n) + (n == 1 ? " follows" : " follow");
}

}  // namespace

// Bounds-checked big-endian reads over one message.  It knows where it is
// (the attribute or column being read) so that errors can say so; that text
// is only built when an error is raised.
class WireDecoder::Reader {
 public:
  Reader(const char* data, std::size_t len) noexcept : data_(data), len_(len) {}

  void set_message_name(const char* name) noexcept { name_ = name; }
  // unit/index: "column" 3, "attribute" 2 (or nullptr); container: "new tuple" (or nullptr).
  void set_context(const char* unit, std::size_t index, const char* container) noexcept {
    unit_ = unit;
    index_ = index;
    container_ = container;
  }

  std::size_t offset() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return len_ - pos_; }

  std::uint8_t u8(const char* what) {
    need(1, what);
    return byte(pos_++);
  }
  std::uint16_t u16(const char* what) {
    need(2, what);
    std::uint16_t v = static_cast<std::uint16_t>((byte(pos_) << 8) | byte(pos_ + 1));
    pos_ += 2;
    return v;
  }
  std::uint32_t u32(const char* what) {
    need(4, what);
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; i++) v = (v << 8) | byte(pos_ + i);
    pos_ += 4;
    return v;
  }
  std::uint64_t u64(const char* what) {
    need(8, what);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; i++) v = (v << 8) | byte(pos_ + i);
    pos_ += 8;
    return v;
  }
  const char* bytes(std::size_t n, const char* what) {
    need(n, what);
    const char* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  // A u16-counted name; length_what names its length field for errors.
  LocalityWireString string(const char* what, const char* length_what) {
    LocalityWireString s;
    s.len = u16(length_what);
    std::size_t at = pos_;
    s.data = bytes(s.len, what);
    if (s.len > 0 && std::memchr(s.data, '\0', s.len) != nullptr)
      fail(at, "the " + describe(what) + " contains a NUL byte");
    return s;
  }

  [[noreturn]] void fail(std::size_t at, const std::string& problem) const {
    std::string message = name_ != nullptr ? std::string(name_) + " message" : "message";
    throw Error(sqlstate::kProtocolViolation, "malformed pg_locality replication message",
                "At byte offset " + std::to_string(at) + " of the " + std::to_string(len_) +
                    "-byte " + message + ": " + problem + ".");
  }

  // "value length of column 2 of the new tuple"
  std::string describe(const char* what) const {
    std::string text = what;
    if (unit_ != nullptr) text += std::string(" of ") + unit_ + " " + std::to_string(index_);
    if (container_ != nullptr) text += std::string(" of the ") + container_;
    return text;
  }

 private:
  std::uint8_t byte(std::size_t at) const noexcept { return static_cast<std::uint8_t>(data_[at]); }

  void need(std::size_t n, const char* what) const {
    if (n <= len_ - pos_) return;
    std::size_t left = len_ - pos_;
    fail(pos_, "the " + describe(what) + " needs " + byte_count(n) + ", but only " +
                   std::to_string(left) + (left == 1 ? " remains" : " remain"));
  }

  const char* data_;
  std::size_t len_;
  std::size_t pos_ = 0;
  const char* name_ = nullptr;
  const char* unit_ = nullptr;
  std::size_t index_ = 0;
  const char* container_ = nullptr;
};

WireDecoder::WireDecoder() {
  old_columns_.resize(kInitialColumns);
  new_columns_.resize(kInitialColumns);
  attrs_.resize(kInitialColumns);
  relids_.resize(kInitialRelids);
}

std::size_t WireDecoder::capacity_bytes() const noexcept {
  return old_columns_.capacity() * sizeof(LocalityWireColumn) +
         new_columns_.capacity() * sizeof(LocalityWireColumn) +
         attrs_.capacity() * sizeof(LocalityWireAttr) + relids_.capacity() * sizeof(std::uint32_t);
}

// Room for n entries in scratch; grows it (never shrinks) only when needed.
template <typename T>
T* WireDecoder::reserve(std::vector<T>& scratch, std::size_t n) {
  if (n > scratch.size()) {
    scratch.resize(n);
    growths_++;
  }
  return scratch.data();
}

LocalityWireTuple WireDecoder::read_tuple(Reader& in, std::vector<LocalityWireColumn>& scratch,
                                          const char* which, bool allow_unchanged) {
  in.set_context(nullptr, 0, which);
  std::size_t at = in.offset();
  std::uint16_t natts = in.u16("column count");
  // Every column takes at least its kind byte: a count the input cannot hold
  // is refused before any space is reserved for it.
  if (natts > in.remaining())
    in.fail(at, "the column count of the " + std::string(which) + " is " + std::to_string(natts) +
                    ", but only " + bytes_follow(in.remaining()));
  LocalityWireColumn* columns = reserve(scratch, natts);
  for (std::size_t i = 0; i < natts; i++) {
    in.set_context("column", i + 1, which);
    at = in.offset();
    char kind = static_cast<char>(in.u8("kind"));
    LocalityWireColumn& c = columns[i];
    c.kind = kind;
    c.data = nullptr;
    c.len = 0;
    switch (kind) {
      case LOCALITY_WIRE_COLUMN_NULL:
        break;
      case LOCALITY_WIRE_COLUMN_UNCHANGED:
        if (!allow_unchanged)
          in.fail(at, "the " + in.describe("kind") +
                          " is 'u' (unchanged TOASTed value), which only an UPDATE's new "
                          "tuple may hold");
        break;
      case LOCALITY_WIRE_COLUMN_TEXT:
      case LOCALITY_WIRE_COLUMN_BINARY: {
        c.len = in.u32("value length");
        std::size_t value_at = in.offset();
        c.data = in.bytes(c.len, "value");
        if (kind == LOCALITY_WIRE_COLUMN_TEXT && c.len > 0 &&
            std::memchr(c.data, '\0', c.len) != nullptr)
          in.fail(value_at, "the text " + in.describe("value") + " contains a NUL byte");
        break;
      }
      default:
        in.fail(at, "the " + in.describe("kind") + " is " + wire::describe_byte(kind) +
                        ", not 'n', 'u', 't' or 'b'");
    }
  }
  in.set_context(nullptr, 0, nullptr);
  LocalityWireTuple tuple;
  tuple.natts = natts;
  tuple.columns = natts > 0 ? columns : nullptr;
  return tuple;
}

void WireDecoder::decode(const char* data, std::size_t len, LocalityWireMessage* out,
                         std::size_t* consumed) {
  std::memset(out, 0, sizeof *out);
  Reader in(data, len);
  if (len == 0) in.fail(0, "the message is empty");
  char type = static_cast<char>(in.u8("type"));
  const char* name = wire::message_name(type);
  if (name == nullptr)
    in.fail(0, "the type " + wire::describe_byte(type) +
                   " is not one of 'S', 'B', 'C', 'R', 'I', 'U', 'D', 'T'");
  in.set_message_name(name);
  out->type = type;

  switch (type) {
    case LOCALITY_WIRE_STARTUP: {
      LocalityWireStartup& m = out->body.startup;
      m.version = in.u16("version");
      if (m.version < LOCALITY_WIRE_VERSION_MIN || m.version > LOCALITY_WIRE_VERSION_MAX)
        throw Error(sqlstate::kProtocolViolation,
                    "pg_locality protocol version mismatch: server chose " +
                        std::to_string(m.version) + ", client speaks " +
                        std::to_string(LOCALITY_WIRE_VERSION_MIN) + ".." +
                        std::to_string(LOCALITY_WIRE_VERSION_MAX),
                    "The sending region announced a version outside the range this apply "
                    "worker asked for.",
                    "Run pg_locality releases that share a protocol version on both regions.");
      break;
    }
    case LOCALITY_WIRE_BEGIN: {
      LocalityWireBegin& m = out->body.begin;
      m.final_lsn = in.u64("final LSN");
      m.commit_time = static_cast<std::int64_t>(in.u64("commit time"));
      m.xid = in.u32("transaction id");
      m.origin_region_id = in.u16("origin region id");
      m.hlc = in.u64("hybrid logical clock");
      break;
    }
    case LOCALITY_WIRE_COMMIT: {
      LocalityWireCommit& m = out->body.commit;
      m.commit_lsn = in.u64("commit LSN");
      m.end_lsn = in.u64("end LSN");
      m.commit_time = static_cast<std::int64_t>(in.u64("commit time"));
      std::size_t at = in.offset();
      m.flags = in.u8("flags");
      if ((m.flags & ~wire::kCommitFlags) != 0)
        in.fail(at, "unknown flags " + wire::describe_byte(static_cast<char>(m.flags)));
      break;
    }
    case LOCALITY_WIRE_RELATION: {
      LocalityWireRelation& m = out->body.relation;
      m.relid = in.u32("relation id");
      std::size_t at = in.offset();
      m.replident = static_cast<char>(in.u8("replica identity"));
      if (!wire::is_replident(m.replident))
        in.fail(at, "the replica identity " + wire::describe_byte(m.replident) +
                        " is not one of 'd', 'n', 'f', 'i'");
      m.schema = in.string("schema name", "schema name length");
      m.table = in.string("table name", "table name length");
      at = in.offset();
      m.natts = in.u16("attribute count");
      if (m.natts > in.remaining() / kMinAttrBytes)
        in.fail(at, "the attribute count is " + std::to_string(m.natts) + ", but only " +
                        bytes_follow(in.remaining()));
      LocalityWireAttr* attrs = reserve(attrs_, m.natts);
      for (std::size_t i = 0; i < m.natts; i++) {
        in.set_context("attribute", i + 1, nullptr);
        LocalityWireAttr& a = attrs[i];
        at = in.offset();
        a.flags = in.u8("flags byte");
        if ((a.flags & ~wire::kAttrFlags) != 0)
          in.fail(at, "the " + in.describe("flags byte") + " has unknown bits " +
                          wire::describe_byte(static_cast<char>(a.flags)));
        a.name = in.string("name", "name length");
        a.type_name = in.string("type name", "type name length");
        a.typmod = static_cast<std::int32_t>(in.u32("typmod"));
      }
      in.set_context(nullptr, 0, nullptr);
      m.attrs = m.natts > 0 ? attrs : nullptr;
      break;
    }
    case LOCALITY_WIRE_INSERT: {
      LocalityWireInsert& m = out->body.insert;
      m.relid = in.u32("relation id");
      m.new_tuple = read_tuple(in, new_columns_, "new tuple", false);
      break;
    }
    case LOCALITY_WIRE_UPDATE: {
      LocalityWireUpdate& m = out->body.update;
      m.relid = in.u32("relation id");
      std::size_t at = in.offset();
      m.old_kind = static_cast<char>(in.u8("old tuple kind"));
      if (!wire::is_old_kind(m.old_kind, true))
        in.fail(at, "the old tuple kind " + wire::describe_byte(m.old_kind) +
                        " is not 'K', 'O' or 'N'");
      if (m.old_kind != LOCALITY_WIRE_OLD_NONE)
        m.old_tuple = read_tuple(in, old_columns_, "old tuple", false);
      m.new_tuple = read_tuple(in, new_columns_, "new tuple", true);
      break;
    }
    case LOCALITY_WIRE_DELETE: {
      LocalityWireDelete& m = out->body.del;
      m.relid = in.u32("relation id");
      std::size_t at = in.offset();
      m.old_kind = static_cast<char>(in.u8("old tuple kind"));
      if (!wire::is_old_kind(m.old_kind, false))
        in.fail(at, "the old tuple kind " + wire::describe_byte(m.old_kind) + " is not 'K' or 'O'");
      m.old_tuple = read_tuple(in, old_columns_, "old tuple", false);
      break;
    }
    case LOCALITY_WIRE_TRUNCATE: {
      LocalityWireTruncate& m = out->body.truncate;
      std::size_t at = in.offset();
      m.flags = in.u8("flags");
      if ((m.flags & ~wire::kTruncateFlags) != 0)
        in.fail(at, "unknown flags " + wire::describe_byte(static_cast<char>(m.flags)));
      at = in.offset();
      m.nrels = in.u16("relation count");
      if (m.nrels > in.remaining() / 4)
        in.fail(at, "the relation count is " + std::to_string(m.nrels) + ", but only " +
                        bytes_follow(in.remaining()));
      std::uint32_t* relids = reserve(relids_, m.nrels);
      for (std::size_t i = 0; i < m.nrels; i++) relids[i] = in.u32("relation id");
      m.relids = m.nrels > 0 ? relids : nullptr;
      break;
    }
  }

  if (consumed != nullptr)
    *consumed = in.offset();
  else if (in.remaining() > 0)
    in.fail(in.offset(), bytes_follow(in.remaining()) + " the end of the message");
}

}  // namespace locality

extern "C" LocalityWireDecoder* locality_wire_decoder_create(LocalityStatus* status) noexcept {
  LocalityWireDecoder* decoder = nullptr;
  locality::call_guarded(status, [&] { decoder = new LocalityWireDecoder(); });
  return decoder;
}

extern "C" void locality_wire_decoder_destroy(LocalityWireDecoder* decoder) noexcept {
  delete decoder;
}

namespace {

// decode_guarded: the two C entry points below; with consumed, data may
// hold several messages (protocol version 2) and the first one's length is
// stored there.  Nothing half-decoded survives a failure.
int decode_guarded(LocalityWireDecoder* decoder, const char* data, size_t len,
                   LocalityWireMessage* out, size_t* consumed, LocalityStatus* status) noexcept {
  LocalityWireMessage ignored;
  LocalityWireMessage* target = out != nullptr ? out : &ignored;
  std::size_t used = 0;
  int ok = locality::call_guarded(status, [&] {
    using locality::Error;
    if (decoder == nullptr)
      throw Error(locality::sqlstate::kInternalError, "no pg_locality replication decoder");
    if (data == nullptr && len > 0)
      throw Error(
          locality::sqlstate::kInternalError,
          "no buffer for pg_locality replication data of " + std::to_string(len) + " bytes");
    decoder->decoder.decode(data, len, target, consumed != nullptr ? &used : nullptr);
  });
  if (!ok) {
    std::memset(target, 0, sizeof *target);
    used = 0;
  }
  if (consumed != nullptr) *consumed = used;
  return ok;
}

}  // namespace

extern "C" int locality_wire_decode(LocalityWireDecoder* decoder, const char* data, size_t len,
                                    LocalityWireMessage* out, LocalityStatus* status) noexcept {
  return decode_guarded(decoder, data, len, out, nullptr, status);
}

extern "C" int locality_wire_decode_next(LocalityWireDecoder* decoder, const char* data, size_t len,
                                         LocalityWireMessage* out, size_t* consumed,
                                         LocalityStatus* status) noexcept {
  size_t used = 0;
  int ok = decode_guarded(decoder, data, len, out, &used, status);
  if (consumed != nullptr) *consumed = used;
  return ok;
}
