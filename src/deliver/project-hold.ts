// The deliverer's side of the per-project breaker (project-breaker.ts): before placing a mail,
// hold it while its project is held (re-checking when due); when a step meets a permission
// refusal it cannot degrade around, count it, and fail the job naming the permission and the
// setting that points at the project, or hold it too once the breaker is open.
import { PermanentError } from '../core/errors.js';
import { PermissionError } from '../jira/errors.js';
import type { Delivery } from './delivery.js';
import { BREAKER_RECHECK_MS, claimRecheck, closeBreaker, postponeRecheck, readBreaker, recordRefusal } from '../token/project-breaker.js';
import { isRequestRoute, type DeliverRoute } from './route.js';

/** Jira's own permission keys can be asked of /mypermissions; a phrase (JSM, where Jira has no key) cannot. */
const JIRA_KEY = /^[A-Z][A-Z_]+$/;
/** Spread woken jobs over a few seconds, so a resumed project is not hit by all of them at once. */
const WAKE_SPREAD_MS = 5_000;

/** The breaker's name for a route: its project key, or the service desk when no project is configured. */
export function breakerProject(route: DeliverRoute): string {
  return route.project ?? (isRequestRoute(route) ? `desk-${route.serviceDeskId}` : 'unknown');
}

function configKeyOf(d: Delivery): string {
  const field = d.route.project ? 'deliver.project' : 'deliver.serviceDeskId';
  return `mailboxes[id=${d.mailbox.id}].${field}`;
}

async function holdUntil(d: Delivery, at: number): Promise<never> {
  return d.ctx.park(at + Math.floor(Math.random() * WAKE_SPREAD_MS), `project held by its breaker (${configKeyOf(d)})`);
}

/**
 * Held project: wait for its next check; when the check is due, one job asks Jira and either
 * resumes the project (and goes on delivering) or puts the check back one period.
 */
export async function holdIfProjectHeld(d: Delivery): Promise<void> {
  const project = breakerProject(d.route);
  const b = await readBreaker(d.deps.redis, d.deps.prefix, project);
  if (!b?.open) return;
  const every = d.deps.breakerRecheckMs ?? BREAKER_RECHECK_MS;
  const now = Date.now();
  if ((b.nextCheckAt ?? 0) > now) return holdUntil(d, b.nextCheckAt!);
  if (!(await claimRecheck(d.deps.redis, d.deps.prefix, project, every))) return holdUntil(d, now + every);
  // A permission Jira has no key for cannot be asked: this job goes through as the probe.
  const held = JIRA_KEY.test(b.permission) && d.route.project ? (await d.client.myPermissions([b.permission], { projectKey: d.route.project }))[b.permission] === true : true;
  if (held) {
    await closeBreaker(d.deps.redis, d.deps.prefix, project);
    d.ctx.log.info({ project, permission: b.permission }, 'the held project may be delivered to again: resumed');
    return;
  }
  return holdUntil(d, await postponeRecheck(d.deps.redis, d.deps.prefix, project, now, every));
}

/** A refusal no step could degrade around: count it; fail naming what to grant, or hold once the breaker is open. */
export async function onRefusal(d: Delivery, e: PermissionError): Promise<never> {
  const project = breakerProject(d.route);
  const configKey = configKeyOf(d);
  const b = await recordRefusal(d.deps.redis, d.deps.prefix, { project, permission: e.permission, configKey, detail: e.message }, Date.now(), d.deps.breakerRecheckMs);
  d.ctx.log.warn({ project, permission: e.permission, failures: b.failures, held: b.open }, 'Jira refused a permission in this project');
  if (b.open) return holdUntil(d, b.nextCheckAt ?? Date.now() + (d.deps.breakerRecheckMs ?? BREAKER_RECHECK_MS));
  throw new PermanentError(`${e.message}. Grant ${e.permission} to the workaround user in project ${project} (the project ${configKey} points at), then run the mail again`);
}

export function isRefusal(e: unknown): e is PermissionError {
  return e instanceof PermissionError;
}
