// conflict.hpp -- what the apply worker does with a conflicting change on a
// GLOBAL table (SPEC.md section 5; the argument is in docs/conflicts.md).
//
//   apply worker: remote change + local row/tombstone --resolve_conflict()-->
//                 resolution + per-column choices --> heap, locality.conflicts
//
// Every mode works on the same inputs: what the remote change does (a write
// or a delete), what is local (a row, a tombstone, nothing), and the
// causal stamps (hlc, region id) of both sides, per row and, for
// last_write_wins_column, per column.  Stamps compare with stamp_compare():
// the same answer on every region, which is what makes them converge.
//
// Rules (remote >= local means stamp_compare(remote, local) >= 0; an equal
// stamp is the same transaction of the same origin, whose changes arrive in
// stream order, so the later one applies):
//
//   last_write_wins         A row is one register: the side with the later
//                           stamp wins all of it.  write over row: every
//                           column from the later side.  write over
//                           tombstone: insert the remote tuple when the
//                           write is later than the delete, else stay
//                           deleted.  delete over row: delete when later
//                           than the row's last write.  delete over
//                           tombstone: keep the later stamp.  Anything over
//                           an absent row: apply.
//   last_write_wins_column  A row is one register per column plus a delete
//                           stamp; it is visible while its latest column
//                           write is later than its latest delete.  write
//                           over row: per column, the later column stamp
//                           wins, so concurrent updates of different
//                           columns both survive.  write over tombstone:
//                           the same per-column merge into the deleted
//                           row's columns, which the tombstone must keep
//                           with their stamps; the row reappears when the
//                           write is later than the delete.  delete over
//                           row: delete when later than the row's latest
//                           write (pass as local the latest stamp of every
//                           write applied to the row, including writes that
//                           lost every column or changed only merged ones).
//   keep_local              the local row or tombstone wins; a write over an
//                           absent row is applied (nothing local to keep).
//   apply_remote            the remote change wins.
//   error                   LOCALITY_RESOLUTION_ERROR whenever the two
//                           outcomes could leave different data; when they
//                           cannot (a write over a row whose every unmerged
//                           column is equal or not sent, a delete over a
//                           tombstone or an absent row) it decides as
//                           last_write_wins, so the stamps kept converge.
//
// A remote write always gets per-column choices (when columns are given):
// columns flagged LOCALITY_COLUMN_MERGE (CRDT types, merge functions) are
// merged whoever wins, over a row and over a tombstone alike, and a column
// flagged LOCALITY_COLUMN_UNCHANGED keeps the local value (the remote did
// not send it).  Over an absent row every sent column is APPLY_REMOTE.
//
// Convergence needs tombstones: a region that deleted a row keeps the
// deletion's stamp, in column mode the row's columns with their stamps, and
// in every mode the state of its merged columns, until every region has
// seen the delete.  Otherwise a concurrent remote update arriving later
// would find the row absent and resurrect it here, or resurrect it without
// the increments this region had merged before the delete, while the other
// regions keep it deleted or keep those increments (docs/conflicts.md
// works through the cases, and the consequence for a key deleted and
// inserted again).  Convergence also needs unchanged values
// (LOCALITY_COLUMN_UNCHANGED) to be rare in conflicts: the local value kept
// may not be the one the winning side had, so the output plugin should
// send GLOBAL tables' TOASTed columns in full.
#pragma once

#include <cstdint>
#include <string_view>

#include "locality_core.h"

namespace locality {

// Decides c; for a remote write writes one LocalityColumnChoice per column
// into choices (room for c.ncolumns) and returns a LocalityResolution.
// Throws XX000 for values outside the enums or a NULL array.
LocalityResolution resolve_conflict(const LocalityConflict& c, std::uint8_t* choices);

// A remote write and a local row of different keys with the same value in
// another unique index than the key: which row stays (APPLY_REMOTE: the
// remote one, KEEP_LOCAL: the local one, ERROR for mode 'error').  In both
// last-write-wins modes the later stamp, so every region keeps the same row;
// keep_local and apply_remote as their names say.  Throws XX000 for a mode
// outside the enum.
LocalityResolution resolve_unique_conflict(int mode, const LocalityHlcStamp& local,
                                           const LocalityHlcStamp& remote);

// 'last_write_wins' and the others; throws 22023 `invalid conflict
// resolution "x"` with the accepted modes as hint.
LocalityConflictMode parse_conflict_mode(std::string_view text);

// The text of a mode or resolution; nullptr outside the enums.
const char* conflict_mode_name(int mode) noexcept;
const char* resolution_name(int resolution) noexcept;

}  // namespace locality
