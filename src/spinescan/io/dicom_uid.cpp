#include "spinescan/io/dicom_uid.h"

#include <random>

namespace spinescan {

namespace {

std::string uid_of(unsigned __int128 value) {
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return "2.25." + digits;
}

}  // namespace

std::string make_dicom_uid() {
  static std::random_device device;
  unsigned __int128 value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 30) | (device() & 0x3FFFFFFFu);
  return uid_of(value);
}

std::string dicom_uid_from(const std::string& seed) {
  // FNV-1a, 128-bit parameters (offset basis and prime as published by its authors).
  const unsigned __int128 prime = (static_cast<unsigned __int128>(1) << 88) + 0x13B;
  unsigned __int128 hash = (static_cast<unsigned __int128>(0x6C62272E07BB0142ull) << 64) | 0x62B821756295C58Dull;
  for (const unsigned char c : seed) {
    hash ^= c;
    hash *= prime;
  }
  return uid_of(hash >> 8);
}

}  // namespace spinescan
