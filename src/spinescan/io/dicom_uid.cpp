#include "spinescan/io/dicom_uid.h"

#include <random>

namespace spinescan {

std::string make_dicom_uid() {
  static std::random_device device;
  unsigned __int128 value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 30) | (device() & 0x3FFFFFFFu);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return "2.25." + digits;
}

}  // namespace spinescan
