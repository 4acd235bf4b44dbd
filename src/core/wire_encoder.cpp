// wire_encoder.cpp -- encodes replication messages for the output plugin.
//
// The plugin asks for the exact size, reserves it in its own StringInfo (in C,
// where palloc may ereport safely), then has the core write into that space:
// the core never allocates and a row's bytes are copied once.  One traversal,
// run over two sinks, does both jobs, so the size cannot disagree with what is
// written.
#include <cstdint>
#include <cstring>
#include <string>

#include "locality/status.hpp"
#include "locality/wire_protocol.hpp"

namespace locality {
namespace {

[[noreturn]] void fail_invalid(const char* message_name, const std::string& problem) {
  throw Error(sqlstate::kInternalError, "cannot encode pg_locality replication message",
              std::string(message_name) + " message: " + problem + ".");
}

// Counts bytes: the first pass.
class SizeSink {
 public:
  void u8(std::uint8_t) { add(1); }
  void u16(std::uint16_t) { add(2); }
  void u32(std::uint32_t) { add(4); }
  void u64(std::uint64_t) { add(8); }
  void bytes(const char*, std::size_t n) { add(n); }
  std::size_t size() const noexcept { return size_; }

 private:
  void add(std::size_t n) {
    if (n > SIZE_MAX - size_)
      throw Error(sqlstate::kProgramLimitExceeded, "pg_locality replication message is too large");
    size_ += n;
  }

