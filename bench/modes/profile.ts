/**
 * Profile mode (`npm run bench -- --mode profile --out DIR [--save]`): only measures the speed
 * profile of the generated models on this machine (bench/real/measure.ts) and writes it to
 * DIR/profile.json, and with --save to bench/profiles/local-generated.json as well.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureProfile } from '../real/measure';
import { MAX_THREADS, realSetup } from '../real/setup';
import { shippedProfile } from '../sim/speedProfile';
import type { CliArgs } from '../types';

export async function runProfileMode(args: CliArgs): Promise<void> {
    const setup = await realSetup(MAX_THREADS);
    const { profile } = await measureProfile(setup, { log: console.log, reps: 3 });
    mkdirSync(args.out, { recursive: true });
    writeFileSync(join(args.out, 'profile.json'), JSON.stringify(profile, null, 2) + '\n');
    console.log(`wrote ${join(args.out, 'profile.json')}`);
    if (args.save) {
        writeFileSync(shippedProfile('local-generated'), JSON.stringify(profile, null, 2) + '\n');
        console.log('saved as bench/profiles/local-generated.json');
    }
    await setup.provider.dispose();
}
