// A mail that joins no issue becomes a new one: a Jira issue, or a JSM request. Before it is
// made, the recovery look: when a create for this mail may have happened without Mailroom
// learning of it (a lost answer, a crash before the ledger write, a wiped Redis), look for what
// it made. The look uses JQL every Jira Cloud site answers (project, reporter, created in the
// last N minutes) and confirms each candidate by reading its `mailroom.message` property:
// properties are readable by GET, but an API-token client cannot make them JQL-searchable (only
// an installed app can).
import { DEFAULT_MAX_ISSUE_KEY_LOOKUPS } from '../config/schema.js';
import { AuthError, PermanentError, RateLimitedError, RetryableError } from '../core/errors.js';
import { tell } from '../queues/story.js';
import { PermissionError } from '../jira/errors.js';
import { adfToText, isForward, textToAdf } from './adf.js';
import type { Delivery, Target } from './delivery.js';
import { MESSAGE_PROPERTY } from './properties.js';
import { senderNote } from './sender-note.js';
import { suspectLabel, suspectLine } from './suspect.js';
import { FOLLOWUP_LABEL, followUpLine } from './resolved.js';
import { isRequestRoute, issueKeysIn, peopleOf, routeProject, senderLabel, summaryOf, type DeliverRoute } from './route.js';

// Jira's search "might not immediately" show a new issue (search/jql docs; read-after-write
// needs reconcileIssues, which takes ids we do not have), and Atlassian says the lag can be
// seconds to minutes: a recovery search waits this long after the create it looks for was
// sent before its first look...
export const RECOVERY_SETTLE_MS = 10_000;
// ...and, finding nothing, looks again with doubling gaps (the job parked meanwhile) until this
// long after the create was sent: 10 s, 20 s, 40 s, 80 s, then at 150 s. Only a look at 150 s
// that finds nothing lets the mail be created again: index lag up to two minutes (plus 30 s for
// the create's own time in flight and clock differences) never makes a second issue. Beyond
// that, the reconcile pass (reconcile.ts) finds and resolves the duplicate.
export const RECOVERY_WINDOW_MS = 150_000;
// The recovery JQL's created window starts this much before the earliest moment the issue
// could have been made: covers clock differences between this host, Jira and the IMAP server.
const RECOVERY_MARGIN_MS = 15 * 60_000;
// At most this many candidates are read back; a window holding more issues by one reporter than
// this is refused (permanent) rather than risking a second issue.
const RECOVERY_MAX = 500;
// INTERNALDATE has whole seconds: a mail is "older than the ledger" only when more than this
// before its birth (else every mail of the ledger's first second would be looked up).
const BORN_SLACK_MS = 2_000;

type MessageProperty = { id?: string; complete?: boolean; mailboxId?: string; sha256?: string };
type Hit = { key: string; id: string; fields: Record<string, unknown> };

function jqlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** When this job sent a create (ISO), if it did. */
function createSent(d: Delivery): string | undefined {
  return d.state.createSent ?? d.state.requestSent;
}

/**
 * Whether a create for this mail may have happened unseen, and since when (epoch ms): this
 * job sent one and never recorded its answer, or the mail reached its mailbox before this
 * ledger was born (a wiped Redis; a fresh install reading an old inbox), or it is not known
 * when the mail arrived (file ingest, jobs from before arrival times were kept).
 */
export async function mayHaveBeenMade(d: Delivery): Promise<number | undefined> {
  const sent = createSent(d);
  if (sent) return Math.min(Date.parse(sent), Date.now());
  const origin = d.data.origin;
  const arrived = origin.kind === 'imap' && origin.internalDate ? Date.parse(origin.internalDate) : NaN;
  // The Date header is the sender's claim: only ever used to widen the window, never to skip the look.
  if (Number.isNaN(arrived)) return Math.min(Date.parse(d.record.date ?? '') || 0, Date.now()) || Date.now() - 30 * 24 * 3600_000;
  return arrived < (await d.ledger.bornAt()) - BORN_SLACK_MS ? arrived : undefined;
}

/**
 * Look for what an unseen create made: this project's issues by this reporter created since
 * `since` (minus a margin), same summary, confirmed by their mailroom.message property. A
 * JSM request whose property was never set (crash between create and property) is ours
 * only when this job sent a create: then it is adopted and given its property.
 */
