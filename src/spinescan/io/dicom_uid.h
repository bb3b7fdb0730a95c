#pragma once
#include <string>

namespace spinescan {

// A new DICOM UID under the UUID root 2.25 (ISO/IEC 9834-8): the root and a random 120-bit
// integer in decimal, under the 64-character limit. No organisation root is needed, and
// nothing in it derives from the patient or the machine.
std::string make_dicom_uid();

}  // namespace spinescan
