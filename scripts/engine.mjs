#!/usr/bin/env node
// `npm run engine`: builds llama.cpp's `llama-server` for the CPU from the source node-llama-cpp ships
// (node_modules/node-llama-cpp/llama/gitRelease.bundle, the same release as its prebuilt addon), once,
// and prints the binary's absolute path as its last line.
//
// Cache: .zeta/engines/<bundle commit>/llama-server. A build goes to a scratch folder beside it and
// is renamed into place only when complete, so an interrupted build never leaves a binary that looks
// done; the scratch folder (source + cmake tree, ~1 GB) is removed afterwards.
// Needs Debian's cmake and build-essential (scripts/setup-workbench.sh installs them in CI). About 8
// minutes on 2 cores. Options: --jobs N (default: the number of CPUs), --nice (build at the lowest CPU
// priority, for building beside other work), --print-only (print the cached path or exit 1).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENGINES = join(ROOT, '.zeta', 'engines');
const CMAKE_FLAGS = [
    '-DCMAKE_BUILD_TYPE=Release',
    '-DGGML_NATIVE=OFF', // a binary that runs on any x86-64 CI machine, not only the one that built it
    '-DLLAMA_CURL=OFF', // nothing is downloaded from a model hub here
    '-DLLAMA_BUILD_TESTS=OFF',
    '-DLLAMA_BUILD_EXAMPLES=OFF',
    '-DLLAMA_BUILD_SERVER=ON',
    '-DBUILD_SHARED_LIBS=OFF', // one self-contained file that can be moved out of the build tree
];

/** The bundle inside the installed node-llama-cpp and the commit it holds. */
export function llamaBundle() {
    const bundle = join(ROOT, 'node_modules', 'node-llama-cpp', 'llama', 'gitRelease.bundle');
    if (!existsSync(bundle)) throw new Error(`no llama.cpp source bundle at ${bundle}: run npm ci first`);
    const heads = execFileSync('git', ['bundle', 'list-heads', bundle], { encoding: 'utf8' });
    const commit = /^([0-9a-f]{40}) HEAD$/m.exec(heads)?.[1] ?? /^([0-9a-f]{40}) /m.exec(heads)?.[1];
    if (!commit) throw new Error(`cannot read the commit of ${bundle}`);
    return { bundle, commit };
}

/** Where the binary for `commit` lives once built. */
export function enginePath(commit) {
    return join(ENGINES, commit.slice(0, 12), 'llama-server');
}

function run(cmd, args, opts) {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
    if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}`);
}

function main(argv) {
    const jobsAt = argv.indexOf('--jobs');
    const jobs = jobsAt >= 0 ? Math.max(1, Number(argv[jobsAt + 1]) || 1) : availableParallelism();
    const nice = argv.includes('--nice');
    const { bundle, commit } = llamaBundle();
    const binary = enginePath(commit);
    if (existsSync(binary)) {
        console.log(binary);
        return;
    }
    if (argv.includes('--print-only')) {
        console.error(`llama-server for ${commit.slice(0, 12)} is not built yet: run npm run engine`);
        process.exit(1);
    }
    for (const tool of ['git', 'cmake', 'c++']) {
        if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0) {
            throw new Error(`${tool} is missing: install Debian's cmake and build-essential (sudo apt-get install -y cmake build-essential)`);
        }
    }
    mkdirSync(ENGINES, { recursive: true });
    const scratch = join(ENGINES, `build-${commit.slice(0, 12)}-${process.pid}`);
    rmSync(scratch, { recursive: true, force: true });
    const started = Date.now();
    try {
        console.log(`engine: cloning llama.cpp ${commit.slice(0, 12)} from ${bundle}`);
        run('git', ['clone', '--quiet', '--no-checkout', bundle, join(scratch, 'src')]);
        run('git', ['-C', join(scratch, 'src'), 'checkout', '--quiet', commit]);
        const cmake = (args) => (nice ? run('nice', ['-n', '19', 'cmake', ...args]) : run('cmake', args));
        console.log(`engine: configuring (${CMAKE_FLAGS.join(' ')})`);
        cmake(['-S', join(scratch, 'src'), '-B', join(scratch, 'build'), ...CMAKE_FLAGS]);
        console.log(`engine: building llama-server with ${jobs} job(s)${nice ? ' at low priority' : ''}`);
        cmake(['--build', join(scratch, 'build'), '--target', 'llama-server', '-j', String(jobs)]);
        const built = join(scratch, 'build', 'bin', 'llama-server');
        if (!existsSync(built)) throw new Error(`the build finished without ${built}`);
        const dir = join(scratch, 'out');
        mkdirSync(dir);
        cpSync(built, join(dir, 'llama-server'));
        writeFileSync(join(dir, 'engine.json'), JSON.stringify({ commit, flags: CMAKE_FLAGS, builtAt: new Date().toISOString() }, null, 2) + '\n');
        mkdirSync(dirname(dirname(binary)), { recursive: true });
        rmSync(dirname(binary), { recursive: true, force: true });
        renameSync(dir, dirname(binary));
    } finally {
        rmSync(scratch, { recursive: true, force: true });
    }
    console.log(`engine: built in ${Math.round((Date.now() - started) / 1000)} s`);
    console.log(binary);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    try {
        main(process.argv.slice(2));
    } catch (e) {
        console.error(`engine: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    }
}