export async function recover(d: Delivery, since: number): Promise<Target | undefined> {
  const sent = createSent(d);
  await settleFirst(d, sent);
  const jql = recoveryJql(d, since);
  const hits = await d.client.searchJql(`${jql} ORDER BY created ASC`, ['summary', 'created'], { max: RECOVERY_MAX + 1 });
  if (hits.length > RECOVERY_MAX) {
    throw new PermanentError(`cannot tell whether this mail was delivered already: more than ${RECOVERY_MAX} issues match "${jql}"; deliver it by hand or run it again later`);
  }
  const kind = isRequestRoute(d.route) ? 'request' : 'issue';
  const summary = summaryOf(d.record.subject, d.record.from);
  let orphan: Hit | undefined;
  for (const h of hits) {
    if (h.fields.summary !== summary) continue;
    const prop = (await d.client.getIssueProperty(h.key, MESSAGE_PROPERTY)) as MessageProperty | undefined;
    if (prop?.id === d.mk) return confirmed(d, h, prop, kind, sent);
    const created = Date.parse(String(h.fields.created ?? ''));
    if (kind === 'request' && sent && prop === undefined && !orphan && !(created < Date.parse(sent) - RECOVERY_MARGIN_MS)) orphan = h;
  }
  if (orphan) {
    d.ctx.log.warn({ issueKey: orphan.key }, 'found the request an interrupted run made (no property yet): adopting it');
    await d.client.setIssueProperty(orphan.key, MESSAGE_PROPERTY, d.propertyValue(false));
    return { kind: 'request', issueKey: orphan.key, issueId: orphan.id, adopted: false };
  }
  if (sent) await lookAgainLater(d, sent, hits.length);
  d.ctx.log.info({ candidates: hits.length }, 'no issue was made from this mail before: creating it');
  return undefined;
}

/**
 * Nothing found for this job's own create: Jira's index may not show it yet. Until the window
 * has passed since the create was sent, park the job and look again (gaps doubling); after it,
 * return: the first create did not happen (or the reconcile pass will resolve the duplicate).
 */
async function lookAgainLater(d: Delivery, sent: string, candidates: number): Promise<void> {
  const at = Date.parse(sent);
  const settle = d.deps.recoverySettleMs ?? RECOVERY_SETTLE_MS;
  const windowMs = d.deps.recoveryWindowMs ?? RECOVERY_WINDOW_MS;
  const now = Date.now();
  const elapsed = now - at;
  if (elapsed >= windowMs) return;
  const next = at + Math.min(windowMs, Math.max(2 * elapsed, elapsed + settle));
  d.ctx.log.info({ candidates, nextLookInMs: next - now }, 'no issue found yet for the create whose answer was lost: Jira\'s search may lag, looking again');
  await tell(
    d.ctx.job,
    `no issue found yet for the create sent at ${sent} (Jira's search can lag its writes): looking again in ${Math.ceil((next - now) / 1000)} s; a new issue is made only if none shows ${Math.round(windowMs / 1000)} s after the create`,
  );
  await d.ctx.park(next, 'looking again for the issue a lost create may have made');
}

/** Too soon after this job's create for Jira's index to show it: come back when it will. */
async function settleFirst(d: Delivery, sent: string | undefined): Promise<void> {
  const settle = Math.min(d.deps.recoverySettleMs ?? RECOVERY_SETTLE_MS, d.deps.recoveryWindowMs ?? RECOVERY_WINDOW_MS);
  if (sent && Date.now() - Date.parse(sent) < settle) {
    await d.ctx.park(Date.parse(sent) + settle, 'letting Jira\'s index catch up with this job\'s create');
  }
}

/** The people the create names: the sender as reporter, unless Jira refused that for this mail. */
function peopleFor(d: Delivery): ReturnType<typeof peopleOf> {
  const people = peopleOf(d.data.people);
  if (!d.state.reporterRefused) return people;
  const { reporter: _refused, ...rest } = people;
  return rest;
}

function recoveryJql(d: Delivery, since: number): string {
  // What the create really set: without Modify reporter the token's account reports.
  const people = peopleFor(d);
  const project = routeProject(d.route);
  const minutes = Math.ceil((Date.now() - since + RECOVERY_MARGIN_MS) / 60_000);
  return [
    ...(project ? [`project = ${jqlString(project)}`] : []),
    // Without an account for the sender the token's account reports (Jira's default, and JSM's without raiseOnBehalfOf).
    people.reporter ? `reporter = ${jqlString(people.reporter)}` : 'reporter = currentUser()',
    // Relative: absolute dates in JQL are read in the token account's time zone.
    `created >= -${minutes}m`,
  ].join(' AND ');
}

