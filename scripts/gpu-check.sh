#!/usr/bin/env bash
# The whole CUDA check for a lent GPU machine (../shared/gpu/README.md), in one command each side:
#
#   here:   scripts/gpu-check.sh pack      # ../shared/gpu/pack.sh + a 10,000-image FashionMNIST train
#                                          # subset as IDX (.gpu/fmnist; the machine has no data package)
#   there:  run with carry [".gpu"], command:  bash scripts/gpu-check.sh run
#
# `pack` builds the addon here (the default sm_80 + sm_90 SASS and PTX) and the JS, and packs them
# with Node and node_modules. `run` uses that addon where it sees the machine's GPU (else builds one
# for its architecture), runs the test suites that need no data package (the CUDA ones included,
# which run instead of skipping there; the CLI test trains both models on --device cuda), and runs
# bench/gpu.ts (tensile vs the machine's PyTorch on CUDA, if it has one). Everything it learns goes
# to $OUT: nvidia-smi.txt, build.log, jest.json, jest.log, bench.log, gpu-*.json.
# JEST_LIMIT_S (default 300) bounds the tests, BENCH_STEPS (1000) the benchmark, SKIP_BENCH skips it.
set -uo pipefail
cd "$(git rev-parse --show-toplevel 2>/dev/null || dirname "$0"/..)"
mode=${1:-run}

if [ "$mode" = pack ]; then
  ../shared/gpu/pack.sh
  npm run build:native && npm run build:ts >/dev/null && npx tsc -p tsconfig.dev.json || exit 1
  node -e '
    const { loadBundledFashionMNIST } = require("./dist/data/fashion_mnist_bundled");
    const { encodeIdx } = require("./dist/data/idx");
    const fs = require("fs");
    const { images, labels } = loadBundledFashionMNIST(true);
    const n = 10000;
    fs.mkdirSync(".gpu/fmnist", { recursive: true });
    fs.writeFileSync(".gpu/fmnist/train-images-idx3-ubyte", encodeIdx("uint8", [n, 28, 28], images.subarray(0, n * 784)));
    fs.writeFileSync(".gpu/fmnist/train-labels-idx1-ubyte", encodeIdx("uint8", [n], labels.subarray(0, n)));'
  xz -f -T0 .gpu/fmnist/*-ubyte
  # the addon as built here and the compiled JS: saves the build there
  tar cf - build/Release/tensile.node dist dist-dev | xz -T0 -1 > .gpu/prebuilt.tar.xz
  du -sh .gpu
  exit 0
fi

OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT"
source .gpu/env.sh
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
built=no
if [ -f .gpu/prebuilt.tar.xz ]; then
  xz -dc .gpu/prebuilt.tar.xz | tar xf -
  node -e 'process.exit(require("./dist").cuda.isAvailable() ? 0 : 1)' && built=prebuilt
fi
if [ $built = no ]; then
  echo "== build (sm_${arch:-90})"
  node node_modules/cmake-js/bin/cmake-js build -l warn -p 16 --CDCMAKE_CUDA_ARCHITECTURES="${arch:-90}" > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
  node node_modules/typescript/bin/tsc -p tsconfig.build.json && node node_modules/typescript/bin/tsc -p tsconfig.dev.json || exit 1
fi
echo "== addon: $built"
node -e 'const tn = require("./dist"); console.log("probe", JSON.stringify(tn.cuda.probe()), "available", tn.cuda.isAvailable())'
echo "== tests"
timeout ${JEST_LIMIT_S:-300} node node_modules/jest/bin/jest.js --ci --maxWorkers=8 --json --outputFile="$OUT/jest.json" test/cuda test/ops test/nn test/optim test/addon test/io test/regressions test/tensor.test.ts test/errors.test.ts test/train/checkpoint.test.ts test/train/fit.test.ts test/train/metrics.test.ts test/data/transforms.test.ts test/data/workers.test.ts > "$OUT/jest.log" 2>&1
[ $? = 124 ] && echo "jest: stopped after ${JEST_LIMIT_S:-300} s (JEST_LIMIT_S)"
[ -f "$OUT/jest.json" ] || { echo "jest: no results (see jest.log)"; tail -20 "$OUT/jest.log"; exit 1; }
node -e '
  const r = require(process.argv[1]);
  const skipped = r.numPendingTests;
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  for (const f of r.testResults) for (const t of f.assertionResults) if (t.status === "failed") console.log("FAILED", t.fullName, "\n ", (t.failureMessages[0] || "").split("\n").slice(0, 3).join("\n  "));' "$OUT/jest.json"
[ -n "${SKIP_BENCH:-}" ] && exit 0
echo "== bench"
mkdir -p /tmp/fmnist && for f in .gpu/fmnist/*.xz; do xz -dc "$f" > "/tmp/fmnist/$(basename "$f" .xz)"; done
node dist-dev/bench/gpu.js --data /tmp/fmnist --steps ${BENCH_STEPS:-1000} --reps 2 --out "$OUT" 2>&1 | tee "$OUT/bench.log"
