// The simulator's HTTP server: loopback only. Per request: schema check, faults, auth (with
// Jira's anonymous answers for refused credentials), the route, counters.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SimCounters } from './counters.js';
import { SimFaults } from './faults.js';
import { matcherFor, platformError, jsmError, type Reply, type Route, type SimContext, type SimRequest } from './http.js';
import { loadSpecValidator, type Exchange, type SpecValidator } from './openapi.js';
import { adminRoutes } from './routes-admin.js';
import { issueRoutes } from './routes-issues.js';
import { jsmRoutes } from './routes-jsm.js';
import { peopleRoutes } from './routes-people.js';
import { removedRoutes } from './routes-removed.js';
import { userRoutes } from './routes-users.js';
import { workflowRoutes } from './routes-workflow.js';
import { DEFAULT_INDEX_LAG_MS, SimState, type SimAccount } from './state.js';

export interface JiraSimOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  latencyMs?: number;
  jitterMs?: number;
  /** Seeds ids and the fault pattern, so runs repeat. */
  seed?: number;
  /** Directory holding Atlassian's OpenAPI specs; when given (and ajv is installed), requests are checked against them. */
  specsDir?: string;
  /** Keep every exchange in `exchanges` (contract tests). */
  record?: boolean;
  /**
   * Requests arriving within this long after a 429 was written were sent before the client
   * could have read it, and are not counted as early (default 0: anything arriving after the
   * 429 was written counts; raise it when the client shares a busy event loop with the simulator).
   */
  inFlightGraceMs?: number;
  /**
   * Issue property keys JQL may search, as if an installed app had indexed them ('all': every
   * key). Default none: what an API-token client sees on Jira Cloud.
   */
  indexedProperties?: string[] | 'all';
  /** How long JQL search lags writes (default DEFAULT_INDEX_LAG_MS, as Jira Cloud: seconds). */
  indexLagMs?: number;
  /** The search index's clock (default Date.now); a fast clock runs minutes of lag in seconds. */
  clock?: () => number;
}

export interface JiraSim {
  url: string;
  state: SimState;
  faults: SimFaults;
  counters: SimCounters;
  /** Every exchange, when started with `record: true`. */
  exchanges: Exchange[];
  /** True when requests are being checked against the OpenAPI specs. */
  checksSchema: boolean;
  /**
   * Called as each answer is written (not for dropped or hung requests): when a request arrived
   * and when Jira answered it. A harness hook, not Jira behaviour: the benchmark stamps a new
   * sender's user search and create with it (bench/new-senders.ts).
   */
  onAnswer?: (a: SimAnswer) => void;
  /** Forget all state, counters, faults and Retry-After deadlines. */
  reset(): void;
  close(): Promise<void>;
}

export interface SimAnswer {
  operation: string;
  status: number;
  exchange: Exchange;
  /** Epoch ms the request was read whole, and the answer written. */
  receivedAt: number;
  answeredAt: number;
}

/** Bodies above this are refused: attachments in tests are small; a runaway client is not. */
const MAX_BODY_BYTES = 25 * 1024 * 1024;
/** Timer slack allowed when judging whether a client waited out a Retry-After. */
const RETRY_AFTER_SLACK_MS = 25;
/** Default time after a 429 is written during which arriving requests count as already in flight. */
const IN_FLIGHT_GRACE_MS = 0;

const apiRoutes: (Route & { matcher: RegExp })[] = [...userRoutes, ...issueRoutes, ...jsmRoutes, ...peopleRoutes, ...workflowRoutes, ...removedRoutes].map((r) => ({ ...r, matcher: matcherFor(r.template) }));

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function authenticate(state: SimState, header: string | undefined): { account?: SimAccount; failed: boolean } {
  if (!header) return { failed: false };
  const m = /^Basic\s+(.+)$/i.exec(header.trim());
  if (!m) return { failed: true };
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  const email = decoded.slice(0, i).trim().toLowerCase();
  const t = state.tokens.get(decoded.slice(i + 1));
  if (i < 0 || !t) return { failed: true };
  if (t.status === 'valid' && t.expiresAt !== undefined && Date.now() >= t.expiresAt) t.status = 'expired';
  if (t.status === 'valid' && t.remainingRequests !== undefined) {
    if (t.remainingRequests <= 0) t.status = 'expired';
    else t.remainingRequests--;
  }
  const account = state.accounts.get(t.accountId);
  if (t.status !== 'valid' || !account || !account.active || account.email !== email) return { failed: true };
  return { account, failed: false };
}

/** Chunks of 64 KiB until the client hangs up (or 1 GiB, so a test that forgets cannot fill a disk). */
function sendEndless(res: ServerResponse, headers: Record<string, string>): void {
  res.writeHead(200, headers);
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  let left = 16 * 1024;
  const pump = () => {
    while (left-- > 0 && !res.destroyed) if (!res.write(chunk)) return void res.once('drain', pump);
    res.end();
  };
  res.on('close', () => (left = 0));
  pump();
}

