// The guards every job uses on its inputs and outputs (issue 14): each refusal is a typed error
// whose message names the key, file or figure.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "core/directory_lock.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json_fields.h"
#include "core/memory_budget.h"
#include "core/toml_config.h"

namespace fs = std::filesystem;
using namespace loong;

namespace {
fs::path fresh(const std::string& name) {
  auto d = fs::temp_directory_path() / ("loong_guards_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception of the expected type";
  return "";
}
}  // namespace

TEST(TomlConfigFloats, NonFiniteAndOutOfRangeValuesAreRefusedNamingTheKey) {
  const auto c = TomlConfig::parse_string("a = inf\nb = nan\nc = 1.0\nd = -0.5\ne = 0.25\n", "job.toml");
  EXPECT_NE(message_of<ConfigError>([&] { c.get_double("a", 0); }).find("job.toml: key 'a' = inf must be finite"),
            std::string::npos);
  EXPECT_NE(message_of<ConfigError>([&] { c.get_double("b", 0); }).find("key 'b'"), std::string::npos);
  // beta-like keys live in [0, 1): 1.0 is outside, the message gives the half-open interval.
  EXPECT_NE(message_of<ConfigError>([&] { c.get_double("c", 0, 0.0, 1.0, true); }).find("'c' = 1 is outside [0, 1)"),
            std::string::npos);
  EXPECT_NE(message_of<ConfigError>([&] { c.get_double("d", 0, 0.0); }).find("'d' = -0.5 is outside [0, inf]"),
            std::string::npos);
  EXPECT_DOUBLE_EQ(c.get_double("e", 0, 0.0, 1.0, true), 0.25);
  EXPECT_DOUBLE_EQ(c.get_double("absent", 0.75, 0.0, 1.0), 0.75);
  EXPECT_THROW(c.get_positive("d", 1), ConfigError);
  EXPECT_THROW(c.get_positive("a", 1), ConfigError);
}

TEST(JsonField, ValidJsonOfTheWrongShapeIsAFormatErrorNamingTheField) {
  const nlohmann::json arr = parse_json("[1,2,3]", "checksums.json");
  EXPECT_NE(message_of<FormatError>([&] { JsonField(arr, "checksums.json").object(); })
                .find("checksums.json must be an object, got [1,2,3]"),
            std::string::npos);
  const nlohmann::json j = parse_json(R"({"a": {"b": "x", "n": 1.5}, "k": [1]})", "s.json");
  const JsonField root(j, "s.json");
  EXPECT_NE(message_of<FormatError>([&] { root.at("a").at("b").as_int(); }).find("field 'a.b' must be an integer"),
            std::string::npos);
  EXPECT_NE(message_of<FormatError>([&] { root.at("a").at("n").as_int(); }).find("'a.n' must be an integer"),
            std::string::npos);
  EXPECT_NE(message_of<FormatError>([&] { root.at("a").at("missing"); }).find("missing field 'a.missing'"),
            std::string::npos);
  EXPECT_NE(message_of<FormatError>([&] { root.at("k").at(size_t{3}); }).find("missing element 'k[3]'"),
            std::string::npos);
  EXPECT_EQ(root.at("k").at(size_t{0}).as_int(0, 5), 1);
  EXPECT_THROW(root.at("k").at(size_t{0}).as_int(2, 5), FormatError);
  EXPECT_EQ(root.int_or("absent", 7), 7);
  EXPECT_THROW(parse_json("{", "broken.json"), FormatError);
}

TEST(OutputPaths, ADirectoryUnderARegularFileIsRefusedNamingBoth) {
  const fs::path d = fresh("outputs");
  std::ofstream(d / "afile") << "x";
  const std::string m = message_of<IoError>([&] { prepare_output_directory(d / "afile" / "sub", "checkpoint.dir"); });
  EXPECT_NE(m.find("checkpoint.dir"), std::string::npos) << m;
  EXPECT_NE(m.find((d / "afile").string() + " is a regular file"), std::string::npos) << m;
  EXPECT_THROW(prepare_output_directory(d / "afile", "--out"), IoError);
  EXPECT_THROW(prepare_output_file(d, "--stats"), IoError);  // a directory where a file goes
  prepare_output_directory(d / "new" / "deeper", "--out");
  EXPECT_TRUE(fs::is_directory(d / "new" / "deeper"));
  // Reading a directory as a file says so instead of returning zero bytes.
  EXPECT_NE(message_of<IoError>([&] { read_file(d); }).find("is a directory"), std::string::npos);
  EXPECT_THROW(require_input_file(d / "missing", "data.text"), IoError);
}

TEST(DirectoryLock, ASecondHolderIsRefusedNamingTheFirstAndTheLockDiesWithItsHolder) {
  const fs::path d = fresh("lock") / "ckpt";
  {
    DirectoryLock first(d, "checkpoint.dir");
    // flock(2) locks belong to the open file description, so a second lock in this process
    // conflicts exactly as another process's would.
    const std::string m = message_of<IoError>([&] { DirectoryLock second(d, "checkpoint.dir"); });
    EXPECT_NE(m.find("is in use by another job"), std::string::npos) << m;
    EXPECT_NE(m.find("PID " + std::to_string(::getpid())), std::string::npos) << m;
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    EXPECT_NE(m.find(std::string("on host ") + host), std::string::npos) << m;
  }
  DirectoryLock again(d, "checkpoint.dir");  // released with its holder
  // A child that takes the lock and is killed -9 leaves no stale lock behind.
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      DirectoryLock held(d / "sub", "x");
      ::pause();
    } catch (...) {
    }
    ::_exit(0);
  }
  for (int i = 0; i < 500 && !fs::exists(d / "sub" / DirectoryLock::kFileName); ++i) ::usleep(10000);
  ::usleep(100000);
  EXPECT_THROW(DirectoryLock(d / "sub", "x"), IoError);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  DirectoryLock after(d / "sub", "x");
}

TEST(MemoryBudget, AnImpossibleSizeIsRefusedWithTheFigureAndTheMachine) {
  const MachineMemory m = machine_memory();
  ASSERT_GT(m.total_bytes, 0u);
  ASSERT_LE(m.available_bytes, m.total_bytes);
  const std::string msg = message_of<ResourceError>([] { require_memory(1e18, "a test buffer"); });
  EXPECT_NE(msg.find("a test buffer needs 888.18 PiB; this machine has"), std::string::npos) << msg;
  require_memory(1024, "a small buffer");  // fits
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(3.0 * (1ull << 30)), "3.00 GiB");
}
