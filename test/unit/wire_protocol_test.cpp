// wire_protocol_test.cpp -- the replication wire protocol (ARCHITECTURE.md,
// component 3): version handshake, byte layouts, round trips, limits, and a
// decoder that survives anything the network hands it.
#include "locality/wire_protocol.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "locality_core.h"

namespace {

using Bytes = std::string;

// ---- building messages --------------------------------------------------

// A name for a message: a string literal or a string that outlives the
// message (a temporary std::string would leave the message dangling).
struct Name {
  Name(const char* literal) : text{literal, std::strlen(literal)} {}  // NOLINT: implicit
  Name(const std::string& s) : text{s.data(), s.size()} {}            // NOLINT: implicit
  Name(std::string&&) = delete;
  LocalityWireString text;
};

LocalityWireColumn null_column() {
  return LocalityWireColumn{LOCALITY_WIRE_COLUMN_NULL, nullptr, 0};
}

LocalityWireColumn unchanged_column() {
  return LocalityWireColumn{LOCALITY_WIRE_COLUMN_UNCHANGED, nullptr, 0};
}

LocalityWireColumn text_column(std::string&&) = delete;
LocalityWireColumn binary_column(std::string&&) = delete;

LocalityWireColumn text_column(const std::string& s) {
  return LocalityWireColumn{LOCALITY_WIRE_COLUMN_TEXT, s.data(), static_cast<uint32_t>(s.size())};
}

LocalityWireColumn binary_column(const std::string& s) {
  return LocalityWireColumn{LOCALITY_WIRE_COLUMN_BINARY, s.data(), static_cast<uint32_t>(s.size())};
}

LocalityWireTuple tuple(const std::vector<LocalityWireColumn>& columns) {
  return LocalityWireTuple{static_cast<uint16_t>(columns.size()),
                           columns.empty() ? nullptr : columns.data()};
}

LocalityWireAttr attr(uint8_t flags, Name name, Name type, int32_t typmod) {
  return LocalityWireAttr{flags, name.text, type.text, typmod};
}

LocalityWireMessage message(char type) {
  LocalityWireMessage msg;
  std::memset(&msg, 0, sizeof msg);
  msg.type = type;
  return msg;
}

LocalityWireMessage startup_message(uint16_t version) {
  LocalityWireMessage msg = message(LOCALITY_WIRE_STARTUP);
  msg.body.startup.version = version;
  return msg;
}

LocalityWireMessage begin_message() {
  LocalityWireMessage msg = message(LOCALITY_WIRE_BEGIN);
  msg.body.begin.final_lsn = 0x0102030405060708ULL;
  msg.body.begin.commit_time = -2;
  msg.body.begin.xid = 0xA1B2C3D4;
  msg.body.begin.origin_region_id = 0x0E0F;
  msg.body.begin.hlc = 0xFFFFFFFFFFFFFFFFULL;
  return msg;
}

LocalityWireMessage commit_message() {
  LocalityWireMessage msg = message(LOCALITY_WIRE_COMMIT);
  msg.body.commit.commit_lsn = 0x1122334455667788ULL;
  msg.body.commit.end_lsn = 0x1122334455667799ULL;
  msg.body.commit.commit_time = 0x7FFFFFFFFFFFFFFFLL;
  msg.body.commit.flags = 0;
  return msg;
}

LocalityWireMessage relation_message(uint32_t relid, Name schema, Name table,
                                     const std::vector<LocalityWireAttr>& attrs,
                                     char replident = LOCALITY_WIRE_REPLIDENT_DEFAULT) {
  LocalityWireMessage msg = message(LOCALITY_WIRE_RELATION);
  msg.body.relation.relid = relid;
  msg.body.relation.replident = replident;
  msg.body.relation.schema = schema.text;
  msg.body.relation.table = table.text;
  msg.body.relation.natts = static_cast<uint16_t>(attrs.size());
  msg.body.relation.attrs = attrs.empty() ? nullptr : attrs.data();
  return msg;
}

LocalityWireMessage insert_message(uint32_t relid, const std::vector<LocalityWireColumn>& row) {
  LocalityWireMessage msg = message(LOCALITY_WIRE_INSERT);
  msg.body.insert.relid = relid;
  msg.body.insert.new_tuple = tuple(row);
  return msg;
}

LocalityWireMessage update_message(uint32_t relid, char old_kind,
                                   const std::vector<LocalityWireColumn>& old_row,
                                   const std::vector<LocalityWireColumn>& new_row) {
  LocalityWireMessage msg = message(LOCALITY_WIRE_UPDATE);
  msg.body.update.relid = relid;
  msg.body.update.old_kind = old_kind;
  if (old_kind != LOCALITY_WIRE_OLD_NONE) msg.body.update.old_tuple = tuple(old_row);
  msg.body.update.new_tuple = tuple(new_row);
  return msg;
}

LocalityWireMessage delete_message(uint32_t relid, char old_kind,
                                   const std::vector<LocalityWireColumn>& old_row) {
  LocalityWireMessage msg = message(LOCALITY_WIRE_DELETE);
  msg.body.del.relid = relid;
  msg.body.del.old_kind = old_kind;
  msg.body.del.old_tuple = tuple(old_row);
  return msg;
}

LocalityWireMessage truncate_message(uint8_t flags, const std::vector<uint32_t>& relids) {
  LocalityWireMessage msg = message(LOCALITY_WIRE_TRUNCATE);
  msg.body.truncate.flags = flags;
  msg.body.truncate.nrels = static_cast<uint16_t>(relids.size());
  msg.body.truncate.relids = relids.empty() ? nullptr : relids.data();
  return msg;
}

// One message of every type and shape, with the storage they point at.
class Samples {
 public:
  Samples() {
    attrs_ = {attr(LOCALITY_WIRE_ATTR_KEY, "id", "bigint", -1),
              attr(0, "region", "locality.region", -1), attr(0, "name", "character varying", 68),
              attr(0, "", "", 0)};
    key_row_ = {text_column(id_), null_column(), null_column(), null_column()};
    full_row_ = {text_column(id_), text_column(region_), text_column(empty_), null_column()};
    new_row_ = {text_column(id_), binary_column(binary_), unchanged_column(), null_column()};
    relids_ = {16384, 0xFFFFFFFF, 1};
    add("startup", startup_message(1));
    add("begin", begin_message());
    add("commit", commit_message());
    add("relation", relation_message(16384, "public", "users", attrs_));
    add("relation without columns", relation_message(7, "", "", {}, 'n'));
    add("insert", insert_message(16384, full_row_));
    add("insert of no columns", insert_message(16384, {}));
    add("update with key", update_message(16384, LOCALITY_WIRE_OLD_KEY, key_row_, new_row_));
    add("update with old row", update_message(16384, LOCALITY_WIRE_OLD_FULL, full_row_, new_row_));
    add("update without old", update_message(16384, LOCALITY_WIRE_OLD_NONE, {}, new_row_));
    add("delete by key", delete_message(16384, LOCALITY_WIRE_OLD_KEY, key_row_));
    add("delete by old row", delete_message(16384, LOCALITY_WIRE_OLD_FULL, full_row_));
    add("truncate", truncate_message(LOCALITY_WIRE_TRUNCATE_CASCADE, relids_));
    add("truncate of nothing", truncate_message(0, {}));
  }
  Samples(const Samples&) = delete;
  Samples& operator=(const Samples&) = delete;

