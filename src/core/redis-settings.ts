// The Redis settings Mailroom relies on, checked at start. BullMQ requires
// `maxmemory-policy noeviction`: an evicting Redis silently drops jobs, locks and ledger entries
// when memory runs short. AOF with `appendfsync everysec` (or always) bounds what a crash
// loses to about a second; without it a restart loses everything since the last snapshot
// (the mail is read again from IMAP, see README "Redis"). Managed services may refuse CONFIG,
// so INFO is read first and CONFIG GET only when allowed.
import type { Logger } from './log.js';
import { describeError } from './errors.js';
import { currentNode, nodesOf, whenReady, type Redis } from './redis.js';

export interface SettingsFinding {
  setting: string;
  value: string;
  advice: string;
}

/** Pure: what is unsafe in one node's INFO fields (and appendfsync, when CONFIG allowed it). */
export function settingsFindings(info: Record<string, string>, appendfsync?: string): SettingsFinding[] {
  const out: SettingsFinding[] = [];
  const policy = info.maxmemory_policy;
  if (policy !== undefined && policy !== 'noeviction') {
    out.push({ setting: 'maxmemory-policy', value: policy, advice: 'set maxmemory-policy noeviction: any other policy lets Redis evict queued jobs, locks and ledger entries' });
  }
  if (info.aof_enabled !== undefined && info.aof_enabled !== '1') {
    out.push({ setting: 'appendonly', value: 'no', advice: 'set appendonly yes with appendfsync everysec: without AOF a restart loses every write since the last snapshot' });
  } else if (appendfsync !== undefined && appendfsync !== 'everysec' && appendfsync !== 'always') {
    out.push({ setting: 'appendfsync', value: appendfsync, advice: 'set appendfsync everysec (or always): with "no" the OS decides how much a crash loses' });
  }
  return out;
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** Every primary's unsafe settings, with the node they were read from. */
export async function readSettingsFindings(redis: Redis): Promise<(SettingsFinding & { node: string })[]> {
  const found: (SettingsFinding & { node: string })[] = [];
  await whenReady(redis);
  for (const node of nodesOf(redis)) {
    const info = parseInfo(`${await node.info('memory')}\n${await node.info('persistence')}`);
    let appendfsync: string | undefined;
    try {
      const answer = (await node.call('CONFIG', 'GET', 'appendfsync')) as string[];
      appendfsync = answer[1];
    } catch {
      // CONFIG is disabled on many managed services: INFO alone has to do.
    }
    for (const f of settingsFindings(info, appendfsync)) found.push({ ...f, node: currentNode(node) });
  }
  return found;
}

/** Log one warning per unsafe setting (naming it); never fails the start. Closes `redis`. */
export async function checkRedisSettings(redis: Redis, logger: Pick<Logger, 'warn' | 'debug'>): Promise<void> {
  try {
    for (const f of await readSettingsFindings(redis)) {
      logger.warn({ setting: f.setting, value: f.value, node: f.node }, `unsafe Redis setting ${f.setting} ${f.value}: ${f.advice}`);
    }
  } catch (e) {
    logger.debug({ err: describeError(e) }, 'could not read the Redis settings');
  } finally {
    redis.disconnect();
  }
}
