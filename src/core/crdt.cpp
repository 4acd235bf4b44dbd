// crdt.cpp -- what the three CRDT types share (crdt.hpp): the checked byte
// reader, region names for the text forms, the text reader, dispatch by
// kind, and the C API the shim's type functions call.
#include "locality/crdt.hpp"

#include <cstring>
#include <string>

#include "locality/crdt_encoding.hpp"
#include "locality/region_name.hpp"
#include "locality/status.hpp"

namespace locality {

const char* crdt_type_name(CrdtKind kind) noexcept {
  switch (kind) {
    case CrdtKind::kGCounter:
      return "locality.gcounter";
    case CrdtKind::kPnCounter:
      return "locality.pncounter";
    case CrdtKind::kOrSet:
      return "locality.orset";
  }
  return "locality CRDT";
}

CrdtKind crdt_kind(int kind) {
  switch (kind) {
    case LOCALITY_CRDT_GCOUNTER:
    case LOCALITY_CRDT_PNCOUNTER:
    case LOCALITY_CRDT_ORSET:
      return static_cast<CrdtKind>(kind);
    default:
      throw Error(sqlstate::kInternalError, "unknown CRDT kind " + std::to_string(kind));
  }
}

const char* RegionNames::name_of(RegionId id) const noexcept {
  for (std::size_t i = 0; i < count_; ++i)
    if (names_[i].id == id && names_[i].name != nullptr && is_valid_region_name(names_[i].name))
      return names_[i].name;
  return nullptr;
}

RegionId RegionNames::id_of(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < count_; ++i)
    if (names_[i].id != kNoRegion && names_[i].name != nullptr && name == names_[i].name)
      return names_[i].id;
  return kNoRegion;
}

std::string RegionNames::list() const {
  std::string out;
  for (std::size_t i = 0; i < count_; ++i) {
    if (names_[i].name == nullptr) continue;
    if (!out.empty()) out += ", ";
    out += names_[i].name;
  }
  return out;
}

namespace crdt {

void ByteReader::header() {
  if (bytes_.empty()) fail("empty value");
  auto b = static_cast<std::uint8_t>(bytes_[0]);
  if (b != header_byte(kind_)) {
    const char* problem = (b & 0x0F) != static_cast<std::uint8_t>(kind_)
                              ? "header byte names another type"
                              : "unsupported format version";
    fail(problem + std::string(" (0x") + "0123456789abcdef"[b >> 4] + "0123456789abcdef"[b & 0x0F] +
         ")");
  }
  pos_ = 1;
}

bool ByteReader::counter_header() {
  if (!bytes_.empty() && static_cast<std::uint8_t>(bytes_[0]) == counter_floor_header_byte(kind_) &&
      kind_ != CrdtKind::kOrSet) {
    pos_ = 1;
    return true;
  }
  header();
  return false;
}

std::uint64_t ByteReader::varint(const char* what) {
  std::size_t start = pos_;
  std::uint64_t value = 0;
  for (unsigned shift = 0;; shift += 7) {
    if (pos_ == bytes_.size()) fail_at(start, std::string("truncated ") + what);
    auto b = static_cast<std::uint8_t>(bytes_[pos_++]);
    if (shift == 63 && b > 1) fail_at(start, std::string(what) + " exceeds 64 bits");
    value |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      if (b == 0 && shift > 0) fail_at(start, std::string("overlong varint for ") + what);
      return value;
    }
  }
}

RegionId ByteReader::region(const char* what) {
  std::size_t start = pos_;
  std::uint64_t id = varint(what);
  if (id == 0 || id > 0xFFFF)
    fail_at(start, std::string(what) + " " + std::to_string(id) + " is not a region id");
  return static_cast<RegionId>(id);
}

std::string_view ByteReader::bytes(std::size_t n, const char* what) {
  if (n > bytes_.size() - pos_) fail(std::string("truncated ") + what);
  std::string_view out = bytes_.substr(pos_, n);
  pos_ += n;
  return out;
}

void ByteReader::fail_at(std::size_t offset, const std::string& problem) const {
  throw Error(sqlstate::kInvalidBinaryRepresentation,
              std::string("invalid binary value for type ") + crdt_type_name(kind_),
              problem + " at byte " + std::to_string(offset) + ".");
}

void require_region(RegionId region, CrdtKind kind) {
  if (region == kNoRegion)
    throw Error(sqlstate::kObjectNotInPrerequisiteState,
                std::string("cannot credit a change of ") + crdt_type_name(kind) +
                    " to a region: this server's region is not set",
                {}, "Set locality.region in postgresql.conf and restart the server.");
}

// ---- text ----

