#include "coordinator/curriculum.h"

#include "core/error.h"

namespace loong {

Curriculum Curriculum::paper_default() {
  Curriculum c;
  c.stages = {{"image", 1, 4096, 200, 1e-3, 1e-4, 20},
              {"short", 5, 8192, 200, 6e-4, 6e-5, 20},
              {"long", 17, 16384, 200, 3e-4, 3e-5, 20}};
  return c;
}

const std::vector<std::string>& Curriculum::stage_keys() {
  static const std::vector<std::string> keys = {"name", "latent_frames", "batch_tokens", "steps",
                                                "lr",   "min_lr",        "warmup_steps"};
  return keys;
}

Curriculum Curriculum::from_toml(const TomlConfig& config) {
  const toml::node_view<const toml::node> node = config.raw()["curriculum"]["stage"];
  if (!node) return paper_default();
  const toml::array* arr = node.as_array();
  if (!arr || arr->empty())
    throw ConfigError(config.source() +
                      ": 'curriculum.stage' must be a non-empty array of tables ([[curriculum.stage]])");
  Curriculum c;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table* t = (*arr)[i].as_table();
    const std::string where = config.source() + ": [[curriculum.stage]] #" + std::to_string(i + 1);
    if (!t) throw ConfigError(where + " is not a table");
    for (const auto& [k, v] : *t) {
      bool known = false;
      for (const auto& key : stage_keys()) known |= key == k.str();
      if (!known) throw ConfigError(where + ": unknown key '" + std::string(k.str()) + "'");
    }
    auto sub = TomlConfig::from_table(*t, where);
    CurriculumStage s;
    s.name = sub.get_string("name", "stage" + std::to_string(i + 1));
    s.latent_frames = sub.get_int("latent_frames", 1, 1, 1024);
    s.batch_tokens = sub.get_int("batch_tokens", 4096, 1);
    s.steps = sub.get_int("steps", 100, 1);
    s.lr = sub.get_positive("lr", 1e-3, 10.0);
    s.min_lr = sub.get_double("min_lr", s.lr / 10, 0.0, s.lr);
    if (s.min_lr < 0 || s.min_lr > s.lr) throw ConfigError(where + ": key 'min_lr' must be in [0, lr]");
    s.warmup_steps = sub.get_int("warmup_steps", 0, 0, s.steps);
    if (!c.stages.empty() && s.latent_frames < c.stages.back().latent_frames)
      throw ConfigError(where + ": latent_frames = " + std::to_string(s.latent_frames) +
                        " is shorter than the previous stage's " + std::to_string(c.stages.back().latent_frames) +
                        " (stages go short to long)");
    c.stages.push_back(s);
  }
  return c;
}

int64_t Curriculum::total_steps() const {
  int64_t n = 0;
  for (const auto& s : stages) n += s.steps;
  return n;
}

std::pair<size_t, int64_t> Curriculum::locate(int64_t step) const {
  for (size_t i = 0; i < stages.size(); ++i) {
    if (step < stages[i].steps) return {i, step};
    step -= stages[i].steps;
  }
  return {stages.size(), 0};
}

}  // namespace loong
