#include "core/json_fields.h"

#include <cmath>

#include "core/error.h"
#include "core/fs.h"

namespace loong {

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(source + ": not valid JSON: " + e.what());
  }
}

nlohmann::json read_json_file(const std::filesystem::path& path) { return parse_json(read_file(path), path.string()); }

std::string JsonField::where() const { return path_.empty() ? source_ : source_ + ": field '" + path_ + "'"; }

void JsonField::fail(const std::string& expected) const {
  std::string got = v_->dump();
  if (got.size() > 60) got = got.substr(0, 57) + "...";
  throw FormatError(where() + " must be " + expected + ", got " + got);
}

const nlohmann::json& JsonField::object() const {
  if (!v_->is_object()) fail("an object");
  return *v_;
}

const nlohmann::json& JsonField::array() const {
  if (!v_->is_array()) fail("an array");
  return *v_;
}

int64_t JsonField::as_int(int64_t min, int64_t max) const {
  int64_t v = 0;
  if (v_->is_number_unsigned()) {
    const uint64_t u = v_->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) fail("an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    v = static_cast<int64_t>(u);
  } else if (v_->is_number_integer()) {
    v = v_->get<int64_t>();
  } else {
    fail("an integer");
  }
  if (v < min || v > max) fail("an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return v;
}

double JsonField::as_number() const {
  if (!v_->is_number()) fail("a number");
  const double d = v_->get<double>();
  if (!std::isfinite(d)) fail("a finite number");
  return d;
}

std::string JsonField::as_string() const {
  if (!v_->is_string()) fail("a string");
  return v_->get<std::string>();
}

bool JsonField::as_bool() const {
  if (!v_->is_boolean()) fail("true or false");
  return v_->get<bool>();
}

bool JsonField::has(const std::string& key) const {
  object();
  auto it = v_->find(key);
  return it != v_->end() && !it->is_null();
}

JsonField JsonField::at(const std::string& key) const {
  object();
  auto it = v_->find(key);
  const std::string child = path_.empty() ? key : path_ + "." + key;
  if (it == v_->end()) throw FormatError(source_ + ": missing field '" + child + "'");
  return JsonField(*it, source_, child);
}

JsonField JsonField::at(size_t index) const {
  array();
  const std::string child = path_ + "[" + std::to_string(index) + "]";
  if (index >= v_->size()) throw FormatError(source_ + ": missing element '" + child + "'");
  return JsonField((*v_)[index], source_, child);
}

size_t JsonField::size() const {
  if (!v_->is_array() && !v_->is_object()) fail("an array or object");
  return v_->size();
}

int64_t JsonField::int_or(const std::string& key, int64_t fallback, int64_t min, int64_t max) const {
  return has(key) ? at(key).as_int(min, max) : fallback;
}
double JsonField::number_or(const std::string& key, double fallback) const {
  return has(key) ? at(key).as_number() : fallback;
}
std::string JsonField::string_or(const std::string& key, const std::string& fallback) const {
  return has(key) ? at(key).as_string() : fallback;
}
bool JsonField::bool_or(const std::string& key, bool fallback) const { return has(key) ? at(key).as_bool() : fallback; }

}  // namespace loong
