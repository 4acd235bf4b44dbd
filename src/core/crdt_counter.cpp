// crdt_counter.cpp -- locality.gcounter and locality.pncounter (crdt.hpp):
// per-region slots, per-slot max merge, increments credited to the local
// region, and their text forms.  Merge, add and value stream over the
// encoded bytes and allocate nothing: they run once per row on the apply
// path and in every UPDATE ... SET c = c + 1 (ARCHITECTURE.md, rule 6).
#include <algorithm>
#include <string>
#include <vector>

#include "locality/crdt.hpp"
#include "locality/crdt_encoding.hpp"
#include "locality/status.hpp"

namespace locality {
namespace crdt {
namespace {

struct Slot {
  RegionId region;
  std::uint64_t up;    // increments
  std::uint64_t down;  // decrements (always 0 for a gcounter)
  std::uint64_t up_floor = 0;    // of up, how much deletes have reset
  std::uint64_t down_floor = 0;  // of down, likewise
};

bool has_floor(const Slot& s) noexcept { return s.up_floor != 0 || s.down_floor != 0; }

// The slots of a value in region order, checking the encoding.
class SlotReader {
 public:
  SlotReader(std::string_view bytes, CrdtKind kind)
      : in_(bytes, kind), pn_(kind == CrdtKind::kPnCounter) {
    floors_ = in_.counter_header();
  }

  // Version 2: the slots carry floors.
  bool floors() const noexcept { return floors_; }

  bool next(Slot* slot) {
    if (in_.at_end()) {
      // Canonical: version 2 only when some floor is not zero.
      if (floors_ && !any_floor_) in_.fail_at(0, "floors all zero");
      return false;
    }
    std::size_t at = in_.offset();
    slot->region = in_.region("region");
    if (slot->region <= last_) in_.fail_at(at, "regions out of order");
    last_ = slot->region;
    slot->up = in_.varint("slot");
    slot->down = pn_ ? in_.varint("slot") : 0;
    slot->up_floor = floors_ ? in_.varint("floor") : 0;
    slot->down_floor = floors_ && pn_ ? in_.varint("floor") : 0;
    if (slot->up > kSlotMax || slot->down > kSlotMax)
      in_.fail_at(at, "slot above 9223372036854775807");
    if (slot->up == 0 && slot->down == 0) in_.fail_at(at, "zero slot");
    if (slot->up_floor > slot->up || slot->down_floor > slot->down)
      in_.fail_at(at, "floor above its slot");
    any_floor_ |= has_floor(*slot);
    return true;
  }

 private:
  ByteReader in_;
  bool pn_;
  bool floors_ = false;
  bool any_floor_ = false;
  RegionId last_ = kNoRegion;
};

// The header of a value: version 2 when it has floors.
void write_header(ByteSink& out, CrdtKind kind, bool floors) {
  out.byte(floors ? counter_floor_header_byte(kind) : header_byte(kind));
}

void write_slot(ByteSink& out, CrdtKind kind, const Slot& slot, bool floors) {
  if (slot.up == 0 && slot.down == 0) return;  // canonical: no zero slots
  out.varint(slot.region);
  out.varint(slot.up);
  if (kind == CrdtKind::kPnCounter) out.varint(slot.down);
  if (floors) {
    out.varint(slot.up_floor);
    if (kind == CrdtKind::kPnCounter) out.varint(slot.down_floor);
  }
}

// Sums of all slots.  128 bits: at most 65535 slots below 2^63 each, so
// they cannot overflow, and the value is exact however large both halves
// of a pncounter have grown.
__extension__ typedef unsigned __int128 Sum;

struct Totals {
  Sum up = 0, down = 0;