  std::size_t size_ = 0;
};

// Writes big-endian into space the first pass has measured.
class BufferSink {
 public:
  explicit BufferSink(char* out) noexcept : start_(out), next_(out) {}
  void u8(std::uint8_t v) noexcept { *next_++ = static_cast<char>(v); }
  void u16(std::uint16_t v) noexcept {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) noexcept {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void u64(std::uint64_t v) noexcept {
    u32(static_cast<std::uint32_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
  }
  void bytes(const char* data, std::size_t n) noexcept {
    if (n > 0) std::memcpy(next_, data, n);
    next_ += n;
  }
  std::size_t size() const noexcept { return static_cast<std::size_t>(next_ - start_); }

 private:
  char* start_;
  char* next_;
};

// "column 3 of the new tuple", built only when an error needs it.
std::string column_name(std::size_t index, const char* tuple) {
  return "column " + std::to_string(index + 1) + " of the " + tuple;
}

template <typename Sink>
class MessageWriter {
 public:
  MessageWriter(Sink& out, const char* name) : out_(out), name_(name) {}

  // what names the field for errors; attr, when non-zero, the 1-based
  // attribute it belongs to.
  void string(const LocalityWireString& s, const char* what, std::size_t attr = 0) {
    if (s.len > LOCALITY_WIRE_STRING_MAX)
      throw Error(sqlstate::kProgramLimitExceeded,
                  "pg_locality replication message field is too long",
                  "The " + field(what, attr) + " of a " + name_ + " message is " +
                      std::to_string(s.len) + " bytes; the protocol allows at most " +
                      std::to_string(LOCALITY_WIRE_STRING_MAX) + ".");
    if (s.len > 0 && s.data == nullptr) invalid("the " + field(what, attr) + " has no data");
    if (s.len > 0 && std::memchr(s.data, '\0', s.len) != nullptr)
      invalid("the " + field(what, attr) + " contains a NUL byte");
    out_.u16(static_cast<std::uint16_t>(s.len));
    out_.bytes(s.data, s.len);
  }

  void tuple(const LocalityWireTuple& t, const char* which, bool allow_unchanged) {
    if (t.natts > 0 && t.columns == nullptr)
      invalid(std::string("the ") + which + " has " + std::to_string(t.natts) +
              " columns but no column array");
    out_.u16(t.natts);
    for (std::size_t i = 0; i < t.natts; i++) {
      const LocalityWireColumn& c = t.columns[i];
      switch (c.kind) {
        case LOCALITY_WIRE_COLUMN_NULL:
          out_.u8(static_cast<std::uint8_t>(c.kind));
          break;
        case LOCALITY_WIRE_COLUMN_UNCHANGED:
          if (!allow_unchanged)
            invalid(column_name(i, which) +
                    " is 'u' (unchanged TOASTed value), which only an UPDATE's new tuple may be");
          out_.u8(static_cast<std::uint8_t>(c.kind));
          break;
        case LOCALITY_WIRE_COLUMN_TEXT:
        case LOCALITY_WIRE_COLUMN_BINARY:
          if (c.len > 0 && c.data == nullptr) invalid(column_name(i, which) + " has no data");
          if (c.kind == LOCALITY_WIRE_COLUMN_TEXT && c.len > 0 &&
              std::memchr(c.data, '\0', c.len) != nullptr)
            invalid(column_name(i, which) + " is a text value containing a NUL byte");
          out_.u8(static_cast<std::uint8_t>(c.kind));
          out_.u32(c.len);
          out_.bytes(c.data, c.len);
          break;
        default:
          invalid(column_name(i, which) + " has kind " + wire::describe_byte(c.kind) +
                  ", not 'n', 'u', 't' or 'b'");
      }
    }
  }

  void message(const LocalityWireMessage& msg) {
    out_.u8(static_cast<std::uint8_t>(msg.type));
    switch (msg.type) {
      case LOCALITY_WIRE_STARTUP:
        startup(msg.body.startup);
        break;
      case LOCALITY_WIRE_BEGIN:
        begin(msg.body.begin);
        break;
      case LOCALITY_WIRE_COMMIT:
        commit(msg.body.commit);
        break;
      case LOCALITY_WIRE_RELATION:
        relation(msg.body.relation);
        break;
      case LOCALITY_WIRE_INSERT:
        out_.u32(msg.body.insert.relid);
        tuple(msg.body.insert.new_tuple, "new tuple", false);
        break;
      case LOCALITY_WIRE_UPDATE:
        update(msg.body.update);
        break;
      case LOCALITY_WIRE_DELETE:
        del(msg.body.del);
        break;
      case LOCALITY_WIRE_TRUNCATE:
        truncate(msg.body.truncate);
        break;
      default:
        throw Error(sqlstate::kInternalError, "cannot encode pg_locality replication message",
                    "Unknown message type " + wire::describe_byte(msg.type) + ".");
    }
  }

 private:
  [[noreturn]] void invalid(const std::string& problem) const { fail_invalid(name_, problem); }

  static std::string field(const char* what, std::size_t attr) {
    if (attr == 0) return what;
    return std::string(what) + " of attribute " + std::to_string(attr);
  }

  void startup(const LocalityWireStartup& m) {
    // Only a version the handshake could have chosen may be announced.
    if (m.version < LOCALITY_WIRE_VERSION_MIN || m.version > LOCALITY_WIRE_VERSION_MAX)
      invalid("version " + std::to_string(m.version) + " is not one this build speaks (" +
              std::to_string(LOCALITY_WIRE_VERSION_MIN) + ".." +
              std::to_string(LOCALITY_WIRE_VERSION_MAX) + ")");
    out_.u16(m.version);
  }

  void begin(const LocalityWireBegin& m) {
    out_.u64(m.final_lsn);
    out_.u64(static_cast<std::uint64_t>(m.commit_time));
    out_.u32(m.xid);
    out_.u16(m.origin_region_id);
    out_.u64(m.hlc);
  }

  void commit(const LocalityWireCommit& m) {
    if ((m.flags & ~wire::kCommitFlags) != 0)
      invalid("unknown flags " + wire::describe_byte(static_cast<char>(m.flags)));
    out_.u64(m.commit_lsn);
    out_.u64(m.end_lsn);
    out_.u64(static_cast<std::uint64_t>(m.commit_time));
    out_.u8(m.flags);
  }

  void relation(const LocalityWireRelation& m) {
    if (!wire::is_replident(m.replident))
      invalid("replica identity " + wire::describe_byte(m.replident) +
              " is not one of 'd', 'n', 'f', 'i'");
    if (m.natts > 0 && m.attrs == nullptr)
      invalid("it has " + std::to_string(m.natts) + " attributes but no attribute array");
    out_.u32(m.relid);
    out_.u8(static_cast<std::uint8_t>(m.replident));
    string(m.schema, "schema name");
    string(m.table, "table name");
    out_.u16(m.natts);
    for (std::size_t i = 0; i < m.natts; i++) {
      const LocalityWireAttr& a = m.attrs[i];
      if ((a.flags & ~wire::kAttrFlags) != 0)
        invalid("attribute " + std::to_string(i + 1) + " has unknown flags " +
                wire::describe_byte(static_cast<char>(a.flags)));
      out_.u8(a.flags);
      string(a.name, "name", i + 1);
      string(a.type_name, "type name", i + 1);
      out_.u32(static_cast<std::uint32_t>(a.typmod));
    }
  }

  void update(const LocalityWireUpdate& m) {
    if (!wire::is_old_kind(m.old_kind, true))
      invalid("old tuple kind " + wire::describe_byte(m.old_kind) + " is not 'K', 'O' or 'N'");
    out_.u32(m.relid);
    out_.u8(static_cast<std::uint8_t>(m.old_kind));
    if (m.old_kind != LOCALITY_WIRE_OLD_NONE) tuple(m.old_tuple, "old tuple", false);
    tuple(m.new_tuple, "new tuple", true);
  }

  void del(const LocalityWireDelete& m) {
    if (!wire::is_old_kind(m.old_kind, false))
      invalid("old tuple kind " + wire::describe_byte(m.old_kind) + " is not 'K' or 'O'");
    out_.u32(m.relid);
    out_.u8(static_cast<std::uint8_t>(m.old_kind));
    tuple(m.old_tuple, "old tuple", false);
  }

  void truncate(const LocalityWireTruncate& m) {
    if ((m.flags & ~wire::kTruncateFlags) != 0)
      invalid("unknown flags " + wire::describe_byte(static_cast<char>(m.flags)));
    if (m.nrels > 0 && m.relids == nullptr)
      invalid("it has " + std::to_string(m.nrels) + " relations but no relid array");
    out_.u8(m.flags);
    out_.u16(m.nrels);
    for (std::size_t i = 0; i < m.nrels; i++) out_.u32(m.relids[i]);
  }

  Sink& out_;
  const char* name_;
};

template <typename Sink>
void write_message(Sink& out, const LocalityWireMessage& msg) {
  const char* name = wire::message_name(msg.type);
  MessageWriter<Sink> writer(out, name != nullptr ? name : "unknown");
  writer.message(msg);
}

}  // namespace

std::size_t wire_encoded_size(const LocalityWireMessage& msg) {
  SizeSink sink;
  write_message(sink, msg);
  return sink.size();
}

std::size_t wire_encode(const LocalityWireMessage& msg, char* out, std::size_t cap) {
  std::size_t size = wire_encoded_size(msg);
  if (out == nullptr || size > cap)
    throw Error(sqlstate::kProgramLimitExceeded,
                "pg_locality replication message does not fit its buffer",
                "It needs " + std::to_string(size) + " bytes; " +
                    std::to_string(out == nullptr ? 0 : cap) + " were given.");
  BufferSink sink(out);
  write_message(sink, msg);
  return sink.size();
}

}  // namespace locality

namespace {

void require_message(const LocalityWireMessage* msg) {
  if (msg == nullptr)
    throw locality::Error(locality::sqlstate::kInternalError,
                          "cannot encode pg_locality replication message", "No message was given.");
}

}  // namespace

extern "C" int locality_wire_encoded_size(const LocalityWireMessage* msg, size_t* size,
                                          LocalityStatus* status) noexcept {
  if (size != nullptr) *size = 0;
  return locality::call_guarded(status, [&] {
    require_message(msg);
    std::size_t n = locality::wire_encoded_size(*msg);
    if (size != nullptr) *size = n;
  });
}

extern "C" int locality_wire_encode(const LocalityWireMessage* msg, char* out, size_t cap,
                                    size_t* written, LocalityStatus* status) noexcept {
  if (written != nullptr) *written = 0;
  return locality::call_guarded(status, [&] {
    require_message(msg);
    std::size_t n = locality::wire_encode(*msg, out, cap);
    if (written != nullptr) *written = n;
  });
}
