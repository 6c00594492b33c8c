// The simulator's admin webhooks: registered URLs (with an optional secret) receive
// `jira:issue_created` and `comment_created` events as Jira Cloud sends them, so the customer
// reply loop (src/respond/) runs end to end in tests and in the demo.
//
// What is modelled, and from where (docs/jira.md lists it too):
// - The body is JSON with `timestamp` (epoch ms), `webhookEvent`, `issue` {id, key, self,
//   fields}, and for comments `comment` {id, self, author, body, created, updated, and
//   `visibility` when restricted}. https://developer.atlassian.com/cloud/jira/platform/webhooks/
// - Admin webhooks registered with a secret are signed WebSub-style: `X-Hub-Signature:
//   sha256=<hex HMAC-SHA256 of the raw body keyed on the secret>` ("Secure admin webhooks" in
//   the same page). Without a secret nothing is signed (Mailroom then refuses the delivery).
// - `X-Atlassian-Webhook-Identifier` names the delivery (unsigned, the same on retries).
// - Deliveries are asynchronous: the REST answer that caused the event does not wait for them.
//   Jira retries failed deliveries; the simulator tries a delivery up to `attempts` times.
// The comment's `jsdPublic` is NOT in the webhook body (Jira's comment webhook carries the
// platform comment only): a receiver reads the comment by REST to learn whether it is public.
import { randomUUID } from 'node:crypto';
import { signBody } from '../notify/signature.js';

export interface SimWebhook {
  url: string;
  secret?: string;
  /** Events to send (`jira:issue_created`, `comment_created`); default both. */
  events?: string[];
}

export interface SimWebhookDelivery {
  event: string;
  url: string;
  /** The receiver's HTTP status, 0 when it could not be reached. */
  status: number;
  issueKey?: string;
  commentId?: string;
}

export const SIM_WEBHOOK_EVENTS = ['jira:issue_created', 'comment_created'] as const;

export class SimWebhooks {
  readonly hooks: SimWebhook[] = [];
  readonly deliveries: SimWebhookDelivery[] = [];
  private pending = new Set<Promise<void>>();

  register(h: SimWebhook): void {
    this.hooks.push({ ...h });
  }

  clear(): void {
    this.hooks.length = 0;
    this.deliveries.length = 0;
  }

  /** Sends `body` (with `timestamp` and `webhookEvent` added) to every hook that wants `event`. */
  fire(event: string, body: Record<string, unknown>): void {
    for (const h of this.hooks) {
      if (h.events && !h.events.includes(event)) continue;
      const p = this.deliver(h, event, body).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /** Waits until every delivery fired so far has ended (tests). */
  async settle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private async deliver(h: SimWebhook, event: string, body: Record<string, unknown>, attempts = 3): Promise<void> {
    const raw = JSON.stringify({ timestamp: Date.now(), webhookEvent: event, ...body });
    const id = randomUUID();
    const issue = body.issue as { key?: string } | undefined;
    const comment = body.comment as { id?: string } | undefined;
    let status = 0;
    for (let i = 0; i < attempts && !(status >= 200 && status < 300); i++) {
      if (i) await new Promise((r) => setTimeout(r, 200 * i));
      try {
        const res = await fetch(h.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-atlassian-webhook-identifier': id,
            ...(h.secret ? { 'x-hub-signature': signBody(h.secret, raw) } : {}),
          },
          body: raw,
          signal: AbortSignal.timeout(10_000),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
      } catch {
        status = 0;
      }
    }
    this.deliveries.push({ event, url: h.url, status, ...(issue?.key ? { issueKey: issue.key } : {}), ...(comment?.id ? { commentId: String(comment.id) } : {}) });
  }
}
