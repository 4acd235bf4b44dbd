// crdt_orset.cpp -- locality.orset (crdt.hpp): an add-wins observed-remove
// set of text kept without tombstones (a per-region seen clock stands for
// every removed tag), its merge, and its text forms.
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "locality/crdt.hpp"
#include "locality/crdt_encoding.hpp"
#include "locality/status.hpp"

namespace locality {
namespace crdt {
namespace {

constexpr CrdtKind kKind = CrdtKind::kOrSet;

bool tag_less(const OrSetTag& a, const OrSetTag& b) noexcept {
  return a.region != b.region ? a.region < b.region : a.n < b.n;
}

bool tag_equal(const OrSetTag& a, const OrSetTag& b) noexcept {
  return a.region == b.region && a.n == b.n;
}

struct Element {
  std::string_view value;
  std::vector<OrSetTag> tags;  // ascending
};

// A decoded value; element views point into the buffers it was read from.
struct State {
  std::vector<OrSetTag> seen;     // one entry per region, ascending
  std::vector<Element> elements;  // ascending by value
};

State decode(std::string_view bytes) {
  State state;
  OrSetCursor cursor(bytes);
  cursor.seen(&state.seen);
  Element e;
  while (cursor.next(&e.value, &e.tags)) state.elements.push_back(e);
  return state;
}

void encode(const State& state, ByteSink& out) {
  out.byte(header_byte(kKind));
  out.varint(state.seen.size());
  for (const OrSetTag& s : state.seen) {
    out.varint(s.region);
    out.varint(s.n);
  }
  for (const Element& e : state.elements) {
    out.varint(e.value.size());
    out.bytes(e.value);
    out.varint(e.tags.size());
    for (const OrSetTag& t : e.tags) {
      out.varint(t.region);
      out.varint(t.n);
    }
  }
}

// The highest tag number of region the state has seen (0: none).
std::uint64_t seen_of(const std::vector<OrSetTag>& seen, RegionId region) noexcept {
  auto it = std::lower_bound(seen.begin(), seen.end(), region,
                             [](const OrSetTag& s, RegionId r) { return s.region < r; });
  return it != seen.end() && it->region == region ? it->n : 0;
}

std::vector<Element>::iterator find_slot(std::vector<Element>& elements, std::string_view value) {
  return std::lower_bound(elements.begin(), elements.end(), value,
                          [](const Element& e, std::string_view v) { return e.value < v; });
}

void check_element(std::string_view element) {
  if (element.find('\0') != std::string_view::npos)
    throw Error(sqlstate::kCharacterNotInRepertoire,
                "locality.orset elements cannot contain the NUL character");
}

// Adds value with region's next tag; the new tag replaces value's old ones,
// which the add has observed.
void add(State& state, RegionId region, std::string_view value) {
  require_region(region, kKind);
  check_element(value);
  auto seen = std::lower_bound(state.seen.begin(), state.seen.end(), region,
                               [](const OrSetTag& s, RegionId r) { return s.region < r; });
  if (seen == state.seen.end() || seen->region != region)
    seen = state.seen.insert(seen, OrSetTag{region, 0});
  if (seen->n == UINT64_MAX)
    throw Error(sqlstate::kNumericValueOutOfRange, "locality.orset out of range",
                "Region " + std::to_string(region) + " has used up its add tags.");
  OrSetTag tag{region, ++seen->n};
  auto e = find_slot(state.elements, value);
  if (e != state.elements.end() && e->value == value)
    e->tags.assign(1, tag);
  else
    state.elements.insert(e, Element{value, {tag}});
}

// The tags of one element that survive the merge: those both sides hold,
// and those one side holds that the other has not seen (had it seen one,
// its absence there means it was removed).
std::vector<OrSetTag> merge_tags(const std::vector<OrSetTag>& a, const std::vector<OrSetTag>& b,
                                 const State& sa, const State& sb) {
  std::vector<OrSetTag> out;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && tag_less(a[i], b[j]))) {
      if (a[i].n > seen_of(sb.seen, a[i].region)) out.push_back(a[i]);
      ++i;
    } else if (i == a.size() || tag_less(b[j], a[i])) {
      if (b[j].n > seen_of(sa.seen, b[j].region)) out.push_back(b[j]);
      ++j;
    } else {
      out.push_back(a[i]);
      ++i;
      ++j;
    }
  }
  return out;
}