namespace {

bool is_space(int c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string quote_for_detail(std::string_view text) {
  constexpr std::size_t kMax = 200;
  if (text.size() <= kMax) return std::string(text);
  return std::string(text.substr(0, kMax)) + "...";
}

}  // namespace

void TextReader::skip_space() noexcept {
  while (pos_ < text_.size() && is_space(static_cast<unsigned char>(text_[pos_]))) ++pos_;
}

int TextReader::peek() noexcept {
  skip_space();
  return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_]) : -1;
}

bool TextReader::accept(char c) noexcept {
  if (peek() != static_cast<unsigned char>(c)) return false;
  ++pos_;
  return true;
}

void TextReader::expect(char c, const char* what) {
  if (!accept(c)) fail(std::string("expected ") + what);
}

void TextReader::expect_end() {
  if (peek() != -1) fail("unexpected text after the value");
}

std::uint64_t TextReader::number(const char* what, std::uint64_t max) {
  skip_space();
  std::size_t start = pos_;
  std::uint64_t value = 0;
  bool overflow = false;
  while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
    auto digit = static_cast<std::uint64_t>(text_[pos_] - '0');
    if (value > (max - digit) / 10) overflow = true;
    if (!overflow) value = value * 10 + digit;
    ++pos_;
  }
  if (pos_ == start) fail(std::string("expected ") + what);
  if (overflow) out_of_range(text_.substr(start, pos_ - start));
  return value;
}

RegionId TextReader::region(const RegionNames& names) {
  int c = peek();
  std::size_t start = pos_;
  if (c >= '0' && c <= '9') {
    std::uint64_t id = number("a region id", UINT64_MAX);
    if (id == 0 || id > 0xFFFF) {
      pos_ = start;
      fail("region id " + std::to_string(id) + " is out of range 1..65535");
    }
    return static_cast<RegionId>(id);
  }
  if (c < 'a' || c > 'z') fail("expected a region name or id");
  while (pos_ < text_.size()) {
    char ch = text_[pos_];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) break;
    ++pos_;
  }
  std::string_view name = text_.substr(start, pos_ - start);
  RegionId id = names.id_of(name);
  if (id == kNoRegion) {
    std::string known = names.list();
    throw Error(
        sqlstate::kUndefinedObject, "region \"" + std::string(name) + "\" does not exist", {},
        known.empty() ? "Regions can also be given by id." : "Regions: " + known + " (or ids).");
  }
  return id;
}

std::string TextReader::element(bool tagged) {
  skip_space();
  std::string out;
  if (pos_ < text_.size() && text_[pos_] == '"') {
    ++pos_;
    for (;;) {
      if (pos_ == text_.size()) fail("unterminated quoted element");
      char c = text_[pos_++];
      if (c == '"') break;
      if (c == '\\') {
        if (pos_ == text_.size()) fail("unterminated quoted element");
        c = text_[pos_++];
      }
      if (c == '\0') fail("NUL in an element");
      out += c;
    }
    return out;
  }

  std::size_t start = pos_;
  std::size_t keep = 0;  // length of out up to its last non-space or escaped character
  bool escaped = false;
  while (pos_ < text_.size()) {
    char c = text_[pos_];
    if (c == ',' || c == '}' || (tagged && c == '@')) break;
    if (c == '{' || c == '"') fail(std::string("unexpected '") + c + "' in an element");
    if (c == '\0') fail("NUL in an element");
    ++pos_;
    if (c == '\\') {
      if (pos_ == text_.size()) fail("backslash at the end of the text");
      out += text_[pos_++];
      keep = out.size();
      escaped = true;
      continue;
    }
    out += c;
    if (!is_space(static_cast<unsigned char>(c))) keep = out.size();
  }
  out.resize(keep);
  if (out.empty() && !escaped) {
    pos_ = start;
    fail("expected an element");
  }
  if (!escaped && out.size() == 4 && (out[0] | 0x20) == 'n' && (out[1] | 0x20) == 'u' &&
      (out[2] | 0x20) == 'l' && (out[3] | 0x20) == 'l')
    throw Error(sqlstate::kNullValueNotAllowed,
                std::string(crdt_type_name(kind_)) + " elements cannot be NULL", {},
                "Quote the element (\"NULL\") for the text NULL.");
  return out;
}

void TextReader::fail(const std::string& problem) const {
  throw Error(sqlstate::kInvalidTextRepresentation,
              std::string("invalid input syntax for type ") + crdt_type_name(kind_) + ": \"" +
                  quote_for_detail(text_) + "\"",
              problem + " at character " + std::to_string(pos_ + 1) + ".");
}

void TextReader::out_of_range(std::string_view number) const {
  throw Error(
      sqlstate::kNumericValueOutOfRange,
      "value \"" + std::string(number) + "\" is out of range for type " + crdt_type_name(kind_));
}