  // What a slot is worth: what no delete has reset.
  void add(const Slot& s) noexcept {
    up += s.up - s.up_floor;
    down += s.down - s.down_floor;
  }
  // up - down when it fits an int64.
  bool value(std::int64_t* out) const noexcept {
    if (up >= down) {
      Sum d = up - down;
      if (d > kSlotMax) return false;
      *out = static_cast<std::int64_t>(d);
    } else {
      Sum d = down - up;
      if (d > Sum{kSlotMax} + 1) return false;
      *out = d == Sum{kSlotMax} + 1 ? INT64_MIN : -static_cast<std::int64_t>(d);
    }
    return true;
  }
};

[[noreturn]] void out_of_range(CrdtKind kind, const std::string& detail) {
  throw Error(sqlstate::kNumericValueOutOfRange,
              std::string(crdt_type_name(kind)) + " out of range", detail);
}

// |n| of a negative int64, INT64_MIN included.
std::uint64_t magnitude(std::int64_t n) noexcept {
  return static_cast<std::uint64_t>(-(n + 1)) + 1;
}

// Adds up/down to region's slot while copying the value.
void add_to_slot(CrdtKind kind, std::string_view bytes, RegionId region, std::uint64_t up,
                 std::uint64_t down, ByteSink& out) {
  require_region(region, kind);
  SlotReader in(bytes, kind);
  const bool floors = in.floors();
  write_header(out, kind, floors);
  Totals totals;
  bool done = false;
  auto credit = [&](Slot s) {
    if (up > kSlotMax - s.up || down > kSlotMax - s.down)
      out_of_range(kind, "The slot of region " + std::to_string(region) +
                             " would exceed 9223372036854775807.");
    s.up += up;
    s.down += down;
    totals.add(s);
    write_slot(out, kind, s, floors);
    done = true;
  };
  Slot s;
  while (in.next(&s)) {
    if (!done && s.region >= region) {
      if (s.region == region) {
        credit(s);
        continue;
      }
      credit(Slot{region, 0, 0});
    }
    totals.add(s);
    write_slot(out, kind, s, floors);
  }
  if (!done) credit(Slot{region, 0, 0});
  std::int64_t value;
  if (!totals.value(&value)) out_of_range(kind, "The counter's value would not fit a bigint.");
}

}  // namespace

void counter_empty(CrdtKind kind, ByteSink& out) { write_header(out, kind, false); }

void counter_validate(CrdtKind kind, std::string_view bytes) {
  SlotReader in(bytes, kind);
  Slot s;
  while (in.next(&s)) {
  }
}

void counter_merge(CrdtKind kind, std::string_view a, std::string_view b, ByteSink& out) {
  SlotReader ra(a, kind), rb(b, kind);
  const bool floors = ra.floors() || rb.floors();
  write_header(out, kind, floors);
  Slot sa, sb;
  bool ha = ra.next(&sa), hb = rb.next(&sb);
  while (ha || hb) {
    if (ha && (!hb || sa.region < sb.region)) {
      write_slot(out, kind, sa, floors);
      ha = ra.next(&sa);
    } else if (hb && (!ha || sb.region < sa.region)) {
      write_slot(out, kind, sb, floors);
      hb = rb.next(&sb);
    } else {
      write_slot(out, kind,
                 Slot{sa.region, std::max(sa.up, sb.up), std::max(sa.down, sb.down),
                      std::max(sa.up_floor, sb.up_floor), std::max(sa.down_floor, sb.down_floor)},
                 floors);
      ha = ra.next(&sa);
      hb = rb.next(&sb);
    }
  }
}

void counter_reset(CrdtKind kind, std::string_view bytes, ByteSink& out) {
  SlotReader in(bytes, kind);
  std::vector<Slot> slots;
  Slot s;
  while (in.next(&s)) {
    s.up_floor = s.up;
    s.down_floor = s.down;
    slots.push_back(s);
  }
  write_header(out, kind, !slots.empty());
  for (const Slot& slot : slots) write_slot(out, kind, slot, true);
}

void counter_parse(CrdtKind kind, std::string_view text, RegionId local_region,
                   const RegionNames& names, ByteSink& out) {
  TextReader in(text, kind);
  if (in.peek() != '{') {
    // Plain form: an integer credited to the local region.
    bool negative = in.accept('-');
    if (!negative) in.accept('+');
    std::uint64_t n = in.number("an integer", negative ? kSlotMax + 1 : kSlotMax);
    in.expect_end();
    if (negative && n > 0 && kind == CrdtKind::kGCounter)
      throw Error(sqlstate::kInvalidParameterValue, "locality.gcounter cannot be negative",
                  "The value is -" + std::to_string(n) + ".",
                  "Use locality.pncounter for a counter that can go down.");
    if (n == 0) {
      counter_empty(kind, out);
      return;
    }
    const char empty = static_cast<char>(header_byte(kind));
    add_to_slot(kind, std::string_view(&empty, 1), local_region, negative ? 0 : n, negative ? n : 0,
                out);
    return;
  }

  // Full form: {region:up[-down],...} in any order.
  in.expect('{', "'{'");
  std::vector<Slot> slots;
  if (!in.accept('}')) {
    do {
      Slot s{in.region(names), 0, 0};
      in.expect(':', "':' after the region");
      s.up = in.number("a count", kSlotMax);
      if (kind == CrdtKind::kPnCounter && in.accept('-')) s.down = in.number("a count", kSlotMax);
      if (in.accept('/')) {
        // The floor: how much of the counts deletes have reset.
        s.up_floor = in.number("a floor", kSlotMax);
        if (kind == CrdtKind::kPnCounter && in.accept('-'))
          s.down_floor = in.number("a floor", kSlotMax);
        if (s.up_floor > s.up || s.down_floor > s.down) in.fail("floor above its count");
      }
      for (const Slot& other : slots)
        if (other.region == s.region)
          in.fail("region " + std::to_string(s.region) + " listed twice");
      slots.push_back(s);
    } while (in.accept(','));
    in.expect('}', kind == CrdtKind::kPnCounter ? "',', '-', '/' or '}'" : "',', '/' or '}'");
  }
  in.expect_end();
  std::sort(slots.begin(), slots.end(),
            [](const Slot& x, const Slot& y) { return x.region < y.region; });
  bool floors = false;
  for (const Slot& s : slots) floors |= (s.up != 0 || s.down != 0) && has_floor(s);
  write_header(out, kind, floors);
  for (const Slot& s : slots) write_slot(out, kind, s, floors);
}

void counter_format(CrdtKind kind, std::string_view bytes, const RegionNames& names,
                    ByteSink& out) {
  SlotReader in(bytes, kind);
  out.byte('{');
  Slot s;
  bool first = true;
  while (in.next(&s)) {
    if (!first) out.byte(',');
    first = false;
    write_region(out, s.region, names);
    out.byte(':');
    write_number(out, s.up);
    if (s.down != 0) {
      out.byte('-');
      write_number(out, s.down);
    }
    if (has_floor(s)) {
      out.byte('/');
      write_number(out, s.up_floor);
      if (s.down_floor != 0) {
        out.byte('-');
        write_number(out, s.down_floor);
      }
    }
  }
  out.byte('}');
}

}  // namespace crdt

std::int64_t counter_value(CrdtKind kind, std::string_view bytes) {
  crdt::SlotReader in(bytes, kind);
  crdt::Totals totals;
  crdt::Slot s;
  while (in.next(&s)) totals.add(s);
  std::int64_t value = 0;
  if (!totals.value(&value))
    crdt::out_of_range(kind, "The sum of the regions' slots does not fit a bigint.");
  return value;
}

void counter_add(CrdtKind kind, std::string_view bytes, RegionId region, std::int64_t delta,
                 ByteSink& out) {
  if (delta < 0 && kind == CrdtKind::kGCounter)
    throw Error(sqlstate::kInvalidParameterValue, "locality.gcounter cannot be decremented",
                "The increment is " + std::to_string(delta) +
                    "; a grow-only counter takes increments of 0 or more.",
                "Use locality.pncounter for a counter that can go down.");
  if (delta >= 0)
    crdt::add_to_slot(kind, bytes, region, static_cast<std::uint64_t>(delta), 0, out);
  else
    crdt::add_to_slot(kind, bytes, region, 0, crdt::magnitude(delta), out);
}

void pncounter_subtract(std::string_view bytes, RegionId region, std::int64_t n, ByteSink& out) {
  if (n >= 0)
    crdt::add_to_slot(CrdtKind::kPnCounter, bytes, region, 0, static_cast<std::uint64_t>(n), out);
  else
    crdt::add_to_slot(CrdtKind::kPnCounter, bytes, region, crdt::magnitude(n), 0, out);
}

}  // namespace locality
