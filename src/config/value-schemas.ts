// Values of mailroom.yml that need more than a type: durations (and those that become timers),
// domain lists, replyAllowed entries, authserv-ids, addresses, project keys and the Jira site. Each refuses what would silently match or
// do nothing, with what to write instead. Used by schema.ts.
import { z } from 'zod';
import { canonicalAddress, canonicalDomain } from '../core/address.js';
import { ms } from './duration.js';

export const DURATION = /^\d+(ms|s|m|h|d)$/;
export const duration = z.string().regex(DURATION, 'a duration such as 500ms, 30s, 5m, 6h or 7d');

/** The longest wait a Node timer keeps (about 24.8 days): a longer one, or 0, fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
// A duration that becomes a timer (a sleep, an interval, a lock renewal, a request timeout):
// `parkedRetry: 30d` would retry a parked mailbox's login every millisecond, `resyncInterval: 0s`
// would resync without pause. The refinement skips a value whose form already failed (see storeRetention).
export const timerDuration = duration.refine(
  (d) => !DURATION.test(d) || (ms(d) >= 1 && ms(d) <= MAX_TIMER_MS),
  'between 1ms and 24d: Node runs a timer of 0 or of more than 24.8 days after 1 ms, so this wait would not happen at all',
);

// A listed domain covers its subdomains already (example.com lists mail.example.com too), so a
// wildcard says nothing more and is refused rather than read as a literal that matches nothing;
// so are several domains in one entry ("a.test, b.test"), which would match nothing either.
export const emailDomain = z
  .string()
  .min(1)
  .superRefine((raw, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (/[,;]/.test(raw)) issue(`"${raw}" holds several domains: give one domain per list entry, e.g. [a.example, b.example]`);
    else if (/\s/.test(raw.trim())) issue(`"${raw}" contains whitespace: give one domain per list entry`);
    else if (raw.includes('*')) issue(`"${raw}": no wildcards; a domain covers its subdomains already (write ${raw.replace(/^[*.]+/, '') || 'example.com'} for it and all its subdomains)`);
  })
  .transform(canonicalDomain)
  .refine((d) => /^([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/.test(d), 'a domain such as example.com');

// An entry that matches nothing would silently refuse the agents it was meant to let in.
export const replyAllowedEntry = z
  .string()
  .trim()
  .toLowerCase()
  .superRefine((e, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (e.includes('*')) issue(`"${e}": no wildcards; a domain covers its subdomains already (write @${e.slice(e.lastIndexOf('@') + 1).replace(/^[*.]+/, '') || 'acme.com'} for it and all its subdomains)`);
    else if (/[,;\s]/.test(e)) issue(`"${e}" holds several entries: give one address or domain per list entry`);
    else if (!canonicalAddress(e.includes('@') && !e.startsWith('@') ? e : `x@${e.replace(/^@/, '')}`).ok) issue(`"${e}": an address (ann@acme.com) or a domain (@acme.com)`);
  });

// The first word of the host's header (`mx.example.com; spf=pass …`): one that holds a `;` or
// a blank matches no header, and every sender of the mailbox would be unverified without a word.
export const authservId = z
  .string()
  .trim()
  .toLowerCase()
  .min(1)
  .superRefine((id, ctx) => {
    if (!/[\s;,()"]/.test(id)) return;
    // An ARC-Authentication-Results header starts with its instance (`i=1; mx.example.com; …`).
    const word = id.split(/[\s;,()"]/).find((w) => w && !/^i=\d+$/.test(w));
    const message = `"${id}" is not an authserv-id: give the first word of the receiving host's Authentication-Results header, without the ";" after it (e.g. ${word || 'mx.example.com'})`;
    ctx.addIssue({ code: 'custom', message });
  });

export const email = z
  .string()
  .trim()
  .toLowerCase()
  .superRefine((e, ctx) => {
    if (/^[^\s@]+@[^\s@]+$/.test(e)) return;
    // `Help Desk <help@acme.com>` or `a@acme.com, b@acme.com`, as a mail client shows them.
    const bare = /<([^\s<>@]+@[^\s<>@]+)>/.exec(e)?.[1];
    const several = (e.match(/@/g) ?? []).length > 1;
    ctx.addIssue({
      code: 'custom',
      message: bare ? `"${e}": give the bare address, ${bare}` : several ? `"${e}" holds several addresses: one address per list entry` : `"${e}" is not an email address such as support@example.com`,
    });
  });

export const projectKey = z
  .string({ error: (iss) => (iss.input === undefined ? 'missing: the key of the Jira project, such as SUP (the part before the number in SUP-123)' : undefined) })
  .regex(/^[A-Z][A-Z0-9_]+$/, 'a Jira project key such as SUP');

/** The Jira site, e.g. https://acme.atlassian.net (or JIRA_BASE_URL): the site alone. */
export const jiraSite = z.string().superRefine((site, ctx) => {
  if (URL.canParse(site) && /^[a-z][a-z0-9+.-]*:\/\//i.test(site)) {
    // A page of the site copied from the browser (…/jira, a board's address): every REST
    // call would go below it and get Jira's 404 page. Named without any user info (load.ts refuses that).
    const u = new URL(site);
    if (u.pathname === '/' && !u.search && !u.hash) return;
    // The scoped-token gateway has a path by design, and is not the site (links, webhooks): the
    // site alone would break every REST call of such a token.
    if (u.hostname.toLowerCase() === 'api.atlassian.com' && /^\/ex\/jira\//i.test(u.pathname)) {
      ctx.addIssue({ code: 'custom', message: `${u.protocol}//${u.host}${u.pathname} is the REST gateway of scoped API tokens, not the site: give it as jira.apiBase, and the site (https://<your-site>.atlassian.net) as jira.site` });
      return;
    }
    const page = `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}${u.hash ? '#…' : ''}`;
    ctx.addIssue({ code: 'custom', message: `${page} is a page of the site, not the site: give only ${u.protocol}//${u.host} (Mailroom adds /rest/api/… itself)` });
    return;
  }
  // `acme.atlassian.net`, as the browser's address bar shows it: say what to write.
  const host = /^[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?(\/.*)?$/i.test(site.trim());
  ctx.addIssue({ code: 'custom', message: host ? `"${site}" has no https:// in front: write https://${site.trim().replace(/\/.*$/, '')}` : 'a URL such as https://acme.atlassian.net' });
});

/**
 * The name of the environment variable that holds a secret (never the secret: the YAML is printed
 * and logged). The message does not repeat the value, which may be the secret pasted in by mistake.
 */
export const envVarName = (example: string) =>
  z.string().regex(/^[A-Z_][A-Z0-9_]*$/, `the name of the environment variable that holds the secret, such as ${example} (upper-case letters, digits and _), not the secret itself: export the secret in that variable`);
