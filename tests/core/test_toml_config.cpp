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

// Found by fuzz/fuzz_train_job_toml.cpp: a float where an integer belongs went through toml++'s
// unchecked float -> int64 cast (undefined behaviour for 1e308; UBSan under clang reports it).
TEST(TomlConfig, FloatForAnIntegerKeyIsAnErrorWhateverItsSize) {
  auto c = TomlConfig::parse_string("[train]\nseed = 1e308\nsteps = 12.0\nbig = -9.3e18\n", "job.toml");
  for (const char* key : {"train.seed", "train.steps", "train.big"}) {
    try {
      c.get_int(key, 1);
      FAIL() << key;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("job.toml: key '") + key + "' must be an integer"),
                std::string::npos)
          << e.what();
    }
  }
}