/** A candidate whose property names this mail's identity: ours to finish, to adopt, or another mail's. */
async function confirmed(d: Delivery, h: Hit, prop: MessageProperty, kind: 'issue' | 'request', sent: string | undefined): Promise<Target> {
  if (prop.sha256 && prop.sha256 !== d.record.rawRef.sha256) {
    // Made from another mail that carried this Message-ID: restore its ledger entry, and
    // deliver ours under its own identity on the next attempt.
    await d.ledger.put(d.mk, { kind, issueKey: h.key, issueId: h.id, mailboxId: prop.mailboxId ?? d.data.mailboxId, jobId: 'recovered', sha256: prop.sha256, at: new Date().toISOString() });
    throw new RetryableError(`the issue with Message-ID ${d.mk} (${h.key}) was made from another mail; delivering this one separately`);
  }
  const sameMailbox = prop.mailboxId === undefined || prop.mailboxId === d.data.mailboxId;
  // This job's own create (its answer lost), or an interrupted delivery from this mailbox:
  // ours to finish (attachments not yet recorded as up come again). Complete and not ours,
  // or made for another mailbox: adopt it as it is.
  const adopted = !sameMailbox || (prop.complete === true && !sent);
  if (!adopted) d.state.propertyComplete = prop.complete === true;
  d.ctx.log.info({ issueKey: h.key, adopted }, 'found the issue an unseen create made from this mail (confirmed by its property)');
  return { kind, issueKey: h.key, issueId: h.id, adopted };
}

/**
 * Makes the issue or request, with its MESSAGE_PROPERTY. A project without Modify reporter
 * answers "Field 'reporter' cannot be set" (400): the mail still becomes an issue, reported by
 * the token's account with the sender named in its text.
 */
export async function create(d: Delivery): Promise<Target> {
  try {
    return await createOnce(d);
  } catch (e) {
    if (!(e instanceof PermissionError) || e.permission !== 'MODIFY_REPORTER' || d.state.reporterRefused || !peopleOf(d.data.people).reporter) throw e;
    d.ctx.log.warn({ project: routeProject(d.route) }, 'Jira refused the sender as reporter (no Modify reporter): creating the issue reported by the workaround user, the sender named in it');
    d.state.reporterRefused = true;
    await d.save();
    return createOnce(d);
  }
}

async function createOnce(d: Delivery): Promise<Target> {
  const { text, attachments } = await d.mail();
  // Quoted history is stripped where an issue holds it already: in a follow-up of one. A new
  // issue holds nothing yet, and what looks like history may be all the mail says (an Outlook
  // forward starts like a reply's quote): a guess must not drop a customer's text. A forward
  // (by its subject) keeps everything in a follow-up too.
  const strip = d.route.stripQuotedHistory && d.state.followUp !== undefined && !isForward(d.record.subject);
  const body = textToAdf(text, { stripQuotedHistory: strip, preface: createPreface(d), notes: await d.oversizeNotes() });
  // Nothing to upload: the property says complete from the start, and no update follows.
  const complete = d.uploadPlan(attachments).upload.length === 0;
  // Written before the request leaves: if its answer is lost, the re-run knows to look, and
  // waits out the index lag from THIS create. A create sent again (the looks after an earlier
  // lost answer found nothing) restarts the window: measured from the first, the look after a
  // second lost answer came at once, before the index could show it, and the mail became two issues.
  d.state.createSent = new Date().toISOString();
  await d.save();
  const r = d.route;
  const target = isRequestRoute(r) ? await createRequest(d, r, body, complete) : await createIssue(d, r, body, complete);
  d.state.propertyComplete = complete;
  return target;
}

