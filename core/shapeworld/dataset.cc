#include "core/shapeworld/dataset.h"

#include "core/torch_api.h"

#include <map>

namespace maskgrpo::shapeworld {

StatusOr<PromptBatch> EncodePrompts(const TextTokenizer& tok, const std::vector<std::string>& texts, int64_t text_len) {
  std::vector<int64_t> flat;
  for (const auto& t : texts) {
    ASSIGN_OR_RETURN(auto ids, tok.Encode(t, text_len));
    flat.insert(flat.end(), ids.begin(), ids.end());
  }
  auto ids = torch::tensor(flat, torch::kLong).view({static_cast<int64_t>(texts.size()), text_len});
  return PromptBatch{ids, ids != TextTokenizer::kPad};
}

PromptBatch EmptyPrompt(const TextTokenizer& tok, int64_t text_len) {
  auto ids = torch::tensor(tok.EncodeEmpty(text_len), torch::kLong).view({1, text_len});
  return PromptBatch{ids, ids != TextTokenizer::kPad};
}

SupervisedBatch MakeSupervisedBatch(const World& world, const std::vector<PromptSpec>& prompts, int64_t batch,
                                    int64_t text_len, double prompt_dropout, std::mt19937_64& rng) {
  std::map<int, std::vector<const PromptSpec*>> by_task;
  for (const auto& p : prompts) by_task[static_cast<int>(p.task)].push_back(&p);
  std::vector<const std::vector<const PromptSpec*>*> tasks;
  for (const auto& [task, list] : by_task) tasks.push_back(&list);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<int64_t> text, codes;
  const auto empty = world.text.EncodeEmpty(text_len);
  for (int64_t b = 0; b < batch; ++b) {
    const auto& list = *tasks[std::uniform_int_distribution<size_t>(0, tasks.size() - 1)(rng)];
    const PromptSpec& spec = *list[std::uniform_int_distribution<size_t>(0, list.size() - 1)(rng)];
    auto image_codes = world.image.Encode(Render(SampleScene(spec, rng)));
    codes.insert(codes.end(), image_codes.begin(), image_codes.end());
    if (unit(rng) < prompt_dropout) {
      text.insert(text.end(), empty.begin(), empty.end());
    } else {
      auto ids = world.text.Encode(spec.text, text_len);
      text.insert(text.end(), ids->begin(), ids->end());  // the world's own prompts always encode
    }
  }
  auto ids = torch::tensor(text, torch::kLong).view({batch, text_len});
  SupervisedBatch out;
  out.prompts = PromptBatch{ids, ids != TextTokenizer::kPad};
  out.codes = torch::tensor(codes, torch::kLong).view({batch, -1});
  return out;
}

StatusOr<Image> DecodeCodes(const ImageTokenizer& tok, const at::Tensor& codes) {
  auto cpu = codes.to(torch::kCPU).contiguous();
  std::vector<int64_t> v(cpu.data_ptr<int64_t>(), cpu.data_ptr<int64_t>() + cpu.numel());
  Image img;
  if (!tok.Decode(v, &img)) return InvalidArgument("image codes out of range or of the wrong length");
  return img;
}

}  // namespace maskgrpo::shapeworld
