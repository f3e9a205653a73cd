/**
 * The team scenario (issue 21 §4): the coder on a shared server that teammates keep busy, a
 * smaller local model in process, both of the coder role with the server listed first (the
 * preferred model), and two policies: `zeta`, and `static` (always the server, as editors do
 * today). Time to suggestion per policy, with the server saturated by a load generator standing in
 * for teammates and with the server idle.
 *
 *   npm run bench -- --mode real --scenario team --out DIR   llama-server on loopback, node-llama-cpp
 *   npm run bench -- --mode sim  --scenario team --out DIR   the same on virtual time
 *
 * Rounds as real mode runs them (bench/real/rounds.ts): the typing trace's completions cut at pauses
 * into segments; round r runs segment r four times, saturated and idle x zeta and static, in an
 * order that reverses every other round (saturated/zeta, saturated/static, idle/zeta, idle/static,
 * then the reverse), with the same seeded load schedule for both policies of the round. Ratios are
 * taken within a round and summarised over rounds (bench/report/team.ts `teamSummary`).
 *
 * Real: `startLlamaServer` (scripts/llamaServer.ts: 1 thread, loopback, `--metrics`) with the
 * generated full coder and 2 slots; Zeta reaches it through `LlamaServerBackend`; the local model is
 * the llama.cpp backend (in process, 1 thread) on the local file (`--local`, default the full coder:
 * the same model slower on this machine's in-process runtime, as a laptop beside a team box; the tiny
 * coder is ~20x faster than anything the server serves, so every policy but static would use it and
 * the idle comparison would measure the tiny model, not the routing). The server is stopped on every
 * exit path, Ctrl-C included. Sim: `SimEngine` (bench/sim/teamServer.ts) on a device of its own with
 * an RTT, the local model on the editor machine's `SimDevice`.
 *
 * ZETA_TEAM_VERBOSE=1 prints the routers' log (model loads, cooldowns and their reasons).
 *
 * Units: ms, tokens.
 */
import { relative } from 'node:path';
import { ensureModels } from '../../scripts/generatedModels';
import { startLlamaServer, type LlamaServer } from '../../scripts/llamaServer';
import type { ModelBackend, ModelSpec } from '../../src/core/backend';
import { VirtualClock, type Clock } from '../../src/core/clock';
import { EvalTurns } from '../../src/core/evalTurns';
import { createRouter, defaultRoutingSettings } from '../../src/core/router';
import type { RoutingSettings, TextStore } from '../../src/core/tasks';
import { LlamaServerBackend } from '../../src/backends/remote/llamaServer';
import { hashString } from '../lib/rng';
import { completionHandling } from '../policies';
import { FullLength, machineLoad, realSetup } from '../real/setup';
import { roundRun, segmentTrace, type Segment } from '../real/rounds';
import { replay, virtualEnv, wallEnv, type ReplayEnv } from '../replay/harness';
import { TaskBuilder, calibrate, countWords } from '../replay/text';
import { UsageLedger } from '../replay/usage';
import { SimBackend } from '../sim/simBackend';
import { SimDevice } from '../sim/device';
import { objectiveFn } from '../sim/run';
import { loadProfile, shippedProfile, type SpeedProfile } from '../sim/speedProfile';
import { settingsFor } from '../sim/suite';
import { HttpLoadGenerator, promptTokens, waitIdle } from '../real/teamLoad';
import { TEAM_POLICIES, roundRow, teamSummary, teamTargets, writeTeamReport, type LoadCounts, type TeamPolicy, type TeamReport, type TeamRound, type TeamRun } from '../report/team';
import { DEFAULT_BURSTS, TEAM_PHASES, burstSchedule, type BurstOptions, type TeamPhase } from '../workload/teamSchedule';
import { SimEngine, SimLoadGenerator, SimRemoteBackend, MEASURED_SERVER_MODEL } from '../sim/teamServer';
import { loadTraceFile, shippedTrace } from '../workload/files';
import { completionsOnly, type Trace } from '../workload/trace';

export interface TeamArgs {
    readonly mode: 'sim' | 'real';
    readonly out: string;
    readonly seed: number;
    readonly quick: boolean;
    readonly trace: string | undefined;
    /** Real: the local model's file, `coder` (full, default) or `tiny` (the tiny coder). */
    readonly local: 'coder' | 'tiny';
    /** Rounds to run (default: PLAN). */
    readonly rounds: number | undefined;
}

