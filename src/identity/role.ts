// The resolver and provisioner roles: the Jira client on the stored workaround token, the
// token gate (an AuthError pauses every queue that needs the token), the pipeline, and a
// worker per role (src/token/worker-role.ts). workers/resolver.ts and workers/provisioner.ts
// only call runRoles().
import type { Worker } from 'bullmq';
import { describeError } from '../core/errors.js';
import { unreadableVerdicts } from '../mail/sender-trust.js';
import { identityProvision, mailInbound } from '../queues/catalog.js';
import { startWorker, type WorkerOptions } from '../queues/worker.js';
import type { RoleStarter } from '../queues/role.js';
import type { TokenRuntime } from '../token/runtime.js';
import { tokenWorkerRole, type TokenRoleEnv, type TokenRoleOptions, type TokenRoleParts } from '../token/worker-role.js';
import { createPipeline, pipelineOptionsFrom, type JiraProvider, type Pipeline } from './context.js';
import { createProvisioner, onProvisionFailed } from './provisioner.js';
import { createResolver } from './resolver.js';

/** How a pipeline worker runs; concurrency and stall settings come from the queue catalog unless given. */
export type PipelineWorkerDeps = WorkerOptions;

export function startResolverWorker(p: Pipeline, deps: PipelineWorkerDeps): Worker {
  return startWorker(mailInbound, createResolver(p), { prefix: p.prefix, retry: p.retry, ...deps });
}

export function startProvisionerWorker(p: Pipeline, deps: PipelineWorkerDeps): Worker {
  const w = startWorker(identityProvision, createProvisioner(p), { prefix: p.prefix, retry: p.retry, ...deps });
  w.on('failed', (job) => {
    onProvisionFailed(p, job).catch((e) => deps.logger.warn({ err: describeError(e) }, 'could not release mails waiting on a failed provision job'));
  });
  return w;
}

/**
 * The pipeline's view of the token runtime: a client on the current token and its account. Both
 * reads go out together (each is one Redis round trip): this runs before every Jira lookup and
 * every provision job, on the path a new sender waits on (issue #25, docs/benchmarks.md).
 */
export function tokenJira(token: Pick<TokenRuntime, 'source'>): JiraProvider {
  return async () => {
    const [client, creds] = await Promise.all([token.source.client(), token.source.credentials()]);
    return { client, account: creds.email };
  };
}

/** Tuning for tests and crash drills: how soon a dead worker's jobs are taken over. */
export type PipelineRoleOptions = TokenRoleOptions;

function pipelineParts(role: 'resolver' | 'provisioner', { ctx, logger, redis, token }: TokenRoleEnv): TokenRoleParts {
  // Once per start, loudly: a mailbox whose senders can never be verified (docs/sender-verdicts.md).
  if (role === 'resolver') for (const w of unreadableVerdicts(ctx.config.mailboxes)) logger.warn({ check: 'sender-verdicts' }, w);
  const pipeline = createPipeline(pipelineOptionsFrom(ctx.config, redis, logger, tokenJira(token)));
  const start = role === 'resolver' ? startResolverWorker : startProvisionerWorker;
  return {
    workers: [(w) => start(pipeline, w)],
    // The queues the pipeline looked at jobs on.
    queues: [pipeline.jobs],
  };
}

export const resolverRole = (opts?: PipelineRoleOptions): RoleStarter =>
  tokenWorkerRole({ role: 'resolver', options: opts, build: (env) => pipelineParts('resolver', env) });
export const provisionerRole = (opts?: PipelineRoleOptions): RoleStarter =>
  tokenWorkerRole({ role: 'provisioner', options: opts, build: (env) => pipelineParts('provisioner', env) });
