// The in-process trainer end to end on a small ShapeWorld-shaped model: exact resume, the
// run folder and option validation.
#include "core/grpo/train.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "core/json.h"
#include "core/model_io.h"
#include "core/runtime.h"
#include "core/safetensors.h"
#include "core/shapeworld/text_tokenizer.h"

namespace maskgrpo::grpo {
namespace {

namespace fs = std::filesystem;

class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ConfigureThreads(1);  // exact equality needs one thread
    // One folder per test: ctest -j runs this suite's tests as parallel processes, and a
    // shared folder removed by one test's SetUp broke another's run.
    root_ = ::testing::TempDir() + "/train_test_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
    auto model = std::move(MaskedTransformer::Create(shapeworld::ShapeWorldModelConfig(32, 1, 2, 64, 8), {}, 5)).value();
    ASSERT_TRUE(SaveModel(root_ + "/init.safetensors", *model).ok());
  }
  TrainOptions Options(const std::string& out) {
    TrainOptions o;
    o.init_model = root_ + "/init.safetensors";
    o.out_dir = root_ + "/" + out;
    o.rollout.steps = 4;
    o.rollout.guidance = 1.0;
    o.learner.guidance = 1.0;
    o.learner.minibatches = 2;
    o.learner.inner_epochs = 2;
    o.learner.micro_batch = 2;
    o.learner.reduction = {StepSubset::kRandom, 2};
    o.learner.loss.kl_beta = 0.05;
    o.learner.total_updates = 5;
    o.learner.warmup_updates = 1;
    o.learner.adamw.learning_rate = 1e-3;
    o.group_size = 3;
    o.groups_per_update = 2;
    o.updates = 5;
    o.filter.warmup = 2;
    o.filter.percentile = 40;
    o.eval.sampling.steps = 2;
    o.eval.sampling.guidance = 1.0;
    o.eval.images_per_prompt = 1;
    o.eval.prompts_per_task = 1;
    o.eval.grid_images = 2;
    o.eval_every = 0;
    o.checkpoint_every = 1;
    o.seed = 3;
    return o;
  }
  std::string root_;
};

std::map<std::string, at::Tensor> Weights(const std::string& path) {
  return std::move(ReadSafetensors(path)).value().tensors;
}

