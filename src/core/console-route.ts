// Libraries that write to the console (BullMQ's "IMPORTANT! Eviction policy is …", printed on
// every new connection) would put plain-text lines between the JSON ones a collector reads.
// Their console output goes through the process's logger instead: JSON, and each distinct
// message once per process. A warning Mailroom says itself (src/core/redis-settings.ts says the
// eviction policy) is kept at debug, so an operator reads it once.
import { format } from 'node:util';
import type { Logger } from './log.js';

const SAID_BY_MAILROOM = [/^IMPORTANT! Eviction policy is /];
// Distinct messages remembered; beyond this (a library printing ids) the oldest are forgotten.
const REMEMBERED = 200;

export function routeConsole(logger: Logger, target: Pick<Console, 'log' | 'info' | 'warn' | 'error'> = console): void {
  const seen = new Set<string>();
  const log = logger.child({ source: 'library' });
  const route = (level: 'info' | 'warn' | 'error') => (...args: unknown[]) => {
    const text = format(...args).split('\n')[0]!.slice(0, 500);
    if (seen.has(text)) return;
    seen.add(text);
    if (seen.size > REMEMBERED) seen.delete(seen.values().next().value!);
    if (SAID_BY_MAILROOM.some((re) => re.test(text))) log.debug(text);
    else log[level](text);
  };
  target.log = route('info');
  target.info = route('info');
  target.warn = route('warn');
  target.error = route('error');
}
