// Reads PyTorch torch.save checkpoints (.bin/.pt/.pth) natively, with no Python.
//
// Why: Debian's LibTorch 1.13 `torch::pickle_load` cannot read an OrderedDict state dict
// (showo-stack.md section 6, pitfall 13), yet Show-o's pytorch_model.bin and the reward
// models ship that way. This parses the zip format of torch.save (PyTorch >= 1.6):
//   <archive>/data.pkl      the pickled object (protocol 2), tensors as persistent ids
//   <archive>/data/<key>    one raw little-endian storage per key
//   <archive>/byteorder     "little" (optional; anything else is refused)
// with a restricted pickle VM that, like torch.load(weights_only=True), accepts only the
// globals a state dict needs:
//   collections.OrderedDict                      (empty call; BUILD of `_metadata` ignored)
//   torch._utils._rebuild_tensor_v2               (storage, offset, size, stride,
//                                                  requires_grad, hooks[, metadata])
//   torch._utils._rebuild_parameter               (nn.Parameter: the tensor inside)
//   torch.{Double,Float,Half,BFloat16,Long,Int,Short,Char,Byte,Bool}Storage
//                                                 (only as the type in a persistent id)
// Anything else (a pickled custom object, a tensor subclass, an optimizer's
// torch.optim class) is an error naming the global. The legacy non-zip format (PyTorch
// < 1.6, or _use_new_zipfile_serialization=False) is read too: the same pickle, followed
// by the storages as count + raw bytes (it has no checksums).
#pragma once

#include <string>

#include "core/safetensors.h"
#include "core/status.h"

namespace maskgrpo {

struct TorchCheckpointOptions {
  // Non-empty: the top-level object must be a dict and only this entry is read, with
  // names relative to it (e.g. "state_dict" for HPSv2's {'state_dict': {...}}, "model"
  // for training checkpoints {'model': {...}, 'optimizer': ...}).
  std::string inner_key;

  // Non-tensor leaves (epoch numbers, names, optimizer hyper-parameters):
  //   kIgnore   drop them (default);
  //   kMetadata store None/bool/int/float/str leaves in TensorFile::metadata as text
  //             ("3", "0.5", "True", "None", the string itself); other leaves are dropped.
  enum class NonTensorLeaves { kIgnore, kMetadata };
  NonTensorLeaves non_tensor_leaves = NonTensorLeaves::kIgnore;

  // Check every zip entry's CRC-32 (about 1-2 GB/s). Off only for damage tests and
  // fuzzing of the pickle parser behind it.
  bool verify_crc = true;
};

// Reads a torch.save checkpoint (zip or legacy format) into named, contiguous CPU tensors with their
// on-disk dtypes (float64/32/16, bfloat16, int64/32/16/8, uint8, bool).
//
// Naming: dict keys become names; nested dicts and lists/tuples are flattened with "."
// (list items by index), so {'state_dict': {'w': t}} gives "state_dict.w" and
// {'layers': [a, b]} gives "layers.0", "layers.1". Integer keys are written in decimal.
// A bare tensor at the top level is named "tensor". Two leaves with one flattened name
// are an error. Tensors that are views of one storage (tied weights, slices) share its
// memory when they are contiguous; non-contiguous views are copied.
//
// Every structural problem (bad zip, truncated file, CRC mismatch, unknown opcode or
// global, a view outside its storage, ...) is an error naming the file and the problem.
StatusOr<TensorFile> ReadTorchCheckpoint(const std::string& path,
                                         const TorchCheckpointOptions& options = {});

// ReadTorchCheckpoint, then WriteSafetensors (atomic: temporary file, then rename).
// Fails on dtypes safetensors.h does not write (int8).
Status ConvertTorchCheckpointToSafetensors(const std::string& in, const std::string& out,
                                           const TorchCheckpointOptions& options = {});

}  // namespace maskgrpo
