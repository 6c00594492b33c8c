// One provisioner run over a provision job: what each step needs (the mailbox's policy, the
// client on the token, the audit trail that also tells the job's story) and the progress kept
// in the job's data, so a crash anywhere resumes where it stopped.
import type { z } from 'zod';
import type { PolicyConfig } from '../config/schema.js';
import { PermanentError } from '../core/errors.js';
import type { identityProvision } from '../queues/catalog.js';
import type { KeptProgress, ProcessorContext } from '../station/worker.js';
import type { CachedAccount, CacheEntry } from './cache.js';
import { jobAudit, type IdentityClient, type JobAudit, type IdentityContext } from './context.js';

export type ProvisionPayload = z.infer<typeof identityProvision.payload>;

type Step = 'start' | 'creating' | 'memberships' | 'done';

export interface ProvisionState {
  v: 1;
  step: Step;
  accountId?: string;
  account?: CachedAccount;
  created?: boolean;
  /** Groups (by index in the policy) already joined. */
  groupsDone: number;
  serviceDeskDone?: boolean;
  /** When a group add first answered "user not found" for this account (epoch ms): the propagation wait is bounded from here. */
  userMissingSince?: number;
}

export const PROVISION_STATE_FIELD = 'provision';

export function isProvisionState(s: unknown): s is ProvisionState {
  const state = s as Partial<ProvisionState> | undefined;
  return !!state && state.v === 1 && typeof state.step === 'string';
}

export interface ProvisionRun {
  p: IdentityContext;
  ctx: ProcessorContext;
  data: ProvisionPayload;
  /** Lower-cased: one account per site and email. */
  email: string;
  policy: PolicyConfig;
  client: IdentityClient;
  /** What every audit entry of this job carries. */
  base: { email: string; mail?: string; mailboxId: string; tokenAccount: string };
  audit: JobAudit;
  progress: KeptProgress<ProvisionState>;
  state: ProvisionState;
  /** The identity cache's entry for the email when the run opened (read beside the token). */
  known: CacheEntry | undefined;
}

/** Checks the job against the configuration (a mismatch fails for good), then reads its progress. */
export async function openProvisionRun(p: IdentityContext, data: ProvisionPayload, ctx: ProcessorContext): Promise<ProvisionRun> {
  const email = data.email.trim().toLowerCase();
  if (data.site !== p.site) throw new PermanentError(`provision job for site ${data.site}, but this worker serves ${p.site}`);
  const mailbox = p.mailbox(data.mailboxId);
  if (!mailbox) throw new PermanentError(`provision job for mailbox "${data.mailboxId}", which is not in the configuration`);
  const policy = mailbox.policy;
  if (data.mode === 'customer' && !policy.serviceDeskId) {
    throw new PermanentError(`mailbox "${data.mailboxId}" auto-creates customers but has no policy.serviceDeskId`);
  }
  const audit = jobAudit(p, ctx.job);
  // Both reads at once: a new sender's mail waits on every round trip of this job (issue #25).
  const [{ client, account: tokenAccount }, known] = await Promise.all([p.jira(), p.cache.peek(email)]);
  const progress = ctx.progress(PROVISION_STATE_FIELD, isProvisionState);
  return {
    p,
    ctx,
    data,
    email,
    policy,
    client,
    base: { email, mail: data.messageId, mailboxId: data.mailboxId, tokenAccount },
    audit,
    progress,
    state: progress.read() ?? { v: 1, step: 'start', groupsDone: 0 },
    known,
  };
}
