// One resolver run over a mail: what each step needs (the mail, its mailbox's policy, the audit
// trail that also tells the job's story) and the progress kept in the job's data, so a re-run
// (after a crash, a promotion or a fallback re-check) continues where the last run stopped.
import type { z } from 'zod';
import type { MailboxConfig, PolicyConfig } from '../config/schema.js';
import { PermanentError } from '../core/errors.js';
import { normalizeMessageId } from '../mail/id.js';
import type { identityProvision, mailInbound, ResolvedPerson } from '../queues/catalog.js';
import type { KeptProgress, ProcessorContext } from '../station/worker.js';
import { jobAudit, type JobAudit, type IdentityContext } from './context.js';
import { normalizeEmail, type Role } from './policy.js';

export type MailInbound = z.infer<typeof mailInbound.payload>;

export type PersonStatus = 'new' | 'known' | 'ignored' | 'held' | 'pending' | 'provisioned' | 'gave-up';

export interface PersonState {
  email: string;
  name?: string;
  role: Role;
  status: PersonStatus;
  accountId?: string;
  mode?: 'user' | 'customer';
  reason?: string;
}

export interface ResolveState {
  v: 1;
  people: PersonState[];
  flood?: { count: number; limit: number; held: boolean };
  /** Times this mail has parked waiting for its people (drives the fallback re-check delay). */
  passes: number;
}

export type ResolveResult =
  | { outcome: 'classified'; kind: string; reason: string }
  | { outcome: 'resolved'; people: ResolvedPerson[]; deliverJobId: string };

/**
 * Where resolver progress is kept in the mail job's data (beside the payload). The value is the
 * stage's old name, stored in queued jobs: renaming it would make a job queued before an upgrade
 * start its resolve again from nothing.
 */
export const RESOLVE_STATE_FIELD = 'pipeline';

export function isResolveState(s: unknown): s is ResolveState {
  const state = s as Partial<ResolveState> | undefined;
  return !!state && state.v === 1 && Array.isArray(state.people);
}

export interface ResolveRun {
  p: IdentityContext;
  ctx: ProcessorContext;
  data: MailInbound;
  mailbox: MailboxConfig;
  policy: PolicyConfig;
  record: MailInbound['record'];
  /** The mail in the audit trail: its Message-ID, or its job id when it has none. */
  mail: string;
  /** What every audit entry of this mail carries. */
  base: { mail: string; mailboxId: string };
  sender?: string;
  audit: JobAudit;
  progress: KeptProgress<ResolveState>;
  /** The token's account, asked for once (for the entries that record a Jira answer). */
  account(): Promise<string>;
}

export function openRun(p: IdentityContext, data: MailInbound, ctx: ProcessorContext): ResolveRun {
  const audit = jobAudit(p, ctx.job);
  const mailbox = p.mailbox(data.mailboxId);
  if (!mailbox) throw new PermanentError(`mail for mailbox "${data.mailboxId}", which is not in the configuration`);
  const record = data.record;
  const mail = record.messageId ? normalizeMessageId(record.messageId) : String(ctx.job.id);
  let tokenAccount: string | undefined;
  return {
    p,
    ctx,
    data,
    mailbox,
    policy: mailbox.policy,
    record,
    mail,
    base: { mail, mailboxId: data.mailboxId },
    sender: record.from ? normalizeEmail(record.from.address) : undefined,
    audit,
    progress: ctx.progress(RESOLVE_STATE_FIELD, isResolveState),
    account: async () => (tokenAccount ??= (await p.jira()).account),
  };
}

/** The provision job that makes `person`'s account, asked for by this mail. */
export function provisionRequest(run: ResolveRun, person: PersonState, mode: 'user' | 'customer'): z.infer<typeof identityProvision.payload> {
  return {
    site: run.p.site,
    email: person.email,
    ...(person.name ? { displayName: person.name } : {}),
    mode,
    mailboxId: run.data.mailboxId,
    messageId: run.mail,
  };
}