bool needs_quotes(std::string_view value) noexcept {
  if (value.empty()) return true;
  if (value.size() == 4 && (value[0] | 0x20) == 'n' && (value[1] | 0x20) == 'u' &&
      (value[2] | 0x20) == 'l' && (value[3] | 0x20) == 'l')
    return true;
  for (char c : value)
    if (std::strchr("\"\\{},@| \t\n\r\v\f", c) != nullptr) return true;
  return false;
}

void write_element(ByteSink& out, std::string_view value) {
  if (!needs_quotes(value)) {
    out.bytes(value);
    return;
  }
  out.byte('"');
  for (char c : value) {
    if (c == '"' || c == '\\') out.byte('\\');
    out.byte(static_cast<std::uint8_t>(c));
  }
  out.byte('"');
}

void write_tag(ByteSink& out, const OrSetTag& tag, const RegionNames& names) {
  write_region(out, tag.region, names);
  out.byte(':');
  write_number(out, tag.n);
}

}  // namespace

void orset_empty(ByteSink& out) { encode(State{}, out); }

void orset_validate(std::string_view bytes) {
  OrSetCursor cursor(bytes);
  std::string_view e;
  while (cursor.next(&e)) {
  }
}

void orset_merge(std::string_view a, std::string_view b, ByteSink& out) {
  State sa = decode(a), sb = decode(b);
  State merged;
  std::size_t i = 0, j = 0;
  while (i < sa.seen.size() || j < sb.seen.size()) {
    if (j == sb.seen.size() || (i < sa.seen.size() && sa.seen[i].region < sb.seen[j].region)) {
      merged.seen.push_back(sa.seen[i++]);
    } else if (i == sa.seen.size() || sb.seen[j].region < sa.seen[i].region) {
      merged.seen.push_back(sb.seen[j++]);
    } else {
      merged.seen.push_back(OrSetTag{sa.seen[i].region, std::max(sa.seen[i].n, sb.seen[j].n)});
      ++i;
      ++j;
    }
  }
  static const std::vector<OrSetTag> kNone;
  i = j = 0;
  while (i < sa.elements.size() || j < sb.elements.size()) {
    const Element* ea = i < sa.elements.size() ? &sa.elements[i] : nullptr;
    const Element* eb = j < sb.elements.size() ? &sb.elements[j] : nullptr;
    int order = ea == nullptr ? 1 : eb == nullptr ? -1 : ea->value.compare(eb->value);
    std::string_view value = order <= 0 ? ea->value : eb->value;
    std::vector<OrSetTag> tags =
        merge_tags(order <= 0 ? ea->tags : kNone, order >= 0 ? eb->tags : kNone, sa, sb);
    if (order <= 0) ++i;
    if (order >= 0) ++j;
    if (!tags.empty()) merged.elements.push_back(Element{value, std::move(tags)});
  }
  encode(merged, out);
}

void orset_reset(std::string_view bytes, ByteSink& out) {
  State state = decode(bytes);
  state.elements.clear();  // the seen clock stands for every removed tag
  encode(state, out);
}

void orset_continue(std::string_view base, std::string_view inserted, RegionId region,
                    ByteSink& out) {
  State state = decode(base);
  std::vector<std::string_view> elements = orset_elements(inserted);
  for (std::string_view e : elements) add(state, region, e);
  encode(state, out);
}

