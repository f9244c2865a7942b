#!/bin/sh
# prebuildify 6 has no --backend option: it runs "node-gyp rebuild --target=... --release" and then
# strips and moves build/Release/*.node into prebuilds/. `npm run prebuild` points its --node-gyp at
# this script, which ignores node-gyp's arguments and builds with cmake-js instead (CUDA kernels when
# nvcc is found). Incremental when build/ already holds a matching configuration (`npm run build`
# runs prebuild first, as npm's pre-hook), a clean rebuild otherwise; see scripts/install.js.
set -e
exec node "$(dirname "$0")/install.js" --cmake
