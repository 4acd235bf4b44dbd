// status.hpp -- errors inside the core, and the one place they cross into C.
//
// Core code throws locality::Error carrying the SQLSTATE, message, detail and
// hint the user will see.  Every extern "C" entry point wraps its body in
// call_guarded(), which catches everything and copies the error into the
// caller's plain LocalityStatus (rules 2, 3 and 7 of ARCHITECTURE.md).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "locality_core.h"

namespace locality {

class Error : public std::runtime_error {
 public:
  Error(std::string sqlstate, std::string message, std::string detail = {},
        std::string hint = {})
      : std::runtime_error(message),
        sqlstate_(std::move(sqlstate)),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {}

  const std::string& sqlstate() const noexcept { return sqlstate_; }
  const std::string& detail() const noexcept { return detail_; }
  const std::string& hint() const noexcept { return hint_; }
  // 1-based offset into the text being parsed, 0 when the error has none.
  int position() const noexcept { return position_; }
  Error& at(int position) noexcept {
    position_ = position;
    return *this;
  }

 private:
  std::string sqlstate_;
  std::string detail_;
  std::string hint_;
  int position_ = 0;
};

// Well-known SQLSTATEs the core raises (PostgreSQL's errcodes.txt names).
namespace sqlstate {
inline constexpr const char* kFeatureNotSupported = "0A000";
inline constexpr const char* kSequenceLimitExceeded = "2200H";
inline constexpr const char* kNumericValueOutOfRange = "22003";
inline constexpr const char* kNullValueNotAllowed = "22004";
inline constexpr const char* kDatetimeFieldOverflow = "22008";
inline constexpr const char* kCharacterNotInRepertoire = "22021";
inline constexpr const char* kInvalidParameterValue = "22023";
inline constexpr const char* kInvalidTextRepresentation = "22P02";
inline constexpr const char* kInvalidBinaryRepresentation = "22P03";
inline constexpr const char* kSyntaxError = "42601";
inline constexpr const char* kNameTooLong = "42622";
inline constexpr const char* kUndefinedObject = "42704";
inline constexpr const char* kOutOfMemory = "53200";
inline constexpr const char* kProgramLimitExceeded = "54000";
inline constexpr const char* kObjectNotInPrerequisiteState = "55000";
inline constexpr const char* kInternalError = "XX000";
}  // namespace sqlstate

// Marks status as success.
void status_ok(LocalityStatus* status) noexcept;

// Copies error into status (truncating texts to the fixed buffers).
void status_fail(LocalityStatus* status, const Error& error) noexcept;

// Runs body; any exception becomes a failed status.  Returns 1 on success.
template <typename Body>
int call_guarded(LocalityStatus* status, Body&& body) noexcept {
  try {
    body();
    status_ok(status);
    return 1;
  } catch (const Error& e) {
    status_fail(status, e);
  } catch (const std::bad_alloc&) {
    status_fail(status, Error(sqlstate::kOutOfMemory, "out of memory"));
  } catch (const std::exception& e) {
    status_fail(status, Error(sqlstate::kInternalError,
                              std::string("pg_locality internal error: ") + e.what()));
  } catch (...) {
    status_fail(status, Error(sqlstate::kInternalError, "pg_locality internal error"));
  }
  return 0;
}

}  // namespace locality
