#!/usr/bin/env bash
# The whole CUDA check for a lent GPU machine (../shared/gpu/README.md), in one command each side:
#
#   here:   scripts/gpu-check.sh pack      # ../shared/gpu/pack.sh + a 10,000-image FashionMNIST train
#                                          # subset as IDX (.gpu/fmnist; the machine has no data package)
#   there:  run with carry [".gpu"], command:  bash scripts/gpu-check.sh run
#
# `run` builds the addon for the machine's GPU, runs the test suites that need no data package (the
# CUDA ones included, which run instead of skipping there), trains a few steps on --device cuda, and
# runs bench/gpu.ts (tensile vs the machine's PyTorch on CUDA, if it has one). Everything it learns
# goes to $OUT: nvidia-smi.txt, build.log, jest.json, jest.log, bench.log, gpu-*.json.
set -uo pipefail
cd "$(git rev-parse --show-toplevel 2>/dev/null || dirname "$0"/..)"
mode=${1:-run}

if [ "$mode" = pack ]; then
  ../shared/gpu/pack.sh
  npm run build:ts >/dev/null
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
  du -sh .gpu
  exit 0
fi

OUT=${OUT:-/tmp/gpu-check-out}
mkdir -p "$OUT"
source .gpu/env.sh
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
echo "== build (sm_${arch:-90})"
npx cmake-js build -l warn --CDCMAKE_CUDA_ARCHITECTURES="${arch:-90}" > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
npm run build:ts > /dev/null && npx tsc -p tsconfig.dev.json || exit 1
node -e 'const tn = require("./dist"); console.log("probe", JSON.stringify(tn.cuda.probe()), "available", tn.cuda.isAvailable())'
echo "== tests"
npx jest --ci --json --outputFile="$OUT/jest.json" test/cuda test/ops test/nn test/optim test/addon test/tensor.test.ts test/errors.test.ts > "$OUT/jest.log" 2>&1
node -e '
  const r = require(process.argv[1]);
  const skipped = r.numPendingTests;
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  for (const f of r.testResults) for (const t of f.assertionResults) if (t.status === "failed") console.log("FAILED", t.fullName, "\n ", (t.failureMessages[0] || "").split("\n").slice(0, 3).join("\n  "));' "$OUT/jest.json"
echo "== bench"
mkdir -p /tmp/fmnist && for f in .gpu/fmnist/*.xz; do xz -dc "$f" > "/tmp/fmnist/$(basename "$f" .xz)"; done
node dist-dev/bench/gpu.js --data /tmp/fmnist --steps 1000 --reps 2 --out "$OUT" 2>&1 | tee "$OUT/bench.log"
