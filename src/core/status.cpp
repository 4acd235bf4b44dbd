// status.cpp -- copying core errors into the plain LocalityStatus of the C API.
#include "locality/status.hpp"

#include <cstring>

namespace locality {
namespace {

void copy_text(char* out, size_t size, const std::string& text) noexcept {
  size_t n = text.size() < size - 1 ? text.size() : size - 1;
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

}  // namespace

void status_ok(LocalityStatus* status) noexcept {
  if (status == nullptr) return;
  status->ok = 1;
  status->sqlstate[0] = '\0';
  status->message[0] = '\0';
  status->detail[0] = '\0';
  status->hint[0] = '\0';
  status->position = 0;
}

void status_fail(LocalityStatus* status, const Error& error) noexcept {
  if (status == nullptr) return;
  status->ok = 0;
  copy_text(status->sqlstate, sizeof status->sqlstate, error.sqlstate());
  copy_text(status->message, sizeof status->message, error.what());
  copy_text(status->detail, sizeof status->detail, error.detail());
  copy_text(status->hint, sizeof status->hint, error.hint());
  status->position = error.position();
}

}  // namespace locality
