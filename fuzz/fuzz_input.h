// Decoding a fuzzer's input bytes into choices, for the differential fuzzers
// in this directory. Reads past the end return zeros, so every input, even
// an empty one, decodes to some (short) operation sequence.
//
//   fuzz::Input in(data, size);
//   while (!in.empty()) {
//     switch (in.Below(kNumOps)) { ... in.Byte() ... }
//   }
#ifndef FUZZ_FUZZ_INPUT_H_
#define FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>

namespace fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }

  std::uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint32_t Word() {
    std::uint32_t w = Byte();
    w |= std::uint32_t{Byte()} << 8;
    return w;
  }
  // In [0, n); n > 0. One byte for n <= 256, two otherwise.
  std::uint32_t Below(std::uint32_t n) { return (n <= 256 ? Byte() : Word()) % n; }
  bool Bool() { return (Byte() & 1) != 0; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace fuzz

#endif  // FUZZ_FUZZ_INPUT_H_
