/**
 * The remote backends' front door: a factory the composition makes once, which gives each remote
 * model spec a fresh backend for the API its engine speaks (`spec.remote.api`).
 *
 * Invariant: the only addresses a remote backend ever calls are `spec.remote.url` and paths under
 * it (the user's zeta.remoteModels entry); nothing here is contacted before the router inspects or
 * loads the model, and a spec without `remote` is refused (the local backend serves it).
 */
import type { ModelBackend, ModelSpec } from '../../core/backend';
import { LlamaServerBackend } from './llamaServer';
import { OpenAiCompatibleBackend } from './openAi';
import type { RemoteBackendOptions } from './options';

export { LlamaServerBackend } from './llamaServer';
export { OpenAiCompatibleBackend } from './openAi';
export type { RemoteBackendOptions } from './options';

/** `(spec) => ModelBackend` for the remote specs (`spec.remote` set): one fresh, unloaded backend per spec. */
export function createRemoteBackendFactory(options: RemoteBackendOptions): (spec: ModelSpec) => ModelBackend {
    return (spec) => {
        const api = spec.remote?.api;
        switch (api) {
            case 'llama-server':
                return new LlamaServerBackend(options);
            case 'openai':
                return new OpenAiCompatibleBackend(options);
            default:
                throw new Error(`model ${spec.id}: not a remote model (spec.remote.api is ${JSON.stringify(api)}); the local backend serves it`);
        }
    };
}
