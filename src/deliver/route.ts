// Pure decisions of delivery: the summary, who reports, who participates, which issue a reply
// answers (by key in the subject), how a comment says who wrote it. (A mail's ids: src/mail/id.ts.)
import type { MailboxConfig } from '../config/schema.js';
import type { ResolvedPerson } from '../queues/catalog.js';
import type { MailRecord } from '../mail/record.js';
import { plainName } from '../mail/content.js';

/** Jira refuses summaries longer than this (characters, as JavaScript counts them). */
export const SUMMARY_MAX = 255;

export type DeliverRoute = NonNullable<MailboxConfig['deliver']>;

export function isRequestRoute(r: DeliverRoute): r is Extract<DeliverRoute, { serviceDeskId: string }> {
  return 'serviceDeskId' in r;
}

/** The project whose issue keys a reply may name (a JSM route names it only optionally). */
export function routeProject(r: DeliverRoute): string | undefined {
  return r.project;
}

/** Cut to `max` UTF-16 units without splitting a surrogate pair, ending with an ellipsis when cut. */
export function clipText(s: string, max: number): string {
  if (s.length <= max) return s;
  let out = '';
  for (const ch of s) {
    if (out.length + ch.length > max - 1) break;
    out += ch;
  }
  return out.trimEnd() + '…';
}

/** The issue summary: the subject on one line, trimmed to Jira's limit; a placeholder when empty. */
export function summaryOf(subject: string, from?: { address: string; name?: string }): string {
  const s = subject.replace(/[\r\n\t]+/g, ' ').replace(/\s{2,}/g, ' ').trim();
  if (s) return clipText(s, SUMMARY_MAX);
  const who = plainName(from?.name ?? '') || from?.address;
  return clipText(who ? `(no subject) mail from ${who}` : '(no subject)', SUMMARY_MAX);
}

/** Issue keys of `project` named in the subject, in order, without repeats. */
export function issueKeysIn(subject: string, project: string | undefined): string[] {
  if (!project) return [];
  const re = new RegExp(`(?<![A-Za-z0-9_-])${project}-(\\d+)(?!\\d)`, 'g');
  return [...new Set([...subject.matchAll(re)].map((m) => `${project}-${Number(m[1])}`))];
}

export interface People {
  /** The sender's account, when the resolver found or made one. */
  reporter?: string;
  /** Other participants with accounts (To/Cc, as the mailbox's policy resolved them), without the reporter. */
  participants: string[];
}

export function peopleOf(people: ResolvedPerson[] | undefined): People {
  const list = people ?? [];
  const reporter = list.find((p) => p.role === 'sender' && p.accountId)?.accountId;
  const participants = [...new Set(list.filter((p) => p.role !== 'sender' && p.accountId && p.accountId !== reporter).map((p) => p.accountId!))];
  return { ...(reporter ? { reporter } : {}), participants };
}

/**
 * `Name <address>`, as the issue's description and a comment's first line name the writer. The
 * name is the sender's claim and is shown without bidi and invisible characters (as account
 * names are, input-hardening.md): `Ana \u202e` would show the address after it reversed.
 */
export function senderLabel(from: { address: string; name?: string } | undefined): string {
  if (!from) return 'an unknown sender';
  const name = plainName(from.name ?? '');
  return name ? `${name} <${from.address}>` : from.address;
}

/** First line of a comment: API comments are authored by the token's account, so say who wrote it. */
export function commentPreface(record: Pick<MailRecord, 'from' | 'date'>): string {
  const when = record.date ? ` on ${record.date.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')}` : '';
  return `${senderLabel(record.from)} wrote by mail${when}:`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