void orset_parse(std::string_view text, RegionId local_region, const RegionNames& names,
                 ByteSink& out) {
  TextReader in(text, kKind);
  in.expect('{', "'{'");

  if (!in.accept('|')) {
    // Plain form: a text array literal, the adds of its elements in order.
    std::vector<std::string> values;
    if (!in.accept('}')) {
      do values.push_back(in.element(false));
      while (in.accept(','));
      in.expect('}', "',' or '}'");
    }
    in.expect_end();
    State state;
    for (const std::string& v : values) add(state, local_region, v);
    encode(state, out);
    return;
  }

  // Full form: {|seen|element@tag@tag,...}.
  State state;
  if (!in.accept('|')) {
    do {
      OrSetTag s{in.region(names), 0};
      in.expect(':', "':' after the region");
      s.n = in.number("a tag number", UINT64_MAX);
      if (s.n == 0) in.fail("seen values start at 1");
      if (std::any_of(state.seen.begin(), state.seen.end(),
                      [&](const OrSetTag& t) { return t.region == s.region; }))
        in.fail("region " + std::to_string(s.region) + " listed twice in the seen clock");
      state.seen.push_back(s);
    } while (in.accept(','));
    in.expect('|', "',' or '|'");
  }
  std::sort(state.seen.begin(), state.seen.end(), tag_less);

  std::vector<std::pair<std::string, std::vector<OrSetTag>>> parsed;
  if (!in.accept('}')) {
    do {
      std::string value = in.element(true);
      std::vector<OrSetTag> tags;
      in.expect('@', "'@' and a tag after the element");
      do {
        OrSetTag t{in.region(names), 0};
        in.expect(':', "':' after the region");
        t.n = in.number("a tag number", UINT64_MAX);
        if (t.n == 0 || t.n > seen_of(state.seen, t.region))
          in.fail("tag " + std::to_string(t.region) + ":" + std::to_string(t.n) +
                  " is not within the seen clock");
        tags.push_back(t);
      } while (in.accept('@'));
      std::sort(tags.begin(), tags.end(), tag_less);
      if (std::adjacent_find(tags.begin(), tags.end(), tag_equal) != tags.end())
        in.fail("a tag listed twice");
      parsed.emplace_back(std::move(value), std::move(tags));
    } while (in.accept(','));
    in.expect('}', "'@', ',' or '}'");
  }
  in.expect_end();

  for (auto& [value, tags] : parsed) state.elements.push_back(Element{value, std::move(tags)});
  std::sort(state.elements.begin(), state.elements.end(),
            [](const Element& x, const Element& y) { return x.value < y.value; });
  for (std::size_t k = 1; k < state.elements.size(); ++k)
    if (state.elements[k - 1].value == state.elements[k].value)
      in.fail("element \"" + std::string(state.elements[k].value) + "\" listed twice");
  encode(state, out);
}

void orset_format(std::string_view bytes, const RegionNames& names, ByteSink& out) {
  OrSetCursor cursor(bytes);
  std::vector<OrSetTag> seen, tags;
  cursor.seen(&seen);
  out.byte('{');
  if (!seen.empty()) {
    out.byte('|');
    for (std::size_t k = 0; k < seen.size(); ++k) {
      if (k > 0) out.byte(',');
      write_tag(out, seen[k], names);
    }
    out.byte('|');
  }
  std::string_view value;
  bool first = true;
  while (cursor.next(&value, &tags)) {
    if (!first) out.byte(',');
    first = false;
    write_element(out, value);
    for (const OrSetTag& t : tags) {
      out.byte('@');
      write_tag(out, t, names);
    }
  }
  out.byte('}');
}

}  // namespace crdt

