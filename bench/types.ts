/**
 * The vocabulary the benchmark's parts share: the parsed command line the modes run from, and the
 * router levers the ablation switches off one at a time.
 */
import { defaultLevers } from '../src/core/router';
import type { Levers } from '../src/core/tasks';

/** `npm run bench -- ...` parsed (bench/cli.ts `parseArgs`). */
export interface CliArgs {
    readonly mode: 'sim' | 'real' | 'profile';
    readonly trace: string | undefined;
    readonly seed: number;
    readonly out: string;
    readonly profile: string | undefined;
    readonly ablation: boolean;
    readonly isolated: boolean;
    readonly save: boolean;
    readonly quick: boolean;
    /** With a value: add focus events this many ms before each switch's first keystroke (`withFocus`). */
    readonly readAheadMs: number | undefined;
    /** sim: seeds to sweep the targets over (`--seeds`). */
    readonly seeds: readonly number[] | undefined;
    /** `--scenario team`: the shared team server (bench/modes/team.ts) instead of the policy suite. */
    readonly scenario?: 'team';
    /** `--local coder|tiny` (team, real): the local model's file. */
    readonly local?: 'coder' | 'tiny';
    /** `--rounds N` (team): rounds to run. */
    readonly rounds?: number;
}

export type LeverName = keyof Levers;

/** Every lever of the router, in the order of its defaults: the ablation's runs and rows. */
export const LEVER_NAMES: readonly LeverName[] = Object.keys(defaultLevers) as LeverName[];
