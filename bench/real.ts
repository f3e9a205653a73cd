/** Real mode (placeholder until the backend lands). */
import type { CliArgs } from './cli';
import type { Report } from './report';

export function runRealMode(_args: CliArgs, _command: string): Promise<Report> {
    return Promise.reject(new Error('real mode: not implemented yet'));
}

export function runProfileMode(_args: CliArgs): Promise<void> {
    return Promise.reject(new Error('profile mode: not implemented yet'));
}