OrSetCursor::OrSetCursor(std::string_view bytes) : bytes_(bytes) {
  crdt::ByteReader in(bytes, CrdtKind::kOrSet);
  in.header();
  std::uint64_t count = in.varint("seen clock size");
  if (count > in.remaining() / 2) in.fail("seen clock size beyond the value");
  seen_begin_ = in.offset();
  RegionId last = kNoRegion;
  for (std::uint64_t k = 0; k < count; ++k) {
    std::size_t at = in.offset();
    RegionId region = in.region("seen region");
    if (region <= last) in.fail_at(at, "seen clock out of region order");
    last = region;
    if (in.varint("seen value") == 0) in.fail_at(at, "zero seen value");
  }
  seen_end_ = pos_ = in.offset();
}

void OrSetCursor::seen(std::vector<OrSetTag>* out) const {
  out->clear();
  crdt::ByteReader in(bytes_.substr(0, seen_end_), CrdtKind::kOrSet);
  in.seek(seen_begin_);
  while (!in.at_end()) {
    RegionId region = in.region("seen region");
    out->push_back(OrSetTag{region, in.varint("seen value")});
  }
}

bool OrSetCursor::next(std::string_view* element, std::vector<OrSetTag>* tags) {
  crdt::ByteReader in(bytes_, CrdtKind::kOrSet);
  in.seek(pos_);
  if (in.at_end()) return false;
  std::size_t at = in.offset();
  std::uint64_t len = in.varint("element length");
  if (len > in.remaining()) in.fail_at(at, "truncated element");
  std::string_view value = in.bytes(static_cast<std::size_t>(len), "element");
  if (value.find('\0') != std::string_view::npos) in.fail_at(at, "NUL in an element");
  if (!first_ && previous_.compare(value) >= 0) in.fail_at(at, "elements out of order");
  std::uint64_t ntags = in.varint("tag count");
  if (ntags == 0) in.fail_at(at, "element without tags");
  if (ntags > in.remaining() / 2) in.fail_at(at, "tag count beyond the value");

  // Tags ascend by region, and so does the seen clock: walk both.
  crdt::ByteReader seen(bytes_.substr(0, seen_end_), CrdtKind::kOrSet);
  seen.seek(seen_begin_);
  RegionId seen_region = kNoRegion;
  std::uint64_t seen_n = 0;
  OrSetTag previous{kNoRegion, 0};
  if (tags != nullptr) tags->clear();
  for (std::uint64_t k = 0; k < ntags; ++k) {
    std::size_t tag_at = in.offset();
    OrSetTag tag{in.region("tag region"), 0};
    tag.n = in.varint("tag number");
    if (tag.n == 0) in.fail_at(tag_at, "zero tag number");
    if (k > 0 && !crdt::tag_less(previous, tag)) in.fail_at(tag_at, "tags out of order");
    while (seen_region < tag.region && !seen.at_end()) {
      seen_region = seen.region("seen region");
      seen_n = seen.varint("seen value");
    }
    if (seen_region != tag.region || tag.n > seen_n)
      in.fail_at(tag_at, "tag beyond the seen clock");
    previous = tag;
    if (tags != nullptr) tags->push_back(tag);
  }
  pos_ = in.offset();
  previous_ = value;
  first_ = false;
  *element = value;
  return true;
}

void orset_add(std::string_view bytes, RegionId region, std::string_view element, ByteSink& out) {
  crdt::State state = crdt::decode(bytes);
  crdt::add(state, region, element);
  crdt::encode(state, out);
}

void orset_remove(std::string_view bytes, std::string_view element, ByteSink& out) {
  crdt::State state = crdt::decode(bytes);
  auto e = crdt::find_slot(state.elements, element);
  if (e != state.elements.end() && e->value == element) state.elements.erase(e);
  crdt::encode(state, out);
}

bool orset_contains(std::string_view bytes, std::string_view element) {
  bool found = false;
  orset_for_each(bytes, [&](std::string_view e) { found |= e == element; });
  return found;
}

std::vector<std::string_view> orset_elements(std::string_view bytes) {
  std::vector<std::string_view> out;
  orset_for_each(bytes, [&](std::string_view e) { out.push_back(e); });
  return out;
}

}  // namespace locality