void write_region(ByteSink& out, RegionId region, const RegionNames& names) {
  const char* name = names.name_of(region);
  if (name != nullptr)
    out.bytes(name);
  else
    write_number(out, region);
}

void write_number(ByteSink& out, std::uint64_t n) { out.bytes(std::to_string(n)); }

}  // namespace crdt

// ---- dispatch ----

void crdt_empty(CrdtKind kind, ByteSink& out) {
  if (kind == CrdtKind::kOrSet)
    crdt::orset_empty(out);
  else
    crdt::counter_empty(kind, out);
}

void crdt_validate(CrdtKind kind, std::string_view bytes) {
  if (kind == CrdtKind::kOrSet)
    crdt::orset_validate(bytes);
  else
    crdt::counter_validate(kind, bytes);
}

void crdt_merge(CrdtKind kind, std::string_view a, std::string_view b, ByteSink& out) {
  if (kind == CrdtKind::kOrSet)
    crdt::orset_merge(a, b, out);
  else
    crdt::counter_merge(kind, a, b, out);
}

void crdt_parse(CrdtKind kind, std::string_view text, RegionId local_region,
                const RegionNames& names, ByteSink& out) {
  if (kind == CrdtKind::kOrSet)
    crdt::orset_parse(text, local_region, names, out);
  else
    crdt::counter_parse(kind, text, local_region, names, out);
}

void crdt_format(CrdtKind kind, std::string_view bytes, const RegionNames& names, ByteSink& out) {
  if (kind == CrdtKind::kOrSet)
    crdt::orset_format(bytes, names, out);
  else
    crdt::counter_format(kind, bytes, names, out);
}

void crdt_reset(CrdtKind kind, std::string_view bytes, ByteSink& out) {
  if (kind == CrdtKind::kOrSet)
    crdt::orset_reset(bytes, out);
  else
    crdt::counter_reset(kind, bytes, out);
}

void crdt_continue(CrdtKind kind, std::string_view base, std::string_view inserted,
                   RegionId region, ByteSink& out) {
  if (kind == CrdtKind::kOrSet) {
    crdt::orset_continue(base, inserted, region, out);
    return;
  }
  // The inserted value, whatever its slots, is one change of the inserting
  // region: the value grows by exactly the inserted value.
  counter_add(kind, base, region, counter_value(kind, inserted), out);
}

}  // namespace locality

// ---- C API ----

namespace {

using locality::ByteSink;
using locality::Error;

std::string_view view(const char* data, std::size_t len) {
  if (data == nullptr && len > 0)
    throw Error(locality::sqlstate::kInternalError, "CRDT value is NULL with a length");
  return data == nullptr ? std::string_view() : std::string_view(data, len);
}

// Runs produce over a sink on out[0..cap) and reports the size; 54000 when
// it did not fit (out given) -- *len then says how much is needed.
template <typename Produce>
void produce_into(char* out, std::size_t cap, std::size_t* len, Produce&& produce) {
  ByteSink sink(out, cap);
  produce(sink);
  if (len != nullptr) *len = sink.size();
  if (out != nullptr && !sink.fits())
    throw Error(locality::sqlstate::kProgramLimitExceeded, "CRDT output buffer too small",
                "The value needs " + std::to_string(sink.size()) + " bytes, the buffer has " +
                    std::to_string(cap) + ".");
}

locality::CrdtKind counter_kind(int kind) {
  locality::CrdtKind k = locality::crdt_kind(kind);
  if (k == locality::CrdtKind::kOrSet)
    throw Error(locality::sqlstate::kInternalError, "locality.orset is not a counter");
  return k;
}

}  // namespace

extern "C" int locality_crdt_empty(int kind, char* out, size_t cap, size_t* len,
                                   LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    locality::CrdtKind k = locality::crdt_kind(kind);
    produce_into(out, cap, len, [&](ByteSink& sink) { locality::crdt_empty(k, sink); });
  });
}

extern "C" int locality_crdt_validate(int kind, const char* data, size_t len,
                                      LocalityStatus* status) noexcept {
  return locality::call_guarded(
      status, [&] { locality::crdt_validate(locality::crdt_kind(kind), view(data, len)); });
}

extern "C" int locality_crdt_merge(int kind, const char* a, size_t alen, const char* b, size_t blen,
                                   char* out, size_t cap, size_t* len,
                                   LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    locality::CrdtKind k = locality::crdt_kind(kind);
    std::string_view va = view(a, alen), vb = view(b, blen);
    produce_into(out, cap, len, [&](ByteSink& sink) { locality::crdt_merge(k, va, vb, sink); });
  });
}

