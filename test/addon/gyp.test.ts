// binding.gyp (the CPU-only node-gyp fallback) must build what CMakeLists.txt builds: the same
// source folders, minus *.cu, plus cuda_probe_none.cc, the same defines, -O3 and never -march.
// The build itself is proven by .ci/run (node-gyp rebuild in a temp copy); this catches drift.
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');
const { gypSources } = require('../../scripts/gyp-sources.js') as { gypSources(root?: string): string[] };

const cmake = fs.readFileSync(path.join(ROOT, 'CMakeLists.txt'), 'utf8');
// binding.gyp is a Python literal; ours is JSON plus whole-line # comments.
const gypText = fs
  .readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8')
  .split('\n')
  .filter((line) => !/^\s*#/.test(line))
  .join('\n');
const target = JSON.parse(gypText).targets[0] as Record<string, string[] | string>;

function cmakeCpuDirs(): string[] {
  const glob = cmake.match(/file\(GLOB TENSILE_CPU_SOURCES[^)]*\)/);
  expect(glob).not.toBeNull();
  return [...glob![0].matchAll(/\$\{CMAKE_SOURCE_DIR\}\/(\S+)\/\*\.cc/g)].map((m) => m[1]).sort();
}

function walk(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    return e.isDirectory() ? walk(rel) : [rel];
  });
}

describe('binding.gyp', () => {
  test('sources are every .cc that CMake globs, with cuda_probe_none.cc and no .cu', () => {
    const sources = gypSources();
    const dirs = cmakeCpuDirs();
    expect(dirs).toContain('native/ops');
    const expected = walk('native')
      .filter((f) => f.endsWith('.cc') && dirs.includes(path.posix.dirname(f)))
      .sort();
    expect([...sources].sort()).toEqual(expected);
    expect(sources).toContain('native/core/cuda_probe_none.cc');
    expect(sources).toContain('native/addon.cc');
    expect(sources.filter((f) => !f.endsWith('.cc'))).toEqual([]);
    expect(target.sources).toEqual(['<!@(node scripts/gyp-sources.js)']);
  });

  test('has the defines of CMakeLists.txt and its optimisation, without -march', () => {
    const defs = cmake.match(/target_compile_definitions\(\$\{PROJECT_NAME\} PRIVATE\s+([^)]*)\)/);
    expect(defs).not.toBeNull();
    const cmakeDefines = defs![1].split(/\s+/).filter(Boolean);
    expect(cmakeDefines).toContain('NAPI_EXPERIMENTAL');
    expect([...(target.defines as string[])].sort()).toEqual([...cmakeDefines].sort());
    expect(target.cflags).toContain('-O3');
    expect(target.cflags_cc).toEqual(expect.arrayContaining(['-std=c++17', '-fexceptions']));
    expect(target['cflags_cc!']).toEqual(expect.arrayContaining(['-fno-exceptions', '-std=gnu++17']));
    expect(gypText).not.toMatch(/-march|-fopenmp/);
  });
});
