// The addon as it will be shipped: its dynamic dependencies are only the C/C++ runtime (so the one
// .node loads on any glibc Linux, CUDA driver or not), and its CUDA probe answers without crashing.
// Checks the file that lib/ loads: TENSILE_NATIVE, else node-gyp-build's pick (build/Release first,
// then prebuilds/<platform>-<arch>/).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

// Loaded inside the tests, so that the ldd check still runs (and says why) when the addon cannot load.
function tn(): typeof import('../../lib') {
  return require('../../lib');
}

const ROOT = path.join(__dirname, '..', '..');

function addonPath(): string {
  if (process.env.TENSILE_NATIVE) return path.resolve(process.env.TENSILE_NATIVE);
  const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  return nodeGypBuild.resolve(ROOT);
}

// libc, libm, libstdc++, libgcc_s, libpthread, libdl, the vDSO and the loader; nothing else (no
// libgomp, no libcudart: cudart is linked statically and opens libcuda.so.1 itself at run time).
const ALLOWED = [
  /^linux-vdso\.so\.\d+$/,
  /^libc\.so\.\d+$/,
  /^libm\.so\.\d+$/,
  /^libstdc\+\+\.so\.\d+$/,
  /^libgcc_s\.so\.\d+$/,
  /^libpthread\.so\.\d+$/,
  /^libdl\.so\.\d+$/,
  /^ld-linux(-x86-64|-aarch64)?\.so\.\d+$/,
];

// One entry per library line of `ldd` output, e.g. "\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)"
// or "\t/lib64/ld-linux-x86-64.so.2 (0x...)"; `missing` when ldd says "not found".
function parseLdd(output: string): { name: string; missing: boolean }[] {
  return output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/statically linked/.test(line))
    .map((line) => ({ name: path.basename(line.split(/\s+/)[0]), missing: /=>\s*not found/.test(line) }));
}

function unexpected(output: string): string[] {
  return parseLdd(output)
    .filter((lib) => lib.missing || !ALLOWED.some((re) => re.test(lib.name)))
    .map((lib) => (lib.missing ? `${lib.name} (not found)` : lib.name));
}

const linuxTest = process.platform === 'linux' ? test : test.skip;

describe('ldd of the addon', () => {
  linuxTest('lists nothing beyond libc, libm, libstdc++, libgcc_s, libpthread, libdl, vdso and the loader', () => {
    const file = addonPath();
    expect(fs.existsSync(file)).toBe(true);
    const out = execFileSync('ldd', [file], { encoding: 'utf8' });
    expect(parseLdd(out).map((l) => l.name)).toEqual(expect.arrayContaining(['libc.so.6', 'libstdc++.so.6']));
    expect(unexpected(out)).toEqual([]);
  });

  test('the check rejects other libraries and missing ones', () => {
    const sample = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibgomp.so.1 => /lib/x86_64-linux-gnu/libgomp.so.1 (0x00007f1)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f2)',
      '\tlibcudart.so.13 => not found',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f4)',
    ].join('\n');
    expect(unexpected(sample)).toEqual(['libgomp.so.1', 'libcudart.so.13 (not found)']);
    expect(unexpected('\tlibpthread.so.0 => /lib/libpthread.so.0 (0x1)\n\tlibdl.so.2 => /lib/libdl.so.2 (0x2)')).toEqual([]);
  });
});

// Whether the build that produced the loaded .node had nvcc: its CMakeCache.txt (CMake build) says;
// a node-gyp build never has CUDA; a prebuild carries no record (no expectation).
function expectedCompiled(file: string): boolean | null {
  const buildDir = path.dirname(path.dirname(file));
  const cacheFile = path.join(buildDir, 'CMakeCache.txt');
  if (fs.existsSync(cacheFile)) {
    const cache = fs.readFileSync(cacheFile, 'utf8');
    const enabled = /^TENSILE_ENABLE_CUDA:BOOL=ON$/m.test(cache);
    const nvcc = cache.match(/^CMAKE_CUDA_COMPILER:[A-Z]+=(.*)$/m);
    return enabled && !!nvcc && nvcc[1] !== '' && !/NOTFOUND/.test(nvcc[1]);
  }
  if (fs.existsSync(path.join(buildDir, 'config.gypi'))) return false;
  return null;
}

describe('cuda.probe()', () => {
  test('reports compiled true/false and a device count, with the reason when there is no device', () => {
    const p = tn().cuda.probe();
    expect(typeof p.compiled).toBe('boolean');
    expect(Number.isInteger(p.deviceCount) && p.deviceCount >= 0).toBe(true);
    expect(typeof p.code).toBe('number');
    if (!p.compiled) {
      expect(p.deviceCount).toBe(0);
      expect(p.errorName).toBe('NotCompiled');
      expect(p.message).toMatch(/no CUDA kernels/);
    } else if (p.deviceCount === 0) {
      // No GPU or no driver (the CI machine): the runtime's own error, e.g. cudaErrorInsufficientDriver.
      expect(p.code).not.toBe(0);
      expect(p.errorName).toMatch(/^cuda/);
      expect(p.message.length).toBeGreaterThan(0);
      expect(p.runtimeVersion).toBeGreaterThan(0);
    } else {
      expect(p.code).toBe(0);
    }
    expect(tn().cuda.deviceCount()).toBe(p.deviceCount);
    // The probe clears the runtime's sticky error: asking again gives the same answer.
    expect(tn().cuda.probe()).toEqual(p);
  });

  test('has CUDA kernels exactly when the build found nvcc', () => {
    const expected = expectedCompiled(addonPath());
    if (expected === null) return; // a prebuild: nothing records how it was built
    expect(tn().cuda.probe().compiled).toBe(expected);
  });
});

describe('symbols of the addon', () => {
  // Node loads addons lazily (RTLD_LAZY): a function the .node calls but does not define fails only
  // when first called. The CUDA launchers are called only on a GPU, so a launcher the bindings name
  // with a signature the .cu files do not instantiate would go unnoticed here and crash there.
  // Loading with RTLD_NOW, in a child process, resolves every symbol at once.
  linuxTest('every symbol resolves at load time (RTLD_NOW), CUDA launchers included', () => {
    const file = addonPath();
    const script = `const os = require('os'); const m = { exports: {} };
      try { process.dlopen(m, ${JSON.stringify(file)}, os.constants.dlopen.RTLD_NOW); console.log('ok'); }
      catch (e) { console.log(e.message); }`;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim();
    expect(out).toBe('ok');
  });
});
