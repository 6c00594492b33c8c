// POST /webhooks/jira: Jira Cloud's admin webhook (issue created/updated, comment created),
// verified by its HMAC signature over the raw body, mapped through notifications.rules onto
// recipients, and queued as one `notify` job per event. A bad or missing signature is a 401
// and queues nothing. Replays are recognised by what the signature covers (the body's event,
// issue and timestamp), never by the unsigned delivery-id header: a body seen before within
// the freshness window queues nothing new, and a body outside the window is refused.
//
// An encapsulated Fastify plugin: its raw-body parser applies to this route only.
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { RetryConfig } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import { registerSecret } from '../core/log.js';
import { enqueueNotification } from '../notify/enqueue.js';
import { eventOfWebhook, projectOfIssueKey, recipientsFor, webhookEventId, webhookFreshness, WEBHOOK_MAX_AGE_MS, type NotificationRule } from '../notify/events.js';
import { checkSignature, SIGNATURE_HEADER } from '../notify/signature.js';
import { notify, respond } from '../queues/catalog.js';
import { addJob, openQueue } from '../queues/queue.js';
import { key, type Redis } from '../core/redis.js';

export const WEBHOOK_PATH = '/webhooks/jira';
/**
 * The webhook's body limit, enforced while reading (Fastify refuses a larger Content-Length at
 * once with 413, and counts the bytes of a chunked body as they come). Issue events carry the
 * whole issue; Jira Cloud caps a text field (description, environment, a comment) at 32,767
 * characters (JRACLOUD-78553: "CONTENT_LIMIT_EXCEEDED" beyond it). A description and a comment
 * at that cap, every character escaped as \uXXXX in JSON, are 2 x 32,767 x 6 = 393 KB; the
 * rest of an issue (users, status, project, custom fields) is a few KB to tens of KB. 1 MiB
 * leaves more than twice that as headroom, where the old 5 MiB let 60 unauthenticated posts
 * hold 300 MB. See docs/web-hardening.md.
 */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;
/** Jira's delivery id: logged only. It is not signed, so it identifies nothing. */
export const IDENTIFIER_HEADER = 'x-atlassian-webhook-identifier';

/** Marks a signed event as seen, for twice the freshness window (then its body is refused as stale anyway). */
export function seenKey(prefix: string, eventId: string): string {
  return key(prefix, 'webhook', 'seen', eventId);
}

export interface JiraWebhookOptions {
  redis: Redis;
  /** Mailroom's Redis key prefix (not `prefix`: Fastify reads that as a URL prefix for the plugin). */
  keyPrefix: string;
  /** config.secrets.webhookSecret; without it every request is refused. */
  secret: string | undefined;
  rules: readonly NotificationRule[];
  /**
   * Some mailbox mails agents' comments to customers (respond.comments): every comment_created
   * queues a `respond` job, whether or not a notification rule names the project.
   */
  respondComments?: boolean;
  retry?: Partial<Record<string, RetryConfig>>;
  /** Default WEBHOOK_BODY_LIMIT. */
  bodyLimit?: number;
  /** A body whose timestamp is further than this from now is refused (WEBHOOK_MAX_AGE_MS). */
  maxAgeMs?: number;
  now?: () => number;
}

interface WebhookBody {
  webhookEvent?: unknown;
  timestamp?: number | string;
  issue?: { key?: unknown; fields?: { summary?: unknown; project?: { key?: unknown } } };
  comment?: { id?: unknown };
  changelog?: { id?: unknown };
}

