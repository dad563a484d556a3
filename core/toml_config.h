// Typed access to TOML job configs with errors that name the file and the dotted key.
#pragma once
#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

namespace loong {

class TomlConfig {
 public:
  // ConfigError naming the file, line and column on a syntax error.
  static TomlConfig parse_file(const std::filesystem::path& path);
  static TomlConfig parse_string(std::string_view text, const std::string& source);

  // A config over a sub-table (e.g. one [[curriculum.stage]] entry), errors naming `source`.
  static TomlConfig from_table(const toml::table& table, const std::string& source);

  const std::string& source() const { return source_; }
  const toml::table& raw() const { return table_; }
  // Values at a dotted path ("train.steps"). A present value of the wrong type, or out of the
  // given range, is a ConfigError naming source and key. Absent keys return the fallback.
  int64_t get_int(const std::string& key, int64_t fallback, int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  // Floats are always finite (TOML's inf/nan are refused) and within [min, max] (or [min, max)
  // with `max_open`), the message naming the key, the value and the interval.
  double get_double(const std::string& key, double fallback, double min = -1e300, double max = 1e300,
                    bool max_open = false) const;
  // A finite value > 0 (at most `max`).
  double get_positive(const std::string& key, double fallback, double max = 1e300) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  bool contains(const std::string& key) const;
  // ConfigError for any key in the file not in `known` (catches typos before any work starts).
  void reject_unknown_keys(const std::set<std::string>& known) const;

 private:
  toml::table table_;
  std::string source_;
};

}  // namespace loong
