// The customer reply loop end to end, as the respond e2e tests run it: a real Dovecot mailbox read
// by the poller (mail moved to Processed when done), the resolver and provisioner in process,
// the deliverer and the responder on the Jira simulator over HTTP, a real SMTP server as the
// customers' side, and the web role's webhook intake that the simulator's admin webhook points at.
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue, Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { parseConfig, type Config } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/log.js';
import type { Metrics } from '../../src/core/metrics.js';
import type { Poller } from '../../src/imap/poller.js';
import { createMailStore } from '../../src/mail/store.js';
import { createMailer, type Mailer } from '../../src/notify/mailer.js';
import { createAuditTrail } from '../../src/queues/audit.js';
import { respond } from '../../src/queues/catalog.js';
import { openQueue } from '../../src/queues/queue.js';
import { buildWebServer } from '../../src/web/server.js';
import { startSmtpSink, type SmtpSink } from '../integration/notify-smtp-sink.js';
import { pollerTestConfig, startDovecot, type Dovecot } from './dovecot.js';
import { startSeededSim, type SeededSim } from './jira-sim.js';
import { startPollerWithActions } from './poller-run.js';
import { dropPrefix, testRedis } from './redis.js';
import { FAST_RETRY, startInProcess, type InProcessPipeline } from './sim-run.js';
import { startDelivererWorker, startResponderWorker } from './stage-workers.js';

export interface ReplyLoopOptions {
  prefix: string;
  /** The authserv-id whose Authentication-Results the mailbox trusts. */
  authservId: string;
  /** The mailbox's respond section. */
  respond: Record<string, unknown>;
  /** The responder's metrics (its default registry otherwise). */
  metrics?: Metrics;
}

export interface ReplyLoopRig {
  dovecot: Dovecot;
  jira: SeededSim;
  sink: SmtpSink;
  config: Config;
  redis: Redis;
  mailer: Mailer;
  respondQ: Queue;
  close(): Promise<void>;
}

const SECRET = 'whsec-reply-loop-e2e';

export async function startReplyLoopRig(o: ReplyLoopOptions): Promise<ReplyLoopRig> {
  const { prefix } = o;
  const redis = testRedis();
  const conns: Redis[] = [];
  const conn = () => {
    const r = testRedis({ forWorker: true });
    conns.push(r);
    return r;
  };
  const dovecot = await startDovecot();
  const jira = await startSeededSim();
  const sink = await startSmtpSink();
  const storeDir = await mkdtemp(join(tmpdir(), 'mr-reply-loop-'));
  const { raw, env } = pollerTestConfig(dovecot, {
    storeDir,
    mailbox: {
      addresses: ['support@example.test'],
      after: { action: 'move', folder: 'Processed' },
      // The default policy: nobody gets an account, so Jira itself would never write to them.
      policy: { autoCreate: 'none', authservIds: [o.authservId] },
      deliver: { project: 'SUP' },
      respond: o.respond,
    },
  });
  const config = parseConfig(
    { ...raw, jira: { site: jira.sim.url }, smtp: { host: '127.0.0.1', port: sink.port, tls: 'none', from: 'mailroom@example.test' } },
    { ...env, MAILROOM_PREFIX: prefix },
  );
  const store = createMailStore(config);
  const poller: Poller = await startPollerWithActions({ config, redis, store, logger: silentLogger });
  const pipeline: InProcessPipeline = await startInProcess({
    redis,
    workerConnection: conn,
    prefix,
    mailboxes: config.mailboxes,
    jira: { url: jira.sim.url, email: jira.site.admin.email, token: jira.site.admin.token },
    logger: silentLogger,
    retry: FAST_RETRY,
  });
  const client = jira.client();
  const mailbox = (id: string) => config.mailboxes.find((m) => m.id === id);
  const audit = createAuditTrail({ redis, prefix });
  const deliverer: Worker = startDelivererWorker({ redis, prefix, mailbox, store, jira: async () => client, retry: FAST_RETRY, audit }, { connection: conn(), logger: silentLogger });
  const mailer = createMailer(config.smtp, undefined);
  const responder: Worker = startResponderWorker(
    { redis, prefix, mailer, mailbox, smtpFrom: config.smtp!.from, site: jira.sim.url, installId: prefix, audit, jira: async () => client, ...(o.metrics ? { metrics: o.metrics } : {}) },
    { connection: conn(), logger: silentLogger, retry: FAST_RETRY },
  );
  const respondQ = openQueue(respond, { connection: redis, prefix });
  const web: FastifyInstance = await buildWebServer({
    redis,
    prefix,
    logger: silentLogger,
    auth: { mode: 'basic', users: [{ user: 'ops', password: 'ops-password-1', role: 'admin' }] },
    webhook: { secret: SECRET, rules: [], respondComments: true },
  });
  await web.listen({ host: '127.0.0.1', port: 0 });
  jira.sim.state.webhooks.register({ url: `http://127.0.0.1:${(web.server.address() as AddressInfo).port}/webhooks/jira`, secret: SECRET });
  return {
    dovecot,
    jira,
    sink,
    config,
    redis,
    mailer,
    respondQ,
    async close() {
      await web.close();
      await responder.close();
      await deliverer.close();
      await pipeline.stop();
      await poller.stop();
      mailer.close();
      await respondQ.close();
      await sink.close();
      await dovecot.stop();
      await jira.close();
      for (const c of conns) c.disconnect();
      await dropPrefix(redis, prefix);
      redis.disconnect();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
