#!/usr/bin/env node
// Packages Zeta as one .vsix per platform target, each carrying only that platform's prebuilt
// node-llama-cpp binaries (the @node-llama-cpp/<platform> package; GPU variants with --gpu).
//
//   npm run package                               every target, into out/vsix/
//   npm run package -- --target linux-x64         one target (comma-separated for several)
//   npm run package -- --target linux-x64 --gpu   also the CUDA/Vulkan binaries (several hundred MB)
//   options: --out DIR, --no-build, --quiet
//
// How: dist/ is bundled by esbuild (the web-tree-sitter runtime inside it, its WASM files in
// dist/tree-sitter/: the same for every target, checked here before packaging); the packages it
// loads at run time (node-llama-cpp, external to the bundle) are found by scanning
// dist/extension.js for bare require()/import() specifiers, and their dependency closure is copied
// from node_modules into a staging folder per target, together with the target's binary package:
// from node_modules when installed here, else fetched with `npm pack` from the registry (cached in
// .zeta/cache/npm-pack). vsce (3.9.2, offline) then packages the staging folder with the
// repository's .vscodeignore allowlist plus `!node_modules/**`.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { E2E_ONLY_MARKER, extensionBuildOptions, GRAMMAR_DIR, grammarFiles } from './build.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** VS Code target -> node-llama-cpp binary packages: [always, with --gpu]. */
export const TARGETS = {
    'linux-x64': [['linux-x64'], ['linux-x64-vulkan', 'linux-x64-cuda', 'linux-x64-cuda-ext']],
    'linux-arm64': [['linux-arm64'], []],
    'linux-armhf': [['linux-armv7l'], []],
    'darwin-arm64': [['mac-arm64-metal'], []],
    'darwin-x64': [['mac-x64'], []],
    'win32-x64': [['win-x64'], ['win-x64-vulkan', 'win-x64-cuda', 'win-x64-cuda-ext']],
    'win32-arm64': [['win-arm64'], []],
};

/** Files of runtime packages that are never needed in the extension (build-from-source inputs, docs). */
const PRUNE = [
    'node-llama-cpp/llama/gitRelease.bundle', // llama.cpp sources for `source build`; Zeta uses build: "never"
];

function parseArgs(argv) {
    const opts = { targets: Object.keys(TARGETS), out: join(ROOT, 'out/vsix'), build: true, gpu: false, quiet: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--target') opts.targets = argv[++i].split(',').map((s) => s.trim()).filter(Boolean);
        else if (a.startsWith('--target=')) opts.targets = a.slice(9).split(',');
        else if (a === '--out') opts.out = resolve(argv[++i]);
        else if (a === '--no-build') opts.build = false;
        else if (a === '--gpu') opts.gpu = true;
        else if (a === '--quiet') opts.quiet = true;
        else throw new Error(`unknown option ${a}`);
    }
    for (const t of opts.targets) if (!TARGETS[t]) throw new Error(`unknown target ${t}; known: ${Object.keys(TARGETS).join(', ')}`);
    return opts;
}

const readJson = (f) => JSON.parse(readFileSync(f, 'utf8'));
const packageName = (spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);

