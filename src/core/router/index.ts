/**
 * Zeta's router. Construct with `createRouter(deps)`; choose the policy and levers through
 * `deps.settings` (`defaultRoutingSettings()` gives the defaults) and change them later with
 * `reconfigure`.
 */
import type { RouterDeps } from '../tasks';
import { RouterImpl, type ZetaRouter } from './router';

export { defaultLevers, defaultRoutingSettings, DEFAULT_TASK_CLASSES, PREFERRED_ROLE, QUALITY_PRIOR } from './defaults';
export type { ZetaRouter } from './router';
export { FEEDBACK_FORMAT_VERSION, parseFeedback } from './feedback';

export function createRouter(deps: RouterDeps): ZetaRouter {
    return new RouterImpl(deps);
}
export { createFileTextStore, type TextFileFs } from './textFileStore';
