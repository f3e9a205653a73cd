/** Writes a report into a folder: report.json, report.md and the two SVG charts (time to suggestion). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_POLICIES } from '../policies';
import { reportMarkdown } from './markdown';
import type { Report } from './report';
import { barChart, cdfChart } from './svg';

export interface ChartInputs {
    /** Time to suggestion over the completions the user waited for, ascending, per policy (and "isolated"). */
    readonly suggestion: ReadonlyArray<{ readonly name: string; readonly values: readonly number[] }>;
}

/** Writes report.json, report.md and the SVG charts into `dir`. */
export function writeReport(dir: string, report: Report, charts: ChartInputs, notes: readonly string[]): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    const cdf = cdfChart(`Time to suggestion, completions waited for (${report.mode}, ${report.trace})`, charts.suggestion, { xLabel: 'ms from keystroke to suggestion' });
    writeFileSync(join(dir, 'time-to-suggestion-cdf.svg'), cdf);
    const q = (w: { p50: number; p95: number; p99: number }): number[] => [w.p50, w.p95, w.p99];
    const bars = barChart('Time to suggestion (waited for): p50 / p95 / p99', ['p50', 'p95', 'p99'], [
        ...BENCH_POLICIES.map((p) => ({ name: p, values: q(report.policies[p].suggestion.waitedFor) })),
        { name: 'isolated', values: q(report.isolated.suggestion.waitedFor) },
    ]);
    writeFileSync(join(dir, 'time-to-suggestion-bars.svg'), bars);
    writeFileSync(join(dir, 'report.md'), reportMarkdown(report, notes));
}
