// Readiness checks and metric sources for the workaround token and the mailboxes' pollers,
// built on their readers (src/token/runtime.ts readTokenHealth, src/imap/heartbeat.ts
// readHeartbeats). Shared by the web role (/readyz, /metrics) and `mailroom status`.
import type { Redis } from '../core/redis.js';
import type { Config } from '../config/load.js';
import { readTokenHealth, type TokenHealth } from '../token/runtime.js';
import { mailboxStates, readHeartbeats, type HeartbeatView } from '../imap/heartbeat.js';
import type { ReadinessCheck, CheckResult } from './readiness.js';
import type { ScrapeSource } from '../core/metrics.js';

export function tokenVerdict(h: TokenHealth): CheckResult {
  if (h.ok) return { ok: true, detail: h.daysLeft !== undefined ? `${h.daysLeft} days left` : undefined };
  if (!h.stored) return { ok: false, detail: 'no workaround token is stored (mailroom token set)' };
  if (h.paused) return { ok: false, detail: `token queues paused: ${h.reason ?? 'token refused'}${h.since ? ` since ${h.since}` : ''}` };
  return { ok: false, detail: `token expired${h.expiresAt ? ` at ${h.expiresAt}` : ''}` };
}

/**
 * The token's readiness, from its state in Redis (stored, expiry, the gate). With `probe` (a
 * live check against Jira that trips or resumes the gate, see runTokenCheck), a probe of
 * /readyz also runs it at most once per `probeEveryMs`, so a token revoked while no mail flows
 * still turns /readyz unready within seconds, not at the next hourly check.
 */
export function tokenCheck(redis: Redis, prefix: string, probe?: () => Promise<unknown>, probeEveryMs = 15_000): ReadinessCheck {
  let last = 0;
  let running: Promise<unknown> | undefined;
  return {
    name: 'token',
    check: async () => {
      if (probe && !running && Date.now() - last >= probeEveryMs) {
        last = Date.now();
        running = probe()
          .catch(() => undefined)
          .finally(() => {
            running = undefined;
          });
      }
      // Wait a little for a live check under way (Jira may be slow: the next probe sees it).
      if (running) await Promise.race([running, new Promise((r) => setTimeout(r, 1500))]);
      return tokenVerdict(await readTokenHealth(redis, prefix));
    },
  };
}

export function heartbeatVerdict(hb: HeartbeatView): CheckResult {
  // A parked mailbox has a live poller (fresh heartbeat) that will not read mail until its
  // password is fixed: no mail flows, so it is unready whatever the heartbeat's age.
  if (hb.state === 'parked' && !hb.stale) {
    const retry = hb.nextAttemptAt ? `; next attempt at ${hb.nextAttemptAt}` : '';
    return { ok: false, detail: `parked: the server keeps refusing the login${hb.lastError ? ` (last error: ${hb.lastError})` : ''}${retry}` };
  }
  if (!hb.stale) return { ok: true, detail: hb.state };
  if (!hb.updatedAt) return { ok: false, detail: 'no poller has reported for this mailbox' };
  const why = hb.state === 'stopped' ? 'its poller stopped' : `no heartbeat since ${hb.updatedAt}`;
  return { ok: false, detail: `${why}${hb.lastError ? ` (last error: ${hb.lastError})` : ''}` };
}

/** Mailboxes read over IMAP; file-only mailboxes have no poller and no heartbeat. */
export function imapMailboxIds(config: Pick<Config, 'mailboxes'>): string[] {
  return config.mailboxes.filter((m) => m.imap).map((m) => m.id);
}

/** One check per IMAP mailbox (`mailbox:<id>`), failing when its heartbeat is stale. */
export function mailboxChecks(redis: Redis, prefix: string, mailboxIds: string[], staleAfterMs?: number): ReadinessCheck[] {
  // One read for all mailboxes per probe, shared by their checks.
  let pending: Promise<HeartbeatView[]> | undefined;
  const read = () => {
    pending ??= readHeartbeats(redis, prefix, { mailboxIds, staleAfterMs }).finally(() => {
      setTimeout(() => (pending = undefined), 0);
    });
    return pending;
  };
  return mailboxIds.map((id) => ({
    name: `mailbox:${id}`,
    async check() {
      const hb = (await read()).find((h) => h.mailboxId === id);
      return hb ? heartbeatVerdict(hb) : { ok: false, detail: 'no heartbeat' };
    },
  }));
}

export function tokenSource(redis: Redis, prefix: string): ScrapeSource {
  return {
    name: 'token',
    metrics: ['mailroom_token_valid', 'mailroom_token_days_to_expiry'],
    async collect(m) {
      const h = await readTokenHealth(redis, prefix);
      m.tokenValid.set(h.ok ? 1 : 0);
      if (h.daysLeft !== undefined) m.tokenDaysToExpiry.set(h.daysLeft);
      else m.tokenDaysToExpiry.reset();
    },
  };
}

export function heartbeatSource(redis: Redis, prefix: string, mailboxIds: string[]): ScrapeSource {
  return {
    name: 'heartbeats',
    metrics: ['mailroom_mailbox_heartbeat_age_seconds', 'mailroom_mailbox_state'],
    async collect(m) {
      const now = Date.now();
      for (const hb of await readHeartbeats(redis, prefix, { mailboxIds, now })) {
        if (hb.updatedAt) m.mailboxHeartbeatAge.set({ mailbox: hb.mailboxId }, Math.max(0, (now - Date.parse(hb.updatedAt)) / 1000));
        else m.mailboxHeartbeatAge.remove({ mailbox: hb.mailboxId });
        // A heartbeat no poller refreshes is no one's current state: nobody serves the mailbox.
        const current = hb.stale ? 'stopped' : hb.state;
        for (const state of mailboxStates) m.mailboxState.set({ mailbox: hb.mailboxId, state }, state === current ? 1 : 0);
      }
    },
  };
}
