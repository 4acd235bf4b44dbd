// conflict.cpp -- the conflict decision of the apply worker (conflict.hpp):
// causal last-write-wins per row or per column, keep_local, apply_remote
// and error, with CRDT and merge-function columns always merged.
#include "locality/conflict.hpp"

#include <string>

#include "locality/hlc.hpp"
#include "locality/status.hpp"

namespace locality {
namespace {

struct ModeName {
  LocalityConflictMode mode;
  const char* name;
};

constexpr ModeName kModes[] = {
    {LOCALITY_CONFLICT_LAST_WRITE_WINS, "last_write_wins"},
    {LOCALITY_CONFLICT_LAST_WRITE_WINS_COLUMN, "last_write_wins_column"},
    {LOCALITY_CONFLICT_KEEP_LOCAL, "keep_local"},
    {LOCALITY_CONFLICT_APPLY_REMOTE, "apply_remote"},
    {LOCALITY_CONFLICT_ERROR, "error"},
};

constexpr const char* kAcceptedModes =
    "Accepted modes: last_write_wins, last_write_wins_column, keep_local, apply_remote, error.";

[[noreturn]] void invalid(const std::string& what) {
  throw Error(sqlstate::kInternalError, "invalid conflict description", what);
}

// The later-or-same stamp wins for the remote side (see the header).
bool remote_wins(const LocalityHlcStamp& local, const LocalityHlcStamp& remote) noexcept {
  return stamp_compare(remote, local) >= 0;
}

LocalityResolution row_level(bool remote) noexcept {
  return remote ? LOCALITY_RESOLUTION_APPLY_REMOTE : LOCALITY_RESOLUTION_KEEP_LOCAL;
}

// Mode 'error': would keeping the local row and applying the remote write
// leave the same data?  Only the columns tell; without them, assume not.
bool versions_agree(const LocalityConflict& c) noexcept {
  if (c.ncolumns == 0) return false;
  for (std::uint16_t i = 0; i < c.ncolumns; ++i) {
    std::uint8_t f = c.columns[i].flags;
    if ((f & (LOCALITY_COLUMN_MERGE | LOCALITY_COLUMN_EQUAL | LOCALITY_COLUMN_UNCHANGED)) == 0)
      return false;
  }
  return true;
}

// The row-level winner of a mode that is not 'error'.
bool remote_wins_row(const LocalityConflict& c, LocalityConflictMode mode) noexcept {
  switch (mode) {
    case LOCALITY_CONFLICT_KEEP_LOCAL:
      return false;
    case LOCALITY_CONFLICT_APPLY_REMOTE:
      return true;
    default:
      return remote_wins(c.local, c.remote);
  }
}

// Per-column choices of a remote write over a row, or over a tombstone that
// keeps the deleted row's columns (last_write_wins_column).  Returns
// whether some unmerged column came from each side.
void choose_columns(const LocalityConflict& c, LocalityConflictMode mode, bool row_remote,
                    std::uint8_t* choices, bool* any_remote, bool* any_local) noexcept {
  *any_remote = *any_local = false;
  for (std::uint16_t i = 0; i < c.ncolumns; ++i) {
    const LocalityConflictColumn& col = c.columns[i];
    LocalityColumnChoice choice;
    if (col.flags & LOCALITY_COLUMN_MERGE) {
      choice = LOCALITY_CHOICE_MERGE;
    } else if (col.flags & LOCALITY_COLUMN_UNCHANGED) {
      choice = LOCALITY_CHOICE_KEEP_LOCAL;
    } else {
      bool remote = mode == LOCALITY_CONFLICT_LAST_WRITE_WINS_COLUMN
                        ? remote_wins(col.local, col.remote)
                        : row_remote;
      choice = remote ? LOCALITY_CHOICE_APPLY_REMOTE : LOCALITY_CHOICE_KEEP_LOCAL;
      (remote ? *any_remote : *any_local) = true;
    }
    choices[i] = static_cast<std::uint8_t>(choice);
  }
}

void fill_choices(const LocalityConflict& c, std::uint8_t* choices,
                  LocalityColumnChoice choice) noexcept {
  for (std::uint16_t i = 0; i < c.ncolumns; ++i) choices[i] = static_cast<std::uint8_t>(choice);
}

LocalityResolution write_over_row(const LocalityConflict& c, LocalityConflictMode mode,
                                  std::uint8_t* choices) noexcept {
  bool row_remote = remote_wins_row(c, mode);
  bool any_remote, any_local;
  choose_columns(c, mode, row_remote, choices, &any_remote, &any_local);
  if (mode != LOCALITY_CONFLICT_LAST_WRITE_WINS_COLUMN || (!any_remote && !any_local))
    return row_level(row_remote);
  if (any_remote && any_local) return LOCALITY_RESOLUTION_COLUMNS;
  return row_level(any_remote);
}

LocalityResolution write_over_nothing(const LocalityConflict& c, LocalityConflictMode mode,
                                      std::uint8_t* choices) noexcept {
  if (c.local_state == LOCALITY_LOCAL_ABSENT) {
    // Nothing here to keep or merge with: insert the remote tuple.
    for (std::uint16_t i = 0; i < c.ncolumns; ++i)
      choices[i] = static_cast<std::uint8_t>((c.columns[i].flags & LOCALITY_COLUMN_UNCHANGED)
                                                 ? LOCALITY_CHOICE_KEEP_LOCAL
                                                 : LOCALITY_CHOICE_APPLY_REMOTE);
    return LOCALITY_RESOLUTION_APPLY_REMOTE;
  }
  // A tombstone: the row reappears when the write wins over the delete.
  // Merged columns merge with what the tombstone kept of them, and in
  // column mode every column with the tombstone's column, by its stamp.
  bool visible = remote_wins_row(c, mode);
  bool any_remote, any_local;
  choose_columns(c, mode, visible, choices, &any_remote, &any_local);
  return row_level(visible);
}

}  // namespace

LocalityResolution resolve_conflict(const LocalityConflict& c, std::uint8_t* choices) {
  if (conflict_mode_name(c.mode) == nullptr) invalid("mode " + std::to_string(c.mode));
  if (c.remote_op != LOCALITY_REMOTE_WRITE && c.remote_op != LOCALITY_REMOTE_DELETE)
    invalid("remote operation " + std::to_string(c.remote_op));
  if (c.local_state < LOCALITY_LOCAL_ROW || c.local_state > LOCALITY_LOCAL_ABSENT)
    invalid("local state " + std::to_string(c.local_state));
  if (c.ncolumns > 0 && c.columns == nullptr) invalid("columns is NULL");
  bool write = c.remote_op == LOCALITY_REMOTE_WRITE;
  if (write && c.ncolumns > 0 && choices == nullptr) invalid("choices is NULL");

  auto mode = static_cast<LocalityConflictMode>(c.mode);
  if (mode == LOCALITY_CONFLICT_ERROR) {
    bool agree = write ? c.local_state == LOCALITY_LOCAL_ROW && versions_agree(c)
                       : c.local_state != LOCALITY_LOCAL_ROW;
    if (!agree) {
      if (write) fill_choices(c, choices, LOCALITY_CHOICE_KEEP_LOCAL);
      return LOCALITY_RESOLUTION_ERROR;
    }
    mode = LOCALITY_CONFLICT_LAST_WRITE_WINS;
  }

  if (write)
    return c.local_state == LOCALITY_LOCAL_ROW ? write_over_row(c, mode, choices)
                                               : write_over_nothing(c, mode, choices);
  // A delete: nothing local to keep, or the later of the two wins.
  if (c.local_state == LOCALITY_LOCAL_ABSENT) return LOCALITY_RESOLUTION_APPLY_REMOTE;
  return row_level(remote_wins_row(c, mode));
}

LocalityResolution resolve_unique_conflict(int mode, const LocalityHlcStamp& local,
                                           const LocalityHlcStamp& remote) {
  switch (mode) {
    case LOCALITY_CONFLICT_ERROR:
      return LOCALITY_RESOLUTION_ERROR;
    case LOCALITY_CONFLICT_KEEP_LOCAL:
      return LOCALITY_RESOLUTION_KEEP_LOCAL;
    case LOCALITY_CONFLICT_APPLY_REMOTE:
      return LOCALITY_RESOLUTION_APPLY_REMOTE;
    case LOCALITY_CONFLICT_LAST_WRITE_WINS:
    case LOCALITY_CONFLICT_LAST_WRITE_WINS_COLUMN:
      // Column mode too: a unique value cannot be split between two rows.
      return row_level(remote_wins(local, remote));
    default:
      invalid("mode " + std::to_string(mode));
  }
}

LocalityConflictMode parse_conflict_mode(std::string_view text) {
  for (const ModeName& m : kModes)
    if (text == m.name) return m.mode;
  throw Error(sqlstate::kInvalidParameterValue,
              "invalid conflict resolution \"" + std::string(text) + "\"", {}, kAcceptedModes);
}

const char* conflict_mode_name(int mode) noexcept {
  for (const ModeName& m : kModes)
    if (m.mode == mode) return m.name;
  return nullptr;
}

const char* resolution_name(int resolution) noexcept {
  switch (resolution) {
    case LOCALITY_RESOLUTION_APPLY_REMOTE:
      return "apply_remote";
    case LOCALITY_RESOLUTION_KEEP_LOCAL:
      return "keep_local";
    case LOCALITY_RESOLUTION_COLUMNS:
      return "columns";
    case LOCALITY_RESOLUTION_ERROR:
      return "error";
    default:
      return nullptr;
  }
}

}  // namespace locality

