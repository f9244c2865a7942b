#!/usr/bin/env node
// tensile's install step: get a loadable build of the native addon, or say clearly why not.
//   1. prebuilds/<platform>-<arch>/tensile.node, when it exists and loads (what a package ships);
//   2. else cmake-js + CMakeLists.txt (`cmake-js build`, never `compile`): CPU kernels, plus CUDA
//      kernels when nvcc is found; the primary build;
//   3. else, when cmake (or cmake-js) is missing, node-gyp + binding.gyp: CPU-only.
// It does not build the TypeScript (the `prepare` script does) and never uses -march=native.
//
// Usage: node scripts/install.js             the steps above (npm's `install` script)
//        node scripts/install.js --cmake     cmake-js build only (scripts/cmake-js-as-node-gyp.sh)
//        node scripts/install.js --node-gyp  node-gyp build only (`npm run build:gyp`; deletes build/)
// Environment: TENSILE_BUILD_FROM_SOURCE=1 skips step 1; TENSILE_CUDA=0 builds CPU-only with CMake.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.join(__dirname, '..');
const TARGET = `${process.platform}-${process.arch}`;
const PREBUILT = path.join(ROOT, 'prebuilds', TARGET, 'tensile.node');
const BUILT = path.join(ROOT, 'build', 'Release', 'tensile.node');

function log(msg) {
  console.log(`tensile: ${msg}`);
}

function fail(msg) {
  console.error(`tensile: ERROR: ${msg}`);
  process.exit(1);
}

// Loads the addon in a child process, so that a binary for the wrong CPU or libc (SIGILL, missing
// symbol) is reported instead of killing the installer. Returns {ok, probe} or {ok: false, why}.
function tryLoad(file) {
  const code =
    'const b = require(process.argv[1]); const p = b.cudaProbe();' +
    "if (typeof p.compiled !== 'boolean') throw new Error('cudaProbe() returned ' + JSON.stringify(p));" +
    'process.stdout.write(JSON.stringify(p));';
  const r = spawnSync(process.execPath, ['-e', code, file], { encoding: 'utf8' });
  if (r.status === 0) {
    try {
      return { ok: true, probe: JSON.parse(r.stdout) };
    } catch (e) {
      return { ok: false, why: `unexpected output: ${r.stdout.trim()}` };
    }
  }
  const err = (r.stderr || '').split('\n').find((l) => /Error|error:/.test(l));
  return { ok: false, why: r.signal ? `killed by ${r.signal}` : (err || r.stderr || '').trim() || `exit ${r.status}` };
}

function describe(probe) {
  if (!probe.compiled) return 'CPU-only (no CUDA kernels)';
  if (probe.deviceCount > 0) return `with CUDA kernels, ${probe.deviceCount} CUDA device(s)`;
  return `with CUDA kernels; no CUDA device here (${probe.errorName}: ${probe.message})`;
}

function verifyBuilt(how) {
  if (!fs.existsSync(BUILT)) fail(`${how} finished but ${path.relative(ROOT, BUILT)} is missing`);
  const r = tryLoad(BUILT);
  if (!r.ok) fail(`${how} built ${path.relative(ROOT, BUILT)} but it does not load: ${r.why}`);
  log(`built ${path.relative(ROOT, BUILT)} with ${how}, ${describe(r.probe)}`);
}

