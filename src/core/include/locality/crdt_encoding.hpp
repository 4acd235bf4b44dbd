// crdt_encoding.hpp -- byte-level pieces shared by the CRDT types
// (crdt_counter.cpp, crdt_orset.cpp, crdt_text.cpp): the header byte and a
// reader that checks the canonical encoding of crdt.hpp as it goes.
// Internal to the core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "locality/crdt.hpp"
#include "locality/region_id.hpp"

namespace locality::crdt {

inline constexpr std::uint8_t kFormatVersion = 1;
inline constexpr std::uint64_t kSlotMax = 0x7FFFFFFFFFFFFFFFull;  // INT64_MAX

constexpr std::uint8_t header_byte(CrdtKind kind) noexcept {
  return static_cast<std::uint8_t>((kFormatVersion << 4) | static_cast<std::uint8_t>(kind));
}

// Counters whose slots carry floors (what deletes reset, crdt.hpp) are
// format version 2; a counter without any floor stays version 1.
inline constexpr std::uint8_t kCounterFloorVersion = 2;
constexpr std::uint8_t counter_floor_header_byte(CrdtKind kind) noexcept {
  return static_cast<std::uint8_t>((kCounterFloorVersion << 4) | static_cast<std::uint8_t>(kind));
}

// Bounds-checked reads of one value; every error is 22P03 naming the type
// and the byte offset.
class ByteReader {
 public:
  ByteReader(std::string_view bytes, CrdtKind kind) noexcept : bytes_(bytes), kind_(kind) {}

  // Checks the header byte.
  void header();
  // Checks a counter's header byte; true for version 2 (slots with floors).
  bool counter_header();
  bool at_end() const noexcept { return pos_ == bytes_.size(); }
  std::size_t offset() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
  void seek(std::size_t offset) noexcept { pos_ = offset; }

  // A minimal-length LEB128 varint.
  std::uint64_t varint(const char* what);
  // A region id: 1..65535.
  RegionId region(const char* what);
  std::string_view bytes(std::size_t n, const char* what);

  [[noreturn]] void fail(const std::string& problem) const { fail_at(pos_, problem); }
  [[noreturn]] void fail_at(std::size_t offset, const std::string& problem) const;

 private:
  std::string_view bytes_;
  CrdtKind kind_;
  std::size_t pos_ = 0;
};

// Throws 55000 for kNoRegion: a value credited to no region.
void require_region(RegionId region, CrdtKind kind);

}  // namespace locality::crdt

namespace locality::crdt {

// Reads the text forms; errors are 22P02 `invalid input syntax for type
// locality.x: "text"` with the problem and character position as detail.
class TextReader {
 public:
  TextReader(std::string_view text, CrdtKind kind) noexcept : text_(text), kind_(kind) {}

  void skip_space() noexcept;
  // The next character after any space, or -1 at the end.
  int peek() noexcept;
  // Consumes c (after any space) when it comes next.
  bool accept(char c) noexcept;
  void expect(char c, const char* what);
  // Nothing but space left.
  void expect_end();
  // Decimal digits; 22003 beyond max.
  std::uint64_t number(const char* what, std::uint64_t max);
  // A region name (looked up in names; 42704 when unknown) or id.
  RegionId region(const RegionNames& names);
  // One element, quoted or bare, with array-literal escapes; a bare element
  // ends at ',' or '}' (and at '@' when tagged) and loses surrounding space.
  // A bare NULL is 22004.
  std::string element(bool tagged);

  std::size_t position() const noexcept { return pos_; }
  [[noreturn]] void fail(const std::string& problem) const;
  [[noreturn]] void out_of_range(std::string_view number) const;

 private:
  std::string_view text_;
  CrdtKind kind_;
  std::size_t pos_ = 0;
};

// A region as the text forms print it: its name, else its id.
void write_region(ByteSink& out, RegionId region, const RegionNames& names);
void write_number(ByteSink& out, std::uint64_t n);

// Per-kind halves of crdt.hpp's functions.
void counter_empty(CrdtKind kind, ByteSink& out);
void counter_validate(CrdtKind kind, std::string_view bytes);
void counter_merge(CrdtKind kind, std::string_view a, std::string_view b, ByteSink& out);
void counter_parse(CrdtKind kind, std::string_view text, RegionId local_region,
                   const RegionNames& names, ByteSink& out);
void counter_format(CrdtKind kind, std::string_view bytes, const RegionNames& names, ByteSink& out);
void counter_reset(CrdtKind kind, std::string_view bytes, ByteSink& out);

void orset_empty(ByteSink& out);
void orset_validate(std::string_view bytes);
void orset_merge(std::string_view a, std::string_view b, ByteSink& out);
void orset_parse(std::string_view text, RegionId local_region, const RegionNames& names,
                 ByteSink& out);
void orset_format(std::string_view bytes, const RegionNames& names, ByteSink& out);
void orset_reset(std::string_view bytes, ByteSink& out);
void orset_continue(std::string_view base, std::string_view inserted, RegionId region,
                    ByteSink& out);

}  // namespace locality::crdt
