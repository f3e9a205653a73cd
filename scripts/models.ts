/**
 * Writes the synthetic models: `npm run models -- --out DIR [--preset full|tiny] [--seed N]`.
 *
 * Each file is written under a temporary name and renamed into place, so a reader never sees
 * a partial file and two writers racing on the same directory both leave a complete one.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import {
    DEFAULT_SYNTHETIC_SEED,
    SYNTHETIC_PRESETS,
    SYNTHETIC_ROLES,
    syntheticFileName,
    syntheticModelSpec,
    type SyntheticPreset,
    type SyntheticRole,
} from '../src/core/gguf/synthetic';
import { writeGguf, type GgufWriteSpec } from '../src/core/gguf/writer';

/** Writes one GGUF file atomically (temp name + rename). Resolves with its size in bytes. */
export async function writeGgufFile(file: string, spec: GgufWriteSpec): Promise<number> {
    const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const handle = await open(temp, 'w');
    let layoutBytes: number;
    try {
        const layout = await writeGguf(spec, async (chunk) => {
            let written = 0;
            while (written < chunk.length) {
                const { bytesWritten } = await handle.write(chunk, written, chunk.length - written);
                written += bytesWritten;
            }
        });
        layoutBytes = layout.totalBytes;
        await handle.close();
    } catch (e) {
        await handle.close().catch(() => undefined);
        await rm(temp, { force: true });
        throw e;
    }
    await rename(temp, file);
    return layoutBytes;
}

export interface WrittenModels {
    readonly dir: string;
    readonly files: Readonly<Record<SyntheticRole, string>>;
    readonly bytes: Readonly<Record<SyntheticRole, number>>;
}

/** Writes embedder.gguf, coder.gguf and reasoner.gguf into `dir` (created if needed). */
export async function writeSyntheticModels(dir: string, preset: SyntheticPreset, seed: number): Promise<WrittenModels> {
    await mkdir(dir, { recursive: true });
    const files = {} as Record<SyntheticRole, string>;
    const bytes = {} as Record<SyntheticRole, number>;
    for (const role of SYNTHETIC_ROLES) {
        const file = path.join(dir, syntheticFileName(role));
        bytes[role] = await writeGgufFile(file, syntheticModelSpec(role, { preset, seed }));
        files[role] = file;
    }
    return { dir, files, bytes };
}

interface CliOptions {
    readonly out: string;
    readonly preset: SyntheticPreset;
    readonly seed: number;
}

const USAGE = 'usage: npm run models -- --out DIR [--preset full|tiny] [--seed N]';

function parseArgs(argv: readonly string[]): CliOptions {
    let out: string | undefined;
    let preset: SyntheticPreset = 'full';
    let seed = DEFAULT_SYNTHETIC_SEED;
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i]!;
        const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
        const value = (): string => {
            const v = inline ?? argv[++i];
            if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
            return v;
        };
        switch (flag) {
            case '--out': out = value(); break;
            case '--preset': {
                const p = value();
                if (!(SYNTHETIC_PRESETS as readonly string[]).includes(p)) throw new Error(`unknown preset "${p}"\n${USAGE}`);
                preset = p as SyntheticPreset;
                break;
            }
            case '--seed': {
                const s = value();
                if (!/^\d+$/.test(s) || Number(s) > 0xffffffff) throw new Error(`--seed must be an integer in [0, 4294967295], got "${s}"`);
                seed = Number(s);
                break;
            }
            case '--help': case '-h': throw new Error(USAGE);
            default: throw new Error(`unknown argument "${arg}"\n${USAGE}`);
        }
    }
    if (out === undefined) throw new Error(`--out is required\n${USAGE}`);
    return { out: path.resolve(out), preset, seed };
}

async function main(): Promise<void> {
    let options: CliOptions;
    try {
        options = parseArgs(process.argv.slice(2));
    } catch (e) {
        console.error(e instanceof Error ? e.message : String(e));
        process.exitCode = 2;
        return;
    }
    const started = performance.now();
    const written = await writeSyntheticModels(options.out, options.preset, options.seed);
    for (const role of SYNTHETIC_ROLES) {
        console.log(`${written.files[role]}  ${(written.bytes[role] / 1e6).toFixed(1)} MB`);
    }
    console.log(`preset ${options.preset}, seed ${options.seed}: 3 models in ${Math.round(performance.now() - started)} ms`);
}

if (require.main === module) {
    main().catch((e: unknown) => {
        console.error(e instanceof Error ? e.stack ?? e.message : String(e));
        process.exitCode = 1;
    });
}
