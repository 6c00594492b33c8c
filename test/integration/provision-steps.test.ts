// The provisioner's steps one at a time, on real jobs in Redis and the simulator: each step
// idempotent, a crash between steps resumes where it stopped, and a refused token creates
// nothing. The processor is called directly on a job fetched from the queue (no worker), so
// each test can stage the job data a crashed run would have left.
import { DelayedError, Job, Worker, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthError, PermanentError } from '../../src/core/errors.js';
import { ceilingStatus, takeNewAccount } from '../../src/identity/account-ceiling.js';
import { USER_PROPAGATION_MS, USER_RECHECK_MIN_MS } from '../../src/identity/provision-memberships.js';
import { silentLogger } from '../../src/core/log.js';
import { createIdentityContext, type IdentityContext } from '../../src/identity/context.js';
import { createProvisioner, PROVISION_STATE_FIELD, type ProvisionPayload } from '../../src/identity/provisioner.js';
import { humanRecord, openPipelineQueues, testMailbox } from '../helpers/sim-run.js';
import { registerWaiter } from '../../src/identity/waiters.js';
import { identityProvision, mailInbound } from '../../src/queues/catalog.js';
import { addJob } from '../../src/queues/queue.js';
import { startSeededSim, type SeededSim } from '../helpers/jira-sim.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { processorContext, queueAdder } from '../../src/station/worker.js';

const GROUPS = ['jira-software-users', 'support-customers'];
let jira: SeededSim;
let redis: Redis;
let prefix: string;
let pipeline: IdentityContext;
let queues: ReturnType<typeof openPipelineQueues>;

beforeAll(async () => {
  jira = await startSeededSim();
  redis = testRedis();
});
afterAll(async () => {
  await adding?.close();
  await pipeline.jobs.close();
  await Promise.all(queues.all.map((q) => q.close()));
  await dropPrefix(redis, prefix);
  await jira.close();
  redis.disconnect();
});
beforeEach(async () => {
  if (queues) await Promise.all(queues.all.map((q) => q.close()));
  if (pipeline) await pipeline.jobs.close();
  if (prefix) await dropPrefix(redis, prefix);
  jira.reseed();
  // These steps run once each: no propagation wait for new accounts unless a test asks for one.
  jira.sim.state.userPropagationMs = 0;
  prefix = uniquePrefix('prov');
  const client = jira.client();
  pipeline = createIdentityContext({
    redis,
    prefix,
    site: jira.sim.url,
    mailboxes: [
      testMailbox({ id: 'support', policy: { autoCreate: 'user', groups: GROUPS } }),
      testMailbox({ id: 'desk', policy: { autoCreate: 'customer', serviceDeskId: '1' } }),
    ],
    cache: { positiveTtlMs: 60_000, negativeTtlMs: 60_000 },
    jira: async () => ({ client, account: jira.site.admin.email }),
    logger: silentLogger,
  });
  queues = openPipelineQueues(redis, prefix);
});

async function stage(data: Omit<ProvisionPayload, 'site'>, state?: Record<string, unknown>): Promise<Job> {
  const payload = { site: pipeline.site, ...data };
  await addJob(queues.identityProvision, identityProvision, payload);
  const job = (await Job.fromId(queues.identityProvision as Queue, identityProvision.jobId(payload)))!;
  if (state) await job.updateData({ ...payload, [PROVISION_STATE_FIELD]: state });
  return job;
}

// Adds from a processor go to queues opened on the test's connection, as a worker's do.
let adding: ReturnType<typeof queueAdder> | undefined;
const adder = () => (adding ??= queueAdder({ connection: redis, prefix }));

function run(job: Job) {
  return createProvisioner(pipeline)(identityProvision.payload.parse(job.data), processorContext(job, silentLogger, adder().add));
}

/** Runs a job a worker holds (`token` is its lock), as the station does: parking needs the lock. */
function runHeld(job: Job, token: string) {
  return createProvisioner(pipeline)(identityProvision.payload.parse(job.data), processorContext(job, silentLogger, adder().add, token));
}

const members = (g: string, id: string) => jira.sim.state.group({ name: g })!.members.has(id);

