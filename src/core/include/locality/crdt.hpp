// crdt.hpp -- the CRDT column types of GLOBAL tables (SPEC.md section 5):
// locality.gcounter, locality.pncounter and locality.orset (of text).
//
//   local UPDATE  c + 5, locality.add(s, 'x')  --counter_add/orset_add-->  heap
//   apply worker  remote state  --crdt_merge(local, remote)-->  heap
//                 (merged, never written over, whatever the table's mode)
//
// All three are state-based CRDTs: a value carries enough state that
// merging any two of them is commutative, associative and idempotent, so
// every region ends with the same value whatever order changes arrive in.
//
// Counters.  A gcounter keeps one slot per region that incremented it and
// is worth the sum of the slots; an increment goes to the local region's
// slot and merge takes the per-slot max.  A pncounter is two such counters,
// increments and decrements, and is worth the difference.  Each slot stays
// within 0..INT64_MAX (22003 beyond), and an increment must leave the value
// within the bigint range; the halves of a pncounter may grow past it as
// long as their difference fits.  Increments checked in different regions
// can take a merged value past the range; merge stays total and the value
// (counter_value) reports 22003 then.
//
// Observed-remove set, add wins.  Each add of e by region r gets a fresh tag
// (r, n), r's n-th add.  A remove of e cancels the tags of e the remover had
// seen; an add concurrent with the remove (its tag unseen) survives.  The
// textbook form keeps every removed tag as a tombstone, so a set grows with
// every remove forever.  Here the removed tags are not kept: a per-region
// "seen" clock (the highest tag number seen from each region) stands for
// them, since region r issues its tags in order and any state that has seen
// (r, n) has seen all of r's tags below n (Bieniusa et al., "An optimized
// conflict-free replicated set", 2012; Riak's ORSWOT).  A state then holds
// only its live elements, each with the tags of its unobserved-by-each-other
// adds (usually one), and the seen clock: at most one entry per region.
// There is no tombstone growth; a remove shrinks the value.
//   merge(A, B): seen = per-region max; a tag of e is kept when both hold
//   it, or when one holds it and the other has not seen it (n > seen[r]);
//   an element without tags is gone.
// Adding e anew replaces e's tags with the one fresh tag (the add has
// observed the older ones).
//
// Deletes (docs/conflicts.md section 5).  The CRDT columns of one key form
// one state across deletes and inserts of its row.  A DELETE resets what it
// observed: crdt_reset gives the state it leaves in the tombstone (orset:
// the seen clock without elements, which the merge rule above already reads
// as "every observed add removed"; counters: each slot keeps a floor, the
// part of it deletes have reset, and the value is the sum of slot - floor).
// Floors merge by per-slot max like the slots, so the state is still a join
// semilattice, and an increment concurrent with a delete (above the floor
// the delete recorded) survives.  An INSERT over a tombstone continues the
// tombstone's state (crdt_continue) instead of starting a new one, so tags
// and slots stay numbered per key and merging any two states of the key is
// meaningful.
//
// Binary encoding (the stored datum and the send/recv form), canonical so
// that two states are equal exactly when their bytes are:
//   byte 0           0x10 | kind (format version 1; kind 1 gcounter,
//                    2 pncounter, 3 orset); 0x20 | kind for a counter with
//                    floors (version 2), used exactly when a floor is not 0
//   gcounter         then, to the end, (region, value) pairs
//                    version 2: (region, value, floor)
//   pncounter        then, to the end, (region, increments, decrements)
//                    version 2: (region, increments, decrements,
//                    increments floor, decrements floor); floors <= counts
//   orset            then count, count (region, seen) pairs, then, to the end,
//                    elements: length, bytes (no NUL), tag count (>= 1),
//                    that many (region, number) tags
// All integers are unsigned LEB128 varints of minimal length.  Regions are
// 1..65535 and strictly ascending; counter slots are non-zero (a zero slot
// is omitted) and at most INT64_MAX; seen values are >= 1; elements are
// strictly ascending in byte order; an element's tags are strictly
// ascending by (region, number) and each within the seen clock.  With
// region ids below 128, a counter with 3 regions takes 7 to 31 bytes
// (gcounter) or 10 to 58 (pncounter), small values at the low end.
//
// Text form: the full state, region names where known, ids otherwise
// (names are passed in as plain data by the shim, which owns the catalog;
// ids keep a value printable after its region is dropped, and a name never
// parses as a number because names start with a letter):
//   gcounter   {us-east1:5,eu-west1:3}           (ordered by region id)
//   pncounter  {us-east1:5-2,eu-west1:3}         (increments-decrements)
//              {us-east1:7-2/5-1}                 (then /floors, when any)
//   orset      {|us-east1:4,eu-west1:3|a@us-east1:1,"b c"@eu-west1:3@us-east1:2}
//              the seen clock between bars, then each element with its
//              tags; elements quoted as in an array literal when needed.
// As input, also the plain forms of SPEC.md section 5, credited to the local
// region: an integer for counters ('0', '5', '-3'), a one-dimensional text
// array literal for orset ('{a,b}', the adds of a then b).  An orset text
// whose first token after '{' is '|' is the full form, so a plain element
// that starts with '|' must be quoted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "locality/region_id.hpp"
#include "locality_core.h"