/** Bare module specifiers that the bundle loads at run time (everything esbuild left external). */
export function externalPackages(bundleFile) {
    const code = readFileSync(bundleFile, 'utf8');
    const builtins = new Set(builtinModules);
    const found = new Set();
    for (const m of code.matchAll(/\b(?:require|import)\(\s*["']([^"'./][^"']*)["']\s*\)/g)) {
        const spec = m[1];
        if (spec.startsWith('node:') || builtins.has(spec) || builtins.has(spec.split('/')[0]) || spec === 'vscode') continue;
        found.add(packageName(spec));
    }
    return [...found].sort();
}

/** Node's lookup: the nearest node_modules/<name> at or above `fromDir`, within ROOT. */
function findPackageDir(name, fromDir) {
    for (let dir = fromDir; ; dir = dirname(dir)) {
        const candidate = join(dir, 'node_modules', name);
        if (existsSync(join(candidate, 'package.json'))) return candidate;
        if (dir === ROOT || dir === dirname(dir)) return undefined;
    }
}

/**
 * The runtime closure of `roots`: package directories (relative to ROOT) reachable through
 * dependencies and optionalDependencies. Platform-specific optional packages (those whose manifest
 * names `os`/`cpu`, like @reflink/reflink-linux-x64-gnu) are not in `dirs`: they are collected in
 * `platformOptional` (as { name, version, parentDir }) and chosen per target; @node-llama-cpp/*
 * binaries are chosen per target from TARGETS.
 */
export function runtimeClosure(roots) {
    const dirs = new Map(); // relative dir -> package.json
    const platformOptional = new Map(); // "name@version" -> { name, version, parentRel }
    const visit = (name, fromDir, requiredBy) => {
        const dir = findPackageDir(name, fromDir);
        if (!dir) {
            if (requiredBy === null) throw new Error(`${name} is loaded by dist/extension.js but is not installed: run npm ci`);
            return;
        }
        const rel = relative(ROOT, dir);
        if (dirs.has(rel)) return;
        const pkg = readJson(join(dir, 'package.json'));
        dirs.set(rel, pkg);
        for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, dir, name);
        for (const [dep, range] of Object.entries(pkg.optionalDependencies ?? {})) {
            if (dep.startsWith('@node-llama-cpp/')) continue;
            const installed = findPackageDir(dep, dir);
            const meta = installed ? readJson(join(installed, 'package.json')) : undefined;
            if (meta && !meta.os && !meta.cpu) visit(dep, dir, name);
            else platformOptional.set(`${dep}@${meta?.version ?? range}`, { name: dep, version: meta?.version ?? range, parentRel: rel });
        }
    };
    for (const r of roots) visit(r, ROOT, null);
    return Object.assign(dirs, { platformOptional });
}

/** VS Code target -> npm's os / cpu / libc names. */
function targetPlatform(target) {
    const [os, arch] = target.split('-');
    return { os, cpu: arch === 'armhf' ? 'arm' : arch, libc: os === 'linux' ? 'glibc' : undefined };
}

/** npm's os/cpu semantics: empty allows all; "!x" excludes x; otherwise the value must be listed. */
function matches(list, value) {
    if (!list || list.length === 0) return true;
    if (list.includes(`!${value}`)) return false;
    const allowed = list.filter((x) => !x.startsWith('!'));
    return allowed.length === 0 || allowed.includes(value);
}

/** os/cpu/libc of name@version: from node_modules when installed, else `npm view` (cached). */
function platformMeta(name, version) {
    const local = join(ROOT, 'node_modules', name, 'package.json');
    if (existsSync(local)) {
        const pkg = readJson(local);
        if (pkg.version === version) return { os: pkg.os, cpu: pkg.cpu, libc: pkg.libc };
    }
    const cacheFile = join(ROOT, '.zeta/cache/npm-platform-meta.json');
    const cache = existsSync(cacheFile) ? readJson(cacheFile) : {};
    const key = `${name}@${version}`;
    if (!cache[key]) {
        const json = execFileSync('npm', ['view', key, 'os', 'cpu', 'libc', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
        const v = json.trim() ? JSON.parse(json) : {};
        cache[key] = { os: v.os, cpu: v.cpu, libc: v.libc };
        mkdirSync(dirname(cacheFile), { recursive: true });
        writeFileSync(cacheFile, JSON.stringify(cache, null, 2));
    }
    return cache[key];
}

/** The platform-specific optional packages of the closure that belong to `target`. */
function platformPackagesFor(target, closure) {
    const want = targetPlatform(target);
    const chosen = [];
    for (const { name, version, parentRel } of closure.platformOptional.values()) {
        const meta = platformMeta(name, version);
        const libc = [].concat(meta.libc ?? []);
        if (matches([].concat(meta.os ?? []), want.os) && matches([].concat(meta.cpu ?? []), want.cpu) && (!want.libc || libc.length === 0 || libc.includes(want.libc))) {
            chosen.push({ name, version, parentRel });
        }
    }
    return chosen;
}

/** Type declarations, TypeScript sources and source maps: never loaded at run time. */
const DEV_ONLY_FILE = /\.(d\.[cm]?ts|[cm]?ts|map)$/;

/**
 * Copies a package directory without its nested node_modules (those are copied as packages of
 * their own) and without dev-only files (about half the files of node-llama-cpp).
 */
function copyPackage(src, dest) {
    cpSync(src, dest, {
        recursive: true,
        dereference: true,
        filter: (s) => {
            const rel = relative(src, s);
            return !rel.split('/').includes('node_modules') && !DEV_ONLY_FILE.test(rel);
        },
    });
}

/** Puts package `name`@version into destDir: from node_modules, else from the registry (npm pack). */
function providePackage(name, version, destDir, log) {
    const local = join(ROOT, 'node_modules', name);
    if (existsSync(join(local, 'package.json')) && readJson(join(local, 'package.json')).version === version) {
        copyPackage(local, destDir);
        return 'node_modules';
    }
    const cache = join(ROOT, '.zeta/cache/npm-pack');
    mkdirSync(cache, { recursive: true });
    const tgz = join(cache, `${name.replace('@', '').replace('/', '-')}-${version}.tgz`);
    if (!existsSync(tgz)) {
        log(`  fetching ${name}@${version} (npm pack)`);
        const outName = execFileSync('npm', ['pack', `${name}@${version}`, '--pack-destination', cache, '--silent'], {
            encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
        }).trim().split('\n').pop();
        const fetched = join(cache, outName);
        if (fetched !== tgz) cpSync(fetched, tgz), rmSync(fetched);
    }
    mkdirSync(destDir, { recursive: true });
    execFileSync('tar', ['-xzf', tgz, '-C', destDir, '--strip-components=1']);
    return 'registry';
}

function dirSize(dir) {
    let total = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        total += e.isDirectory() ? dirSize(p) : statSync(p).size;
    }
    return total;
}

const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/**
 * Stages and packages one target. Returns { target, vsix, bytes, unpackedBytes }.
 * `closure` comes from runtimeClosure(externalPackages(dist/extension.js)).
 */
export function packageTarget(target, { closure, out, gpu = false, e2e = false, log = console.log }) {
    const manifest = readJson(join(ROOT, 'package.json'));
    // A staging folder of its own: packaging runs (npm start, the e2e runner, npm run package) may overlap.
    mkdirSync(join(ROOT, 'out/package'), { recursive: true });
    const stage = mkdtempSync(join(ROOT, 'out/package', `${target}-`));

    for (const f of ['dist', 'media', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
        if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(stage, f), { recursive: true });
    }
    // The e2e test hook (fixture answers, src/vscode/e2eFixtureAnswer.ts) ships in no .vsix but
    // the e2e runner's: that one's extension bundle is built again here, into the staging folder,
    // with the hook compiled in; dist/ itself is never built with it, and is refused if it has it.
    const bundle = join(stage, 'dist/extension.js');
    if (e2e) {
        buildSync({ ...extensionBuildOptions({ e2e: true, outfile: bundle }), logLevel: 'warning' });
        if (!readFileSync(bundle, 'utf8').includes(E2E_ONLY_MARKER)) throw new Error('the e2e build of the extension lacks its test hook');
    } else if (existsSync(bundle) && readFileSync(bundle, 'utf8').includes(E2E_ONLY_MARKER)) {
        rmSync(stage, { recursive: true, force: true });
        throw new Error(`dist/extension.js contains the e2e test hook ("${E2E_ONLY_MARKER}"): run npm run build`);
    }
    // Workspace search's WASM files (the same on every platform) ship in dist/: check they are there.
    const missing = grammarFiles().filter((f) => !existsSync(join(stage, GRAMMAR_DIR, f)));
    if (missing.length > 0) {
        rmSync(stage, { recursive: true, force: true });
        throw new Error(`${GRAMMAR_DIR}/ lacks ${missing.join(', ')}: run npm run build`);
    }
    for (const rel of closure.keys()) copyPackage(join(ROOT, rel), join(stage, rel));
    for (const p of PRUNE) rmSync(join(stage, 'node_modules', p), { recursive: true, force: true });

    const llamaVersion = readJson(join(ROOT, 'node_modules/node-llama-cpp/package.json')).version;
    const [base, gpuExtra] = TARGETS[target];
    const binaries = [...base, ...(gpu ? gpuExtra : [])];
    for (const b of binaries) {
        const from = providePackage(`@node-llama-cpp/${b}`, llamaVersion, join(stage, 'node_modules/@node-llama-cpp', b), log);
        log(`  @node-llama-cpp/${b} from ${from}`);
    }
    for (const { name, version, parentRel } of platformPackagesFor(target, closure)) {
        // Beside its parent's own node_modules level, where Node's lookup from the parent finds it.
        const level = parentRel.slice(0, parentRel.lastIndexOf('node_modules') + 'node_modules'.length);
        const from = providePackage(name, version, join(stage, level, name), log);
        log(`  ${name} from ${from}`);
    }

    // The staged manifest: what the extension declares at run time, nothing to build or prepublish.
    const topLevel = [...closure.keys()].filter((rel) => rel.split('node_modules').length === 2);
    const staged = { ...manifest, dependencies: {} };
    delete staged.devDependencies;
    delete staged.scripts;
    for (const rel of topLevel) {
        const pkg = closure.get(rel);
        if (rel === join('node_modules', pkg.name) && manifest.dependencies?.[pkg.name]) staged.dependencies[pkg.name] = pkg.version;
    }
    writeFileSync(join(stage, 'package.json'), JSON.stringify(staged, null, 2) + '\n');
    // The repository's allowlist, plus the staged node_modules (which holds only the runtime closure
    // and this target's binaries, so all of it ships).
    const ignore = existsSync(join(ROOT, '.vscodeignore')) ? readFileSync(join(ROOT, '.vscodeignore'), 'utf8') : '**\n!dist/**\n!package.json\n';
    writeFileSync(join(stage, '.vscodeignore'), `${ignore.trimEnd()}\n!node_modules/**\n`);

    mkdirSync(out, { recursive: true });
    const vsix = join(out, `${manifest.name}-${target}-${manifest.version}.vsix`);
    // Written under a name of its own and renamed into place: a reader never sees half a .vsix.
    const partial = `${vsix}.${process.pid}.partial.vsix`;
    const vsce = join(ROOT, 'node_modules/@vscode/vsce/vsce');
    const r = spawnSync(process.execPath, [vsce, 'package', '--target', target, '--out', partial, '--allow-missing-repository',
        '--skip-license', '--no-update-package-json', '--no-git-tag-version'], {
        cwd: stage, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    if (r.status !== 0 || !existsSync(partial)) {
        rmSync(stage, { recursive: true, force: true });
        rmSync(partial, { force: true });
        throw new Error(`vsce package --target ${target} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    }
    renameSync(partial, vsix);
    const unpackedBytes = dirSize(stage);
    rmSync(stage, { recursive: true, force: true });
    return { target, vsix, bytes: statSync(vsix).size, unpackedBytes, binaries };
}

/** VS Code's target name for this machine (linux-x64, darwin-arm64, ...). */
export function hostTarget() {
    return `${platform()}-${arch() === 'arm' ? 'armhf' : arch()}`;
}

/** Hash of everything that goes into a .vsix, so that an unchanged build is not packaged again. */
function packageInputsHash(e2e) {
    const h = createHash('sha256').update(e2e ? 'e2e\0' : 'release\0');
    const walk = (dir) => {
        for (const e of readdirSync(dir, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
            const p = join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else h.update(`${relative(ROOT, p)}\0`).update(readFileSync(p));
        }
    };
    // The e2e bundle is built from src/ (packageTarget), the others are dist/ as it is.
    for (const d of e2e ? ['dist', 'media', 'src'] : ['dist', 'media']) if (existsSync(join(ROOT, d))) walk(join(ROOT, d));
    for (const f of ['package.json', '.vscodeignore', 'package-lock.json', 'README.md', 'LICENSE', 'scripts/package.mjs']) {
        if (existsSync(join(ROOT, f))) h.update(`${f}\0`).update(readFileSync(join(ROOT, f)));
    }
    return h.digest('hex');
}

/**
 * The .vsix for this machine's target in `out`, packaged again only when dist/, media/, the manifest
 * or the lockfile changed since the last call with the same `out` (used by npm start and the e2e runner).
 * `e2e: true` (the e2e runner only) compiles the e2e test hook into the packaged bundle (see packageTarget).
 */
export function packageForHost(out, log = console.log, { e2e = false } = {}) {
    const target = hostTarget();
    if (!TARGETS[target]) throw new Error(`no node-llama-cpp binaries are known for ${target}`);
    const manifest = readJson(join(ROOT, 'package.json'));
    const vsix = join(out, `${manifest.name}-${target}-${manifest.version}.vsix`);
    const stampFile = `${vsix}.inputs`;
    const hash = packageInputsHash(e2e);
    if (existsSync(vsix) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === hash) {
        log(`${relative(ROOT, vsix)} is current (inputs unchanged)`);
        return { vsix, bytes: statSync(vsix).size, reused: true };
    }
    const bundle = join(ROOT, 'dist/extension.js');
    if (!existsSync(bundle)) throw new Error('dist/extension.js is missing: run npm run build');
    const t = Date.now();
    const r = packageTarget(target, { closure: runtimeClosure(externalPackages(bundle)), out, e2e, log });
    writeFileSync(stampFile, hash);
    log(`packaged ${relative(ROOT, r.vsix)} (${mb(r.bytes)}) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    return { vsix: r.vsix, bytes: r.bytes, reused: false };
}

function main() {
    const opts = parseArgs(process.argv.slice(2));
    const log = opts.quiet ? () => undefined : console.log;
    const t0 = Date.now();
    if (opts.build) {
        const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: opts.quiet ? 'ignore' : 'inherit' });
        if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal})`);
    }
    const bundle = join(ROOT, 'dist/extension.js');
    if (!existsSync(bundle)) throw new Error('dist/extension.js is missing: run npm run build');
    const externals = externalPackages(bundle);
    const closure = runtimeClosure(externals);
    log(`runtime packages loaded by the bundle: ${externals.join(', ') || '(none)'}; ${closure.size} packages in their closure`);
    const results = [];
    for (const target of opts.targets) {
        const t = Date.now();
        log(`${target}:`);
        const r = packageTarget(target, { closure, out: opts.out, gpu: opts.gpu, log });
        results.push(r);
        log(`  ${relative(process.cwd(), r.vsix)}  ${mb(r.bytes)} (unpacked ${mb(r.unpackedBytes)}) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    log(`\n${results.length} vsix in ${((Date.now() - t0) / 1000).toFixed(1)} s:`);
    for (const r of results) log(`  ${r.target.padEnd(13)} ${mb(r.bytes).padStart(9)}  ${relative(process.cwd(), r.vsix)}`);
    return results;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    try {
        main();
    } catch (err) {
        console.error(err instanceof Error ? err.message : err);
        process.exit(1);
    }
}
