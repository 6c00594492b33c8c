// Pure checks of what an operator hands `mailroom token set`: the token read from stdin, the
// account email and the expiry date. Each refusal says what to do instead.

export class TokenInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenInputError';
  }
}

/**
 * The token as read from stdin. One trailing line break (from `echo` or a here-string) is
 * dropped; any other whitespace, line break or control character is refused, since Atlassian
 * tokens never contain one and a pasted token with a space in it would fail obscurely later.
 */
export function parseTokenInput(raw: string): string {
  const t = raw.replace(/\r?\n$/, '');
  if (t.length === 0) {
    throw new TokenInputError(
      'no token on standard input: pipe it in, e.g. `printf %s "$TOKEN" | mailroom token set --email you@example.com` ' +
        '(never pass it as an argument: arguments end up in shell history and process lists)',
    );
  }
  const bad = t.search(/[\s\p{Cc}]/u);
  if (bad >= 0) {
    const what = /\r|\n/.test(t) ? 'a line break' : /[\p{Cc}]/u.test(t[bad]!) && !/\s/.test(t[bad]!) ? 'a control character' : 'whitespace';
    throw new TokenInputError(
      `the token contains ${what} at character ${bad + 1} of ${t.length}: an API token is one unbroken string; ` +
        'copy it again from https://id.atlassian.com/manage-profile/security/api-tokens and pipe only the token',
    );
  }
  return t;
}

export function parseEmailInput(raw: string | undefined): string {
  const e = (raw ?? '').trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e) && !/^[^\s@]+@[^\s@]+$/.test(e)) {
    throw new TokenInputError(`--email "${raw ?? ''}" is not an email address: give the workaround account's email, e.g. --email jira-bot@example.com`);
  }
  return e;
}

export const DEFAULT_VALIDITY_DAYS = 365;
const DAY = 86_400_000;

/**
 * `--expires YYYY-MM-DD` → the instant the token stops working (start of that day, UTC: the
 * cautious reading). Without it: stored-at + 365 days, Atlassian's longest token lifetime.
 */
export function parseExpiresInput(raw: string | undefined, now: Date): Date {
  if (raw === undefined) return new Date(now.getTime() + DEFAULT_VALIDITY_DAYS * DAY);
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(raw.trim());
  const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  if (!m || !d || d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) {
    throw new TokenInputError(`--expires "${raw}" is not a date: use YYYY-MM-DD, the expiry date shown when the token was created`);
  }
  if (d.getTime() <= now.getTime()) {
    throw new TokenInputError(`--expires ${raw} is not in the future: that token has expired; create a new one and store it`);
  }
  return d;
}

/** Whole days left until `expiresAt` (negative once past). */
export function daysLeft(expiresAt: Date, now: Date): number {
  return Math.floor((expiresAt.getTime() - now.getTime()) / DAY);
}

/** At most the last 4 characters, and none of a short token. */
export function maskToken(token: string): string {
  if (token.length < 16) return '****';
  return `****${token.slice(-4)}`;
}
