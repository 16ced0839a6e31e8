// Show-o's image detokenizer: MAGVIT-v2's lookup-free quantizer (LFQ) codes -> latent, and
// the VQGAN-style decoder (models/modeling_magvitv2.py VQGANDecoder), loaded by name from
// the published checkpoint layout (docs/showo-stack.md section 3).
//
// Loading is strict on `decoder.*`: the checkpoint must hold exactly the tensors this config
// needs, with the right shapes and finite values, or nothing is built and the error lists
// every problem. `encoder.*` and `quant_conv.*` belong to the encoder side and are ignored.
//
// Thread-safety: a built decoder is immutable; Decode* may run concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"
#include "core/status.h"
#include "core/device.h"

namespace maskgrpo::showo {

// Defaults are the published decoder (39,947,833 parameters). Every channel count
// (ch * ch_mult[i]) must be a multiple of 32, the GroupNorm group count.
struct MagvitDecoderConfig {
  int64_t ch = 128;
  std::vector<int64_t> ch_mult = {1, 1, 2, 2, 4};
  std::vector<int64_t> num_res_blocks = {4, 4, 3, 4, 3};  // blocks at level i (not +1 as in taming)
  int64_t z_channels = 13;                                  // = LFQ bits
  int64_t out_channels = 3;

  Status Validate() const;
  // The output is this many times larger than the code grid per side: 2^(levels-1).
  int64_t UpsampleFactor() const { return int64_t{1} << (ch_mult.size() - 1); }
};

// ---- LFQ (LFQuantizer) ----
// codes [B, N] integer, N a perfect square, values in [0, 2^bits) ->
// [B, bits, h, w] float32 with h = w = sqrt(N): exactly +-1, channel 0 = the most significant
// bit, token k at (row k / w, col k % w). The result is on the device of `codes`.
StatusOr<at::Tensor> LfqCodesToLatent(const at::Tensor& codes, int64_t bits = 13);
// The inverse (the encoder side): latent [B, bits, h, w] -> codes [B, h*w] int64,
// bit c set where latent[:, c] > 0.
StatusOr<at::Tensor> LatentToLfqCodes(const at::Tensor& latent);
// quantize.embedding as Show-o computes it: [2^bits, bits] float32, row i = the latent of code i.
at::Tensor LfqCodebook(int64_t bits = 13);

// Show-o's conversion to pixels: clamp((x + 1) / 2, 0, 1) * 255 in float32, then truncation
// (numpy astype(uint8)), so 254.99 -> 254. x: [B, C, H, W] -> [B, H, W, C] uint8 on the CPU.
StatusOr<at::Tensor> DecoderOutputToUint8(const at::Tensor& x);

// Every decoder parameter this config needs, in execution order: published name
// ("decoder.conv_in.weight", ...) and shape.
std::vector<std::pair<std::string, std::vector<int64_t>>> MagvitDecoderParameterShapes(
    const MagvitDecoderConfig& config);
// A random checkpoint in the published layout (fp32, CPU), for tests and benchmarks:
// conv weights N(0, 1/fan_in), zero biases, unit GroupNorm scales, plus the LFQ buffers.
TensorFile RandomMagvitDecoderState(const MagvitDecoderConfig& config, uint64_t seed);

class MagvitDecoder {
 public:
  // `checkpoint` is any name -> tensor map in the published layout (a safetensors file, a
  // converted torch .bin, a state dict built in memory). Weights may be stored as
  // fp32/fp16/bf16/fp64; the decoder runs in device.dtype (float32 or bfloat16) with
  // GroupNorm statistics and the attention softmax in float32. If present,
  // quantize.embedding / quantize.power_vals must equal the computed LFQ codebook.
  static StatusOr<std::unique_ptr<MagvitDecoder>> Create(const TensorFile& checkpoint,
                                                         const MagvitDecoderConfig& config,
                                                         const DeviceOptions& device);
  ~MagvitDecoder();
  MagvitDecoder(const MagvitDecoder&) = delete;
  MagvitDecoder& operator=(const MagvitDecoder&) = delete;

  // codes [B, N] (int64 or int32, any device) -> decoder output [B, out_channels, H, W]
  // float32 on the decoder's device, roughly in [-1, 1]; H = W = sqrt(N) * UpsampleFactor().
  StatusOr<at::Tensor> Decode(const at::Tensor& codes) const;
  // The same from an LFQ latent [B, z_channels, h, w] (any float dtype and device).
  StatusOr<at::Tensor> DecodeLatent(const at::Tensor& latent) const;
  // Decode + DecoderOutputToUint8: [B, H, W, out_channels] uint8 on the CPU.
  StatusOr<at::Tensor> DecodeToUint8(const at::Tensor& codes) const;

  int64_t NumParameters() const;
  const MagvitDecoderConfig& config() const { return config_; }
  at::Device device() const;
  at::ScalarType dtype() const;

  struct Impl;  // opaque; public only so that helpers in magvit.cc can take it

 private:
  MagvitDecoder(MagvitDecoderConfig config, std::unique_ptr<Impl> impl);
  MagvitDecoderConfig config_;
  std::unique_ptr<Impl> impl_;
};

// Reads a safetensors checkpoint and calls MagvitDecoder::Create.
StatusOr<std::unique_ptr<MagvitDecoder>> LoadMagvitDecoder(const std::string& path,
                                                           const MagvitDecoderConfig& config,
                                                           const DeviceOptions& device);

}  // namespace maskgrpo::showo