TEST_F(TrainTest, ResumeEqualsAnUninterruptedRun) {
  std::vector<std::string> lines;
  auto log = [&](const std::string& l) { lines.push_back(l); };
  auto straight = Options("straight");
  ASSERT_TRUE(RunTrain(straight, log).ok());

  auto interrupted = Options("interrupted");
  interrupted.stop_after = 2;
  ASSERT_TRUE(RunTrain(interrupted, log).ok());
  EXPECT_FALSE(fs::exists(interrupted.out_dir + "/model.safetensors"));
  EXPECT_EQ(std::move(ReadFileToString(interrupted.out_dir + "/checkpoints/latest")).value(), "v000002\n");
  interrupted.stop_after = 0;
  ASSERT_TRUE(RunTrain(interrupted, log).ok());

  auto a = Weights(straight.out_dir + "/model.safetensors");
  auto b = Weights(interrupted.out_dir + "/model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    EXPECT_TRUE(torch::allclose(t, b.at(name), 1e-6, 1e-7)) << name << " differs after resume";
  }
  // The full trainer state matches too (prompt stream, filter window and counters).
  auto state = [](const std::string& dir) {
    return std::move(ReadFileToString(dir + "/checkpoints/v000005/trainer.json")).value();
  };
  EXPECT_EQ(state(straight.out_dir), state(interrupted.out_dir));
  // One metrics line per update and per eval (before and after), none duplicated by the resume.
  auto count_lines = [](const std::string& dir) {
    std::ifstream in(dir + "/metrics.jsonl");
    int n = 0;
    for (std::string l; std::getline(in, l);) ++n;
    return n;
  };
  EXPECT_EQ(count_lines(straight.out_dir), 5 + 2);
  EXPECT_EQ(count_lines(interrupted.out_dir), 5 + 2);
  // Each update line splits the sampled reward by task: the tasks' images add up to every
  // image drawn, and their weighted rewards to the overall sampled mean.
  {
    std::ifstream in(straight.out_dir + "/metrics.jsonl");
    int updates = 0;
    for (std::string l; std::getline(in, l);) {
      auto j = std::move(Json::Parse(l)).value();
      if (j.Find("kind")->as_string() != "update") continue;
      ++updates;
      const Json* by_task = j.Find("sampled_by_task");
      ASSERT_NE(by_task, nullptr) << l;
      ASSERT_FALSE(by_task->as_object().empty()) << l;
      double weighted = 0, images = 0;
      for (const auto& [tag, task] : by_task->as_object()) {
        const double reward = task.Find("reward")->as_number(), n = task.Find("images")->as_number();
        EXPECT_FALSE(tag.empty());
        EXPECT_GE(reward, 0.0) << tag;
        EXPECT_LE(reward, 1.0) << tag;
        EXPECT_GT(n, 0) << tag;
        weighted += reward * n, images += n;
      }
      EXPECT_EQ(images, j.Find("groups_drawn")->as_number() * straight.group_size) << l;
      EXPECT_NEAR(weighted / images, j.Find("sampled_reward_mean")->as_number(), 1e-9) << l;
    }
    EXPECT_EQ(updates, 5);
  }
  EXPECT_TRUE(fs::exists(straight.out_dir + "/eval/v000000/eval.json"));
  EXPECT_TRUE(fs::exists(straight.out_dir + "/eval/v000005/grid.png"));
  // Only the newest keep_checkpoints (2) remain.
  EXPECT_FALSE(fs::exists(straight.out_dir + "/checkpoints/v000003"));
  EXPECT_TRUE(fs::exists(straight.out_dir + "/checkpoints/v000004/model.safetensors"));
}

// With ema_decay the run evaluates the moving average beside the policy, on the same
// evaluation seeds (so at version 0, where the two are the same weights, the scores agree),
// and writes it as model_ema.safetensors.
TEST_F(TrainTest, MovingAverageIsEvaluatedAndSavedBesideThePolicy) {
  auto o = Options("ema");
  o.updates = o.learner.total_updates = 2;
  o.learner.loss.kl_beta = 0;
  o.learner.ema_decay = 0.5;
  std::vector<std::string> lines;
  ASSERT_TRUE(RunTrain(o, [&](const std::string& l) { lines.push_back(l); }).ok());
  std::map<std::string, std::vector<double>> overall;  // kind -> overall per eval, in order
  std::ifstream in(o.out_dir + "/metrics.jsonl");
  for (std::string l; std::getline(in, l);) {
    auto j = std::move(Json::Parse(l)).value();
    const std::string kind = j.Find("kind")->as_string();
    if (kind == "eval" || kind == "eval_ema") overall[kind].push_back(j.Find("overall")->as_number());
  }
  ASSERT_EQ(overall["eval"].size(), 2u);
  ASSERT_EQ(overall["eval_ema"].size(), 2u);
  EXPECT_EQ(overall["eval"][0], overall["eval_ema"][0]);
  for (const char* f : {"/eval_ema/v000000/eval.json", "/eval_ema/v000002/eval.json", "/eval/v000002/eval.json",
                        "/checkpoints/v000002/ema.safetensors"}) {
    EXPECT_TRUE(fs::exists(o.out_dir + f)) << f;
  }
  auto policy = Weights(o.out_dir + "/model.safetensors");
  auto ema = Weights(o.out_dir + "/model_ema.safetensors");
  auto init = Weights(root_ + "/init.safetensors");
  ASSERT_EQ(policy.size(), ema.size());
  int between = 0;
  for (const auto& [name, t] : ema) {
    // A trained weight's average is neither its initial nor its final value.
    if (!torch::equal(t, policy.at(name)) && !torch::equal(t, init.at(name))) ++between;
  }
  EXPECT_GT(between, static_cast<int>(ema.size()) / 2);
  bool logged = false;
  for (const auto& l : lines) logged = logged || l.find("model_ema.safetensors") != std::string::npos;
  EXPECT_TRUE(logged);

  // A run stopped between the policy's final evaluation and the average's: the same command
  // evaluates only the average (the policy's evaluation on disk stays, and is not repeated).
  fs::remove_all(o.out_dir + "/eval_ema/v000002");
  const auto policy_eval_time = fs::last_write_time(o.out_dir + "/eval/v000002/eval.json");
  ASSERT_TRUE(RunTrain(o, [](const std::string&) {}).ok());
  EXPECT_TRUE(fs::exists(o.out_dir + "/eval_ema/v000002/eval.json"));
  EXPECT_EQ(fs::last_write_time(o.out_dir + "/eval/v000002/eval.json"), policy_eval_time);
  std::map<std::string, int> evals;  // kind -> eval lines
  std::ifstream again(o.out_dir + "/metrics.jsonl");
  for (std::string l; std::getline(again, l);) ++evals[std::move(Json::Parse(l)).value().Find("kind")->as_string()];
  EXPECT_EQ(evals["eval"], 2);
  EXPECT_EQ(evals["eval_ema"], 3);
}

