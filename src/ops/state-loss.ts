// A Redis that lost the install's state. Redis holds the queues (and failed jobs), the audit
// trail, the delivery ledger, the stored workaround token, mailbox cursors and caches; a wipe
// (a new server, FLUSHALL, a lost volume) is silent otherwise: roles only notice "no token".
//
// - An install marker (<prefix>:install:born) is written at the first start of any role and
//   never expires. Its absence while the install has clearly run before (the filesystem mail
//   store holds mail, or the ledger's birth stamp is there) means Redis lost the state: the
//   process that notices says so once, loudly, with what was lost and what recovers it, then
//   writes the marker so no other process repeats it.
// - A Redis restored from an older backup is not a wipe, but its ledger is older than Jira:
//   mail delivered after the snapshot has no ledger entry and would be created again. The
//   restore procedure runs `mailroom restore-mark`, which moves the ledger's birth stamp to now
//   (every mail that arrived before it then gets a recovery look in Jira before any create).
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from '../config/load.js';
import { key, type Redis } from '../core/redis.js';
import type { Logger } from '../core/log.js';
import { bornKey } from '../ledger/ledger.js';

export function installKey(prefix: string): string {
  return key(prefix, 'install', 'born');
}

export const LOST_WITH_REDIS = [
  'queued, delayed and failed jobs',
  'the audit trail',
  'the delivery ledger (which mail became which issue)',
  'the stored workaround token',
  'mailbox cursors (last UID read)',
  'account caches and rate-limit state',
];

export const RECOVERY_STEPS =
  'store the token again (`mailroom token set`); mail still in the inboxes is read again, and delivery looks in Jira before creating ' +
  "(the mailroom.message issue property), so nothing is created twice; failed jobs and the audit trail come back only from a backup " +
  '(restore it, then run `mailroom restore-mark`)';

/** Whether the filesystem mail store holds anything: the install has run before. */
async function storeHoldsMail(config: Config): Promise<boolean> {
  if (config.store.kind !== 'fs') return false;
  try {
    return (await readdir(resolve(config.store.dir))).some((n) => /^[0-9a-f]{2}$/.test(n));
  } catch {
    return false;
  }
}

export type StateVerdict = { state: 'first-start' | 'known' } | { state: 'wiped'; evidence: string };

/** Check for a wipe and write the install marker. Says so on `logger` once per wipe (the process that writes the marker). */
export async function checkStateLoss(redis: Redis, config: Config, logger: Logger): Promise<StateVerdict> {
  const k = installKey(config.prefix);
  if (await redis.exists(k)) return { state: 'known' };
  const evidence = (await storeHoldsMail(config)) ? `the mail store at ${resolve(config.store.kind === 'fs' ? config.store.dir : '.')} holds mail` : undefined;
  // A ledger stamp without the marker: an install from before the marker existed (not a wipe).
  const upgraded = !evidence && (await redis.exists(bornKey(config.prefix))) === 1;
  const written = await redis.set(k, JSON.stringify({ at: new Date().toISOString(), ...(evidence ? { wipeNoticed: evidence } : {}) }), 'NX');
  if (written !== 'OK') return { state: 'known' }; // another process got there first and spoke
  if (!evidence || upgraded) return { state: 'first-start' };
  logger.error(
    { stateLost: LOST_WITH_REDIS, evidence, recover: RECOVERY_STEPS },
    `REDIS LOST THIS INSTALL'S STATE: ${evidence} but Redis has no install marker. Lost: ${LOST_WITH_REDIS.join(', ')}. To recover: ${RECOVERY_STEPS}`,
  );
  return { state: 'wiped', evidence };
}

/**
 * After restoring Redis from a backup: move the ledger's birth stamp to now, so every mail that
 * arrived before this moment gets a recovery look in Jira before a create (mail delivered after
 * the snapshot has no ledger entry). Returns the previous and new stamps.
 */
export async function markRestored(redis: Redis, prefix: string, now = Date.now()): Promise<{ previousBornAt?: number; bornAt: number }> {
  const previous = Number(await redis.get(bornKey(prefix))) || undefined;
  await redis
    .multi()
    .set(bornKey(prefix), String(now))
    .set(installKey(prefix), JSON.stringify({ at: new Date(now).toISOString(), restoredAt: new Date(now).toISOString() }))
    .exec();
  return { previousBornAt: previous, bornAt: now };
}
