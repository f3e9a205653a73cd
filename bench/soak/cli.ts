/**
 * The soak's command line (issue 20 §5; not part of CI):
 *
 *   npm run soak -- --minutes 20 --out DIR [--seed N]
 *
 * A simulated editing session on the generated full models through the real completion pipeline
 * and router (bench/soak/soak.ts), then DIR/soak.json. Exits 1, saying why, when an invariant fails:
 * a request that never settled, a sequence or context leaked, an unhandled rejection, the RSS slope
 * after warm-up at or above 20 MB/hour. Ctrl-C stops the session early and still drains, measures
 * and writes the report; a second Ctrl-C (2 s or more after the first) exits at once.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../src/core/errors';
import { parseSoakArgs } from './args';
import { runSoak } from './soak';

async function main(): Promise<number> {
    const args = parseSoakArgs(process.argv.slice(2));
    let unhandled = 0;
    process.on('unhandledRejection', (reason) => {
        unhandled++;
        if (unhandled <= 5) console.error(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
    });
    const stop = new AbortController();
    // One Ctrl-C can arrive more than once: the terminal signals the whole process group, and the
    // wrappers (npm, tsx) relay it to this process too. A repeat within REPEAT_MS is the same one.
    const REPEAT_MS = 2_000;
    let firstAt: number | undefined;
    process.on('SIGINT', () => {
        const now = performance.now();
        if (firstAt !== undefined && now - firstAt > REPEAT_MS) process.exit(130);
        if (firstAt !== undefined) return;
        firstAt = now;
        console.log('\nCtrl-C: stopping the session, draining and writing the report (Ctrl-C again to exit now)');
        stop.abort();
    });
    const report = await runSoak({ minutes: args.minutes, seed: args.seed, stop: stop.signal, unhandledRejections: () => unhandled, log: (l) => console.log(l) });
    mkdirSync(args.out, { recursive: true });
    const file = join(args.out, 'soak.json');
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    console.log(
        `soak: ${report.minutes} min, ${report.requests} requests, ${report.settled} settled; rss ${report.rssMB[0] ?? '?'} -> ${report.rssMB[report.rssMB.length - 1] ?? '?'} MB, ` +
            `slope after warm-up ${report.rssSlopeMBPerHour ?? 'n/a'} MB/h; leaked sequences ${report.leakedSequences}, contexts ${report.leakedContexts}; unhandled rejections ${report.unhandledRejections}`,
    );
    console.log(`wrote ${file}`);
    if (report.failures.length === 0) {
        console.log('soak: every invariant held');
        return 0;
    }
    for (const f of report.failures) console.log(`soak FAILED: ${f}`);
    return 1;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (e: unknown) => {
            console.error(`soak: ${e instanceof Error ? (e.stack ?? errorMessage(e)) : String(e)}`);
            process.exit(2);
        },
    );
}
