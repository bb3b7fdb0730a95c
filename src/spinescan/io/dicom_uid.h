#pragma once
#include <string>

namespace spinescan {

// A new DICOM UID under the UUID root 2.25 (ISO/IEC 9834-8): the root and a random 120-bit
// integer in decimal, under the 64-character limit. No organisation root is needed, and
// nothing in it derives from the patient or the machine.
std::string make_dicom_uid();

// The same UID for the same `seed`, under 2.25 too: 120 bits of a 128-bit FNV-1a hash of the
// seed. For results that must keep their UIDs when written again (a PACS worker restarted
// after storing them stores the same instances, not copies).
std::string dicom_uid_from(const std::string& seed);

}  // namespace spinescan
