// What a notification is about, decided from a Jira webhook or a CLI call: pure functions,
// table-tested. The event names are the config's (notifications.rules[].events); Jira's own
// webhook event names map onto them.
import { createHash } from 'node:crypto';
import type { FileConfig } from '../config/schema.js';

export const NOTIFY_EVENTS = ['issue_created', 'issue_updated', 'comment_created'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export type NotificationRule = NonNullable<FileConfig['notifications']>['rules'][number];

/** Jira Cloud's `webhookEvent` values for the events Mailroom notifies about. */
const WEBHOOK_EVENTS: Record<string, NotifyEvent> = {
  'jira:issue_created': 'issue_created',
  'jira:issue_updated': 'issue_updated',
  comment_created: 'comment_created',
};

export function isNotifyEvent(name: string): name is NotifyEvent {
  return (NOTIFY_EVENTS as readonly string[]).includes(name);
}

/** The event named by a webhook's `webhookEvent`, or undefined for events Mailroom does not notify about. */
export function eventOfWebhook(webhookEvent: unknown): NotifyEvent | undefined {
  return typeof webhookEvent === 'string' ? WEBHOOK_EVENTS[webhookEvent] : undefined;
}

/** A readable refusal for an event name that does not exist (CLI and config share it). */
export function unknownEventMessage(name: string): string {
  return `unknown event "${name}": use one of ${NOTIFY_EVENTS.join(', ')}`;
}

export const ISSUE_KEY = /^[A-Z][A-Z0-9_]+-[1-9]\d*$/;

/** The project key of an issue key (SUP-12 -> SUP); undefined when it is not an issue key. */
export function projectOfIssueKey(key: string): string | undefined {
  return ISSUE_KEY.test(key) ? key.slice(0, key.lastIndexOf('-')) : undefined;
}

/**
 * Who receives `event` on an issue of `project`: the union of every matching rule's groups and
 * users, in rule order, without repeats (group names compared case-insensitively, as Jira does).
 */
export function recipientsFor(rules: readonly NotificationRule[], project: string, event: NotifyEvent): { groups: string[]; users: string[] } {
  const groups: string[] = [];
  const users: string[] = [];
  for (const r of rules) {
    if (r.project !== project || !r.events.includes(event)) continue;
    for (const g of r.groups) if (!groups.some((x) => x.toLowerCase() === g.toLowerCase())) groups.push(g);
    for (const u of r.users) if (!users.includes(u.toLowerCase())) users.push(u.toLowerCase());
  }
  return { groups, users };
}

/**
 * A stable id for one event, safe in a BullMQ job id (no `:`). The same webhook delivered
 * again (Jira retries with the same X-Atlassian-Webhook-Identifier, and the same timestamp in
 * the body) gives the same id, so it is queued once and notifies once.
 */
export function webhookEventId(o: { identifier?: string; timestamp?: number | string; issueKey: string; event: NotifyEvent; commentId?: string; rawBody: Buffer }): string {
  const who = o.identifier ? `id-${o.identifier}` : o.timestamp !== undefined && o.timestamp !== '' ? `ts-${o.timestamp}` : `sha-${sha(o.rawBody).slice(0, 32)}`;
  const parts = ['wh', who, o.issueKey, o.event, ...(o.commentId ? [`c${o.commentId}`] : [])];
  return safeId(parts.join('-'));
}

/** Keep ids to letters, digits and `._-`; a long id is shortened with a hash of the whole. */
export function safeId(s: string): string {
  const clean = s.replace(/[^A-Za-z0-9._-]+/g, '_');
  return clean.length <= 160 ? clean : `${clean.slice(0, 120)}-${sha(s).slice(0, 24)}`;
}

function sha(x: string | Buffer): string {
  return createHash('sha256').update(x).digest('hex');
}
