#!/usr/bin/env bash
# npm run test:asan: the addon built with AddressSanitizer + UBSan (CPU-only, into build-asan/; see
# TENSILE_SANITIZE in CMakeLists.txt), then the kernel tests, the reliability tests and the binding
# fuzz test against it, with TENSILE_FUZZ_CALLS mutated calls (40,000 unless set). Any sanitizer
# report aborts the process under test, so it fails the test that ran it. Needs g++'s libasan
# (Debian: libasan8, installed with g++). About 6 minutes on 2 cores, most of it the build.
set -euo pipefail
cd "$(dirname "$0")/.."

node node_modules/cmake-js/bin/cmake-js build -O build-asan --CDTENSILE_ENABLE_CUDA=OFF --CDTENSILE_SANITIZE=ON -l warn
node node_modules/typescript/bin/tsc -p tsconfig.build.json

libasan=$(gcc -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "test:asan: no libasan.so for gcc ($libasan)" >&2; exit 1; }
# Node itself is not instrumented: the sanitizer runtime must be loaded first. Node keeps memory
# until exit (no leak check), and the tests ask for impossible allocations on purpose.
export LD_PRELOAD=$libasan
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TENSILE_NATIVE=$PWD/build-asan/Release/tensile.node
export TENSILE_FUZZ_CALLS=${TENSILE_FUZZ_CALLS:-40000}
exec node node_modules/jest/bin/jest.js --ci test/ops test/reliability test/errors.test.ts test/regressions "$@"
