#!/usr/bin/env node
// The native sources of the CPU-only node-gyp build, printed one per line for binding.gyp's
// `<!@(node scripts/gyp-sources.js)`. Same folders as CMakeLists.txt's TENSILE_CPU_SOURCES glob, so a
// new .cc file needs no edit here; *.cu files are never listed and native/core/cuda_probe_none.cc is,
// because this build never has CUDA. Paths are relative to the package root (binding.gyp's folder).
'use strict';
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const DIRS = ['native', 'native/core', 'native/binding', 'native/ops'];

function gypSources(root = ROOT) {
  const out = [];
  for (const dir of DIRS) {
    const abs = path.join(root, dir);
    if (!fs.existsSync(abs)) continue;
    for (const name of fs.readdirSync(abs).sort()) {
      if (!name.endsWith('.cc') || !fs.statSync(path.join(abs, name)).isFile()) continue;
      // gyp splits the command's output on whitespace: a name with a space would be two wrong files.
      if (/\s/.test(name)) throw new Error(`gyp-sources: ${dir}/${name} has whitespace in its name; rename it`);
      out.push(`${dir}/${name}`);
    }
  }
  return out;
}

module.exports = { gypSources };

if (require.main === module) {
  const sources = gypSources();
  if (sources.length === 0) {
    console.error('gyp-sources: no native/**/*.cc files found under ' + ROOT);
    process.exit(1);
  }
  process.stdout.write(sources.join('\n') + '\n');
}
