# CPU-only build of tensile's addon through node-gyp, for machines without CMake; the primary build
# is cmake-js + CMakeLists.txt (scripts/install.js picks). Sources come from scripts/gyp-sources.js
# (the same folders as CMakeLists.txt, minus *.cu, plus native/core/cuda_probe_none.cc), so new .cc
# files need no edit here. Flags match CMakeLists.txt: -O3 at baseline x86-64 (never -march, the
# binary moves between machines), C++17, C++ exceptions and RTTI on. test/build/gyp.test.ts checks
# that the sources and defines stay in step with CMakeLists.txt.
# node-gyp needs the Node headers: run it as `npm run build:gyp`, or pass --nodedir (see install.js).
{
  "targets": [
    {
      "target_name": "tensile",
      "sources": ["<!@(node scripts/gyp-sources.js)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_EXPERIMENTAL",
        "NAPI_VERSION=2147483647",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags": ["-O3", "-fno-math-errno", "-fvisibility=hidden", "-Wno-unused-function"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti"],
      "ldflags": ["-pthread"]
    }
  ]
}