export const jiraWebhook: FastifyPluginAsync<JiraWebhookOptions> = async (scope: FastifyInstance, opts) => {
  const queue: Queue = openQueue(notify, { connection: opts.redis, prefix: opts.keyPrefix });
  const respondQueue: Queue = openQueue(respond, { connection: opts.redis, prefix: opts.keyPrefix });
  scope.addHook('onClose', async () => void (await Promise.all([queue.close(), respondQueue.close()])));
  registerSecret(opts.secret);
  if (!opts.secret) scope.log.warn('no Jira webhook secret configured (notifications.webhookSecretEnv): every webhook will be refused');

  // The signature is over the exact bytes received: keep them, parse JSON ourselves afterwards.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  scope.post(WEBHOOK_PATH, { bodyLimit: opts.bodyLimit ?? WEBHOOK_BODY_LIMIT }, async (req, reply) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const sig = checkSignature(opts.secret, raw, req.headers[SIGNATURE_HEADER]);
    if (!sig.ok) {
      req.log.warn({ why: sig.why }, 'jira webhook refused');
      return reply.code(401).send({ error: 'unauthorized', detail: sig.why });
    }
    let body: WebhookBody;
    try {
      body = JSON.parse(raw.toString('utf8')) as WebhookBody;
    } catch {
      return reply.code(400).send({ error: 'bad request', detail: 'the body is not JSON' });
    }
    const event = eventOfWebhook(body?.webhookEvent);
    if (!event) return reply.code(200).send({ queued: false, reason: `event ${JSON.stringify(body?.webhookEvent)} is not one Mailroom notifies about` });
    const issueKey = typeof body.issue?.key === 'string' ? body.issue.key : undefined;
    if (!issueKey) return reply.code(400).send({ error: 'bad request', detail: 'the webhook names no issue (issue.key)' });
    const projectField = body.issue?.fields?.project?.key;
    const project = typeof projectField === 'string' ? projectField : projectOfIssueKey(issueKey);
    const { groups, users } = project ? recipientsFor(opts.rules, project, event) : { groups: [], users: [] };
    const commentId = event === 'comment_created' && opts.respondComments && /^\d+$/.test(String(body.comment?.id ?? '')) ? String(body.comment!.id) : undefined;
    if (!groups.length && !users.length && !commentId) {
      return reply.code(200).send({ queued: false, reason: `no notification rule for ${event} in project ${project ?? '(unknown)'}` });
    }
    const fresh = webhookFreshness(body.timestamp, (opts.now ?? Date.now)(), opts.maxAgeMs ?? WEBHOOK_MAX_AGE_MS);
    if (!fresh.ok) {
      req.log.warn({ why: fresh.why, issueKey, delivery: req.headers[IDENTIFIER_HEADER] }, 'jira webhook refused');
      return reply.code(400).send({ error: 'bad request', detail: fresh.why });
    }
    const eventId = webhookEventId({
      timestamp: fresh.at,
      issueKey,
      event,
      commentId: event === 'comment_created' && body.comment?.id !== undefined ? String(body.comment.id) : undefined,
      changelogId: event === 'issue_updated' && body.changelog?.id !== undefined ? String(body.changelog.id) : undefined,
    });
    // The job id dedupes while the job is kept; this mark outlives it for the whole window.
    const seen = seenKey(opts.keyPrefix, eventId);
    let first: boolean;
    try {
      first = (await opts.redis.set(seen, '1', 'PX', 2 * (opts.maxAgeMs ?? WEBHOOK_MAX_AGE_MS), 'NX')) === 'OK';
    } catch (e) {
      req.log.error({ err: describeError(e) }, 'could not record the webhook');
      return reply.code(503).send({ error: 'unavailable', detail: 'could not record the webhook; try again' });
    }
    if (commentId) {
      if (!(await queueCommentMail(respondQueue, { issueKey, commentId }, opts, seen, req.log))) {
        return reply.code(503).send({ error: 'unavailable', detail: 'could not queue the customer mail; try again' });
      }
      if (!groups.length && !users.length) return reply.code(first ? 202 : 200).send({ queued: first, respond: true });
    }
    if (!first) {
      req.log.info({ eventId, issueKey, event }, 'webhook replayed: seen before, nothing queued');
      return reply.code(200).send({ queued: false, duplicate: true, jobId: notify.jobId({ issueKey, event, groups, users, eventId }) });
    }
    const summary = typeof body.issue?.fields?.summary === 'string' ? body.issue.fields.summary.slice(0, 500) : undefined;
    try {
      const r = await enqueueNotification(queue, { issueKey, event, groups, users, eventId, ...(summary ? { summary } : {}) }, opts.retry);
      req.log.info({ jobId: r.jobId, created: r.created, issueKey, event }, r.created ? 'notification queued' : 'webhook replayed: already queued');
      return reply.code(r.created ? 202 : 200).send({ queued: r.created, duplicate: !r.created, jobId: r.jobId });
    } catch (e) {
      // Redis down: a 5xx makes Jira deliver again later, and that delivery must not read as a replay.
      await opts.redis.del(seen).catch(() => undefined);
      req.log.error({ err: describeError(e) }, 'could not queue the notification');
      return reply.code(503).send({ error: 'unavailable', detail: 'could not queue the notification; try again' });
    }
  });
};

/** The respond job for an agent's comment (src/respond/); false when Redis refused it (the webhook is then answered 503). */
async function queueCommentMail(
  queue: Queue,
  c: { issueKey: string; commentId: string },
  opts: JiraWebhookOptions,
  seen: string,
  log: { error: (o: object, m: string) => void },
): Promise<boolean> {
  try {
    await addJob(queue, respond, { kind: 'comment', ...c }, opts.retry);
    return true;
  } catch (e) {
    // A 5xx makes Jira deliver again later, and that delivery must not read as a replay.
    await opts.redis.del(seen).catch(() => undefined);
    log.error({ err: describeError(e) }, 'could not queue the customer mail');
    return false;
  }
}
