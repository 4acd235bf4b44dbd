// sql_lexer.cpp -- CockroachDB's quoting rules (which are PostgreSQL's with
// standard_conforming_strings on) for the DDL of locality.execute() and the
// locality texts of SPEC.md section 3.
#include "locality/sql_lexer.hpp"

#include <cctype>

#include "locality/locality_spec.hpp"
#include "locality/status.hpp"

namespace locality {
namespace {

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_high_bit(char c) noexcept { return static_cast<unsigned char>(c) >= 0x80; }

bool is_ascii_letter(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_ident_start(char c) noexcept { return is_ascii_letter(c) || c == '_' || is_high_bit(c); }

bool is_ident_char(char c) noexcept { return is_ident_start(c) || is_digit(c) || c == '$'; }

// A locality text's bare words also take hyphens and leading digits, so
// `REGIONAL BY TABLE IN eu-west1` works unquoted.
bool is_text_word_char(char c) noexcept { return is_ident_char(c) || c == '-'; }

int hex_value(char c) noexcept {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

class Lexer {
 public:
  Lexer(std::string_view src, Dialect dialect) : src_(src), dialect_(dialect) {}

  std::vector<Token> run() {
    std::vector<Token> tokens;
    for (;;) {
      Token token = next_token();
      Token::Kind kind = token.kind;
      tokens.push_back(std::move(token));
      if (kind == Token::Kind::kEnd || kind == Token::Kind::kError) return tokens;
    }
  }

 private:
  Token make(Token::Kind kind, std::size_t start, std::string value) const {
    Token token;
    token.kind = kind;
    token.value = std::move(value);
    token.offset = start;
    token.length = pos_ - start;
    return token;
  }

  Token error(std::size_t start, const char* sqlstate, std::string message) const {
    Token token;
    token.kind = Token::Kind::kError;
    token.value = std::move(message);
    token.offset = start;
    token.length = src_.size() - start;
    token.error_sqlstate = sqlstate;
    return token;
  }

  bool at(std::size_t i, char c) const noexcept { return i < src_.size() && src_[i] == c; }

  // Skips whitespace and, in SQL, comments.  Returns false (with the error
  // in *err) on an unterminated block comment.
  bool skip_blanks(Token* err) {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (is_space(c)) {
        ++pos_;
      } else if (dialect_ == Dialect::kCockroachSql && c == '-' && at(pos_ + 1, '-')) {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
      } else if (dialect_ == Dialect::kCockroachSql && c == '/' && at(pos_ + 1, '*')) {
        // Block comments nest, as in PostgreSQL and CockroachDB.
        std::size_t start = pos_;
        int depth = 0;
        do {
          if (at(pos_, '/') && at(pos_ + 1, '*')) {
            ++depth;
            pos_ += 2;
          } else if (at(pos_, '*') && at(pos_ + 1, '/')) {
            --depth;
            pos_ += 2;
          } else {
            ++pos_;
          }
        } while (depth > 0 && pos_ < src_.size());
        if (depth > 0) {
          *err = error(start, sqlstate::kSyntaxError, "unterminated /* comment");
          return false;
        }
      } else {
        break;
      }
    }
    return true;
  }

  Token next_token() {
    Token err;
    if (!skip_blanks(&err)) return err;
    std::size_t start = pos_;
    if (pos_ >= src_.size()) return make(Token::Kind::kEnd, start, {});
    char c = src_[pos_];

    if (c == '"') return quoted_identifier();
    if (dialect_ == Dialect::kCockroachSql) {
      if (c == '\'') return string_literal();
      if ((c == 'e' || c == 'E') && at(pos_ + 1, '\'')) return escape_string(start);
      if (is_ident_start(c)) {
        while (pos_ < src_.size() && is_ident_char(src_[pos_])) ++pos_;
        return make(Token::Kind::kWord, start, std::string(src_.substr(start, pos_ - start)));
      }
      if (is_digit(c)) {
        while (pos_ < src_.size() && (is_ident_char(src_[pos_]) || src_[pos_] == '.')) ++pos_;
        return make(Token::Kind::kNumber, start, std::string(src_.substr(start, pos_ - start)));
      }
    } else if (is_text_word_char(c)) {
      while (pos_ < src_.size() && is_text_word_char(src_[pos_])) ++pos_;
      return make(Token::Kind::kWord, start, std::string(src_.substr(start, pos_ - start)));
    }
    ++pos_;
    return make(Token::Kind::kSymbol, start, std::string(1, c));
  }

  Token quoted_identifier() {
    std::size_t start = pos_++;
    std::string value;
    for (;;) {
      if (pos_ >= src_.size())
        return error(start, sqlstate::kSyntaxError, "unterminated quoted identifier");
      char c = src_[pos_++];
      if (c != '"') {
        value.push_back(c);
      } else if (at(pos_, '"')) {
        value.push_back('"');
        ++pos_;
      } else {
        break;
      }
    }
    if (value.empty())
      return error(start, sqlstate::kSyntaxError,
                   "zero-length delimited identifier at or near \"\"\"\"");
    return make(Token::Kind::kQuotedIdent, start, std::move(value));
  }

  // '...' with '' for a quote; backslashes are ordinary characters.
  Token string_literal() {
    std::size_t start = pos_++;
    std::string value;
    for (;;) {
      if (pos_ >= src_.size())
        return error(start, sqlstate::kSyntaxError, "unterminated quoted string");
      char c = src_[pos_++];
      if (c != '\'') {
        value.push_back(c);
      } else if (at(pos_, '\'')) {
        value.push_back('\'');
        ++pos_;
      } else {
        return make(Token::Kind::kString, start, std::move(value));
      }
    }
  }

  // e'...': PostgreSQL's escape strings.  \b \f \n \r \t, octal \ooo and hex
  // \xhh are decoded; any other escaped character stands for itself (\\, \');
  // '' is a quote too.  \u escapes are refused rather than misread.
  Token escape_string(std::size_t start) {
    pos_ = start + 2;
    std::string value;
    for (;;) {
      if (pos_ >= src_.size())
        return error(start, sqlstate::kSyntaxError, "unterminated quoted string");
      char c = src_[pos_++];
      if (c == '\'') {
        if (!at(pos_, '\'')) return make(Token::Kind::kString, start, std::move(value));
        value.push_back('\'');
        ++pos_;
        continue;
      }
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (pos_ >= src_.size())
        return error(start, sqlstate::kSyntaxError, "unterminated quoted string");
      std::size_t escape_at = pos_ - 1;
      char e = src_[pos_++];
      int code = -1;
      switch (e) {
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'x':
          if (pos_ < src_.size() && hex_value(src_[pos_]) >= 0) {
            code = hex_value(src_[pos_++]);
            if (pos_ < src_.size() && hex_value(src_[pos_]) >= 0)
              code = code * 16 + hex_value(src_[pos_++]);
          } else {
            value.push_back('x');
          }
          break;
        case 'u':
        case 'U':
          return error(escape_at, sqlstate::kFeatureNotSupported,
                       "unicode escapes are not supported in escape strings");
        default:
          if (e >= '0' && e <= '7') {
            code = e - '0';
            for (int n = 0; n < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7';
                 ++n)
              code = code * 8 + (src_[pos_++] - '0');
          } else {
            value.push_back(e);
          }
      }
      if (code == 0)
        return error(escape_at, sqlstate::kCharacterNotInRepertoire,
                     "escape strings cannot contain a NUL byte");
      if (code > 0) value.push_back(static_cast<char>(code & 0xff));
    }
  }

  std::string_view src_;
  Dialect dialect_;
  std::size_t pos_ = 0;
};

std::string sentence(std::string_view text) {
  std::string s(text);
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  s.push_back('.');
  return s;
}

}  // namespace

std::vector<Token> tokenize(std::string_view source, Dialect dialect) {
  return Lexer(source, dialect).run();
}

int char_position(std::string_view source, std::size_t byte_offset) noexcept {
  if (byte_offset > source.size()) byte_offset = source.size();
  int chars = 0;
  for (std::size_t i = 0; i < byte_offset; ++i) {
    // Count every byte that does not continue a UTF-8 sequence.
    if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80) ++chars;
  }
  return chars + 1;
}

std::string fold_identifier(std::string_view word) {
  std::string folded(word);
  for (char& c : folded) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return folded;
}

bool is_plain_identifier(std::string_view word) noexcept {
  if (word.empty() || !is_ident_start(word.front())) return false;
  for (char c : word) {
    if (!is_ident_char(c)) return false;
  }
  return true;
}

std::string quote_identifier(std::string_view name) {
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

TokenReader::TokenReader(std::string_view source, Dialect dialect)
    : source_(source), dialect_(dialect), tokens_(tokenize(source, dialect)) {}

const Token& TokenReader::peek(std::size_t ahead) const noexcept {
  std::size_t i = index_ + ahead;
  return i < tokens_.size() ? tokens_[i] : tokens_.back();
}

const Token& TokenReader::next() noexcept {
  const Token& token = peek();
  if (index_ + 1 < tokens_.size()) ++index_;
  return token;
}

bool TokenReader::at_keyword(std::string_view keyword, std::size_t ahead) const noexcept {
  const Token& token = peek(ahead);
  return token.kind == Token::Kind::kWord && iequals(token.value, keyword);
}

bool TokenReader::accept_keyword(std::string_view keyword) noexcept {
  if (!at_keyword(keyword)) return false;
  next();
  return true;
}

bool TokenReader::at_symbol(char symbol, std::size_t ahead) const noexcept {
  const Token& token = peek(ahead);
  return token.kind == Token::Kind::kSymbol && token.value[0] == symbol;
}

bool TokenReader::accept_symbol(char symbol) noexcept {
  if (!at_symbol(symbol)) return false;
  next();
  return true;
}

bool TokenReader::at_end() const noexcept {
  return peek().kind == Token::Kind::kEnd || (dialect_ == Dialect::kCockroachSql && at_symbol(';'));
}

void TokenReader::expect_keyword(std::string_view keyword, std::string_view expected) {
  if (!accept_keyword(keyword)) fail(peek(), expected);
}

std::string TokenReader::identifier(std::string_view expected) {
  const Token& token = peek();
  std::string name;
  if (token.kind == Token::Kind::kQuotedIdent) {
    name = token.value;
  } else if (token.kind == Token::Kind::kWord && is_plain_identifier(token.value)) {
    name = fold_identifier(token.value);
  } else {
    fail(token, expected);
  }
  if (name.size() > kIdentifierMax) {
    throw Error(sqlstate::kNameTooLong, "identifier \"" + name + "\" is too long",
                "An identifier is at most " + std::to_string(kIdentifierMax) + " bytes.")
        .at(position(token));
  }
  next();
  return name;
}

int TokenReader::position(const Token& token) const noexcept {
  return char_position(source_, token.offset);
}

const char* TokenReader::end_phrase() const noexcept {
  return dialect_ == Dialect::kCockroachSql ? "the end of the statement" : "the end of the text";
}

void TokenReader::fail(const Token& token, std::string_view expected,
                       std::string_view advice) const {
  int pos = position(token);
  if (dialect_ == Dialect::kLocalityText) {
    std::string detail;
    if (token.kind == Token::Kind::kError) {
      detail = sentence(token.value);
    } else {
      detail = "Expected " + std::string(expected) + ", found " +
               (token.kind == Token::Kind::kEnd
                    ? std::string(end_phrase())
                    : "\"" + std::string(source_.substr(token.offset, token.length)) + "\"") +
               ".";
    }
    if (!advice.empty()) detail += " " + std::string(advice);
    throw Error(sqlstate::kInvalidParameterValue,
                "invalid locality \"" + std::string(source_) + "\"", detail, kAcceptedLocalityForms)
        .at(pos);
  }
  if (token.kind == Token::Kind::kError) throw Error(token.error_sqlstate, token.value).at(pos);
  std::string message = token.kind == Token::Kind::kEnd
                            ? std::string("syntax error at end of input")
                            : "syntax error at or near \"" +
                                  std::string(source_.substr(token.offset, token.length)) + "\"";
  std::string hint = "Expected " + std::string(expected) + ".";
  if (!advice.empty()) hint += " " + std::string(advice);
  throw Error(sqlstate::kSyntaxError, message, {}, hint).at(pos);
}

}  // namespace locality
