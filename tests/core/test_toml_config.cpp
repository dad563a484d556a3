#include <gtest/gtest.h>

#include "core/error.h"
#include "core/toml_config.h"

using loong::ConfigError;
using loong::TomlConfig;

TEST(TomlConfig, ReadsTypedValuesAndFallsBack) {
  auto c = TomlConfig::parse_string("[train]\nsteps = 12\nlr = 0.5\nname = \"x\"\nfast = true\n", "job.toml");
  EXPECT_EQ(c.get_int("train.steps", 1), 12);
  EXPECT_DOUBLE_EQ(c.get_double("train.lr", 1.0), 0.5);
  EXPECT_DOUBLE_EQ(c.get_double("train.steps", 1.0), 12.0);  // integers are numbers
  EXPECT_EQ(c.get_string("train.name", ""), "x");
  EXPECT_TRUE(c.get_bool("train.fast", false));
  EXPECT_EQ(c.get_int("train.absent", 7), 7);
}

TEST(TomlConfig, ErrorsNameFileAndKey) {
  auto c = TomlConfig::parse_string("[train]\nsteps = \"ten\"\nbatch = -3\n", "job.toml");
  try {
    c.get_int("train.steps", 1);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("job.toml: key 'train.steps'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.get_int("train.batch", 1, 1), ConfigError);
  EXPECT_THROW(c.get_positive("train.batch", 1), ConfigError);
  try {
    c.reject_unknown_keys({"train.steps"});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'train.batch'"), std::string::npos) << e.what();
  }
}

TEST(TomlConfig, SyntaxErrorGivesLine) {
  try {
    TomlConfig::parse_string("[train]\nsteps = = 3\n", "bad.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.toml:2:"), std::string::npos) << e.what();
  }
}