  struct Sample {
    std::string name;
    LocalityWireMessage msg;
  };
  const std::vector<Sample>& all() const { return samples_; }

 private:
  void add(const char* name, const LocalityWireMessage& msg) { samples_.push_back({name, msg}); }

  std::string id_ = "42", region_ = "eu-west1", empty_;
  std::string binary_ = std::string("\0\x01\xFE\xFF", 4);
  std::vector<LocalityWireAttr> attrs_;
  std::vector<LocalityWireColumn> key_row_, full_row_, new_row_;
  std::vector<uint32_t> relids_;
  std::vector<Sample> samples_;
};

// ---- encoding and decoding through the C API ----------------------------

// Encodes msg, checking the size call agrees with what is written.
Bytes encode(const LocalityWireMessage& msg) {
  LocalityStatus status;
  size_t size = 0;
  EXPECT_EQ(locality_wire_encoded_size(&msg, &size, &status), 1)
      << status.message << ": " << status.detail;
  Bytes out(size, '\0');
  size_t written = 0;
  EXPECT_EQ(
      locality_wire_encode(&msg, out.empty() ? nullptr : &out[0], out.size(), &written, &status), 1)
      << status.message << ": " << status.detail;
  EXPECT_EQ(written, size);
  return out;
}

// The failed status of encoding msg (both calls must fail the same way).
LocalityStatus encode_error(const LocalityWireMessage& msg, const char* sqlstate) {
  LocalityStatus status;
  size_t size = 123;
  EXPECT_EQ(locality_wire_encoded_size(&msg, &size, &status), 0);
  EXPECT_EQ(size, 0u);
  EXPECT_STREQ(status.sqlstate, sqlstate) << status.message;
  char buf[4096];
  size_t written = 123;
  LocalityStatus encode_status;
  EXPECT_EQ(locality_wire_encode(&msg, buf, sizeof buf, &written, &encode_status), 0);
  EXPECT_EQ(written, 0u);
  EXPECT_STREQ(encode_status.message, status.message);
  EXPECT_STREQ(encode_status.detail, status.detail);
  return status;
}

// Owns a decoder for a test.
struct DecoderDeleter {
  void operator()(LocalityWireDecoder* d) const { locality_wire_decoder_destroy(d); }
};
using DecoderPtr = std::unique_ptr<LocalityWireDecoder, DecoderDeleter>;

DecoderPtr make_decoder() {
  LocalityStatus status;
  DecoderPtr decoder(locality_wire_decoder_create(&status));
  EXPECT_NE(decoder, nullptr) << status.message;
  return decoder;
}

// Copies bytes into an allocation of exactly their size, so AddressSanitizer
// catches a read one byte past the end.
std::unique_ptr<char[]> exact_copy(const Bytes& bytes) {
  std::unique_ptr<char[]> copy(new char[bytes.size() > 0 ? bytes.size() : 1]);
  if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
  return copy;
}

struct Decoded {
  int rc;
  LocalityStatus status;
  LocalityWireMessage msg;
};

// Decodes bytes that must still be alive while the result is used.
Decoded decode_in_place(LocalityWireDecoder* decoder, const char* data, size_t len) {
  Decoded d;
  std::memset(&d.msg, 0xAB, sizeof d.msg);
  d.rc = locality_wire_decode(decoder, data, len, &d.msg, &d.status);
  return d;
}

// Decodes a copy and reports only success or the error (no pointers kept).
LocalityStatus decode_status(LocalityWireDecoder* decoder, const Bytes& bytes) {
  std::unique_ptr<char[]> copy = exact_copy(bytes);
  Decoded d = decode_in_place(decoder, bytes.empty() ? nullptr : copy.get(), bytes.size());
  return d.status;
}

LocalityStatus decode_error(LocalityWireDecoder* decoder, const Bytes& bytes) {
  LocalityStatus status = decode_status(decoder, bytes);
  EXPECT_EQ(status.ok, 0);
  EXPECT_STREQ(status.sqlstate, "08P01") << status.message;
  return status;
}

// ---- comparing messages -------------------------------------------------

bool same_string(const LocalityWireString& a, const LocalityWireString& b) {
  return a.len == b.len && (a.len == 0 || std::memcmp(a.data, b.data, a.len) == 0);
}

::testing::AssertionResult same_tuple(const LocalityWireTuple& a, const LocalityWireTuple& b) {
  if (a.natts != b.natts)
    return ::testing::AssertionFailure() << "natts " << a.natts << " != " << b.natts;
  for (size_t i = 0; i < a.natts; i++) {
    const LocalityWireColumn& x = a.columns[i];
    const LocalityWireColumn& y = b.columns[i];
    if (x.kind != y.kind)
      return ::testing::AssertionFailure()
             << "column " << i << " kind " << x.kind << " != " << y.kind;
    bool has_value = x.kind == LOCALITY_WIRE_COLUMN_TEXT || x.kind == LOCALITY_WIRE_COLUMN_BINARY;
    if (has_value && (x.len != y.len || (x.len > 0 && std::memcmp(x.data, y.data, x.len) != 0)))
      return ::testing::AssertionFailure() << "column " << i << " value differs";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult same_message(const LocalityWireMessage& a,
                                        const LocalityWireMessage& b) {
  if (a.type != b.type)
    return ::testing::AssertionFailure() << "type " << a.type << " != " << b.type;
  switch (a.type) {
    case LOCALITY_WIRE_STARTUP:
      if (a.body.startup.version != b.body.startup.version)
        return ::testing::AssertionFailure() << "version";
      break;
    case LOCALITY_WIRE_BEGIN: {
      const LocalityWireBegin &x = a.body.begin, &y = b.body.begin;
      if (x.final_lsn != y.final_lsn || x.commit_time != y.commit_time || x.xid != y.xid ||
          x.origin_region_id != y.origin_region_id || x.hlc != y.hlc)
        return ::testing::AssertionFailure() << "begin fields";
      break;
    }
    case LOCALITY_WIRE_COMMIT: {
      const LocalityWireCommit &x = a.body.commit, &y = b.body.commit;
      if (x.commit_lsn != y.commit_lsn || x.end_lsn != y.end_lsn ||
          x.commit_time != y.commit_time || x.flags != y.flags)
        return ::testing::AssertionFailure() << "commit fields";
      break;
    }
    case LOCALITY_WIRE_RELATION: {
      const LocalityWireRelation &x = a.body.relation, &y = b.body.relation;
      if (x.relid != y.relid || x.replident != y.replident || !same_string(x.schema, y.schema) ||
          !same_string(x.table, y.table) || x.natts != y.natts)
        return ::testing::AssertionFailure() << "relation fields";
      for (size_t i = 0; i < x.natts; i++) {
        const LocalityWireAttr &p = x.attrs[i], &q = y.attrs[i];
        if (p.flags != q.flags || !same_string(p.name, q.name) ||
            !same_string(p.type_name, q.type_name) || p.typmod != q.typmod)
          return ::testing::AssertionFailure() << "attribute " << i;
      }
      break;
    }
    case LOCALITY_WIRE_INSERT:
      if (a.body.insert.relid != b.body.insert.relid)
        return ::testing::AssertionFailure() << "relid";
      return same_tuple(a.body.insert.new_tuple, b.body.insert.new_tuple);
    case LOCALITY_WIRE_UPDATE: {
      const LocalityWireUpdate &x = a.body.update, &y = b.body.update;
      if (x.relid != y.relid || x.old_kind != y.old_kind)
        return ::testing::AssertionFailure() << "update fields";
      if (x.old_kind != LOCALITY_WIRE_OLD_NONE) {
        ::testing::AssertionResult old = same_tuple(x.old_tuple, y.old_tuple);
        if (!old) return old;
      }
      return same_tuple(x.new_tuple, y.new_tuple);
    }
    case LOCALITY_WIRE_DELETE:
      if (a.body.del.relid != b.body.del.relid || a.body.del.old_kind != b.body.del.old_kind)
        return ::testing::AssertionFailure() << "delete fields";
      return same_tuple(a.body.del.old_tuple, b.body.del.old_tuple);
    case LOCALITY_WIRE_TRUNCATE: {
      const LocalityWireTruncate &x = a.body.truncate, &y = b.body.truncate;
      if (x.flags != y.flags || x.nrels != y.nrels)
        return ::testing::AssertionFailure() << "truncate fields";
      for (size_t i = 0; i < x.nrels; i++)
        if (x.relids[i] != y.relids[i]) return ::testing::AssertionFailure() << "relid " << i;
      break;
    }
    default:
      return ::testing::AssertionFailure() << "unknown type";
  }
  return ::testing::AssertionSuccess();
}

// Encodes msg, decodes it again and checks nothing was lost.
void expect_round_trip(const LocalityWireMessage& msg, LocalityWireDecoder* decoder,
                       const std::string& name = "") {
  Bytes bytes = encode(msg);
  std::unique_ptr<char[]> copy = exact_copy(bytes);
  Decoded d = decode_in_place(decoder, copy.get(), bytes.size());
  ASSERT_EQ(d.rc, 1) << name << ": " << d.status.message << ": " << d.status.detail;
  EXPECT_TRUE(same_message(msg, d.msg)) << name;
  EXPECT_EQ(encode(d.msg), bytes) << name;
}

Bytes be16(uint16_t v) { return Bytes{static_cast<char>(v >> 8), static_cast<char>(v)}; }
Bytes be32(uint32_t v) {
  return be16(static_cast<uint16_t>(v >> 16)) + be16(static_cast<uint16_t>(v));
}
Bytes be64(uint64_t v) {
  return be32(static_cast<uint32_t>(v >> 32)) + be32(static_cast<uint32_t>(v));
}

// ---- version handshake --------------------------------------------------

int negotiate(int client_min, int client_max, LocalityStatus* status) {
  int chosen = -1;
  locality_wire_negotiate(client_min, client_max, &chosen, status);
  return chosen;
}

TEST(WireNegotiation, ChoosesVersionOneForAClientOfVersionOne) {
  LocalityStatus status;
  EXPECT_EQ(negotiate(1, 1, &status), 1);
  EXPECT_EQ(status.ok, 1);
}

TEST(WireNegotiation, ChoosesTheHighestVersionBothSidesSpeak) {
  LocalityStatus status;
  EXPECT_EQ(negotiate(1, 7, &status), LOCALITY_WIRE_VERSION_MAX);
  EXPECT_EQ(negotiate(0, 1, &status), 1);
  EXPECT_EQ(status.ok, 1);
}

TEST(WireNegotiation, RefusesANewerClientNamingBothRanges) {
  LocalityStatus status;
  EXPECT_EQ(negotiate(3, 4, &status), 0);
  EXPECT_EQ(status.ok, 0);
  EXPECT_STREQ(status.sqlstate, "08P01");
  EXPECT_STREQ(status.message,
               "pg_locality protocol version mismatch: server speaks 1..2, client asked 3..4");
  EXPECT_NE(std::string(status.hint), "");
}

TEST(WireNegotiation, AVersionOneClientKeepsVersionOneAndABatchingClientGetsTwo) {
  LocalityStatus status;
  EXPECT_EQ(negotiate(1, 1, &status), 1);
  EXPECT_EQ(negotiate(1, 2, &status), 2);
  EXPECT_EQ(negotiate(2, 2, &status), 2);
  EXPECT_EQ(status.ok, 1);
  EXPECT_EQ(LOCALITY_WIRE_VERSION_BATCHED, 2);
}

TEST(WireNegotiation, RefusesAnOlderClient) {
  LocalityStatus status;
  EXPECT_EQ(negotiate(0, 0, &status), 0);
  EXPECT_STREQ(status.message,
               "pg_locality protocol version mismatch: server speaks 1..2, client asked 0..0");
}

TEST(WireNegotiation, RefusesAMinimumAboveTheMaximum) {
  LocalityStatus status;
  EXPECT_EQ(negotiate(3, 1, &status), 0);
  EXPECT_STREQ(status.sqlstate, "08P01");
  EXPECT_STREQ(status.message, "invalid pg_locality protocol version range 3..1");
  EXPECT_STREQ(status.detail, "min_protocol_version 3 is above protocol_version 1.");
}

TEST(WireNegotiation, ToleratesANullChosenPointer) {
  LocalityStatus status;
  EXPECT_EQ(locality_wire_negotiate(1, 1, nullptr, &status), 1);
}

// ---- byte layouts -------------------------------------------------------

TEST(WireEncoder, StartupIsTheTypeAndTheVersion) {
  EXPECT_EQ(encode(startup_message(1)), Bytes("S") + be16(1));
  EXPECT_EQ(encode(startup_message(1)).size(), size_t(LOCALITY_WIRE_STARTUP_SIZE));
}

TEST(WireEncoder, BeginIsThirtyOneBytesInNetworkByteOrder) {
  Bytes expected = Bytes("B") + be64(0x0102030405060708ULL) + be64(0xFFFFFFFFFFFFFFFEULL) +
                   be32(0xA1B2C3D4) + be16(0x0E0F) + be64(0xFFFFFFFFFFFFFFFFULL);
  EXPECT_EQ(encode(begin_message()), expected);
  EXPECT_EQ(expected.size(), size_t(LOCALITY_WIRE_BEGIN_SIZE));
}

TEST(WireEncoder, CommitIsTwentySixBytesInNetworkByteOrder) {
  Bytes expected = Bytes("C") + be64(0x1122334455667788ULL) + be64(0x1122334455667799ULL) +
                   be64(0x7FFFFFFFFFFFFFFFULL) + Bytes(1, '\0');
  EXPECT_EQ(encode(commit_message()), expected);
  EXPECT_EQ(expected.size(), size_t(LOCALITY_WIRE_COMMIT_SIZE));
}

TEST(WireEncoder, RelationCarriesNamesTypesAndKeyFlags) {
  std::vector<LocalityWireAttr> attrs = {attr(LOCALITY_WIRE_ATTR_KEY, "id", "integer", -1),
                                         attr(0, "region", "locality.region", 12)};
  Bytes expected = Bytes("R") + be32(16384) + "f" + be16(6) + "public" + be16(1) + "t" + be16(2) +
                   Bytes(1, '\x01') + be16(2) + "id" + be16(7) + "integer" + be32(0xFFFFFFFF) +
                   Bytes(1, '\0') + be16(6) + "region" + be16(15) + "locality.region" + be32(12);
  EXPECT_EQ(encode(relation_message(16384, "public", "t", attrs, 'f')), expected);
}

TEST(WireEncoder, TupleColumnsAreAKindByteAndForValuesALengthAndBytes) {
  std::string text = "abc", binary = std::string("\0\x01", 2);
  std::vector<LocalityWireColumn> row = {null_column(), text_column(text), binary_column(binary)};
  Bytes expected =
      Bytes("I") + be32(7) + be16(3) + "n" + "t" + be32(3) + "abc" + "b" + be32(2) + binary;
  EXPECT_EQ(encode(insert_message(7, row)), expected);
}

TEST(WireEncoder, UpdateOmitsTheOldTupleWhenThereIsNone) {
  std::string v = "1";
  std::vector<LocalityWireColumn> key = {text_column(v), null_column()};
  std::vector<LocalityWireColumn> row = {text_column(v), unchanged_column()};
  Bytes new_tuple = be16(2) + "t" + be32(1) + "1" + "u";
  EXPECT_EQ(encode(update_message(9, 'N', key, row)), Bytes("U") + be32(9) + "N" + new_tuple);
  EXPECT_EQ(encode(update_message(9, 'K', key, row)),
            Bytes("U") + be32(9) + "K" + be16(2) + "t" + be32(1) + "1" + "n" + new_tuple);
}

TEST(WireEncoder, DeleteAndTruncateLayouts) {
  std::string v = "1";
  EXPECT_EQ(encode(delete_message(9, 'O', {text_column(v)})),
            Bytes("D") + be32(9) + "O" + be16(1) + "t" + be32(1) + "1");
  std::vector<uint32_t> relids = {1, 0xFFFFFFFE};
  EXPECT_EQ(encode(truncate_message(
                LOCALITY_WIRE_TRUNCATE_CASCADE | LOCALITY_WIRE_TRUNCATE_RESTART_IDENTITY, relids)),
            Bytes("T") + Bytes(1, '\x03') + be16(2) + be32(1) + be32(0xFFFFFFFE));
}

// ---- round trips --------------------------------------------------------

TEST(WireProtocol, EveryMessageRoundTrips) {
  Samples samples;
  DecoderPtr decoder = make_decoder();
  for (const Samples::Sample& s : samples.all()) expect_round_trip(s.msg, decoder.get(), s.name);
}

TEST(WireProtocol, BeginAndCommitKeepExtremeValues) {
  DecoderPtr decoder = make_decoder();
  LocalityWireMessage begin = message(LOCALITY_WIRE_BEGIN);
  begin.body.begin.commit_time = INT64_MIN;
  expect_round_trip(begin, decoder.get());
  begin.body.begin = LocalityWireBegin{UINT64_MAX, INT64_MAX, UINT32_MAX, UINT16_MAX, UINT64_MAX};
  expect_round_trip(begin, decoder.get());
  LocalityWireMessage commit = message(LOCALITY_WIRE_COMMIT);
  commit.body.commit = LocalityWireCommit{0, UINT64_MAX, INT64_MIN, 0};
  expect_round_trip(commit, decoder.get());
}

TEST(WireProtocol, NegativeTypmodsRoundTrip) {
  DecoderPtr decoder = make_decoder();
  std::vector<LocalityWireAttr> attrs = {attr(0, "a", "numeric", INT32_MIN),
                                         attr(0, "b", "numeric", -1),
                                         attr(0, "c", "numeric", INT32_MAX)};
  expect_round_trip(relation_message(1, "s", "t", attrs), decoder.get());
}

TEST(WireProtocol, EmptyNamesAndEmptyValuesRoundTrip) {
  DecoderPtr decoder = make_decoder();
  std::vector<LocalityWireAttr> attrs = {attr(0, "", "", 0)};
  expect_round_trip(relation_message(1, "", "", attrs), decoder.get());
  std::vector<LocalityWireColumn> row = {LocalityWireColumn{'t', nullptr, 0},
                                         LocalityWireColumn{'b', nullptr, 0}};
  expect_round_trip(insert_message(1, row), decoder.get());
}

TEST(WireProtocol, ColumnsOfEveryKindRoundTrip) {
  DecoderPtr decoder = make_decoder();
  std::string text = "caf\xC3\xA9 \"quoted\" \\ newline\n", binary;
  for (int b = 0; b < 256; b++) binary.push_back(static_cast<char>(b));
  std::vector<LocalityWireColumn> old_row = {text_column(text), binary_column(binary),
                                             null_column()};
  std::vector<LocalityWireColumn> new_row = {text_column(text), binary_column(binary),
                                             null_column(), unchanged_column()};
  old_row.push_back(null_column());
  expect_round_trip(update_message(5, LOCALITY_WIRE_OLD_FULL, old_row, new_row), decoder.get());
}

TEST(WireProtocol, NamesOfTheMaximumLengthRoundTrip) {
  DecoderPtr decoder = make_decoder();
  std::string longest(LOCALITY_WIRE_STRING_MAX, 'x');
  std::vector<LocalityWireAttr> attrs = {attr(0, longest, longest, -1)};
  LocalityWireMessage msg = relation_message(1, longest, longest, attrs);
  EXPECT_EQ(encode(msg).size(), 1 + 4 + 1 + 4 * (2 + size_t(LOCALITY_WIRE_STRING_MAX)) + 2 + 1 + 4);
  expect_round_trip(msg, decoder.get());
}

TEST(WireEncoder, RefusesANameOneByteOverTheMaximum) {
  std::string too_long(size_t(LOCALITY_WIRE_STRING_MAX) + 1, 'x');
  LocalityStatus status = encode_error(relation_message(1, "public", too_long, {}), "54000");
  EXPECT_STREQ(status.message, "pg_locality replication message field is too long");
  EXPECT_STREQ(status.detail,
               "The table name of a RELATION message is 65536 bytes; the protocol allows at most "
               "65535.");
  std::vector<LocalityWireAttr> attrs = {attr(0, "a", too_long, -1)};
  status = encode_error(relation_message(1, "public", "t", attrs), "54000");
  EXPECT_NE(std::string(status.detail).find("type name of attribute 1"), std::string::npos)
      << status.detail;
}

TEST(WireProtocol, SixteenHundredColumnsRoundTrip) {
  DecoderPtr decoder = make_decoder();
  std::vector<std::string> names, values;
  for (int i = 0; i < 1600; i++) {
    names.push_back("column_" + std::to_string(i));
    values.push_back(std::to_string(i * 7919));
  }
  std::vector<LocalityWireAttr> attrs;
  std::vector<LocalityWireColumn> row;
  for (size_t i = 0; i < 1600; i++) {
    attrs.push_back(attr(i == 0 ? LOCALITY_WIRE_ATTR_KEY : 0, names[i], "integer", -1));
    row.push_back(i % 3 == 0   ? text_column(values[i])
                  : i % 3 == 1 ? binary_column(values[i])
                               : null_column());
  }
  expect_round_trip(relation_message(1, "public", "wide", attrs), decoder.get());
  expect_round_trip(insert_message(1, row), decoder.get());
  expect_round_trip(update_message(1, LOCALITY_WIRE_OLD_FULL, row, row), decoder.get());
}

TEST(WireProtocol, TheMostColumnsAU16CanCountRoundTrip) {
  DecoderPtr decoder = make_decoder();
  std::vector<LocalityWireColumn> row(UINT16_MAX, null_column());
  LocalityWireMessage msg = insert_message(1, row);
  EXPECT_EQ(encode(msg).size(), 1 + 4 + 2 + size_t(UINT16_MAX));
  expect_round_trip(msg, decoder.get());
}

TEST(WireProtocol, LargeValuesRoundTrip) {
  DecoderPtr decoder = make_decoder();
  std::string big(16 * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>(i / 4096);
  std::string text(1024 * 1024, 'v');
  std::vector<LocalityWireColumn> row = {binary_column(big), text_column(text)};
  expect_round_trip(insert_message(1, row), decoder.get());
}

TEST(WireDecoder, PointsIntoTheInputInsteadOfCopying) {
  DecoderPtr decoder = make_decoder();
  std::string value = "hello";
  std::vector<LocalityWireAttr> attrs = {attr(0, "greeting", "text", -1)};
  std::vector<LocalityWireColumn> row = {text_column(value)};
  for (const LocalityWireMessage& msg :
       {relation_message(1, "public", "t", attrs), insert_message(1, row)}) {
    Bytes bytes = encode(msg);
    Decoded d = decode_in_place(decoder.get(), bytes.data(), bytes.size());
    ASSERT_EQ(d.rc, 1) << d.status.detail;
    const char* begin = bytes.data();
    const char* end = begin + bytes.size();
    auto inside = [&](const char* p, size_t n) { return p >= begin && p + n <= end; };
    if (msg.type == LOCALITY_WIRE_RELATION) {
      EXPECT_TRUE(inside(d.msg.body.relation.schema.data, 6));
      EXPECT_TRUE(inside(d.msg.body.relation.attrs[0].name.data, 8));
    } else {
      EXPECT_TRUE(inside(d.msg.body.insert.new_tuple.columns[0].data, 5));
      EXPECT_EQ(std::string(d.msg.body.insert.new_tuple.columns[0].data, 5), "hello");
    }
  }
}

TEST(WireDecoder, NullAndUnchangedColumnsHaveNoData) {
  DecoderPtr decoder = make_decoder();
  std::string v = "1";
  Bytes bytes = encode(update_message(1, 'N', {}, {null_column(), unchanged_column()}));
  Decoded d = decode_in_place(decoder.get(), bytes.data(), bytes.size());
  ASSERT_EQ(d.rc, 1);
  EXPECT_EQ(d.msg.body.update.old_tuple.natts, 0);
  EXPECT_EQ(d.msg.body.update.old_tuple.columns, nullptr);
  for (int i = 0; i < 2; i++) {
    EXPECT_EQ(d.msg.body.update.new_tuple.columns[i].data, nullptr);
    EXPECT_EQ(d.msg.body.update.new_tuple.columns[i].len, 0u);
  }
}

// ---- encoder refusals ---------------------------------------------------

TEST(WireEncoder, RefusesAnUnknownMessageType) {
  LocalityStatus status = encode_error(message('Z'), "XX000");
  EXPECT_STREQ(status.message, "cannot encode pg_locality replication message");
  EXPECT_STREQ(status.detail, "Unknown message type 'Z'.");
  status = encode_error(message('\0'), "XX000");
  EXPECT_STREQ(status.detail, "Unknown message type 0x00.");
}

TEST(WireEncoder, RefusesAnUnknownColumnKind) {
  std::string v = "1";
  LocalityStatus status = encode_error(
      insert_message(1, {null_column(), LocalityWireColumn{'x', v.data(), 1}}), "XX000");
  EXPECT_STREQ(status.detail,
               "INSERT message: column 2 of the new tuple has kind 'x', not 'n', 'u', 't' or 'b'.");
}

TEST(WireEncoder, RefusesUnchangedColumnsOutsideAnUpdatesNewTuple) {
  std::vector<LocalityWireColumn> row = {unchanged_column()};
  encode_error(insert_message(1, row), "XX000");
  encode_error(update_message(1, 'O', row, {null_column()}), "XX000");
  LocalityStatus status = encode_error(delete_message(1, 'K', row), "XX000");
  EXPECT_STREQ(status.detail,
               "DELETE message: column 1 of the old tuple is 'u' (unchanged TOASTed value), which "
               "only an UPDATE's new tuple may be.");
}

TEST(WireEncoder, RefusesNulBytesInNamesAndTextValuesButNotBinaryValues) {
  std::string nul = std::string("a\0b", 3);
  encode_error(relation_message(1, nul, "t", {}), "XX000");
  std::vector<LocalityWireAttr> attrs = {attr(0, nul, "text", -1)};
  encode_error(relation_message(1, "s", "t", attrs), "XX000");
  LocalityStatus status = encode_error(insert_message(1, {text_column(nul)}), "XX000");
  EXPECT_STREQ(status.detail,
               "INSERT message: column 1 of the new tuple is a text value containing a NUL byte.");
  encode(insert_message(1, {binary_column(nul)}));
}

TEST(WireEncoder, RefusesUnknownFlagBits) {
  LocalityWireMessage commit = commit_message();
  commit.body.commit.flags = 1;
  encode_error(commit, "XX000");
  std::vector<LocalityWireAttr> attrs = {attr(0x02, "a", "text", -1)};
  encode_error(relation_message(1, "s", "t", attrs), "XX000");
  LocalityStatus status = encode_error(truncate_message(0x04, {1}), "XX000");
  EXPECT_STREQ(status.detail, "TRUNCATE message: unknown flags 0x04.");
}

TEST(WireEncoder, RefusesUnknownReplicaIdentitiesAndOldTupleKinds) {
  encode_error(relation_message(1, "s", "t", {}, 'x'), "XX000");
  encode_error(update_message(1, 'X', {}, {}), "XX000");
  LocalityStatus status = encode_error(delete_message(1, 'N', {}), "XX000");
  EXPECT_STREQ(status.detail, "DELETE message: old tuple kind 'N' is not 'K' or 'O'.");
}

TEST(WireEncoder, RefusesMissingArrays) {
  LocalityWireMessage insert = insert_message(1, {});
  insert.body.insert.new_tuple.natts = 2;
  encode_error(insert, "XX000");
  LocalityWireMessage relation = relation_message(1, "s", "t", {});
  relation.body.relation.natts = 1;
  encode_error(relation, "XX000");
  relation = relation_message(1, "s", "t", {});
  relation.body.relation.table = LocalityWireString{nullptr, 3};
  encode_error(relation, "XX000");
  encode_error(insert_message(1, {LocalityWireColumn{'b', nullptr, 4}}), "XX000");
  LocalityWireMessage truncate = truncate_message(0, {});
  truncate.body.truncate.nrels = 1;
  encode_error(truncate, "XX000");
}

TEST(WireEncoder, RefusesAStartupVersionThisBuildDoesNotSpeak) {
  encode_error(startup_message(0), "XX000");
  LocalityStatus status = encode_error(startup_message(LOCALITY_WIRE_VERSION_MAX + 1), "XX000");
  EXPECT_STREQ(status.detail, "STARTUP message: version 3 is not one this build speaks (1..2).");
}

TEST(WireEncoder, WritesNothingWhenTheBufferIsTooSmall) {
  LocalityWireMessage msg = begin_message();
  char buf[LOCALITY_WIRE_BEGIN_SIZE];
  std::memset(buf, '#', sizeof buf);
  LocalityStatus status;
  size_t written = 99;
  EXPECT_EQ(locality_wire_encode(&msg, buf, sizeof buf - 1, &written, &status), 0);
  EXPECT_STREQ(status.sqlstate, "54000");
  EXPECT_STREQ(status.detail, "It needs 31 bytes; 30 were given.");
  EXPECT_EQ(written, 0u);
  EXPECT_EQ(std::string(buf, sizeof buf), std::string(sizeof buf, '#'));
  EXPECT_EQ(locality_wire_encode(&msg, nullptr, 100, &written, &status), 0);
  EXPECT_EQ(locality_wire_encode(&msg, buf, sizeof buf, &written, &status), 1);
  EXPECT_EQ(written, sizeof buf);
}

TEST(WireEncoder, RefusesANullMessage) {
  LocalityStatus status;
  size_t size = 5;
  EXPECT_EQ(locality_wire_encoded_size(nullptr, &size, &status), 0);
  EXPECT_EQ(size, 0u);
  EXPECT_STREQ(status.sqlstate, "XX000");
}

// ---- version 2: several messages in one payload ---------------------------

TEST(WireDecoder, DecodeNextWalksABatchMessageByMessage) {
  DecoderPtr decoder = make_decoder();
  std::vector<LocalityWireAttr> attrs = {attr(LOCALITY_WIRE_ATTR_KEY, "id", "bigint", -1),
                                         attr(0, "v", "text", -1)};
  std::string id = "7", v = "seven";
  std::vector<LocalityWireColumn> row = {text_column(id), text_column(v)};
  std::vector<LocalityWireMessage> batch = {startup_message(2), begin_message(),
                                            relation_message(9, "public", "t", attrs),
                                            insert_message(9, row), commit_message()};
  Bytes bytes;
  std::vector<size_t> sizes;
  for (const LocalityWireMessage& msg : batch) {
    Bytes one = encode(msg);
    sizes.push_back(one.size());
    bytes += one;
  }
  std::unique_ptr<char[]> copy = exact_copy(bytes);
  size_t off = 0;
  for (size_t i = 0; i < batch.size(); i++) {
    LocalityWireMessage msg;
    LocalityStatus status;
    size_t consumed = 12345;
    ASSERT_EQ(locality_wire_decode_next(decoder.get(), copy.get() + off, bytes.size() - off, &msg,
                                        &consumed, &status),
              1)
        << status.detail;
    EXPECT_EQ(consumed, sizes[i]);
    EXPECT_EQ(msg.type, batch[i].type);
    EXPECT_TRUE(same_message(msg, batch[i])) << "message " << i;
    off += consumed;
  }
  EXPECT_EQ(off, bytes.size());
}

TEST(WireDecoder, DecodeNextOfOneMessageConsumesItAll) {
  DecoderPtr decoder = make_decoder();
  Bytes bytes = encode(commit_message());
  LocalityStatus status;
  size_t consumed = 0;
  ASSERT_EQ(locality_wire_decode_next(decoder.get(), bytes.data(), bytes.size(), nullptr,
                                      &consumed, &status),
            1);
  EXPECT_EQ(consumed, static_cast<size_t>(LOCALITY_WIRE_COMMIT_SIZE));
}

TEST(WireDecoder, TheStrictDecodeStillRefusesASecondMessage) {
  DecoderPtr decoder = make_decoder();
  LocalityStatus status = decode_error(decoder.get(), encode(commit_message()) + encode(commit_message()));
  EXPECT_STREQ(status.detail,
               "At byte offset 26 of the 52-byte COMMIT message: 26 bytes follow the end of the "
               "message.");
}

TEST(WireDecoder, DecodeNextRefusesATruncatedMessageAfterAGoodOne) {
  DecoderPtr decoder = make_decoder();
  Bytes one = encode(commit_message());
  Bytes bytes = one + one.substr(0, 10);
  std::unique_ptr<char[]> copy = exact_copy(bytes);
  LocalityWireMessage msg;
  LocalityStatus status;
  size_t consumed = 0;
  ASSERT_EQ(locality_wire_decode_next(decoder.get(), copy.get(), bytes.size(), &msg, &consumed,
                                      &status),
            1);
  ASSERT_EQ(consumed, one.size());
  consumed = 99;
  EXPECT_EQ(locality_wire_decode_next(decoder.get(), copy.get() + one.size(),
                                      bytes.size() - one.size(), &msg, &consumed, &status),
            0);
  EXPECT_EQ(consumed, 0u);
  EXPECT_STREQ(status.sqlstate, "08P01");
  EXPECT_STREQ(status.message, "malformed pg_locality replication message");
}

// ---- decoder refusals ---------------------------------------------------

TEST(WireDecoder, RefusesAnEmptyMessage) {
  DecoderPtr decoder = make_decoder();
  LocalityStatus status = decode_error(decoder.get(), "");
  EXPECT_STREQ(status.message, "malformed pg_locality replication message");
  EXPECT_STREQ(status.detail, "At byte offset 0 of the 0-byte message: the message is empty.");
}

TEST(WireDecoder, RefusesAnUnknownMessageType) {
  DecoderPtr decoder = make_decoder();
  LocalityStatus status = decode_error(decoder.get(), "Kxyz");
  EXPECT_STREQ(status.detail,
               "At byte offset 0 of the 4-byte message: the type 'K' is not one of 'S', 'B', 'C', "
               "'R', 'I', 'U', 'D', 'T'.");
  decode_error(decoder.get(), Bytes(1, '\xFF'));
}

TEST(WireDecoder, ReportsTheOffsetOfATruncatedField) {
  DecoderPtr decoder = make_decoder();
  std::string v = "abc";
  Bytes bytes = encode(insert_message(7, {null_column(), text_column(v)}));
  LocalityStatus status = decode_error(decoder.get(), bytes.substr(0, 11));
  EXPECT_STREQ(status.detail,
               "At byte offset 9 of the 11-byte INSERT message: the value length of column 2 of "
               "the new tuple needs 4 bytes, but only 2 remain.");
  status = decode_error(decoder.get(), bytes.substr(0, bytes.size() - 1));
  EXPECT_STREQ(status.detail,
               "At byte offset 13 of the 15-byte INSERT message: the value of column 2 of the new "
               "tuple needs 3 bytes, but only 2 remain.");
}

TEST(WireDecoder, ReportsTheOffsetOfABadColumnKind) {
  DecoderPtr decoder = make_decoder();
  Bytes bytes = Bytes("I") + be32(7) + be16(2) + "n" + "z";
  LocalityStatus status = decode_error(decoder.get(), bytes);
  EXPECT_STREQ(status.detail,
               "At byte offset 8 of the 9-byte INSERT message: the kind of column 2 of the new "
               "tuple is 'z', not 'n', 'u', 't' or 'b'.");
}

TEST(WireDecoder, RefusesTrailingBytes) {
  DecoderPtr decoder = make_decoder();
  LocalityStatus status = decode_error(decoder.get(), encode(begin_message()) + "x");
  EXPECT_STREQ(status.detail,
               "At byte offset 31 of the 32-byte BEGIN message: 1 byte follows the end of the "
               "message.");
}

TEST(WireDecoder, RefusesUnchangedColumnsOutsideAnUpdatesNewTuple) {
  DecoderPtr decoder = make_decoder();
  decode_error(decoder.get(), Bytes("I") + be32(1) + be16(1) + "u");
  decode_error(decoder.get(), Bytes("D") + be32(1) + "O" + be16(1) + "u");
  LocalityStatus status =
      decode_error(decoder.get(), Bytes("U") + be32(1) + "K" + be16(1) + "u" + be16(1) + "u");
  EXPECT_STREQ(status.detail,
               "At byte offset 8 of the 12-byte UPDATE message: the kind of column 1 of the old "
               "tuple is 'u' (unchanged TOASTed value), which only an UPDATE's new tuple may "
               "hold.");
  EXPECT_EQ(decode_status(decoder.get(), Bytes("U") + be32(1) + "N" + be16(1) + "u").ok, 1);
}

TEST(WireDecoder, RefusesNulBytesInNamesAndTextValues) {
  DecoderPtr decoder = make_decoder();
  LocalityStatus status =
      decode_error(decoder.get(), Bytes("I") + be32(1) + be16(1) + "t" + be32(2) + Bytes("a\0", 2));
  EXPECT_STREQ(status.detail,
               "At byte offset 12 of the 14-byte INSERT message: the text value of column 1 of the "
               "new tuple contains a NUL byte.");
  status = decode_error(decoder.get(), Bytes("R") + be32(1) + "d" + be16(1) + Bytes(1, '\0') +
                                           be16(1) + "t" + be16(0));
  EXPECT_STREQ(status.detail,
               "At byte offset 8 of the 14-byte RELATION message: the schema name contains a NUL "
               "byte.");
  EXPECT_EQ(
      decode_status(decoder.get(), Bytes("I") + be32(1) + be16(1) + "b" + be32(1) + Bytes(1, '\0'))
          .ok,
      1);
}

TEST(WireDecoder, RefusesUnknownFlagsReplicaIdentitiesAndOldTupleKinds) {
  DecoderPtr decoder = make_decoder();
  Bytes commit = encode(commit_message());
  commit.back() = '\x80';
  LocalityStatus status = decode_error(decoder.get(), commit);
  EXPECT_STREQ(status.detail,
               "At byte offset 25 of the 26-byte COMMIT message: unknown flags 0x80.");
  decode_error(decoder.get(), Bytes("T") + Bytes(1, '\x08') + be16(0));
  decode_error(decoder.get(), Bytes("R") + be32(1) + "x" + be16(0) + be16(0) + be16(0));
  status = decode_error(decoder.get(), Bytes("R") + be32(1) + "d" + be16(0) + be16(0) + be16(1) +
                                           Bytes(1, '\x03') + be16(0) + be16(0) + be32(0));
  EXPECT_STREQ(status.detail,
               "At byte offset 12 of the 21-byte RELATION message: the flags byte of attribute 1 "
               "has unknown bits 0x03.");
  decode_error(decoder.get(), Bytes("U") + be32(1) + "Q" + be16(0));
  status = decode_error(decoder.get(), Bytes("D") + be32(1) + "N" + be16(0));
  EXPECT_STREQ(status.detail,
               "At byte offset 5 of the 8-byte DELETE message: the old tuple kind 'N' is not 'K' "
               "or 'O'.");
}

TEST(WireDecoder, RefusesAStartupVersionItDoesNotSpeak) {
  DecoderPtr decoder = make_decoder();
  LocalityStatus status = decode_error(decoder.get(), Bytes("S") + be16(3));
  EXPECT_STREQ(status.message,
               "pg_locality protocol version mismatch: server chose 3, client speaks 1..2");
  decode_error(decoder.get(), Bytes("S") + be16(0));
}

TEST(WireDecoder, RefusesCountsTheInputCannotHoldWithoutReservingSpace) {
  DecoderPtr decoder = make_decoder();
  size_t capacity = decoder->decoder.capacity_bytes();
  LocalityStatus status = decode_error(decoder.get(), Bytes("I") + be32(1) + be16(65535) + "nnn");
  EXPECT_STREQ(status.detail,
               "At byte offset 5 of the 10-byte INSERT message: the column count of the new tuple "
               "is 65535, but only 3 bytes follow.");
  decode_error(decoder.get(),
               Bytes("R") + be32(1) + "d" + be16(0) + be16(0) + be16(65535) + Bytes(100, '\0'));
  decode_error(decoder.get(), Bytes("T") + Bytes(1, '\0') + be16(65535) + be32(1));
  EXPECT_EQ(decoder->decoder.capacity_bytes(), capacity);
  EXPECT_EQ(decoder->decoder.growths(), 0u);
}

TEST(WireDecoder, FailsCleanlyAtEveryCutPointOfEveryMessage) {
  Samples samples;
  DecoderPtr decoder = make_decoder();
  for (const Samples::Sample& s : samples.all()) {
    Bytes bytes = encode(s.msg);
    for (size_t cut = 0; cut < bytes.size(); cut++) {
      std::unique_ptr<char[]> copy = exact_copy(bytes.substr(0, cut));
      Decoded d = decode_in_place(decoder.get(), cut == 0 ? nullptr : copy.get(), cut);
      EXPECT_EQ(d.rc, 0) << s.name << " cut at " << cut;
      EXPECT_STREQ(d.status.sqlstate, "08P01") << s.name << " cut at " << cut;
      EXPECT_NE(std::string(d.status.detail).find("At byte offset "), std::string::npos)
          << s.name << " cut at " << cut << ": " << d.status.detail;
      // The output is left zeroed, not half-filled.
      LocalityWireMessage zero;
      std::memset(&zero, 0, sizeof zero);
      EXPECT_EQ(std::memcmp(&d.msg, &zero, sizeof zero), 0) << s.name << " cut at " << cut;
    }
  }
}

TEST(WireDecoder, RefusesANullDecoderOrBufferAndToleratesANullOutput) {
  LocalityStatus status;
  LocalityWireMessage msg;
  EXPECT_EQ(locality_wire_decode(nullptr, "S\0\1", 3, &msg, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  DecoderPtr decoder = make_decoder();
  EXPECT_EQ(locality_wire_decode(decoder.get(), nullptr, 3, &msg, &status), 0);
  EXPECT_STREQ(status.sqlstate, "XX000");
  EXPECT_EQ(locality_wire_decode(decoder.get(), "S\0\1", 3, nullptr, &status), 1);
  locality_wire_decoder_destroy(nullptr);
}

// ---- no allocation once warmed up ---------------------------------------

TEST(WireDecoder, AWarmedUpDecoderDoesNotAllocatePerMessage) {
  Samples samples;
  DecoderPtr decoder = make_decoder();
  std::vector<std::string> values;
  for (int i = 0; i < 300; i++) values.push_back(std::to_string(i));
  std::vector<LocalityWireColumn> wide;
  for (const std::string& v : values) wide.push_back(text_column(v));
  std::vector<uint32_t> relids(100, 5);

  std::vector<Bytes> stream;
  for (const Samples::Sample& s : samples.all()) stream.push_back(encode(s.msg));
  stream.push_back(encode(insert_message(1, wide)));
  stream.push_back(encode(update_message(1, 'O', wide, wide)));
  stream.push_back(encode(truncate_message(0, relids)));

  // Warm up: one pass over the widest messages of the stream.
  for (const Bytes& b : stream) ASSERT_EQ(decode_status(decoder.get(), b).ok, 1);
  size_t capacity = decoder->decoder.capacity_bytes();
  size_t growths = decoder->decoder.growths();
  Decoded first = decode_in_place(decoder.get(), stream.back().data(), stream.back().size());

  for (int round = 0; round < 1000; round++)
    for (const Bytes& b : stream) {
      Decoded d = decode_in_place(decoder.get(), b.data(), b.size());
      ASSERT_EQ(d.rc, 1);
    }
  EXPECT_EQ(decoder->decoder.capacity_bytes(), capacity);
  EXPECT_EQ(decoder->decoder.growths(), growths);
  Decoded last = decode_in_place(decoder.get(), stream.back().data(), stream.back().size());
  EXPECT_EQ(first.msg.body.truncate.relids, last.msg.body.truncate.relids);
}

TEST(WireDecoder, GrowsOnlyForAWiderMessageThanItHasSeen) {
  DecoderPtr decoder = make_decoder();
  std::vector<LocalityWireColumn> narrow(10, null_column()), wide(1000, null_column());
  ASSERT_EQ(decode_status(decoder.get(), encode(insert_message(1, narrow))).ok, 1);
  EXPECT_EQ(decoder->decoder.growths(), 0u);
  ASSERT_EQ(decode_status(decoder.get(), encode(insert_message(1, wide))).ok, 1);
  EXPECT_EQ(decoder->decoder.growths(), 1u);
  ASSERT_EQ(decode_status(decoder.get(), encode(insert_message(1, narrow))).ok, 1);
  ASSERT_EQ(decode_status(decoder.get(), encode(insert_message(1, wide))).ok, 1);
  EXPECT_EQ(decoder->decoder.growths(), 1u);
}

// ---- fuzzing ------------------------------------------------------------

// Decodes bytes from an exact-size copy: it must succeed and re-encode to the
// same bytes (the encoding is canonical), or fail with 08P01.
void expect_clean_outcome(LocalityWireDecoder* decoder, const Bytes& bytes) {
  std::unique_ptr<char[]> copy = exact_copy(bytes);
  Decoded d = decode_in_place(decoder, bytes.empty() ? nullptr : copy.get(), bytes.size());
  if (d.rc == 1) {
    EXPECT_EQ(encode(d.msg), bytes);
  } else {
    EXPECT_STREQ(d.status.sqlstate, "08P01") << d.status.message;
  }
}

TEST(WireDecoder, RandomBytesNeverCrashAndDecodeOnlyToCanonicalMessages) {
  DecoderPtr decoder = make_decoder();
  std::mt19937 rng(20240611);
  const char types[] = {'S', 'B', 'C', 'R', 'I', 'U', 'D', 'T', 'x', '\0'};
  const char kinds[] = {'n', 'u', 't', 'b', 'K', 'O', 'N', 'd', 'f'};
  std::uniform_int_distribution<size_t> type(0, sizeof types - 1);
  std::uniform_int_distribution<size_t> kind(0, sizeof kinds - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> pick(0, 3);
  int decoded = 0, inputs = 0;
  for (int i = 0; i < 5000; i++) {
    // Mostly small bytes and protocol letters, so counts and lengths are
    // often plausible and inputs get past the first fields.
    Bytes bytes(48, '\0');
    for (char& c : bytes) {
      int p = pick(rng);
      c = p == 0   ? static_cast<char>(byte(rng))
          : p == 1 ? kinds[kind(rng)]
                   : static_cast<char>(p - 2);
    }
    bytes[0] = types[type(rng)];
    // Every prefix is an input of its own: each length is tried.
    for (size_t len = 0; len <= bytes.size(); len++) {
      Bytes input = bytes.substr(0, len);
      std::unique_ptr<char[]> copy = exact_copy(input);
      Decoded d = decode_in_place(decoder.get(), len == 0 ? nullptr : copy.get(), len);
      inputs++;
      if (d.rc == 1) {
        decoded++;
        ASSERT_EQ(encode(d.msg), input);
      } else {
        ASSERT_STREQ(d.status.sqlstate, "08P01") << d.status.message;
      }
    }
  }
  // The generator must reach past the type byte, or this tests little.
  EXPECT_GT(decoded, 500) << "of " << inputs;
}

TEST(WireDecoder, MutatedMessagesNeverCrash) {
  Samples samples;
  DecoderPtr decoder = make_decoder();
  std::vector<Bytes> valid;
  for (const Samples::Sample& s : samples.all()) valid.push_back(encode(s.msg));
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pick(0, valid.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> edits(1, 4);
  std::uniform_int_distribution<int> edit(0, 3);
  for (int i = 0; i < 20000; i++) {
    Bytes bytes = valid[pick(rng)];
    for (int e = edits(rng); e > 0; e--) {
      size_t at =
          bytes.empty() ? 0 : std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng);
      switch (edit(rng)) {
        case 0:  // flip a byte
          if (!bytes.empty()) bytes[at] = static_cast<char>(byte(rng));
          break;
        case 1:  // insert a byte
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                       static_cast<char>(byte(rng)));
          break;
        case 2:  // drop a byte
          if (!bytes.empty()) bytes.erase(at, 1);
          break;
        default:  // cut the tail
          bytes.resize(at);
      }
    }
    expect_clean_outcome(decoder.get(), bytes);
    if (::testing::Test::HasFailure()) FAIL() << "input " << i;
  }
}

}  // namespace