describe('provisioner steps', () => {
  it('creates the user with products, joins every group, teaches the cache; a second run changes nothing', async () => {
    const job = await stage({ email: 'New.Person@Example.com', displayName: 'New Person', mode: 'user', mailboxId: 'support' });
    const r = (await run(job)) as { accountId: string; created: boolean };
    const [a] = jira.sim.state.accountsByEmail('new.person@example.com');
    expect(r).toMatchObject({ accountId: a!.accountId, created: true });
    expect(a!.products).toEqual(['jira-software']);
    expect(a!.displayName).toBe('New Person (example.com)');
    for (const g of GROUPS) expect(members(g, a!.accountId)).toBe(true);
    expect(await pipeline.cache.peek('new.person@example.com')).toMatchObject({ found: true, account: { accountId: a!.accountId } });

    const again = (await Job.fromId(queues.identityProvision as Queue, job.id!))!;
    await run(again);
    expect(jira.sim.counters.count('createUser')).toBe(1);
    expect(jira.sim.counters.count('addUserToGroup')).toBe(2);
  });

  it('a just-created account that group add calls "user not found" parks the job (waiting, no attempt spent), then joins', async () => {
    jira.sim.state.userPropagationMs = 60_000;
    const job = await stage({ email: 'slow.sync@example.com', mode: 'user', mailboxId: 'support' });
    // A worker's hold on the job (its lock token): parking moves the job under that lock.
    const workerRedis = testRedis({ forWorker: true });
    const holder = new Worker(identityProvision.name, null, { connection: workerRedis, prefix, autorun: false });
    try {
      const held = (await holder.getNextJob('holder-1'))!;
      expect(held.id).toBe(job.id);
      const before = Date.now();
      const e = await runHeld(held, 'holder-1').then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(DelayedError);
      const parked = (await Job.fromId(queues.identityProvision as Queue, job.id!))!;
      expect(await parked.getState()).toBe('delayed');
      expect(parked.attemptsMade).toBe(0);
      const since = (parked.data[PROVISION_STATE_FIELD] as { userMissingSince?: number }).userMissingSince!;
      expect(since).toBeGreaterThanOrEqual(before);
      // The first re-check comes after USER_RECHECK_MIN_MS (BullMQ keeps the time in the delayed set's score, times 0x1000).
      const due = Math.floor(Number(await redis.zscore(`${prefix}:${identityProvision.name}:delayed`, job.id!)) / 0x1000);
      expect(due - since).toBeGreaterThanOrEqual(USER_RECHECK_MIN_MS);
      expect(due - since).toBeLessThan(USER_RECHECK_MIN_MS + 1_000);
      expect(jira.sim.counters.count('createUser')).toBe(1);

      // Propagated: the next run joins every group and creates nothing more.
      jira.sim.state.userPropagationMs = 0;
      await parked.promote();
      const again = (await holder.getNextJob('holder-2'))!;
      expect(again.id).toBe(job.id);
      await runHeld(again, 'holder-2');
      const [a] = jira.sim.state.accountsByEmail('slow.sync@example.com');
      for (const g of GROUPS) expect(members(g, a!.accountId)).toBe(true);
      expect(jira.sim.counters.count('createUser')).toBe(1);
    } finally {
      await holder.close();
      workerRedis.disconnect();
    }
  });

  it('a user still not found after the propagation bound fails the job naming the user; a missing group is named as a group', async () => {
    jira.sim.state.userPropagationMs = 3_600_000;
    const job = await stage({ email: 'never.there@example.com', mode: 'user', mailboxId: 'support' });
    await run(job).catch(() => undefined);
    const fresh = (await Job.fromId(queues.identityProvision as Queue, job.id!))!;
    // The first refusal was long ago (past USER_PROPAGATION_MS).
    await fresh.updateData({ ...fresh.data, [PROVISION_STATE_FIELD]: { ...fresh.data[PROVISION_STATE_FIELD], userMissingSince: Date.now() - USER_PROPAGATION_MS - 1 } });
    const e = await run((await Job.fromId(queues.identityProvision as Queue, job.id!))!).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(PermanentError);
    expect((e as Error).message).toMatch(/still does not know the user never\.there@example\.com \(accountId [0-9a-f]+\) when adding it to group jira-software-users/);
  });

  it('resumes after a crash during create: looks up first and does not create again', async () => {
    // The earlier run sent the create (Jira made the account), then died before recording it.
    jira.sim.state.addAccount({ email: 'halfway@example.com', products: ['jira-software'] });
    const job = await stage({ email: 'halfway@example.com', mode: 'user', mailboxId: 'support' }, { v: 1, step: 'creating', groupsDone: 0 });
    await run(job);
    expect(jira.sim.counters.count('createUser')).toBe(0);
    expect(jira.sim.counters.count('findUsers')).toBe(1);
    const [a] = jira.sim.state.accountsByEmail('halfway@example.com');
    for (const g of GROUPS) expect(members(g, a!.accountId)).toBe(true);
  });

  it('resumes after a crash between groups: only the groups not yet joined are asked for', async () => {
    const a = jira.sim.state.addAccount({ email: 'mid@example.com', products: ['jira-software'] });
    jira.sim.state.addToGroup({ name: GROUPS[0] }, a.accountId);
    const job = await stage({ email: 'mid@example.com', mode: 'user', mailboxId: 'support' }, { v: 1, step: 'memberships', accountId: a.accountId, groupsDone: 1 });
    await run(job);
    expect(jira.sim.counters.count('addUserToGroup')).toBe(1);
    expect(members(GROUPS[1]!, a.accountId)).toBe(true);
  });

  it('an account made by someone else since the resolver looked is adopted, not counted as created; "already a member" is success', async () => {
    // Someone created the account after the resolver's negative lookup. Jira would answer the
    // create 201 with that account, like a real creation: the provisioner asks again first.
    const a = jira.sim.state.addAccount({ email: 'racer@example.com', products: ['jira-software'] });
    jira.sim.state.addToGroup({ name: GROUPS[0] }, a.accountId);
    // The resolver counted it as a new account under the ceilings before queueing the job.
    await takeNewAccount(redis, prefix, 'sender@example.com', 'racer@example.com', { perSenderPerHour: 5, perInstallPerHour: 5 });
    expect((await ceilingStatus(redis, prefix)).thisHour).toBe(1);
    const job = await stage({ email: 'racer@example.com', mode: 'user', mailboxId: 'support' });
    const r = await run(job);
    expect(r).toMatchObject({ accountId: a.accountId, created: false });
    // Not created: the install's ceiling slot it took is given back.
    expect((await ceilingStatus(redis, prefix)).thisHour).toBe(0);
    expect(jira.sim.state.accountsByEmail('racer@example.com')).toHaveLength(1);
    for (const g of GROUPS) expect(members(g, a.accountId)).toBe(true);
    const trail = await pipeline.audit.read('racer@example.com');
    expect(trail.map((e) => `${e.step}:${e.outcome}`)).toEqual(
      expect.arrayContaining(['lookup-before-create:found', 'add-to-group:already-member', 'add-to-group:added', 'account-ready:ok']),
    );
    expect(trail.map((e) => e.step)).not.toContain('create-user');
  });

  it('a user that exists without Jira access is adopted as it is: no create, so no licence bought by asking for products', async () => {
    const a = jira.sim.state.addAccount({ email: 'dormant@example.com', products: [] });
    const job = await stage({ email: 'dormant@example.com', mode: 'user', mailboxId: 'support' });
    expect(await run(job)).toMatchObject({ accountId: a.accountId, created: false });
    expect(jira.sim.state.accounts.get(a.accountId)!.products).toEqual([]);
    expect(jira.sim.counters.violations('createExisting')).toBe(0);
  });

  it('makes a JSM customer (name from the local part) and adds it to the service desk; "exists" is looked up', async () => {
    const job = await stage({ email: 'jo.blogs@client.example', mode: 'customer', mailboxId: 'desk' });
    const r = (await run(job)) as { accountId: string };
    const desk = jira.sim.state.serviceDesks.get('1')!;
    expect(desk.customers.has(r.accountId)).toBe(true);
    expect(jira.sim.state.accounts.get(r.accountId)!.displayName).toBe('jo.blogs (client.example)');

    const existing = await stage({ email: 'carol@customer.example', mode: 'customer', mailboxId: 'desk' });
    const r2 = (await run(existing)) as { accountId: string; created: boolean };
    expect(r2).toMatchObject({ accountId: jira.site.users.customer.accountId, created: false });
  });

  it('creates nothing with a refused token: the anonymous answer is an AuthError, not "no such user"', async () => {
    jira.sim.state.revokeToken(jira.site.admin.token);
    const job = await stage({ email: 'ghost@example.com', mode: 'user', mailboxId: 'support' }, { v: 1, step: 'creating', groupsDone: 0 });
    await expect(run(job)).rejects.toBeInstanceOf(AuthError);
    const fresh = await stage({ email: 'ghost2@example.com', mode: 'user', mailboxId: 'support' });
    await expect(run(fresh)).rejects.toBeInstanceOf(AuthError);
    expect(jira.sim.state.accountsByEmail('ghost@example.com')).toHaveLength(0);
    expect(jira.sim.state.accountsByEmail('ghost2@example.com')).toHaveLength(0);
    expect(jira.sim.counters.violations('createAfterAnonymousSearch')).toBe(0);
    expect(jira.sim.counters.count('createUser', 201)).toBe(0);
  });

  it('promotes the mails waiting for the account when it is ready', async () => {
    const mail = await addJob(queues.mailInbound, mailInbound, {
      mailboxId: 'support',
      origin: { kind: 'file' },
      record: humanRecord({ from: { address: 'waited@example.com' }, messageId: '<w1@x>' }),
      receivedAt: new Date().toISOString(),
    }, undefined, { delay: 3_600_000 });
    await registerWaiter(redis, prefix, pipeline.site, 'waited@example.com', mail.id!);
    expect(await queues.mailInbound.getJobState(mail.id!)).toBe('delayed');
    await run(await stage({ email: 'waited@example.com', mode: 'user', mailboxId: 'support' }));
    expect(await queues.mailInbound.getJobState(mail.id!)).toBe('waiting');
  });
});
