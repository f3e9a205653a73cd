/** The soak's arguments: `--minutes N --out DIR [--seed N]` (bench/soak/cli.ts). */

export interface SoakArgs {
    readonly minutes: number;
    readonly out: string;
    readonly seed: number;
}

export function parseSoakArgs(argv: readonly string[]): SoakArgs {
    let minutes = 20;
    let out: string | undefined;
    let seed = 1;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = (): string => {
            const v = argv[++i];
            if (v === undefined) throw new Error(`${a} needs a value`);
            return v;
        };
        if (a === '--minutes') minutes = Number(value());
        else if (a === '--out') out = value();
        else if (a === '--seed') seed = Number(value());
        else throw new Error(`unknown argument ${a}`);
    }
    if (!Number.isFinite(minutes) || minutes <= 0) throw new Error(`--minutes must be a positive number (got ${minutes})`);
    if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer (got ${seed})`);
    if (out === undefined) throw new Error('--out DIR is required');
    return { minutes, out, seed };
}