namespace locality {

enum class CrdtKind : std::uint8_t {
  kGCounter = LOCALITY_CRDT_GCOUNTER,
  kPnCounter = LOCALITY_CRDT_PNCOUNTER,
  kOrSet = LOCALITY_CRDT_ORSET,
};

// "locality.gcounter" and so on.
const char* crdt_type_name(CrdtKind kind) noexcept;

// kind from the C API's int; throws XX000 for an unknown one.
CrdtKind crdt_kind(int kind);

// Where values and texts are produced: counts every byte, and writes those
// that fit when it has a buffer.  With no buffer it only measures.
class ByteSink {
 public:
  ByteSink() noexcept = default;
  ByteSink(char* out, std::size_t cap) noexcept : out_(out), cap_(out == nullptr ? 0 : cap) {}

  void byte(std::uint8_t b) noexcept {
    if (size_ < cap_) out_[size_] = static_cast<char>(b);
    ++size_;
  }
  void varint(std::uint64_t v) noexcept {
    while (v >= 0x80) {
      byte(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    byte(static_cast<std::uint8_t>(v));
  }
  void bytes(std::string_view s) noexcept {
    for (char c : s) byte(static_cast<std::uint8_t>(c));
  }

  // Bytes produced so far, written or not.
  std::size_t size() const noexcept { return size_; }
  bool fits() const noexcept { return size_ <= cap_; }

 private:
  char* out_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t size_ = 0;
};

// The names the text forms use, as handed in by the shim.
class RegionNames {
 public:
  RegionNames() noexcept = default;
  RegionNames(const LocalityRegionName* names, std::size_t count) noexcept
      : names_(names), count_(names == nullptr ? 0 : count) {}

  // The name of id, or nullptr when it has none (or not a valid one).
  const char* name_of(RegionId id) const noexcept;
  // The id called name, or kNoRegion.
  RegionId id_of(std::string_view name) const noexcept;
  // "us-east1, eu-west1" for hints.
  std::string list() const;

 private:
  const LocalityRegionName* names_ = nullptr;
  std::size_t count_ = 0;
};

// ---- every kind ----

// The empty state: a counter at 0, a set that has seen nothing.
void crdt_empty(CrdtKind kind, ByteSink& out);

// Throws 22P03 unless bytes is a canonical value of kind.
void crdt_validate(CrdtKind kind, std::string_view bytes);

// The join of a and b (see the top of this file).
void crdt_merge(CrdtKind kind, std::string_view a, std::string_view b, ByteSink& out);

// The text form, full or plain, into a value (see the top of this file).
void crdt_parse(CrdtKind kind, std::string_view text, RegionId local_region,
                const RegionNames& names, ByteSink& out);

// The full text form of a value, without a NUL.
void crdt_format(CrdtKind kind, std::string_view bytes, const RegionNames& names, ByteSink& out);

// What a delete leaves of the state: everything it observed reset.
void crdt_reset(CrdtKind kind, std::string_view bytes, ByteSink& out);

// An inserted value over a tombstone's state base: one change of region
// (counters: value(inserted) credited to region; orset: each element of
// inserted added by region).
void crdt_continue(CrdtKind kind, std::string_view base, std::string_view inserted,
                   RegionId region, ByteSink& out);

// ---- counters ----

// The value; 22003 when it does not fit a bigint.
std::int64_t counter_value(CrdtKind kind, std::string_view bytes);

// c + delta credited to region's slot (a negative delta decrements a
// pncounter).  Throws 22023 for a negative gcounter delta, 22003 when a slot
// or the value would leave the bigint range, 55000 for kNoRegion.
void counter_add(CrdtKind kind, std::string_view bytes, RegionId region, std::int64_t delta,
                 ByteSink& out);

// c - n for a pncounter.
void pncounter_subtract(std::string_view bytes, RegionId region, std::int64_t n, ByteSink& out);

// ---- orset ----

// One add's tag: the n-th add made by region.  Also a seen-clock entry.
struct OrSetTag {
  RegionId region;
  std::uint64_t n;
};

void orset_add(std::string_view bytes, RegionId region, std::string_view element, ByteSink& out);
void orset_remove(std::string_view bytes, std::string_view element, ByteSink& out);
bool orset_contains(std::string_view bytes, std::string_view element);

// Visits the elements in byte order without allocating; views point into
// bytes.  Returns how many there are.  Throws 22P03 for a malformed value
// (possibly after visiting some elements).
template <typename Visit>
std::size_t orset_for_each(std::string_view bytes, Visit&& visit);

// The elements in byte order (views into bytes).
std::vector<std::string_view> orset_elements(std::string_view bytes);

// Reads an orset value, checking its encoding as it goes.
class OrSetCursor {
 public:
  // Reads the header and the seen clock.
  explicit OrSetCursor(std::string_view bytes);
  // The seen clock, in region order.
  void seen(std::vector<OrSetTag>* out) const;
  // The next element (and its tags when tags is not null), or false at
  // the end.
  bool next(std::string_view* element, std::vector<OrSetTag>* tags = nullptr);

 private:
  std::string_view bytes_;
  std::size_t seen_begin_ = 0, seen_end_ = 0;  // the seen clock's entries
  std::size_t pos_ = 0;
  std::string_view previous_;
  bool first_ = true;
};

template <typename Visit>
std::size_t orset_for_each(std::string_view bytes, Visit&& visit) {
  OrSetCursor cursor(bytes);
  std::string_view element;
  std::size_t n = 0;
  while (cursor.next(&element)) {
    visit(element);
    ++n;
  }
  return n;
}

}  // namespace locality
