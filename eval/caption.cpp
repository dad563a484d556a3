#include "eval/caption.h"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace loong::eval {

std::string Direction::str() const {
  const std::string v = vertical < 0 ? "up" : vertical > 0 ? "down" : "";
  const std::string h = horizontal < 0 ? "left" : horizontal > 0 ? "right" : "";
  if (!v.empty() && !h.empty()) return v + " and " + h;
  if (v.empty() && h.empty()) return "none";
  return v.empty() ? h : v;
}

namespace {

bool consume(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

size_t count_of(const std::string& s, const std::string& word) {
  size_t n = 0;
  for (size_t p = s.find(word); p != std::string::npos; p = s.find(word, p + 1)) ++n;
  return n;
}

}  // namespace

Caption parse_caption(const std::string& caption) {
  std::string text = caption;
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  const size_t start = text.find_first_not_of(" \t\r\n");
  text = start == std::string::npos ? "" : text.substr(start);
  const std::string quoted = "caption '" + caption + "'";
  const std::string expected =
      "expected 'the digit D moves DIRECTION[, bouncing off the edges]' with D in 0..9 and DIRECTION one of up, "
      "down, left, right, '<up|down> and <left|right>'";
  if (count_of(text, "the digit ") >= 2)
    throw UnsupportedCaptionError(quoted + " names two digits; only one-digit videos are scored");

  std::string_view s = text;
  Caption c;
  if (!consume(s, "the digit ") || s.empty() || !std::isdigit(static_cast<unsigned char>(s[0])))
    throw InputError("cannot parse " + quoted + ": " + expected);
  c.digit = s[0] - '0';
  s.remove_prefix(1);
  if (!consume(s, " moves ")) throw InputError("cannot parse " + quoted + ": " + expected);
  if (consume(s, "up"))
    c.direction.vertical = -1;
  else if (consume(s, "down"))
    c.direction.vertical = 1;
  if (c.direction.vertical == 0 || consume(s, " and ")) {
    if (consume(s, "left"))
      c.direction.horizontal = -1;
    else if (consume(s, "right"))
      c.direction.horizontal = 1;
    else
      throw InputError("cannot parse " + quoted + ": " + expected);
  }
  if (consume(s, ", bouncing off the edges")) c.bouncing = true;
  if (!s.empty()) throw InputError("cannot parse " + quoted + ": unexpected '" + std::string(s) + "'; " + expected);
  return c;
}

}  // namespace loong::eval
