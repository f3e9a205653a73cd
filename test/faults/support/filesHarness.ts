/**
 * The real indexer on a real folder, for the fault tests: the workspace's files through the real
 * file rules (files.ts over node:fs/promises, or a file system a test wraps), the real chunker
 * (line windows: no grammar is needed to test faults), the real index and store on a temporary
 * folder, and embeddings from the project's fake embedder (FakeBackend behind the real router, on
 * a virtual clock). Where a test needs the embedding itself it uses the integration suite instead.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { calibrate } from '../../../src/core/search/calibrate';
import { createChunker } from '../../../src/core/search/chunker';
import { workspaceFiles, workspaceFsFromNode, type FileRules, type SkippedPath, type WorkspaceFs } from '../../../src/core/search/files';
import { hybridRanking } from '../../../src/core/search/fusion';
import { createSearchIndex, type InMemorySearchIndex } from '../../../src/core/search/index/index';
import { Indexer, isLexicalOnly, type IndexKeeper } from '../../../src/core/search/indexer';
import { searchWorkspace, type SearchResponse } from '../../../src/core/search/query';
import { routerEmbeddings } from '../../../src/core/search/routerEmbeddings';
import { createIndexStore, identityKey, type IndexStoreFs } from '../../../src/core/search/store';
import type { EmbedderIdentity } from '../../../src/core/search/types';
import { folderFiles, type FolderFiles } from '../../../src/core/search/workspaceFolders';
import { makeFixture, spec, type Fixture } from '../../unit/router/helpers';
import { storeFs } from './filesIndex';

export interface Harness {
    f: Fixture;
    root: string;
    storage: string;
    files: FolderFiles;
    indexer: Indexer<InMemorySearchIndex>;
    /** Every log line, with its level. */
    logs: Array<{ level: 'info' | 'warn' | 'error'; message: string }>;
    /** What onRebuild was told. */
    rebuilds: string[];
    /** Every state the indexer reported, in order. */
    states: string[];
    /** Files and folders the rules or the reads left out, with why (what the status reports). */
    skipped: Array<{ file: string; skip: SkippedPath }>;
    dispose(): Promise<void>;
}

/** The store's folder for an identity, as the editor lays it out (`workspaceSearch.ts`). */
export function indexDir(storage: string, identity: EmbedderIdentity): string {
    return join(storage, isLexicalOnly(identity) ? 'lexical' : identityKey(identity));
}

export function keeper(storage: string, fs: () => IndexStoreFs): IndexKeeper<InMemorySearchIndex> {
    return {
        async load(identity) {
            const r = await createIndexStore(indexDir(storage, identity), identity, fs()).load();
            if (r.kind === 'setAside') return { problem: `the stored index could not be used (${r.reason}: ${r.detail})${r.movedTo ? `; set aside at ${r.movedTo}` : ''}` };
            return r.kind === 'loaded' ? { index: r.index } : {};
        },
        async save(index) {
            await createIndexStore(indexDir(storage, index.identity), index.identity, fs()).save(index);
        },
    };
}

export interface HarnessOptions {
    root: string;
    storage: string;
    rules?: Partial<FileRules>;
    /** The workspace's file system (default: node:fs/promises). */
    workspaceFs?: WorkspaceFs;
    /** The store's file system, read at every load and save (default: node:fs/promises, durable). */
    storeFs?: () => IndexStoreFs;
}

export async function startHarness(o: HarnessOptions): Promise<Harness> {
    const f = makeFixture({ models: [spec('coder'), spec('embedder')] });
    await f.clock.advance(5_000);
    const logs: Harness['logs'] = [];
    const rebuilds: string[] = [];
    const skipped: Harness['skipped'] = [];
    const states: string[] = [];
    const wfs = o.workspaceFs ?? workspaceFsFromNode(fsp);
    const files = folderFiles([{ name: 'ws', root: o.root, files: workspaceFiles(wfs, o.root, { maxFileKB: 512, ...o.rules }) }], (file, skip) => {
        skipped.push({ file, skip });
        indexer.skipped(file, skip.reason, skip.detail); // as the editor wires it (workspaceSearch.ts)
    });
    const indexer = new Indexer<InMemorySearchIndex>({
        files,
        chunker: createChunker(undefined),
        store: keeper(o.storage, o.storeFs ?? (() => storeFs())),
        embeddings: routerEmbeddings(f.router),
        createIndex: createSearchIndex,
        mine: () => [],
        calibrate,
        clock: f.clock,
        logger: { info: (m) => logs.push({ level: 'info', message: m }), warn: (m) => logs.push({ level: 'warn', message: m }), error: (m) => logs.push({ level: 'error', message: m }) },
        onRebuild: (problem) => rebuilds.push(problem),
        onChange: () => {
            const s = indexer.progress().state;
            if (states.at(-1) !== s) states.push(s);
        },
    });
    return {
        f,
        root: o.root,
        storage: o.storage,
        files,
        indexer,
        logs,
        rebuilds,
        states,
        skipped,
        async dispose() {
            await indexer.dispose();
            await f.router.dispose();
        },
    };
}

/**
 * Runs virtual time (the fake embedder) and real I/O (the files, the store) in turns until the
 * indexer is idle, failed or disabled. The cap only catches a hang: it counts turns, not time.
 */
export async function settle(h: Harness, turns = 20_000): Promise<void> {
    const from = h.states.length;
    const done = (s: string): boolean => s === 'idle' || s === 'disabled' || s === 'failed';
    for (let t = 0; t < turns; t++) {
        await h.f.clock.advance(50);
        await new Promise((r) => setImmediate(r));
        if (t % 10 === 0) await new Promise((r) => setTimeout(r, 1));
        // Settled: in a final state, after working since the call (or after enough turns to be sure there was nothing to do).
        const worked = h.states.slice(from).some((s) => !done(s)) || t > 300;
        if (done(h.indexer.progress().state) && worked) return;
    }
    throw new Error(`the indexer did not settle: ${JSON.stringify(h.indexer.progress())}`);
}

/** One search as the view runs it (words at once, then meaning), with snippets read from disk. */
export async function search(h: Harness, query: string): Promise<SearchResponse> {
    const p = searchWorkspace(
        {
            source: h.indexer,
            fuse: hybridRanking,
            readLines: async (file, s, e) => {
                const where = h.files.locate(file);
                const text = where ? await fsp.readFile(join(where.folder.root, where.path), 'utf8').catch(() => undefined) : undefined;
                return text?.split('\n').slice(s - 1, e);
            },
        },
        query,
        new AbortController().signal,
    );
    let done = false;
    void p.finally(() => (done = true)).catch(() => undefined);
    for (let t = 0; !done; t++) {
        if (t > 20_000) throw new Error(`the search for ${query} did not finish`);
        await h.f.clock.advance(20);
        await new Promise((r) => setTimeout(r, 1));
    }
    return p;
}
