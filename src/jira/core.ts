// The core of the Jira client: one HTTP call with the workaround user's Basic credentials, and the
// two ways a method reads its answer (expectOk, authFirst). No retries here: BullMQ owns retries,
// so every failure comes back as a typed error (src/core/errors.ts) for the queue layer to decide on.
import ky, { TimeoutError } from 'ky';
import { PermanentError } from '../core/errors.js';
import { registerBasicAuth, scrubSecrets } from '../core/log.js';
import { classifyAnswer, retryAfterOf } from './classify.js';
import type { JiraClientOptions } from './client.js';
import { JiraNoAnswerError } from './errors.js';

export interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface CallSpec {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  body?: FormData;
  headers?: Record<string, string>;
}

/** A download's answer: the bytes, or `tooLarge` when the body (or its declared length) passed the cap. */
export type Download = (Answer & { bytes?: Buffer }) | { tooLarge: true; status: number };

/** Error bodies of a download are read up to this (they are JSON messages, not files). */
const ERROR_BODY_CAP = 64 * 1024;
/**
 * A JSON answer is read up to this. Mailroom's largest are a page of 100 issues with a few
 * fields, or an issue with its attachment list: well under 1 MiB. A site that sends more (a
 * jira.site pointing at something else, a proxy's endless page) is cut here, not held in memory.
 */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

/** What every method group builds on. */
export interface JiraCore {
  call(operation: string, spec: CallSpec): Promise<Answer>;
  /**
   * A GET whose body is a file: streamed, and cut as soon as it passes `maxBytes`, whatever its
   * Content-Length says (a missing or lying header cannot make Mailroom buffer more).
   */
  download(operation: string, spec: CallSpec, maxBytes: number): Promise<Download>;
  /** Throw the typed error for a failed answer; return the body of a successful one. */
  expectOk(operation: string, a: Answer): unknown;
  /** Throw auth problems before a caller reads a status as a domain outcome ("exists", "already a member"). */
  authFirst(operation: string, a: Answer): void;
}

/** A bound on paging loops, so a misbehaving server cannot keep a worker paging forever. */
export const MAX_PAGES = 200;

export const enc = encodeURIComponent;

/**
 * The most specific reason in an error's cause chain (ECONNREFUSED over "fetch failed"): ky 2
 * wraps fetch's TypeError in a NetworkError, so the system code sits two causes deep.
 */
function networkCause(e: unknown): string {
  let best = 'unknown';
  for (let at: unknown = e, depth = 0; at && typeof at === 'object' && depth < 5; depth++) {
    const { code, message, cause } = at as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && code) return code;
    if (typeof message === 'string' && message) best = message;
    at = cause;
  }
  return best;
}

function urlOf(base: string, spec: CallSpec): URL {
  const url = new URL(base + spec.path);
  for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  return url;
}

/** Report a call that got no complete answer, and the error to throw for it. */
function noAnswer(opts: JiraClientOptions, operation: string, started: number, e: unknown): JiraNoAnswerError {
  const ms = Math.round(performance.now() - started);
  // The cause is deliberately not attached: ky's errors carry the Request, headers included.
  if (e instanceof TimeoutError || (e as Error)?.name === 'TimeoutError') {
    opts.onResponse?.({ operation, status: 0, ms, error: `timed out after ${opts.timeoutMs} ms` });
    opts.logger?.warn({ operation, ms }, 'jira call timed out');
    return new JiraNoAnswerError(`Jira ${operation} timed out after ${opts.timeoutMs} ms`);
  }
  const why = scrubSecrets(networkCause(e));
  opts.onResponse?.({ operation, status: 0, ms, error: why });
  opts.logger?.warn({ operation, ms, why }, 'jira call failed without a complete answer');
  return new JiraNoAnswerError(`network error on Jira ${operation}: ${why}`);
}

/** Report an answer over MAX_ANSWER_BYTES, and the error to throw for it. */
function tooLarge(opts: JiraClientOptions, operation: string, status: number, ms: number): JiraNoAnswerError {
  opts.onResponse?.({ operation, status, ms, error: `answer over ${MAX_ANSWER_BYTES} bytes` });
  // Like a cut-off answer: a write may have happened, so the caller looks before writing again.
  return new JiraNoAnswerError(
    `Jira answered ${operation} (${status}) with more than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB: not read. Jira's answers to Mailroom are far smaller; check that jira.site (or JIRA_BASE_URL) is your Jira Cloud site`,
  );
}

