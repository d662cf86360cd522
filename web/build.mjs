// The web app's build (run by build.sh after `npm ci`): bundles src/ with esbuild into hashed
// files, copies bpmn-js's prebuilt viewer, modeler, CSS and icon font into a folder named after its version, records
// every third-party file's version and SHA-256 (and the licenses), writes the page shell with the
// hashed names, and the table of files the binary embeds (files.rs).
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'modeler-api', 'web-dist');
const assets = join(out, 'assets');
const pkg = (name) => JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8'));
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

// bpmn-js's prebuilt distribution, unchanged, in a folder named after its version (so it may be
// cached for good), with its license.
const bpmnJs = pkg('bpmn-js');
const vendor = join(assets, 'vendor', `bpmn-js-${bpmnJs.version}`);
const bpmnDist = join(here, 'node_modules', 'bpmn-js', 'dist');
const vendored = [
  ['bpmn-navigated-viewer.production.min.js', join(bpmnDist, 'bpmn-navigated-viewer.production.min.js')],
  // The modeller's page loads the modeler bundle (palette, editing) and its icon font on demand.
  ['bpmn-modeler.production.min.js', join(bpmnDist, 'bpmn-modeler.production.min.js')],
  ['diagram-js.css', join(bpmnDist, 'assets', 'diagram-js.css')],
  ['bpmn-js.css', join(bpmnDist, 'assets', 'bpmn-js.css')],
  ['bpmn-font/css/bpmn.css', join(bpmnDist, 'assets', 'bpmn-font', 'css', 'bpmn.css')],
  ...['eot', 'svg', 'ttf', 'woff', 'woff2'].map((ext) => [`bpmn-font/font/bpmn.${ext}`, join(bpmnDist, 'assets', 'bpmn-font', 'font', `bpmn.${ext}`)]),
  ['LICENSE', join(here, 'node_modules', 'bpmn-js', 'LICENSE')],
];
for (const [name, from] of vendored) {
  mkdirSync(dirname(join(vendor, name)), { recursive: true });
  cpSync(from, join(vendor, name));
}

// The app's own code and style, bundled with what it imports from npm (bpmn-auto-layout and its
// dependencies), under names carrying their content's hash.
const result = await esbuild.build({
  entryPoints: [join(here, 'src', 'main.js'), join(here, 'src', 'app.css')],
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  entryNames: '[name]-[hash]',
  outdir: assets,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => relative(assets, join(process.cwd(), p)));
const appJs = outputs.find((p) => p.endsWith('.js'));
const appCss = outputs.find((p) => p.endsWith('.css'));

// Every npm package the bundle took code from, with its version, lockfile integrity and license.
const lock = JSON.parse(readFileSync(join(here, 'package-lock.json'), 'utf8'));
const bundled = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) bundled.add(m[1]);
}
const licenses = join(out, 'licenses');
mkdirSync(licenses, { recursive: true });
const lines = [
  '# Third-party files in this folder (written by web/build.sh; do not edit)',
  '#',
  '# Copied unchanged from the npm package, with their SHA-256:',
];
for (const [name] of vendored) {
  lines.push(`bpmn-js ${bpmnJs.version} ${sha256(join(vendor, name))} assets/vendor/bpmn-js-${bpmnJs.version}/${name}`);
}
lines.push('#', `# Bundled into assets/${appJs} by esbuild (package, version, npm integrity, license file):`);
for (const name of [...bundled].sort()) {
  const entry = lock.packages[`node_modules/${name}`];
  const dir = join(here, 'node_modules', name);
  const licenseFile = readdirSync(dir).find((f) => /^licen[sc]e/i.test(f));
  const target = `${name.replace('/', '__')}-${entry.version}-LICENSE.txt`;
  if (licenseFile) {
    cpSync(join(dir, licenseFile), join(licenses, target));
  } else {
    // A package that ships no license file (bpmn-auto-layout): its declared license, and the
    // MIT terms it names, which ask that the notice go with the code.
    const meta = pkg(name);
    if (meta.license !== 'MIT') throw new Error(`${name} ships no license file and is not MIT: check it before bundling`);
    const author = typeof meta.author === 'string' ? meta.author : (meta.author && meta.author.name) || name;
    writeFileSync(join(licenses, target), mitNotice(name, entry.version, author));
  }
  lines.push(`${name} ${entry.version} ${entry.integrity} licenses/${target}`);
}
function mitNotice(name, version, author) {
  return `${name} ${version}: MIT license, as its package.json declares (the package ships no license file).

Copyright (c) ${author}

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`;
}
writeFileSync(join(out, 'THIRD-PARTY.txt'), lines.join('\n') + '\n');

// The page shell every page route answers with: the app reads the path and draws the page.
const vendorUrl = `/assets/vendor/bpmn-js-${bpmnJs.version}`;
const shell = readFileSync(join(here, 'src', 'index.html'), 'utf8')
  .replaceAll('%VENDOR%', vendorUrl)
  .replaceAll('%APP_JS%', `/assets/${appJs}`)
  .replaceAll('%APP_CSS%', `/assets/${appCss}`);
writeFileSync(join(out, 'index.html'), shell);

// The table the binary embeds: (path under web-dist, bytes, may be cached for good).
const files = [];
const walk = (dir) => {
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p);
    else files.push(relative(out, p));
  }
};
walk(out);
const hashed = new Set([appJs, appCss].map((p) => `assets/${p}`));
const rows = files.map((f) => {
  const immutable = hashed.has(f) || (f.startsWith('assets/vendor/') && !f.endsWith('LICENSE'));
  return `    ("${f}", include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web-dist/${f}")), ${immutable}),`;
});
writeFileSync(
  join(out, 'files.rs'),
  [
    '// Written by web/build.sh: every file of web-dist the binary serves, as',
    '// (path under web-dist, bytes, may be cached for good: its name carries a hash or a version).',
    '#[rustfmt::skip]',
    'pub const FILES: &[(&str, &[u8], bool)] = &[',
    ...rows,
    '];',
    '',
  ].join('\n'),
);
console.log(`web-dist: ${files.length} files, app ${appJs}, ${appCss}`);
