// sql_lexer.hpp -- tokens of a locality text and of CockroachDB DDL, and the
// reader both parsers walk them with.
//
// One lexer serves two inputs that report errors differently: a locality text
// (`WITH (locality = '...')`, locality.set_locality) fails with 22023
// `invalid locality "..."`, a statement for locality.execute() with 42601
// `syntax error at or near "..."`.  TokenReader::fail() knows which, so the
// locality grammar (locality_spec.cpp) is written once and used by both.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace locality {

// Longest identifier, as PostgreSQL's NAMEDATALEN - 1 (bytes).
inline constexpr std::size_t kIdentifierMax = 63;

enum class Dialect {
  // A locality text: words of [A-Za-z0-9_$-] and high-bit bytes, "quoted
  // identifiers"; no comments, no string literals.
  kLocalityText,
  // CockroachDB SQL: identifiers, "quoted identifiers", 'strings',
  // e'escape strings', numbers, -- and /* */ comments.
  kCockroachSql,
};

struct Token {
  enum class Kind {
    kWord,         // unquoted identifier or keyword, as written
    kQuotedIdent,  // "..." with "" unescaped, case kept
    kString,       // '...' or e'...', unescaped
    kNumber,       // digits and what sticks to them; never an identifier
    kSymbol,       // any other single character
    kEnd,          // end of input
    kError,        // the lexer stopped here; value is the message
  };
  Kind kind = Kind::kEnd;
  std::string value;
  std::size_t offset = 0;                // byte offset of the token's first character
  std::size_t length = 0;                // bytes of source text the token spans
  const char* error_sqlstate = nullptr;  // kError only
};

// Splits source into tokens.  The last token is always kEnd or kError (the
// lexer stops at its first error, so a parser that fails earlier reports the
// earlier problem, as PostgreSQL's lazy scanner does).
std::vector<Token> tokenize(std::string_view source, Dialect dialect);

// 1-based character position of byte_offset in source (UTF-8 aware), the
// unit PostgreSQL's error positions use.
int char_position(std::string_view source, std::size_t byte_offset) noexcept;

// PostgreSQL's folding of an unquoted identifier: ASCII letters to lower case.
std::string fold_identifier(std::string_view word);

// word follows PostgreSQL's unquoted-identifier rule:
// [A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*.
bool is_plain_identifier(std::string_view word) noexcept;

// "name" with embedded double quotes doubled, as canonical texts print names.
std::string quote_identifier(std::string_view name);

// Cursor over the tokens of one input, with the error conventions of its
// dialect.
class TokenReader {
 public:
  TokenReader(std::string_view source, Dialect dialect);

  Dialect dialect() const noexcept { return dialect_; }
  std::string_view source() const noexcept { return source_; }

  // The token ahead tokens from here; past the end, the final token.
  const Token& peek(std::size_t ahead = 0) const noexcept;
  // Returns the current token and moves past it (never past the final one).
  const Token& next() noexcept;

  bool at_keyword(std::string_view keyword, std::size_t ahead = 0) const noexcept;
  bool accept_keyword(std::string_view keyword) noexcept;
  bool at_symbol(char symbol, std::size_t ahead = 0) const noexcept;
  bool accept_symbol(char symbol) noexcept;
  // Nothing but the end follows (in SQL, also a terminating ';').
  bool at_end() const noexcept;

  // Consumes keyword or fails with expected (see fail()).
  void expect_keyword(std::string_view keyword, std::string_view expected);

  // Consumes an identifier token (word or quoted) and returns its name:
  // words folded to lower case, quoted names verbatim.  Fails with expected
  // when the token is not an identifier; throws 42622 when the name is longer
  // than kIdentifierMax bytes.
  std::string identifier(std::string_view expected);

  // 1-based character position of token in the source.
  int position(const Token& token) const noexcept;

  // Throws the dialect's error for an unexpected token.  expected is a
  // phrase ("LOCALITY", "a region name"); advice an optional extra sentence.
  // An error token reports the lexer's own problem instead.
  [[noreturn]] void fail(const Token& token, std::string_view expected,
                         std::string_view advice = {}) const;

  // "the end of the text" / "the end of the statement", for expected phrases.
  const char* end_phrase() const noexcept;

 private:
  std::string_view source_;
  Dialect dialect_;
  std::vector<Token> tokens_;
  std::size_t index_ = 0;
};

}  // namespace locality