function refuseRedirect(operation: string, response: Response): PermanentError {
  const location = scrubSecrets(response.headers.get('location') ?? '(no Location)');
  return new PermanentError(
    `Jira answered ${operation} with a redirect (${response.status} to ${location}); Mailroom does not follow redirects on calls that carry the token: ` +
      'set jira.site (or JIRA_BASE_URL) to the address Jira answers on',
  );
}

function parseBody(response: Response, text: string): unknown {
  if (!text || !/json/i.test(response.headers.get('content-type') ?? '')) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** At most `cap` bytes of the body, or undefined when there are more (the rest is not read). */
async function readCapped(response: Response, cap: number): Promise<Buffer | undefined> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > cap) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = response.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks, total);
}

export function createJiraCore(opts: JiraClientOptions): JiraCore {
  registerBasicAuth(opts.email, opts.token);
  const authorization = 'Basic ' + Buffer.from(`${opts.email}:${opts.token}`).toString('base64');
  const base = opts.baseUrl.replace(/\/+$/, '');
  const http = ky.create({ retry: 0, timeout: opts.timeoutMs, throwHttpErrors: false });

  async function call(operation: string, spec: CallSpec): Promise<Answer> {
    const url = urlOf(base, spec);
    const started = performance.now();
    let response: Response;
    let bytes: Buffer | undefined;
    try {
      response = await http(url, {
        method: spec.method,
        headers: { Authorization: authorization, Accept: 'application/json', ...spec.headers },
        // ky's timeout covers the wait for headers; this signal also bounds reading the body.
        signal: AbortSignal.timeout(opts.timeoutMs),
        // Never follow a redirect with the token: its target could answer without checking it
        // (a /myself that "works" for any token), or be another host altogether.
        redirect: 'manual',
        ...(spec.json !== undefined ? { json: spec.json } : {}),
        ...(spec.body !== undefined ? { body: spec.body } : {}),
      });
      if (opts.onRetryAfter) {
        const wait = retryAfterOf(response.status, response.headers, Date.now());
        if (wait !== undefined) opts.onRetryAfter(wait, response.headers.get('ratelimit-reason') ?? undefined);
      }
      bytes = await readCapped(response, MAX_ANSWER_BYTES);
    } catch (e) {
      throw noAnswer(opts, operation, started, e);
    }
    const ms = Math.round(performance.now() - started);
    if (response.status >= 300 && response.status < 400) {
      opts.onResponse?.({ operation, status: response.status, ms });
      throw refuseRedirect(operation, response);
    }
    if (!bytes) throw tooLarge(opts, operation, response.status, ms);
    const body = parseBody(response, new TextDecoder().decode(bytes));
    opts.onResponse?.({ operation, status: response.status, ms });
    opts.logger?.debug({ operation, status: response.status, ms }, 'jira call');
    return { status: response.status, headers: response.headers, body };
  }

  async function download(operation: string, spec: CallSpec, maxBytes: number): Promise<Download> {
    const started = performance.now();
    let response: Response;
    let bytes: Buffer | undefined;
    try {
      response = await http(urlOf(base, spec), {
        method: 'GET',
        headers: { Authorization: authorization, Accept: '*/*' },
        // Bounds the whole body too: a server trickling an endless file is cut here.
        signal: AbortSignal.timeout(opts.timeoutMs),
        redirect: 'manual',
      });
      bytes = await readCapped(response, response.status === 200 ? maxBytes : ERROR_BODY_CAP);
    } catch (e) {
      throw noAnswer(opts, operation, started, e);
    }
    const ms = Math.round(performance.now() - started);
    opts.onResponse?.({ operation, status: response.status, ms });
    if (response.status >= 300 && response.status < 400) throw refuseRedirect(operation, response);
    if (response.status === 200) return bytes ? { status: 200, headers: response.headers, body: undefined, bytes } : { tooLarge: true, status: 200 };
    return { status: response.status, headers: response.headers, body: parseBody(response, bytes?.toString('utf8') ?? '') };
  }

  function expectOk(operation: string, a: Answer): unknown {
    const err = classifyAnswer({ operation, status: a.status, headers: a.headers, body: a.body, now: Date.now() });
    if (err) throw err;
    return a.body;
  }

  function authFirst(operation: string, a: Answer): void {
    const err = classifyAnswer({ operation, status: a.status, headers: a.headers, body: a.body, now: Date.now() });
    if (err && err.kind === 'auth') throw err;
  }

  return { call, download, expectOk, authFirst };
}