extern "C" int locality_crdt_reset(int kind, const char* a, size_t alen, char* out, size_t cap,
                                   size_t* len, LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    locality::CrdtKind k = locality::crdt_kind(kind);
    std::string_view va = view(a, alen);
    produce_into(out, cap, len, [&](ByteSink& sink) { locality::crdt_reset(k, va, sink); });
  });
}

extern "C" int locality_crdt_continue(int kind, const char* base, size_t blen,
                                      const char* inserted, size_t ilen, uint16_t region,
                                      char* out, size_t cap, size_t* len,
                                      LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    locality::CrdtKind k = locality::crdt_kind(kind);
    std::string_view vb = view(base, blen), vi = view(inserted, ilen);
    produce_into(out, cap, len,
                 [&](ByteSink& sink) { locality::crdt_continue(k, vb, vi, region, sink); });
  });
}

extern "C" int locality_crdt_parse(int kind, const char* text, uint16_t local_region,
                                   const LocalityRegionName* names, size_t nnames, char* out,
                                   size_t cap, size_t* len, LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    locality::CrdtKind k = locality::crdt_kind(kind);
    std::string_view t = text == nullptr ? std::string_view() : std::string_view(text);
    locality::RegionNames table(names, nnames);
    produce_into(out, cap, len,
                 [&](ByteSink& sink) { locality::crdt_parse(k, t, local_region, table, sink); });
  });
}

extern "C" int locality_crdt_format(int kind, const char* data, size_t len,
                                    const LocalityRegionName* names, size_t nnames, char* out,
                                    size_t cap, size_t* outlen, LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    locality::CrdtKind k = locality::crdt_kind(kind);
    std::string_view v = view(data, len);
    locality::RegionNames table(names, nnames);
    std::size_t with_nul = 0;
    try {
      produce_into(out, cap, &with_nul, [&](ByteSink& sink) {
        locality::crdt_format(k, v, table, sink);
        sink.byte(0);
      });
    } catch (const Error&) {
      if (outlen != nullptr && with_nul > 0) *outlen = with_nul - 1;  // 54000: the length needed
      throw;
    }
    if (outlen != nullptr) *outlen = with_nul - 1;
  });
}

extern "C" int locality_counter_value(int kind, const char* data, size_t len, int64_t* value,
                                      LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    int64_t v = locality::counter_value(counter_kind(kind), view(data, len));
    if (value != nullptr) *value = v;
  });
}

extern "C" int locality_counter_add(int kind, const char* data, size_t len, uint16_t region,
                                    int64_t delta, char* out, size_t cap, size_t* outlen,
                                    LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    locality::CrdtKind k = counter_kind(kind);
    std::string_view v = view(data, len);
    produce_into(out, cap, outlen,
                 [&](ByteSink& sink) { locality::counter_add(k, v, region, delta, sink); });
  });
}

extern "C" int locality_pncounter_subtract(const char* data, size_t len, uint16_t region, int64_t n,
                                           char* out, size_t cap, size_t* outlen,
                                           LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    std::string_view v = view(data, len);
    produce_into(out, cap, outlen,
                 [&](ByteSink& sink) { locality::pncounter_subtract(v, region, n, sink); });
  });
}

extern "C" int locality_orset_add(const char* data, size_t len, uint16_t region,
                                  const char* element, size_t elen, char* out, size_t cap,
                                  size_t* outlen, LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    std::string_view v = view(data, len), e = view(element, elen);
    produce_into(out, cap, outlen,
                 [&](ByteSink& sink) { locality::orset_add(v, region, e, sink); });
  });
}

extern "C" int locality_orset_remove(const char* data, size_t len, const char* element, size_t elen,
                                     char* out, size_t cap, size_t* outlen,
                                     LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    std::string_view v = view(data, len), e = view(element, elen);
    produce_into(out, cap, outlen, [&](ByteSink& sink) { locality::orset_remove(v, e, sink); });
  });
}

extern "C" int locality_orset_contains(const char* data, size_t len, const char* element,
                                       size_t elen, int* found, LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    bool f = locality::orset_contains(view(data, len), view(element, elen));
    if (found != nullptr) *found = f ? 1 : 0;
  });
}

extern "C" int locality_orset_elements(const char* data, size_t len, LocalityCrdtElement* out,
                                       size_t cap, size_t* count, LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    std::size_t n_written = 0;
    std::size_t n = locality::orset_for_each(view(data, len), [&](std::string_view e) {
      if (out != nullptr && n_written < cap)
        out[n_written++] = LocalityCrdtElement{e.data(), e.size()};
    });
    if (count != nullptr) *count = n;
    if (out != nullptr && n > cap)
      throw Error(locality::sqlstate::kProgramLimitExceeded, "orset element array too small",
                  "The set has " + std::to_string(n) + " elements, the array room for " +
                      std::to_string(cap) + ".");
  });
}