TEST_F(TrainTest, DumpsScoredGroupsAsNpy) {
  auto o = Options("dump");
  o.updates = 1;
  o.learner.total_updates = 1;
  o.dump_groups = true;
  ASSERT_TRUE(RunTrain(o, [](const std::string&) {}).ok());
  const std::string dir = o.out_dir + "/groups/v000001";
  for (const char* name : {"tokens", "reveal_step", "min_revealed_prob", "logp_candidate1", "logp_candidate2",
                           "logp_full", "rewards", "advantages", "group_index", "policy_version"}) {
    EXPECT_TRUE(fs::exists(dir + "/" + name + ".npy")) << name;
  }
  auto meta = Json::Parse(std::move(ReadFileToString(dir + "/groups.json")).value());
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->Find("prompts")->as_array().size(), 2u);
  // tokens.npy holds group_size * groups rows of 64 int64 codes.
  auto tokens = std::move(ReadFileToString(dir + "/tokens.npy")).value();
  EXPECT_NE(tokens.find("'shape': (6, 64)"), std::string::npos);
}

TEST_F(TrainTest, BadOptionsAreErrorsThatNameTheSetting) {
  auto expect_error = [&](const std::function<void(TrainOptions&)>& edit, const std::string& needle) {
    auto o = Options("bad");
    edit(o);
    Status st = RunTrain(o, [](const std::string&) {});
    ASSERT_FALSE(st.ok()) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
    EXPECT_FALSE(fs::exists(o.out_dir + "/metrics.jsonl"));
  };
  expect_error([](TrainOptions& o) { o.learner.guidance = 0.0; }, "guidance");
  expect_error([](TrainOptions& o) { o.group_size = 1; }, "group_size");
  expect_error([](TrainOptions& o) { o.filter.percentile = 120; }, "percentile");
  expect_error([](TrainOptions& o) { o.learner.reduction = {StepSubset::kFirst, 9}; }, "num_steps");
  expect_error([](TrainOptions& o) { o.learner.loss.clip_low = 1.5; }, "clip_low");
  expect_error([](TrainOptions& o) { o.init_model = "/nonexistent.safetensors"; }, "nonexistent");
  expect_error([](TrainOptions& o) { o.task_weights["cooking"] = 2.0; }, "task_weights names 'cooking'");
}

}  // namespace
}  // namespace maskgrpo::grpo