/**
 * Rounds and segment length (ms). A real round is four replays of a 4-8 s segment (plus its 1.3 s
 * lead and PRE_ROLL_MS), each plus warm-up, drain and waiting for the server to go idle: 28-51 s
 * measured. The shipped trace (60 s) gives 9 segments, so a full run is 9 rounds: 371-385 s measured
 * with the machine's load average at 2-10 on 2 cores, the calibration and the server's start
 * included. RUN_BUDGET_MS drops rounds when the machine is slower (the report says how many ran).
 */
const PLAN = { full: { rounds: 10, segmentMs: 6000 }, quick: { rounds: 2, segmentMs: 4000 } } as const;
const RUN_BUDGET_MS = 540_000;
/** As real mode cuts its trace (bench/modes/real.ts). */
const SEGMENT = { minPauseMs: 1000, leadMs: 300, leadInMs: 1000 } as const;
/** Ids of the two models: the server first (the preferred coder: static's choice). */
export const SERVER_ID = 'server';
export const LOCAL_ID = 'local';
/** Slots and context of the real server (2 slots of 2048 tokens). */
const SERVER_SLOTS = 2;
const SERVER_CONTEXT = 4096;
/** Sim: network round trip to the team server (ms): a LAN or VPN to a GPU box, not loopback. */
export const SIM_RTT_MS = 20;
/** Sim: how stale the reported load may be (ms), as a backend polling `/slots` and `/metrics`. */
export const SIM_POLL_MS = 250;
/**
 * Every replay's lines start this much later (ms) than its segment has them, in both phases: the
 * teammates' first bursts arrive at the replay's start, so the user starts typing on a server that
 * has been full for a while and whose load the backend has polled, not on one that fills up while
 * the first keystroke is routed.
 */
export const PRE_ROLL_MS = 2500;
/** Hang caps (ms): a replay's drain after its last keystroke; the server going idle after the load stops. */
const DRAIN_CAP_MS = 60_000;
const IDLE_CAP_MS = 30_000;

/** ZETA_TEAM_VERBOSE=1: the routers' log (loads, cooldowns, why a task waits) on stdout. */
const VERBOSE = process.env.ZETA_TEAM_VERBOSE === '1';
const routerLog = { info: (m: string) => console.log(`  [router] ${m}`), warn: (m: string) => console.log(`  [router warn] ${m}`), error: (m: string) => console.log(`  [router error] ${m}`) };

type Entry = `${TeamPhase}/${TeamPolicy}`;

/** Round r's order: the four entries, reversed in odd rounds (ABBA: each runs first and last equally often). */
export function teamOrder(r: number): Entry[] {
    const e: Entry[] = [];
    for (const phase of TEAM_PHASES) for (const p of TEAM_POLICIES) e.push(`${phase}/${p}`);
    return r % 2 === 0 ? e : e.reverse();
}

/** The teammates' schedule of round r: the same for both policies of the round. */
export function roundSchedule(seed: number, r: number, durationMs: number, bursts: Omit<BurstOptions, 'seed' | 'durationMs'> = DEFAULT_BURSTS): ReturnType<typeof burstSchedule> {
    return burstSchedule('saturated', { ...bursts, seed: hashString(`team-load:${seed}:${r}`), durationMs });
}

function segmentsOf(trace: Trace, quick: boolean, rounds: number | undefined): Segment[] {
    const plan = quick ? PLAN.quick : PLAN.full;
    return segmentTrace(completionsOnly(trace), { targetMs: plan.segmentMs, ...SEGMENT }).slice(0, rounds ?? plan.rounds);
}

const NO_LOAD: LoadCounts = { due: 0, sent: 0, skipped: 0, completed: 0, failed: 0, aborted: 0 };

/** What one replay needs besides its policy: the models, backends, env and load generator. */
interface TeamWorld {
    readonly specs: readonly ModelSpec[];
    readonly clock: Clock;
    readonly env: ReplayEnv;
    readonly createBackend: (spec: ModelSpec) => ModelBackend;
    readonly tokensPerWord: number;
    readonly countTokens: (text: string) => number;
    /** Starts the teammates' load (saturated phase); stop() returns its counts. */
    readonly startLoad?: (schedule: ReturnType<typeof burstSchedule>) => { stop: () => Promise<LoadCounts> };
    /** After a replay: wait until the server is idle again. */
    readonly settle?: () => Promise<void>;
}

