// login_refusal.cpp -- tells a server's refusal of a new connection (an
// ErrorResponse during startup: authentication failed, no such role or
// database, too many connections) from a server that could not be reached,
// in the text libpq leaves after a failed connection attempt.  libpq gives
// no SQLSTATE for connection failures, but with PQERRORS_VERBOSE it writes
// each server error as "SEVERITY:  SQLSTATE: message", then DETAIL/HINT/
// LOCATION lines (pqBuildErrorMessage3), after its own "connection to server
// at ... failed: " prefix.  The severity word may be translated; the shape
// is not.
#include <string>
#include <string_view>

#include "locality/status.hpp"
#include "locality_core.h"

namespace locality {
namespace {

bool is_sqlstate_char(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

// Where the "SEVERITY:  SQLSTATE: " of a server error starts in line (the
// offset of the message after it in *message_at), or npos.  The severity is
// one word, at the start of the line or after libpq's "failed: ".
size_t find_server_error(std::string_view line, size_t* message_at) {
  size_t from = 0;
  for (;;) {
    size_t colon = line.find(":  ", from);
    if (colon == std::string_view::npos) return colon;
    size_t code = colon + 3;
    if (code + 7 <= line.size() && line.substr(code + 5, 2) == ": ") {
      bool ok = true;
      for (size_t i = 0; i < 5; i++) ok = ok && is_sqlstate_char(line[code + i]);
      // The severity: one word back to the line start or to ": ".
      size_t word = line.rfind(' ', colon);
      size_t start = word == std::string_view::npos ? 0 : word + 1;
      bool at_boundary = start == 0 || (start >= 2 && line.substr(start - 2, 2) == ": ");
      if (ok && start < colon && at_boundary) {
        *message_at = code + 7;
        return code;
      }
    }
    from = colon + 1;
  }
}

std::string_view after_label(std::string_view line, std::string_view label) {
  if (line.substr(0, label.size()) == label) return line.substr(label.size());
  return {};
}

}  // namespace

// The last server error in text, or false when there is none.
bool parse_login_refusal(std::string_view text, std::string* sqlstate, std::string* message,
                         std::string* detail, std::string* hint) {
  bool found = false;
  bool in_error = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t message_at = 0;
    size_t code = find_server_error(line, &message_at);
    if (code != std::string_view::npos) {
      found = in_error = true;
      *sqlstate = std::string(line.substr(code, 5));
      *message = std::string(line.substr(message_at));
      detail->clear();
      hint->clear();
      continue;
    }
    if (!in_error) continue;
    std::string_view v;
    if (!(v = after_label(line, "DETAIL:  ")).empty())
      *detail = std::string(v);
    else if (!(v = after_label(line, "HINT:  ")).empty())
      *hint = std::string(v);
    else if (line.empty() || line.find("connection to server") == 0)
      in_error = false;
  }
  return found;
}

}  // namespace locality

extern "C" int locality_login_refusal(const char* text, LocalityStatus* refusal) noexcept {
  std::string sqlstate, message, detail, hint;
  bool refused = false;
  LocalityStatus scratch;
  int ok = locality::call_guarded(&scratch, [&] {
    if (text == nullptr ||
        !locality::parse_login_refusal(text, &sqlstate, &message, &detail, &hint))
      return;
    // Connection exceptions and operator intervention (shutting down,
    // starting up, ...): the server is not serving, as if unreachable.
    if (sqlstate.compare(0, 2, "08") == 0 || sqlstate.compare(0, 2, "57") == 0) return;
    refused = true;
  });
  if (!ok || !refused) {
    locality::status_ok(refusal);
    return 0;
  }
  locality::status_fail(refusal, locality::Error(sqlstate, message, detail, hint));
  return 1;
}