/** Lines above the mail's text: who wrote it when Jira does not know, a forged sender, a refused claim. */
function createPreface(d: Delivery): string[] {
  const { record, state } = d;
  const people = peopleFor(d);
  // Without an account for the sender (or without Modify reporter here), the issue is reported by the token's account: say who wrote.
  const preface = people.reporter
    ? []
    : state.reporterRefused
      ? [`From ${senderLabel(record.from)} (reported by the Mailroom account: it may not set the reporter in this project, Jira permission "Modify reporter"):`]
      : [`From ${senderLabel(record.from)} (no Jira account):`];
  const note = senderNote(record, d.mailbox);
  if (note) preface.unshift(note);
  const suspect = suspectLine(record.classification);
  if (suspect) preface.unshift(suspect);
  const keys = issueKeysIn(record.subject, routeProject(d.route));
  const cap = d.route.maxIssueKeyLookups ?? DEFAULT_MAX_ISSUE_KEY_LOOKUPS;
  if (keys.length > cap) preface.push(`The subject names ${keys.length} issue keys; only the first ${cap} were looked up (deliver.maxIssueKeyLookups), not: ${keys.slice(cap, cap + 50).join(', ')}${keys.length > cap + 50 ? ' …' : ''}.`);
  if (state.claimed) preface.push(`This mail claims to answer ${state.claimed.issueKey}; it was not added there because ${state.claimed.why}.`);
  if (state.followUp) preface.push(followUpLine(state.followUp));
  return preface;
}

/**
 * Sends one create. When Jira answers it with a refusal (4xx, 401, 429), nothing was made: the
 * mark that a create left is taken back, so the re-run (after a held project resumes, a rate
 * limit passes, a token is stored) creates at once instead of waiting out the recovery window
 * that only a create whose answer was lost needs.
 */
async function answered<T>(d: Delivery, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (e) {
    if (e instanceof PermanentError || e instanceof RateLimitedError || e instanceof AuthError) {
      delete d.state.createSent;
      delete d.state.requestSent;
      await d.save();
    }
    throw e;
  }
}

type RequestRoute = Extract<DeliverRoute, { serviceDeskId: string }>;
type IssueRoute = Exclude<DeliverRoute, RequestRoute>;
type Body = ReturnType<typeof textToAdf>;

async function createRequest(d: Delivery, r: RequestRoute, body: Body, complete: boolean): Promise<Target> {
  const people = peopleFor(d);
  const created = await answered(d, () => d.client.createRequest({
    serviceDeskId: r.serviceDeskId,
    requestTypeId: r.requestTypeId,
    summary: summaryOf(d.record.subject, d.record.from),
    description: adfToText(body),
    // Without it the request is raised by the token's account (the preface names the sender).
    raiseOnBehalfOf: people.reporter as string,
    requestParticipants: people.participants,
  }));
  // JSM takes no properties at creation: set right after, before the ledger write. A crash
  // in between leaves a request without its property; the re-run's recovery adopts it.
  await d.client.setIssueProperty(created.issueKey, MESSAGE_PROPERTY, d.propertyValue(complete));
  return { kind: 'request', issueKey: created.issueKey, issueId: created.issueId, adopted: false };
}

async function createIssue(d: Delivery, r: IssueRoute, body: Body, complete: boolean): Promise<Target> {
  const people = peopleFor(d);
  const fields: Record<string, unknown> = {
    project: { key: r.project },
    issuetype: { name: r.issueType },
    summary: summaryOf(d.record.subject, d.record.from),
    description: body,
    ...(people.reporter ? { reporter: { id: people.reporter } } : {}),
  };
  const labels = [suspectLabel(d.record.classification), d.state.followUp ? FOLLOWUP_LABEL : undefined].filter((l): l is string => !!l);
  if (labels.length) fields.labels = labels;
  // The property rides in the create (IssueUpdateDetails.properties): one call, atomic.
  const properties = [{ key: MESSAGE_PROPERTY, value: d.propertyValue(complete) }];
  let created: { id: string; key: string };
  try {
    created = await answered(d, () => d.client.createIssue(fields, { properties }));
  } catch (e) {
    // A project whose create screen lacks Labels refuses the field (400, nothing made): the
    // description's line still says why; the mail is not failed for want of a label.
    if (!labels.length || !(e instanceof PermanentError) || !/\blabels\b/i.test(e.message)) throw e;
    d.ctx.log.warn({ labels }, 'the project refuses labels on create: the mail is delivered without its labels');
    delete fields.labels;
    created = await answered(d, () => d.client.createIssue(fields, { properties }));
  }
  return { kind: 'issue', issueKey: created.key, issueId: created.id, adopted: false };
}
