/**
 * The generated models' cache, for the tests, the benchmark and `npm start`'s demo.
 *
 * `ensureModels(preset)` generates embedder/coder/reasoner.gguf (scripts/models.ts) into
 * `.zeta/models/<preset>/` (gitignored) only when they are missing or were written by another
 * generator version or seed. Safe across concurrent mocha processes: each file and the stamp are
 * written under temporary names and renamed into place, and racing writers produce identical bytes.
 * The .mjs scripts call it through tsx: `require('./scripts/generatedModels').ensureModels(...)`.
 */

import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
    DEFAULT_SYNTHETIC_SEED,
    SYNTHETIC_GENERATOR_VERSION,
    SYNTHETIC_ROLES,
    syntheticFileName,
    type SyntheticPreset,
    type SyntheticRole,
} from '../src/core/gguf/synthetic';
import { writeSyntheticModels } from './models';

export const REPO_ROOT = path.resolve(__dirname, '..');

export interface SyntheticModels {
    readonly dir: string;
    readonly preset: SyntheticPreset;
    readonly seed: number;
    /** Absolute paths. */
    readonly embedder: string;
    readonly coder: string;
    readonly reasoner: string;
}

interface Stamp {
    readonly generatorVersion: number;
    readonly preset: SyntheticPreset;
    readonly seed: number;
    readonly bytes: Readonly<Record<SyntheticRole, number>>;
}

const STAMP_FILE = 'stamp.json';

async function fileSize(file: string): Promise<number | undefined> {
    try {
        const s = await stat(file);
        return s.isFile() ? s.size : undefined;
    } catch {
        return undefined;
    }
}

async function isFresh(dir: string, preset: SyntheticPreset, seed: number): Promise<boolean> {
    let stamp: Stamp;
    try {
        stamp = JSON.parse(await readFile(path.join(dir, STAMP_FILE), 'utf8')) as Stamp;
    } catch {
        return false;
    }
    if (stamp.generatorVersion !== SYNTHETIC_GENERATOR_VERSION || stamp.preset !== preset || stamp.seed !== seed) return false;
    for (const role of SYNTHETIC_ROLES) {
        if ((await fileSize(path.join(dir, syntheticFileName(role)))) !== stamp.bytes?.[role]) return false;
    }
    return true;
}

/** Writes `file` under a temporary name and renames it into place: a reader never sees part of it. */
export async function writeAtomically(file: string, content: string | Uint8Array): Promise<void> {
    const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(temp, content);
    await rename(temp, file);
}

/** One generation per (directory, preset, seed) per process. */
const pending = new Map<string, Promise<SyntheticModels>>();

export interface EnsureModelsOptions {
    readonly seed?: number;
    /** Parent of the per-preset folders; default `<repo>/.zeta/models`. */
    readonly root?: string;
}

/** Generates the preset's three models if missing or stale; resolves with their paths. */
export function ensureModels(preset: SyntheticPreset, options: EnsureModelsOptions = {}): Promise<SyntheticModels> {
    const seed = options.seed ?? DEFAULT_SYNTHETIC_SEED;
    const root = options.root ?? path.join(REPO_ROOT, '.zeta', 'models');
    const dir = seed === DEFAULT_SYNTHETIC_SEED ? path.join(root, preset) : path.join(root, `${preset}-seed${seed}`);
    const key = `${dir}\0${seed}`;
    let p = pending.get(key);
    if (p === undefined) {
        p = generateIfStale(dir, preset, seed);
        pending.set(key, p);
        p.catch(() => pending.delete(key));
    }
    return p;
}

async function generateIfStale(dir: string, preset: SyntheticPreset, seed: number): Promise<SyntheticModels> {
    if (!(await isFresh(dir, preset, seed))) {
        const written = await writeSyntheticModels(dir, preset, seed);
        const stamp: Stamp = { generatorVersion: SYNTHETIC_GENERATOR_VERSION, preset, seed, bytes: written.bytes };
        await writeAtomically(path.join(dir, STAMP_FILE), `${JSON.stringify(stamp, null, 2)}\n`);
    }
    return {
        dir,
        preset,
        seed,
        embedder: path.join(dir, syntheticFileName('embedder')),
        coder: path.join(dir, syntheticFileName('coder')),
        reasoner: path.join(dir, syntheticFileName('reasoner')),
    };
}