function send(res: ServerResponse, reply: Reply, extra: Record<string, string> = {}): void {
  const headers: Record<string, string> = { ...extra, ...reply.headers };
  if (reply.endless) return sendEndless(res, headers);
  let payload: string | Buffer = '';
  if (reply.bytes !== undefined) {
    headers['content-length'] = String(reply.bytes.length);
    payload = reply.bytes;
  } else if (reply.text !== undefined) {
    headers['content-type'] = 'text/plain;charset=UTF-8';
    payload = reply.text;
  } else if (reply.body !== undefined) {
    headers['content-type'] = 'application/json;charset=UTF-8';
    payload = JSON.stringify(reply.body);
  }
  res.writeHead(reply.status, headers);
  res.end(payload);
}

/** The issue a request acts on (its key, upper-cased), for limits held per issue. */
function issueOfPath(state: SimState, route: Route & { matcher: RegExp }, path: string): string | undefined {
  // A platform issue path, or a JSM request's (the request is the issue: the same key).
  if (!route.template.startsWith('/rest/api/3/issue/{') && !route.template.startsWith('/rest/servicedeskapi/request/{')) return undefined;
  const raw = decodeURIComponent(route.matcher.exec(path)?.[1] ?? '');
  return raw ? (state.issue(raw)?.key ?? raw.toUpperCase()) : undefined;
}

