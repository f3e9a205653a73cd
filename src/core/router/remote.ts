/**
 * What the router does when a remote engine fails (RemoteEngineError), shared by a call's failure
 * (router.ts) and a failed connect (residency.ts): the reason in words, and the model's state.
 * A fault of the engine, not of one call: the model cools down for `cooldownMs` (a connect that
 * failed leaves it unloaded, to connect again when work comes after the cooldown); a refused
 * credential keeps it out until the user reconfigures it (a new key gives it a fresh backend).
 */
import type { RemoteEngineError } from '../errors';
import type { ModelEntry } from './state';

/** Why a remote engine is left out after `e`, in words, as decisions and the load view show it. */
export function remoteReason(id: string, e: RemoteEngineError): string {
    switch (e.problem) {
        case 'refused':
            return `${id} unreachable (connection refused): cooling down`;
        case 'timeout':
            return `${id} did not answer in time (timeout): cooling down`;
        case 'server':
            return `${id} server error (${e.status !== undefined ? `HTTP ${e.status}` : 'connection closed mid-answer'}): cooling down`;
        case 'protocol':
            return `${id} answered something Zeta cannot read (protocol error${e.status !== undefined ? `, HTTP ${e.status}` : ''}): cooling down`;
        case 'unauthorized':
            return 'unauthorized: set its API key';
    }
}

/**
 * Puts `m` out of use after `e` at `now` (clock ms): `needsSetup` for a refused credential, else a
 * cooldown of `cooldownMs` with the reason. Returns the reason.
 */
export function markRemoteFault(m: ModelEntry, e: RemoteEngineError, now: number, cooldownMs: number): string {
    const reason = remoteReason(m.id, e);
    m.failed++;
    m.error = `${reason} (${e.message})`;
    if (e.problem === 'unauthorized') m.needsSetup = reason;
    else {
        m.coolingDownUntil = now + cooldownMs;
        m.coolingReason = reason;
    }
    return reason;
}