function runs(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function resolveFrom(request) {
  try {
    return require.resolve(request, { paths: [ROOT] });
  } catch (e) {
    return null;
  }
}

// nvcc on PATH is what CMake's check_language(CUDA) looks for; it does not search /usr/local/cuda
// by itself, so point it there (via CUDACXX) when that is the only nvcc around.
function cudaEnv(env) {
  if (env.TENSILE_CUDA === '0' || env.CUDACXX || runs('nvcc', ['--version'])) return env;
  const fallback = '/usr/local/cuda/bin/nvcc';
  if (fs.existsSync(fallback)) {
    log(`nvcc is not on PATH; using ${fallback}`);
    return { ...env, CUDACXX: fallback };
  }
  return env;
}

// A CMakeCache.txt entry (`NAME:TYPE=value`), or null.
function cacheValue(cache, name) {
  const m = cache.match(new RegExp(`^${name}:[A-Z]+=(.*)$`, 'm'));
  return m ? m[1] : null;
}

// `cmake-js build` reuses an existing configuration, which ignores -D options; start over when
// build/ was configured for another source folder (a copied tree) or with the other CUDA choice.
function needsClean(wantCuda) {
  const cacheFile = path.join(ROOT, 'build', 'CMakeCache.txt');
  if (!fs.existsSync(cacheFile)) return null;
  const cache = fs.readFileSync(cacheFile, 'utf8');
  const home = cacheValue(cache, 'CMAKE_HOME_DIRECTORY');
  if (home && path.resolve(home) !== path.resolve(ROOT)) return `build/ was configured for ${home}`;
  const cuda = cacheValue(cache, 'TENSILE_ENABLE_CUDA');
  if (cuda && (cuda === 'ON') !== wantCuda) return `build/ was configured with TENSILE_ENABLE_CUDA=${cuda}`;
  return null;
}

function buildWithCmake() {
  const cmakeJs = resolveFrom('cmake-js/bin/cmake-js');
  if (!cmakeJs) return 'cmake-js is not installed (it is a devDependency: run `npm install` in a tensile checkout)';
  const wantCuda = process.env.TENSILE_CUDA !== '0';
  const clean = needsClean(wantCuda);
  const verb = clean ? 'rebuild' : 'build';
  if (clean) log(`${clean}: clean rebuild`);
  const args = [cmakeJs, verb, '-l', 'warn', '-d', ROOT, `--CDTENSILE_ENABLE_CUDA=${wantCuda ? 'ON' : 'OFF'}`];
  log(`building the addon with cmake-js (${wantCuda ? 'CUDA kernels if nvcc is found' : 'CPU-only, TENSILE_CUDA=0'})`);
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: cudaEnv(process.env) });
  if (r.status !== 0) {
    fail(
      `cmake-js ${verb} failed (exit ${r.status}); see the compiler output above.\n` +
        '  A CPU-only build skips CUDA: TENSILE_CUDA=0 npm install (or npm rebuild tensile).',
    );
  }
  verifyBuilt('cmake-js');
  return null;
}

// The Node headers for node-gyp: those next to this node binary (/usr/include/node for /usr/bin/node,
// <prefix>/include/node for an official tarball or nvm), else npm's nodedir, else node-gyp downloads.
function nodedir() {
  const dir = path.resolve(process.execPath, '..', '..');
  if (fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) return dir;
  return process.env.npm_config_nodedir || null;
}

function buildWithNodeGyp() {
  const gyp =
    resolveFrom('node-gyp/bin/node-gyp.js') ||
    process.env.npm_config_node_gyp ||
    [path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')].find((p) =>
      fs.existsSync(p),
    );
  if (!gyp) fail('node-gyp is not installed and npm does not provide one; install CMake (preferred) or node-gyp');
  if (!resolveFrom('node-addon-api')) fail('node-addon-api is not installed; run `npm install` first');
  const args = [gyp, 'rebuild', '--jobs', 'max', '-C', ROOT];
  const dir = nodedir();
  if (dir) args.push(`--nodedir=${dir}`);
  else log('no Node headers found next to node; node-gyp will try to download them');
  log('building the CPU-only addon with node-gyp and binding.gyp (no CUDA kernels)');
  const r = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) fail(`node-gyp rebuild failed (exit ${r.status}); see the output above`);
  verifyBuilt('node-gyp');
}

function main() {
  const mode = process.argv[2] || 'auto';
  if (mode === '--cmake') {
    if (!runs('cmake', ['--version'])) fail('cmake is not on PATH');
    const why = buildWithCmake();
    if (why) fail(why);
    return;
  }
  if (mode === '--node-gyp') return buildWithNodeGyp();
  if (mode !== 'auto') fail(`unknown option ${mode} (expected --cmake or --node-gyp)`);

  if (process.env.TENSILE_BUILD_FROM_SOURCE === '1') {
    log('TENSILE_BUILD_FROM_SOURCE=1: not looking for a prebuilt addon');
  } else if (fs.existsSync(PREBUILT)) {
    const r = tryLoad(PREBUILT);
    if (r.ok) {
      log(`using the prebuilt ${path.relative(ROOT, PREBUILT)}, ${describe(r.probe)}`);
      log('(TENSILE_BUILD_FROM_SOURCE=1 npm install builds from source instead)');
      return;
    }
    log(`the prebuilt ${path.relative(ROOT, PREBUILT)} does not load here (${r.why}); building from source`);
  } else {
    log(`no prebuilt addon for ${TARGET}; building from source`);
  }

  if (!runs('cmake', ['--version'])) {
    log('cmake is not on PATH; falling back to node-gyp (CPU-only). Install CMake >= 3.18 for CUDA kernels.');
    return buildWithNodeGyp();
  }
  const why = buildWithCmake();
  if (why) {
    log(`${why}; falling back to node-gyp (CPU-only)`);
    buildWithNodeGyp();
  }
}

main();
