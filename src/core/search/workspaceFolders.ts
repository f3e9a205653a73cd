/**
 * The index's view of a workspace of one or more folders: each folder's files (files.ts), under
 * one naming. With one folder a file is its folder-relative path; with several, `<folder name>/`
 * comes first, so paths stay unique and a result says which folder it is in.
 */
import type { IndexFiles } from './indexer';
import type { SkippedPath, WorkspaceFiles } from './files';

export interface IndexedFolder {
    /** Display name of the folder (VS Code's `WorkspaceFolder.name`). */
    readonly name: string;
    /** Absolute path of the folder. */
    readonly root: string;
    readonly files: WorkspaceFiles;
}

export interface FolderFiles extends IndexFiles {
    readonly folders: readonly IndexedFolder[];
    /** The folder and folder-relative path of an index path, or undefined when none matches. */
    locate(file: string): { readonly folder: IndexedFolder; readonly path: string } | undefined;
    /** The index path of `path` in `folder`. */
    nameOf(folder: IndexedFolder, path: string): string;
}

export function folderFiles(folders: readonly IndexedFolder[], onSkip?: (file: string, skip: SkippedPath) => void): FolderFiles {
    const prefixed = folders.length > 1;
    const nameOf = (folder: IndexedFolder, path: string): string => (prefixed ? `${folder.name}/${path}` : path);
    const locate = (file: string): { folder: IndexedFolder; path: string } | undefined => {
        if (!prefixed) return folders.length === 1 ? { folder: folders[0], path: file } : undefined;
        for (const folder of folders) if (file.startsWith(`${folder.name}/`)) return { folder, path: file.slice(folder.name.length + 1) };
        return undefined;
    };
    return {
        folders,
        locate,
        nameOf,
        async *list(signal) {
            for (const folder of folders) {
                for await (const item of folder.files.walk(signal)) {
                    if (item.kind === 'file') yield { file: nameOf(folder, item.path), stamp: item.stamp };
                    else onSkip?.(nameOf(folder, item.path), item);
                }
            }
        },
        async read(file, signal) {
            const where = locate(file);
            if (!where) return undefined;
            // A file event names any path: the walk's rules decide whether it is indexed at all.
            const checked = await where.folder.files.check(where.path, signal);
            if (checked.kind === 'skipped') {
                onSkip?.(file, checked);
                return undefined;
            }
            const r = await where.folder.files.read(where.path, signal);
            if (r.kind === 'text') return { text: r.text, stamp: r.stamp };
            onSkip?.(file, r);
            return undefined;
        },
    };
}