/**
 * The router settings of a policy in this scenario. static is the router's static policy (every
 * completion to the preferred model, the server) with no objective for completions: no completion
 * is dropped as late and the remote watchdog (which gives up on a call past its objective and
 * retries on another model) never fires, so a completion waits for the server however long its
 * queue is, as in an editor pointed at the server. zeta: the defaults.
 */
export function teamSettings(policy: TeamPolicy, profile: SpeedProfile): RoutingSettings {
    const s = settingsFor(defaultRoutingSettings(), policy, profile);
    if (policy !== 'static') return s;
    return { ...s, taskClasses: { ...s.taskClasses, completion: { ...s.taskClasses.completion, objectiveFactor: Number.POSITIVE_INFINITY } } };
}

/**
 * An in-memory speeds file (`RouterDeps.speedStore`): what a router saves stays here when `keep`,
 * and a router that loads it starts from those speeds, as the extension starts from the speeds an
 * earlier session measured on this machine.
 */
export class MemoryTextStore implements TextStore {
    constructor(
        private text: string | undefined,
        private readonly keep: boolean,
    ) {}
    get contents(): string | undefined {
        return this.text;
    }
    load(): Promise<string | undefined> {
        return Promise.resolve(this.text);
    }
    save(data: string): Promise<void> {
        if (this.keep) this.text = data;
        return Promise.resolve();
    }
    setAside(): Promise<string | undefined> {
        return Promise.resolve(undefined);
    }
}

interface RunOptions {
    /** The speeds the router starts from (a read-only copy); default none. */
    readonly speeds?: TextStore;
    /** The models of this replay (calibration: one alone); default the world's. */
    readonly models?: readonly ModelSpec[];
}

async function runOne(world: TeamWorld, segment: Segment, phase: TeamPhase, policy: TeamPolicy, schedule: ReturnType<typeof burstSchedule>, profile: SpeedProfile, options: RunOptions = {}): Promise<TeamRun> {
    const settings = teamSettings(policy, profile);
    const usage = new UsageLedger();
    let load: { stop: () => Promise<LoadCounts> } | undefined;
    const t0 = world.clock.now();
    let counts = NO_LOAD;
    try {
        const trace = { ...segment.trace, lines: segment.trace.lines.map((l) => ({ ...l, t: l.t + PRE_ROLL_MS })) };
        const result = await replay({
            trace,
            settings,
            models: options.models ?? world.specs,
            createRouter: (deps) => createRouter({ ...deps, speedStore: options.speeds, logger: VERBOSE ? routerLog : undefined }),
            createBackend: (spec) => usage.observe(world.createBackend(spec), spec.id),
            builder: new TaskBuilder(world.tokensPerWord),
            completion: completionHandling(policy),
            countTokens: world.countTokens,
            env: world.env,
            drainLimitMs: DRAIN_CAP_MS,
            // Completions only: the server has no --embeddings, and the scenario has no other kind.
            warmUp: 'completion',
            onStart: () => {
                usage.start();
                // The teammates' first burst arrives now, PRE_ROLL_MS before the segment's first line: the server is full when typing starts.
                if (phase === 'saturated' && world.startLoad) load = world.startLoad(schedule);
            },
        });
        counts = (await load?.stop()) ?? NO_LOAD;
        load = undefined;
        if (result.hung > 0) throw new Error(`team ${phase}/${policy}: ${result.hung} requests never settled`);
        // Objectives for the metrics are zeta's for both policies (static's are switched off above).
        return { run: roundRun(result.records, segment.leadIn, usage.totals(), objectiveFn(profile, teamSettings('zeta', profile))), load: counts, wallMs: world.clock.now() - t0 };
    } finally {
        await load?.stop();
        await world.settle?.();
    }
}

/**
 * Speeds for every replay to start from: each model measured alone, with the server idle, on the
 * first segment (not part of the results). Without them every replay's router would start from
 * priors, and zeta would pay a first session's learning in every 6-second segment; with them each
 * replay starts as a session on a machine Zeta has run on before. Both policies get the same.
 */
async function calibrateSpeeds(world: () => TeamWorld, segment: Segment, profile: SpeedProfile, log: (l: string) => void): Promise<string | undefined> {
    const store = new MemoryTextStore(undefined, true);
    for (const id of [SERVER_ID, LOCAL_ID]) {
        const w = world();
        const models = w.specs.filter((m) => m.id === id);
        const t0 = w.clock.now();
        await runOne(w, segment, 'idle', 'static', [], profile, { speeds: store, models });
        log(`  calibration: ${id} alone on segment 1, idle (${((w.clock.now() - t0) / 1000).toFixed(1)} s)`);
    }
    return store.contents;
}