extern "C" int locality_conflict_resolve(const LocalityConflict* conflict, uint8_t* choices,
                                         int* resolution, LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    if (conflict == nullptr)
      throw locality::Error(locality::sqlstate::kInternalError,
                            "locality_conflict_resolve: conflict is NULL");
    LocalityResolution r = locality::resolve_conflict(*conflict, choices);
    if (resolution != nullptr) *resolution = r;
  });
}

extern "C" int locality_unique_conflict_resolve(int mode, const LocalityHlcStamp* local,
                                                const LocalityHlcStamp* remote, int* resolution,
                                                LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    if (local == nullptr || remote == nullptr)
      throw locality::Error(locality::sqlstate::kInternalError,
                            "locality_unique_conflict_resolve: a stamp is NULL");
    LocalityResolution r = locality::resolve_unique_conflict(mode, *local, *remote);
    if (resolution != nullptr) *resolution = r;
  });
}

extern "C" int locality_conflict_mode_parse(const char* text, int* mode,
                                            LocalityStatus* status) noexcept {
  return locality::call_guarded(status, [&] {
    LocalityConflictMode m = locality::parse_conflict_mode(
        text == nullptr ? std::string_view() : std::string_view(text));
    if (mode != nullptr) *mode = m;
  });
}

extern "C" const char* locality_conflict_mode_name(int mode) noexcept {
  return locality::conflict_mode_name(mode);
}

extern "C" const char* locality_resolution_name(int resolution) noexcept {
  return locality::resolution_name(resolution);
}
