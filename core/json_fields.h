// Typed, field-by-field access to JSON files we read (checksums.json, sequence.json,
// tokenizer.json, safetensors headers and indexes, ...). nlohmann's own accessors throw
// type_error on valid JSON of the wrong shape; these throw FormatError naming the source (a file
// path) and the field path instead, so a damaged or foreign file is a clear error, never an abort.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace loong {

// Parses `text`; FormatError "<source>: not valid JSON: ..." on a syntax error.
nlohmann::json parse_json(std::string_view text, const std::string& source);
// read_file + parse_json with the path as the source.
nlohmann::json read_json_file(const std::filesystem::path& path);

// A view of one JSON value with the place it came from ("file.json", field "a.b").
class JsonField {
 public:
  JsonField(const nlohmann::json& value, std::string source, std::string path = "")
      : v_(&value), source_(std::move(source)), path_(std::move(path)) {}

  const nlohmann::json& raw() const { return *v_; }
  // "<source>: field 'a.b'" (or just the source at the root), for messages.
  std::string where() const;

  // The value itself, type-checked. Numbers must be finite; integers must be integers.
  const nlohmann::json& object() const;  // FormatError unless an object
  const nlohmann::json& array() const;   // FormatError unless an array
  int64_t as_int(int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  double as_number() const;
  std::string as_string() const;
  bool as_bool() const;

  // Members of an object: `at` requires the key; `has` says whether it is present and not null.
  bool has(const std::string& key) const;
  JsonField at(const std::string& key) const;
  JsonField at(size_t index) const;  // array element
  size_t size() const;               // of an array or object

  // Optional members with a fallback (present but of the wrong type is still an error).
  int64_t int_or(const std::string& key, int64_t fallback, int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  double number_or(const std::string& key, double fallback) const;
  std::string string_or(const std::string& key, const std::string& fallback) const;
  bool bool_or(const std::string& key, bool fallback) const;

 private:
  [[noreturn]] void fail(const std::string& expected) const;
  const nlohmann::json* v_;
  std::string source_, path_;
};

}  // namespace loong