interface RoundsResult {
    readonly rounds: TeamRound[];
    readonly orders: Entry[][];
    readonly loads: number[];
}

/** `world()` gives each replay its world: the same one (real), or a fresh one (sim: a new virtual clock, devices and engine). */
async function runRounds(world: () => TeamWorld, segments: readonly Segment[], seed: number, profile: SpeedProfile, log: (l: string) => void, budget?: { started: number; ms: number }): Promise<RoundsResult> {
    const rounds: TeamRound[] = [];
    const orders: Entry[][] = [];
    const loads: number[] = [];
    let longest = 0;
    const speeds = await calibrateSpeeds(world, segments[0], profile, log);
    for (const [r, segment] of segments.entries()) {
        if (budget && r > 0) {
            const elapsed = performance.now() - budget.started;
            if (elapsed + longest > budget.ms) {
                log(`  stopping after ${r} rounds: another (up to ${(longest / 1000).toFixed(0)} s) would end past the run's budget (${(elapsed / 1000).toFixed(0)} s gone of ${budget.ms / 1000} s)`);
                break;
            }
        }
        const t0 = performance.now();
        loads.push(machineLoad().loadavg1);
        const last = PRE_ROLL_MS + (segment.trace.lines.at(-1)?.t ?? 0);
        // Covers the segment and its drain: the load stops when the replay ends anyway.
        const schedule = roundSchedule(seed, r, last + 10_000);
        const order = teamOrder(r);
        const round = { saturated: {}, idle: {} } as TeamRound;
        for (const e of order) {
            const [phase, policy] = e.split('/') as [TeamPhase, TeamPolicy];
            round[phase][policy] = await runOne(world(), segment, phase, policy, schedule, profile, { speeds: new MemoryTextStore(speeds, false) });
        }
        rounds.push(round);
        orders.push(order);
        longest = Math.max(longest, performance.now() - t0);
        const p95 = (phase: TeamPhase, p: TeamPolicy): string => round[phase][p].run.metrics.suggestion.waitedFor.p95.toFixed(0);
        log(
            `  round ${r + 1}/${segments.length} (${(segment.fromMs / 1000).toFixed(1)}-${(segment.toMs / 1000).toFixed(1)} s): p95 saturated zeta ${p95('saturated', 'zeta')} / static ${p95('saturated', 'static')} ms, ` +
                `idle zeta ${p95('idle', 'zeta')} / static ${p95('idle', 'static')} ms; teammates sent ${round.saturated.zeta.load.sent} / ${round.saturated.static.load.sent} (${((performance.now() - t0) / 1000).toFixed(0)} s, load ${loads[r]})`,
        );
    }
    return { rounds, orders, loads };
}

function finish(args: TeamArgs, command: string, profile: SpeedProfile, res: RoundsResult, environment: Record<string, unknown>, notes: string[], started: number): TeamReport {
    const settings = settingsFor(defaultRoutingSettings(), 'zeta', profile);
    const { team, pooled, perRound } = teamSummary(res.rounds, objectiveFn(profile, settings));
    const report: TeamReport = {
        mode: args.mode,
        scenario: 'team',
        generatedAt: new Date().toISOString(),
        command,
        team,
        targets: teamTargets(team),
        rounds: res.rounds.length,
        pooled,
        roundRows: res.rounds.map((r, i) => roundRow(i, r, res.orders[i], perRound, args.mode === 'real' ? res.loads[i] : undefined)),
        environment: { ...environment, node: process.version },
        runtimeMs: performance.now() - started,
    };
    writeTeamReport(args.out, report, notes);
    return report;
}

function specsFor(serverPath: string, url: string | undefined, local: ModelSpec): ModelSpec[] {
    const server: ModelSpec = {
        id: SERVER_ID,
        role: 'coder',
        path: serverPath,
        ...(url ? { remote: { api: 'llama-server' as const, url } } : {}),
        contextSize: SERVER_CONTEXT / SERVER_SLOTS,
        slots: SERVER_SLOTS,
        threads: 1,
        gpuLayers: 0,
        fimTemplate: 'auto',
    };
    return [server, { ...local, id: LOCAL_ID, role: 'coder' }];
}

