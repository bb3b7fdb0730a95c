# A copy of Debian's libtorch_cpu without the libraries it lists as NEEDED but never calls.
#
# Why: Debian built libtorch_cpu 1.13 against OpenCV, FFmpeg, ZeroMQ, LMDB, LevelDB, Snappy and
# OpenCL for Caffe2 operators we never run, and linked it without --as-needed, so every process
# that uses libtorch loads those 22 libraries and the ~200 they pull in (Qt, GDAL, GStreamer):
# 315 shared libraries in all for spinescan-core, 119 without them, and about a third of a cold
# start (docs/benchmarks.md, "Libraries libtorch never calls").
#
# How: at configure time the library is copied into the build tree and those NEEDED entries are
# removed with patchelf; the copy is used only if the dynamic loader, resolving every relocation
# (`ldd -r`), finds no symbol left undefined, so nothing the copy references can be missing at
# run time. Programs link against the system library as before and find the copy at run time
# through the build tree's RUNPATH (same soname, same code). Without patchelf, or if the check
# fails, the system library is used and configuration says why.
#
# Sets SPINESCAN_TRIMMED_LIBTORCH_DIR (empty when not used) and SPINESCAN_LIBTORCH_TRIM_STATE:
# "trimmed", "off", "nothing to remove" or "not trimmed: <why>" (tests/integration/test_launcher.cpp).

option(SPINESCAN_TRIM_LIBTORCH "Run against a copy of libtorch_cpu without the libraries it never calls" ON)
set(SPINESCAN_TRIMMED_LIBTORCH_DIR "")
set(SPINESCAN_LIBTORCH_TRIM_STATE "off")

# Library families libtorch_cpu lists but whose symbols it does not reference (checked below).
set(_trim_unused_patterns
  "^libopencv_" "^libavcodec\\." "^libavformat\\." "^libavutil\\." "^libswscale\\." "^libswresample\\."
  "^libzmq\\." "^liblmdb\\." "^libleveldb\\." "^libsnappy\\." "^libOpenCL\\.")

macro(_trim_give_up why)
  message(STATUS "libtorch_cpu: used as installed (${why})")
  set(SPINESCAN_LIBTORCH_TRIM_STATE "not trimmed: ${why}" PARENT_SCOPE)
  return()
endmacro()

function(_spinescan_trim_libtorch)
  # A copy from an earlier configure is never left for a configure that decides otherwise.
  file(REMOVE_RECURSE "${CMAKE_BINARY_DIR}/trimmed-libs")
  if(NOT SPINESCAN_TRIM_LIBTORCH)
    return()
  endif()
  find_program(PATCHELF_EXECUTABLE patchelf)
  find_program(LDD_EXECUTABLE ldd)
  if(NOT PATCHELF_EXECUTABLE OR NOT LDD_EXECUTABLE)
    _trim_give_up("no patchelf or ldd; scripts/setup.sh installs patchelf")
  endif()
  # The library the programs link (TorchConfig finds it the same way, by name).
  find_library(SPINESCAN_TORCH_CPU_LIBRARY torch_cpu)
  set(source "${SPINESCAN_TORCH_CPU_LIBRARY}")
  if(NOT source OR NOT EXISTS "${source}")
    _trim_give_up("library not found")
  endif()
  get_filename_component(source "${source}" REALPATH)
  # A libtorch updated by apt re-runs configure, so the copy never lags the library linked against.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${source}")
  execute_process(COMMAND ${PATCHELF_EXECUTABLE} --print-soname "${source}"
    OUTPUT_VARIABLE soname OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR soname STREQUAL "")
    _trim_give_up("no soname in ${source}")
  endif()
  execute_process(COMMAND ${PATCHELF_EXECUTABLE} --print-needed "${source}"
    OUTPUT_VARIABLE needed RESULT_VARIABLE rc)
  string(REPLACE "\n" ";" needed "${needed}")
  set(unused "")
  foreach(library IN LISTS needed)
    foreach(pattern IN LISTS _trim_unused_patterns)
      if(library MATCHES "${pattern}")
        list(APPEND unused "${library}")
        break()
      endif()
    endforeach()
  endforeach()
  if(NOT unused)
    message(STATUS "libtorch_cpu: used as installed (it lists none of the unused libraries)")
    set(SPINESCAN_LIBTORCH_TRIM_STATE "nothing to remove" PARENT_SCOPE)
    return()
  endif()

  set(dir "${CMAKE_BINARY_DIR}/trimmed-libs")
  set(copy "${dir}/${soname}")
  # Written under a temporary name and renamed once checked, so an interrupted configure never
  # leaves a half-made library where the programs would load it.
  set(partial "${dir}/partial-${soname}")
  file(MAKE_DIRECTORY "${dir}")
  execute_process(COMMAND ${CMAKE_COMMAND} -E copy "${source}" "${partial}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    _trim_give_up("cannot copy it into ${dir}")
  endif()
  set(remove_args "")
  foreach(library IN LISTS unused)
    list(APPEND remove_args --remove-needed "${library}")
  endforeach()
  execute_process(COMMAND ${PATCHELF_EXECUTABLE} ${remove_args} "${partial}" RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    file(REMOVE "${partial}")
    _trim_give_up("patchelf failed: ${err}")
  endif()
  execute_process(COMMAND ${LDD_EXECUTABLE} -r "${partial}"
    OUTPUT_VARIABLE report ERROR_VARIABLE report_err RESULT_VARIABLE rc)
  string(FIND "${report}${report_err}" "undefined symbol" undefined_at)
  if(NOT rc EQUAL 0 OR NOT undefined_at EQUAL -1)
    file(REMOVE "${partial}")
    _trim_give_up("without those libraries a symbol is undefined")
  endif()
  file(RENAME "${partial}" "${copy}")
  list(LENGTH unused n_unused)
  message(STATUS "libtorch_cpu: programs run against ${copy} (${n_unused} unused libraries not loaded)")
  set(SPINESCAN_TRIMMED_LIBTORCH_DIR "${dir}" PARENT_SCOPE)
  set(SPINESCAN_LIBTORCH_TRIM_STATE "trimmed" PARENT_SCOPE)
endfunction()

_spinescan_trim_libtorch()
if(SPINESCAN_TRIMMED_LIBTORCH_DIR)
  # Every program and test of the build tree loads the copy, so the whole test suite runs on it.
  list(APPEND CMAKE_BUILD_RPATH "${SPINESCAN_TRIMMED_LIBTORCH_DIR}")
endif()
