// The parts of LibTorch's C++ API this project uses, and nothing more.
//
// <torch/torch.h> pulls in the whole C++ frontend (every nn module, the data loaders, the JIT
// API, fft, linalg, ...): ~20 s to parse and a 570 MB precompiled header that every
// translation unit reloads. This header is the shared precompiled header of every LibTorch
// target (core/CMakeLists.txt) and the one LibTorch include of the project's sources; the
// few files that load TorchScript add <torch/script.h> themselves.
#pragma once

#include <torch/autograd.h>                         // torch::autograd::grad
#include <torch/cuda.h>                             // torch::cuda::is_available, device_count
#include <torch/nn/functional/activation.h>         // gelu
#include <torch/nn/functional/linear.h>             // linear
#include <torch/nn/functional/loss.h>               // cross_entropy
#include <torch/nn/module.h>                        // torch::nn::Module
#include <torch/nn/modules/container/modulelist.h>  // torch::nn::ModuleList
#include <torch/nn/modules/embedding.h>             // torch::nn::Embedding
#include <torch/nn/modules/linear.h>                // torch::nn::Linear
#include <torch/nn/modules/normalization.h>         // torch::nn::LayerNorm
#include <torch/nn/utils/clip_grad.h>               // clip_grad_norm_
#include <torch/optim/adamw.h>                      // torch::optim::AdamW
#include <torch/serialize.h>                        // torch::save / load, archives
#include <torch/types.h>                            // torch::Tensor, the ATen ops, dtypes
#include <torch/utils.h>                            // NoGradGuard, manual_seed, threads