export async function runTeamSim(args: TeamArgs, command: string): Promise<TeamReport> {
    const started = performance.now();
    const log = console.log;
    const profile = loadProfile(shippedProfile('local-generated'));
    const trace = loadTraceFile(args.trace ?? shippedTrace('real-typing-indexing'), args.seed);
    const segments = segmentsOf(trace, args.quick, args.rounds);
    log(`sim team: ${segments.length} rounds on ${trace.name}; server: ${MEASURED_SERVER_MODEL.promptTokensPerSec} prompt / ${MEASURED_SERVER_MODEL.decodeTokensPerSec} decode tokens/s, ${SERVER_SLOTS} slots, RTT ${SIM_RTT_MS} ms; local: profile ${profile.name} coder`);
    const local = profile.models.coder;
    let current: { clock: VirtualClock; engine: SimEngine; device: SimDevice; turns: EvalTurns | undefined } | undefined;
    const fresh = (): NonNullable<typeof current> => {
        const clock = new VirtualClock(0);
        const engine = new SimEngine(clock, { modelId: SERVER_ID, model: { ...MEASURED_SERVER_MODEL, slots: SERVER_SLOTS }, slots: SERVER_SLOTS, rttMs: SIM_RTT_MS, pollIntervalMs: SIM_POLL_MS, url: 'http://team-server.sim' });
        const device = new SimDevice(clock, profile.device, { [LOCAL_ID]: local });
        return { clock, engine, device, turns: profile.device.scheduling === 'serial' ? new EvalTurns() : undefined };
    };
    const specs = specsFor('http://team-server.sim', 'http://team-server.sim', { id: LOCAL_ID, role: 'coder', path: '/simulated/local/coder.gguf', contextSize: local.contextSize, slots: local.slots, threads: 1, gpuLayers: 0, fimTemplate: 'auto' });
    const backendOptions = { keepOnAbort: profile.keepOnAbort, prefillChunkTokens: profile.prefillChunkTokens };
    // A fresh clock, devices and engine per replay: each replay starts on an idle machine and server.
    const world = (): TeamWorld => {
        const w = (current = fresh());
        return {
            specs,
            clock: w.clock,
            env: virtualEnv(w.clock),
            createBackend: (spec) =>
                spec.id === SERVER_ID
                    ? new SimRemoteBackend(w.clock, w.engine, { ...backendOptions, embeddingSpace: 'sim-space-server' })
                    : new SimBackend(w.clock, w.device, local, { ...backendOptions, embeddingSpace: 'sim-space-local', turns: w.turns }),
            tokensPerWord: 1,
            countTokens: countWords,
            startLoad: (schedule) => {
                const g = new SimLoadGenerator(w.clock, w.engine, schedule, DEFAULT_BURSTS);
                g.start();
                return { stop: () => g.stop() };
            },
        };
    };
    const res = await runRounds(world, segments, args.seed, profile, log);
    return finish(
        args,
        command,
        profile,
        res,
        { trace: trace.name, localProfile: profile.name, serverModel: MEASURED_SERVER_MODEL, rttMs: SIM_RTT_MS, pollMs: SIM_POLL_MS, bursts: DEFAULT_BURSTS, maxDeferredSeen: current?.engine.maxDeferred },
        [
            'Simulated: the real router and completion pipeline on virtual time. The team server is a separate simulated engine (bench/sim/teamServer.ts): its own device and speed (measured on this machine\'s llama-server, 1 thread), 2 slots, a FIFO queue, an RTT each call; the local coder runs on the editor machine\'s device with the measured profile.',
            `Teammates: bursts of ${DEFAULT_BURSTS.slots + DEFAULT_BURSTS.queue} requests every ~${DEFAULT_BURSTS.burstEveryMs} ms (prompts ${DEFAULT_BURSTS.promptTokens.join('-')} tokens, answers ${DEFAULT_BURSTS.nPredict.join('-')}), at most ${DEFAULT_BURSTS.slots + DEFAULT_BURSTS.queue} outstanding; the same seeded schedule for both policies of a round.`,
            'The simulated remote backend keeps its prefix cache per document whatever the teammates ran on its slot (llama-server would overwrite it): static under load is simulated faster than it is.',
        ],
        started,
    );
}