export async function startJiraSim(opts: JiraSimOptions = {}): Promise<JiraSim> {
  const seed = opts.seed ?? 1;
  const state = new SimState(seed, opts.indexedProperties ?? []);
  state.indexLagMs = opts.indexLagMs ?? DEFAULT_INDEX_LAG_MS;
  if (opts.clock) state.clock = opts.clock;
  const counters = new SimCounters();
  const faults = new SimFaults({ latencyMs: opts.latencyMs ?? 0, jitterMs: opts.jitterMs ?? 0 }, seed);
  const validator: SpecValidator | undefined = opts.specsDir ? await loadSpecValidator(opts.specsDir) : undefined;
  // Compile the schemas of every simulated operation up front (once per process): otherwise
  // the first createIssue or search pays for it and a client with a short timeout gives up.
  for (const r of apiRoutes) validator?.warm(r.method, r.template.replace(/\{[^}]+\}/g, 'X-1'));
  const exchanges: Exchange[] = [];
  const hanging = new Set<ServerResponse>();
  // The Retry-After windows, one per scope Jira limits ('' the site, 'op:<operation>' one
  // endpoint and method, 'issue:<KEY>' one issue's writes): requests under a scope arriving in
  // [from, until) are early. `from` is when the 429 was written plus a grace, so requests
  // already in flight (sent before the client could read the 429) are not held against it.
  const windows = new Map<string, { until: number; from: number }>();
  const grace = opts.inFlightGraceMs ?? IN_FLIGHT_GRACE_MS;
  let url = '';
  const ctx: SimContext = { state, counters, url: () => url, anonymousSearches: new Set() };

  const sim: JiraSim = {
    url: '',
    state,
    faults,
    counters,
    exchanges,
    checksSchema: !!validator,
    reset() {
      state.reset();
      counters.reset();
      faults.clear();
      exchanges.length = 0;
      ctx.anonymousSearches.clear();
      windows.clear();
    },
    async close() {
      for (const r of hanging) r.destroy();
      hanging.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, raw: Buffer): Promise<void> {
    const receivedAt = Date.now();
    const method = req.method ?? 'GET';
    const route = apiRoutes.find((r) => r.method === method && r.matcher.test(path));
    const operation = route?.operation ?? validator?.find(method, path)?.operationId ?? 'unknown';
    const contentType = req.headers['content-type'];
    let json: unknown;
    if (raw.length && /json/i.test(contentType ?? '')) {
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        counters.violation('schema', operation, 'body is not valid JSON');
        counters.request(operation, 400);
        return send(res, platformError(400, ['Unexpected character in the JSON body.']));
      }
    }
    const exchange: Exchange = { method, path, query, body: json, ...(contentType ? { contentType } : {}) };
    if (validator) {
      for (const p of validator.checkRequest(exchange)) counters.violation('schema', operation, p.message);
    }

    const now = Date.now();
    const issue = route ? issueOfPath(state, route, path) : undefined;
    const scopes = ['', `op:${operation}`, ...(issue ? [`issue:${issue}`] : [])];
    for (const sc of scopes) {
      const w = windows.get(sc);
      if (w && now >= w.from && now + RETRY_AFTER_SLACK_MS < w.until) {
        counters.violation('earlyRetry', operation, `request ${w.until - now} ms before the Retry-After given${sc ? ` (${sc})` : ''} had passed`);
      }
    }
    const decision = faults.decide(operation, issue);
    const delay = faults.delayMs();
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const finish = (reply: Reply, extra: Record<string, string> = {}, checkResponse = true) => {
      if (decision.kind === 'loseReply') {
        // Done, but the answer never arrives.
        counters.request(operation, 0);
        req.socket.destroy();
        return;
      }
      if (decision.kind === 'errorAfterWrite' && reply.status < 300) {
        // Done, but the answer says it failed (a gateway gave up after the write committed).
        counters.request(operation, decision.status);
        return send(res, platformError(decision.status, ['Internal server error (simulated, after the change was made)']));
      }
      counters.request(operation, reply.status);
      exchange.status = reply.status;
      exchange.responseBody = reply.text ?? reply.body;
      if (validator && checkResponse) {
        for (const p of validator.checkResponse(exchange)) counters.simProblems.push(`${operation}: ${p.message}`);
      }
      if (opts.record) exchanges.push(exchange);
      send(res, reply, extra);
      sim.onAnswer?.({ operation, status: reply.status, exchange, receivedAt, answeredAt: Date.now() });
    };

    switch (decision.kind) {
      case 'drop':
        counters.request(operation, 0);
        req.socket.destroy();
        return;
      case 'hang':
        counters.request(operation, 0);
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      case 'stall':
        counters.request(operation, 0);
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        res.writeHead(200, { 'content-type': 'application/json;charset=UTF-8' });
        res.write('[{"accountId":');
        return;
      case 'error':
        return finish(platformError(decision.status, ['Internal server error (simulated)']), {}, false);
      case 'rateLimit': {
        const until = Date.now() + decision.retryAfterSec * 1000;
        // What the limit holds, as Atlassian documents each RateLimit-Reason (docs/jira-simulator.md).
        const sc = decision.reason === 'jira-per-issue-on-write' && issue ? `issue:${issue}` : decision.reason === 'jira-burst-based' ? `op:${operation}` : '';
        const w = windows.get(sc) ?? { until: 0, from: 0 };
        const fresh = Date.now() >= w.until;
        w.until = Math.max(w.until, until);
        if (fresh) w.from = Number.MAX_SAFE_INTEGER; // opens once the 429 is written
        windows.set(sc, w);
        res.once('finish', () => {
          if (w.from === Number.MAX_SAFE_INTEGER) w.from = Date.now() + grace;
        });
        // HTTP dates have whole seconds: round up so a client honouring it is never early.
        const retryAfter = decision.asDate ? new Date(Math.ceil(until / 1000) * 1000).toUTCString() : String(decision.retryAfterSec);
        return finish(
          { status: decision.status, text: 'Rate limit exceeded.' },
          {
            'retry-after': retryAfter,
            'x-ratelimit-limit': '100',
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': new Date(until).toISOString(),
            'ratelimit-reason': decision.reason,
          },
          false,
        );
      }
      case 'refuse':
        // Refused before anything is done, in the route's own error shape.
        return finish(route?.jsm ? jsmError(decision.status, decision.message) : platformError(decision.status, [decision.message]));
      case 'pass':
      case 'loseReply':
      case 'errorAfterWrite':
        break;
    }

    if (!route) return finish(platformError(404, [`null for uri: ${url}${path}`]), {}, false);
    const experimental = route.experimental || validator?.find(method, path)?.experimental === true;
    if (experimental && String(req.headers['x-experimentalapi'] ?? '').toLowerCase() !== 'opt-in') {
      return finish(jsmError(412, 'This API is experimental. Experimental APIs are not guaranteed to be stable within the preview period. You must set the header \'X-ExperimentalApi: opt-in\' to opt into using this API.'), {}, false);
    }
    const auth = authenticate(state, req.headers.authorization);
    const seraph: Record<string, string> = auth.failed ? { 'x-seraph-loginreason': 'AUTHENTICATED_FAILED' } : {};
    if (!auth.account && !route.anonymousAllowed) {
      const reply: Reply = route.jsm
        ? jsmError(401, 'You are not authenticated. Authentication required to perform this operation.')
        : platformError(route.unauthenticatedStatus ?? 401, ['You are not authenticated. Authentication required to perform this operation.']);
      return finish(reply, seraph);
    }
    const sreq: SimRequest = {
      method,
      path,
      query,
      headers: req.headers,
      raw,
      json,
      params: route.matcher.exec(path)!.slice(1),
      authFailed: auth.failed,
      ctx,
      ...(auth.account ? { account: auth.account } : {}),
    };
    const reply = await route.handle(sreq);
    return finish(reply, seraph);
  }

  const server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://sim.invalid');
      let raw: Buffer;
      try {
        raw = await readBody(req);
      } catch {
        return send(res, platformError(413, ['The request body is too large.']));
      }
      if (u.pathname.startsWith('/__sim/')) return send(res, await adminRoutes(sim, req.method ?? 'GET', u.pathname, raw));
      // Scoped API tokens go through https://api.atlassian.com/ex/jira/{cloudId}/rest/...
      await handleApi(req, res, u.pathname.replace(/^\/ex\/jira\/[^/]+(?=\/rest\/)/, ''), u.searchParams, raw);
    })().catch((e: unknown) => {
      if (!res.headersSent) send(res, platformError(500, [`simulator bug: ${(e as Error).message}`]));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  url = `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`;
  sim.url = url;
  return sim;
}
