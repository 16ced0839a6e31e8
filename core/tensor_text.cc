#include "core/tensor_text.h"

#include <c10/util/StringUtil.h>

namespace maskgrpo {

std::string ShapeText(at::IntArrayRef sizes) { return c10::str(sizes); }

std::string DescribeTensor(const at::Tensor& t) { return t.defined() ? ShapeText(t.sizes()) : std::string("(undefined)"); }

}  // namespace maskgrpo
