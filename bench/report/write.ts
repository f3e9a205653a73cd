/** Writes a report into a folder: report.json, report.md and the two SVG charts. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { POLICY_NAMES } from '../../src/core/tasks';
import { reportMarkdown } from './markdown';
import type { Report } from './report';
import { barChart, cdfChart } from './svg';

export interface ChartInputs {
    /** Served completions' first-token latencies, ascending, per policy (and "isolated"). */
    readonly firstToken: ReadonlyArray<{ readonly name: string; readonly values: readonly number[] }>;
}

/** Writes report.json, report.md and the SVG charts into `dir`. */
export function writeReport(dir: string, report: Report, charts: ChartInputs, notes: readonly string[]): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    const cdf = cdfChart(`Completion time to first token (${report.mode}, ${report.trace})`, charts.firstToken, { xLabel: 'ms from keystroke to first token' });
    writeFileSync(join(dir, 'completion-first-token-cdf.svg'), cdf);
    const bars = barChart(
        'Completion first token: p50 / p95 / p99',
        ['p50', 'p95', 'p99'],
        [
            ...POLICY_NAMES.map((p) => {
                const q = report.policies[p].completion.firstTokenMs;
                return { name: p, values: [q.p50, q.p95, q.p99] };
            }),
            { name: 'isolated', values: [report.isolated.completion.firstTokenMs.p50, report.isolated.completion.firstTokenMs.p95, report.isolated.completion.firstTokenMs.p99] },
        ],
    );
    writeFileSync(join(dir, 'completion-first-token-bars.svg'), bars);
    writeFileSync(join(dir, 'report.md'), reportMarkdown(report, notes));
}
