#include "core/toml_config.h"

#include <cmath>
#include <functional>
#include <sstream>

#include "core/error.h"

namespace loong {

TomlConfig TomlConfig::parse_file(const std::filesystem::path& path) {
  TomlConfig c;
  c.source_ = path.string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw ConfigError(path.string() + ": no such config file");
  if (std::filesystem::is_directory(path, ec)) throw ConfigError(path.string() + ": is a directory, not a TOML config");
  try {
    c.table_ = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << path.string() << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw ConfigError(msg.str());
  }
  return c;
}

TomlConfig TomlConfig::parse_string(std::string_view text, const std::string& source) {
  TomlConfig c;
  c.source_ = source;
  try {
    c.table_ = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw ConfigError(msg.str());
  }
  return c;
}

TomlConfig TomlConfig::from_table(const toml::table& table, const std::string& source) {
  TomlConfig c;
  c.table_ = table;
  c.source_ = source;
  return c;
}

bool TomlConfig::contains(const std::string& key) const { return static_cast<bool>(table_.at_path(key)); }

int64_t TomlConfig::get_int(const std::string& key, int64_t fallback, int64_t min, int64_t max) const {
  auto node = table_.at_path(key);
  if (!node) return fallback;
  // is_integer() first: toml++'s value<int64_t>() on a float casts it to int64 unchecked, which is
  // undefined behaviour for 1e308 (found by fuzz/fuzz_train_job_toml.cpp).
  if (!node.is_integer()) throw ConfigError(source_ + ": key '" + key + "' must be an integer");
  auto v = node.value<int64_t>();
  if (!v) throw ConfigError(source_ + ": key '" + key + "' must be an integer");
  if (*v < min || *v > max)
    throw ConfigError(source_ + ": key '" + key + "' = " + std::to_string(*v) + " is outside [" + std::to_string(min) +
                      ", " + std::to_string(max) + "]");
  return *v;
}

namespace {
std::string number_text(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
}  // namespace

double TomlConfig::get_double(const std::string& key, double fallback, double min, double max, bool max_open) const {
  auto node = table_.at_path(key);
  if (!node) return fallback;
  if (!node.is_number()) throw ConfigError(source_ + ": key '" + key + "' must be a number");
  const double v = *node.value<double>();
  if (!std::isfinite(v)) throw ConfigError(source_ + ": key '" + key + "' = " + number_text(v) + " must be finite");
  if (v < min || v > max || (max_open && v >= max)) {
    std::string range = "[" + (min <= -1e300 ? std::string("-inf") : number_text(min)) + ", " +
                        (max >= 1e300 ? std::string("inf") : number_text(max)) + (max_open ? ")" : "]");
    throw ConfigError(source_ + ": key '" + key + "' = " + number_text(v) + " is outside " + range);
  }
  return v;
}

double TomlConfig::get_positive(const std::string& key, double fallback, double max) const {
  const double v = get_double(key, fallback, -1e300, max);
  if (!(v > 0)) throw ConfigError(source_ + ": key '" + key + "' = " + number_text(v) + " must be positive");
  return v;
}

std::string TomlConfig::get_string(const std::string& key, const std::string& fallback) const {
  auto node = table_.at_path(key);
  if (!node) return fallback;
  if (!node.is_string()) throw ConfigError(source_ + ": key '" + key + "' must be a string");
  return *node.value<std::string>();
}

bool TomlConfig::get_bool(const std::string& key, bool fallback) const {
  auto node = table_.at_path(key);
  if (!node) return fallback;
  if (!node.is_boolean()) throw ConfigError(source_ + ": key '" + key + "' must be true or false");
  return *node.value<bool>();
}

void TomlConfig::reject_unknown_keys(const std::set<std::string>& known) const {
  std::function<void(const toml::table&, const std::string&)> walk = [&](const toml::table& t,
                                                                         const std::string& prefix) {
    for (const auto& [k, v] : t) {
      const std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      if (const auto* sub = v.as_table()) {
        walk(*sub, path);
      } else if (v.is_array_of_tables()) {
        if (!known.count(path)) throw ConfigError(source_ + ": unknown key '" + path + "'");
      } else if (!known.count(path)) {
        throw ConfigError(source_ + ": unknown key '" + path + "'");
      }
    }
  };
  walk(table_, "");
}

}  // namespace loong
