#include "dataloader/manifest.h"

#include <nlohmann/json.hpp>
#include <cstdint>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"

namespace loong {

namespace {

// Splits one CSV line; nullopt on an unterminated quote or stray quote.
std::optional<std::vector<std::string>> split_csv(const std::string& line) {
  std::vector<std::string> fields;
  std::string cur;
  size_t i = 0;
  while (true) {
    cur.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            cur += '"';
            i += 2;
          } else {
            ++i;
            closed = true;
            break;
          }
        } else {
          cur += line[i++];
        }
      }
      if (!closed) return std::nullopt;
      if (i < line.size() && line[i] != ',') return std::nullopt;
    } else {
      while (i < line.size() && line[i] != ',') {
        if (line[i] == '"') return std::nullopt;
        cur += line[i++];
      }
    }
    fields.push_back(cur);
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  return fields;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t b = 0;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\t')) ++b;
  return s.substr(b);
}

}  // namespace

bool is_valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + n >= s.size()) return false;
    uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1f) : n == 2 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k <= n; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      if ((b >> 6) != 2) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

Manifest read_manifest(const std::filesystem::path& manifest) { return parse_manifest(read_file(manifest), manifest); }

Manifest parse_manifest(std::string_view text_view, const std::filesystem::path& manifest) {
  const std::string text(text_view);
  const std::filesystem::path base = manifest.parent_path();
  const std::string ext = manifest.extension().string();
  const bool jsonl = ext == ".jsonl" || ext == ".json" || ext == ".ndjson";
  const std::string name = manifest.filename().string();
  Manifest m;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  int col_path = -1, col_caption = -1, col_split = -1;
  size_t ncols = 0;
  bool header_seen = false;
  auto problem = [&](const std::string& why) {
    m.problems.push_back({lineno, name + ":" + std::to_string(lineno) + ": " + why});
  };
  auto add = [&](const std::string& path, const std::string& caption, std::string split) {
    if (path.empty()) return problem("empty path");
    // The corpus records the path in a protobuf string field, which must be UTF-8.
    if (!is_valid_utf8(path)) return problem("path is not valid UTF-8");
    if (!is_valid_utf8(caption)) return problem("caption is not valid UTF-8");
    if (split.empty()) split = "train";
    if (split != "train" && split != "test") return problem("split '" + split + "' is neither train nor test");
    std::filesystem::path p(path);
    if (p.is_relative()) p = base / p;
    m.entries.push_back({p, caption, split, lineno});
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty()) continue;
    if (jsonl) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const std::exception&) {
        problem("malformed line (not a JSON object)");
        continue;
      }
      if (!j.is_object() || !j.contains("path") || !j["path"].is_string() || !j.contains("caption") ||
          !j["caption"].is_string()) {
        problem("malformed line (needs string keys \"path\" and \"caption\")");
        continue;
      }
      std::string split;
      if (j.contains("split")) {
        if (!j["split"].is_string()) {
          problem("malformed line (\"split\" must be a string)");
          continue;
        }
        split = j["split"].get<std::string>();
      }
      add(j["path"].get<std::string>(), j["caption"].get<std::string>(), split);
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto fields = split_csv(line);
    if (!header_seen) {
      if (!fields) throw FormatError(manifest.string() + ":" + std::to_string(lineno) + ": malformed CSV header");
      for (size_t k = 0; k < fields->size(); ++k) {
        std::string h = trim((*fields)[k]);
        if (h == "path") col_path = static_cast<int>(k);
        if (h == "caption") col_caption = static_cast<int>(k);
        if (h == "split") col_split = static_cast<int>(k);
      }
      if (col_path < 0 || col_caption < 0)
        throw FormatError(manifest.string() + ":" + std::to_string(lineno) +
                          ": the CSV header must name the columns 'path' and 'caption'");
      ncols = fields->size();
      header_seen = true;
      continue;
    }
    if (!fields) {
      problem("malformed line (bad quoting)");
      continue;
    }
    if (fields->size() != ncols) {
      problem("malformed line (" + std::to_string(fields->size()) + " fields, the header has " + std::to_string(ncols) +
              ")");
      continue;
    }
    add(trim((*fields)[col_path]), (*fields)[col_caption], col_split >= 0 ? trim((*fields)[col_split]) : "");
  }
  if (!jsonl && !header_seen) throw FormatError(manifest.string() + ": empty manifest (no CSV header)");
  return m;
}

}  // namespace loong