export async function runTeamReal(args: TeamArgs, command: string): Promise<TeamReport> {
    const started = performance.now();
    const log = console.log;
    const setup = await realSetup(1);
    const profile = loadProfile(shippedProfile('local-generated'));
    const trace = loadTraceFile(args.trace ?? shippedTrace('real-typing-indexing'), args.seed);
    const segments = segmentsOf(trace, args.quick, args.rounds);
    const localPath = args.local === 'tiny' ? (await ensureModels('tiny')).coder : setup.models.coder;
    // Paths in the report relative to the working directory (the repository's root under npm run).
    const shown = (file: string): string => relative(process.cwd(), file);
    let server: LlamaServer | undefined;
    const stopServer = (): void => void server?.stop();
    // Ctrl-C: stop the server, then exit as interrupted (the finally below runs on every other path).
    const onSignal = (): void => {
        log('interrupted: stopping llama-server');
        void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.once('exit', stopServer);
    try {
        const t0 = performance.now();
        server = await startLlamaServer({ model: setup.models.coder, slots: SERVER_SLOTS, contextSize: SERVER_CONTEXT });
        const url = server.url;
        log(`real team: llama-server ${url} (${shown(setup.models.coder)}, 1 thread, ${SERVER_SLOTS} slots) ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; local: ${shown(localPath)} in process`);
        const specs = specsFor(url, url, { ...setup.specs[0], path: localPath });
        const localSpec = specs[1];
        // Tokens per synthetic word, from the local model's tokenizer (both are the generated vocabulary).
        const probe = setup.createBackend(localSpec);
        await probe.load(localSpec, new AbortController().signal);
        const tokensPerWord = calibrate((t) => probe.countTokens(t));
        await probe.unload();
        const maxPrompt = DEFAULT_BURSTS.promptTokens[1];
        const tokens = await promptTokens(url, maxPrompt * 2, fetch, new AbortController().signal);
        log(`  ${segments.length} rounds on ${trace.name}; ${tokensPerWord.toFixed(2)} tokens per word; teammates: bursts of ${DEFAULT_BURSTS.slots + DEFAULT_BURSTS.queue} every ~${DEFAULT_BURSTS.burstEveryMs} ms`);
        const world: TeamWorld = {
            specs,
            clock: setup.clock,
            env: wallEnv(setup.clock),
            createBackend: (spec) => (spec.remote ? new FullLength(new LlamaServerBackend({ clock: setup.clock })) : setup.createBackend(spec)),
            tokensPerWord,
            countTokens: (text) => Math.round(countWords(text) * tokensPerWord),
            startLoad: (schedule) => {
                const g = new HttpLoadGenerator(setup.clock, url, schedule, DEFAULT_BURSTS, tokens);
                g.start();
                return { stop: () => g.stop() };
            },
            settle: () => waitIdle(url, setup.clock, IDLE_CAP_MS),
        };
        const res = await runRounds(() => world, segments, args.seed, profile, log, { started, ms: RUN_BUDGET_MS });
        const loads = res.loads;
        return finish(
            args,
            command,
            profile,
            res,
            { trace: trace.name, server: { binary: 'llama-server (npm run engine)', model: shown(setup.models.coder), slots: SERVER_SLOTS, contextSize: SERVER_CONTEXT, threads: 1 }, local: shown(localPath), bursts: DEFAULT_BURSTS, tokensPerWord, machineLoadBeforeRounds: loads, cores: machineLoad().cores },
            [
                `Real: llama-server (built by npm run engine) on 127.0.0.1 serving ${shown(setup.models.coder)} with 1 thread and ${SERVER_SLOTS} slots; Zeta reaches it through LlamaServerBackend. Local: ${shown(localPath)} through node-llama-cpp in this process, 1 thread. Both coder role; the server is listed first (static's model).`,
                `Teammates: streamed /infill requests (prefixes of about the given tokens) to the same server, bursts of ${DEFAULT_BURSTS.slots + DEFAULT_BURSTS.queue} every ~${DEFAULT_BURSTS.burstEveryMs} ms (prompts ${DEFAULT_BURSTS.promptTokens.join('-')} tokens, answers ${DEFAULT_BURSTS.nPredict.join('-')}), at most ${DEFAULT_BURSTS.slots + DEFAULT_BURSTS.queue} outstanding, during the saturated replays only; the same seeded schedule for both policies of a round. After every replay the load is cancelled and the next waits until /slots shows no slot processing.`,
                `Machine noise: 1-minute load average before each round ${loads.join(', ')} on ${machineLoad().cores} cores shared with other work; ratios are taken within rounds, whose four replays run within about a minute.`,
            ],
            started,
        );
    } catch (e) {
        if (server) log(`llama-server's last lines:\n${server.log()}`);
        throw e;
    } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.off('exit', stopServer);
        await server?.stop();
        await setup.provider.dispose();
    }
}
