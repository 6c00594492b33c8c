// What a chaos run (bench/chaos.ts) left behind once its faults stopped: the queues and the
// token gate at the end, every mail's issue, the accounts made, what IMAP still holds unfinished
// and the simulator's violations; then the report (table, verdict, CHAOS-RESULT line).
import { readTokenState } from '../../src/token/gate.js';
import type { Population } from './mails.js';
import { closeQueues, counts, issuesByMessage, unfinished, type BenchQueue } from './observe.js';
import type { Queue } from 'bullmq';
import { ALL_ROLES, type Rig, type Run } from './rig.js';
import { table } from './stats.js';

export interface Outcome {
  appended: number;
  issues: number;
  accountsCreated: number;
  newSenders: number;
  duplicateIssues: number;
  duplicateAccounts: number;
  lostMails: number;
  missingAccounts: number;
  stuckJobs: number;
  failedJobs: number;
  unfinishedInImap: number;
  violations: Record<string, number>;
  simProblems: number;
  faults: Record<string, number>;
  settled: boolean;
  seconds: number;
}

/** Mails among ids not yet flagged done in the user's INBOX (each Message-ID counted once). */
export async function imapUnfinished(rig: Rig, user: string, ids: Set<string>): Promise<number> {
  const c = await rig.dovecot.client(user);
  try {
    const lock = await c.getMailboxLock('INBOX');
    try {
      let left = 0;
      const seen = new Set<string>();
      for await (const m of c.fetch('1:*', { flags: true, envelope: true })) {
        const id = m.envelope?.messageId?.replace(/^<|>$/g, '');
        if (!id || !ids.has(id)) continue;
        if (!m.flags?.has('$MailroomDone') && !seen.has(id)) left++;
        seen.add(id);
      }
      return left;
    } finally {
      lock.release();
    }
  } finally {
    await c.logout().catch(() => c.close());
  }
}

/** The queues and the processes as the run ended, for a failure report; the roles are stopped after. */
export interface EndState {
  counts: Record<BenchQueue, Record<string, number>>;
  paused: Record<string, { paused: boolean; workers: number }>;
  gate: unknown;
  lastStderr: { role: string; text: string }[];
}

export async function endRun(rig: Rig, run: Run, qs: Record<BenchQueue, Queue>): Promise<EndState> {
  const cs = await counts(qs);
  const paused = Object.fromEntries(await Promise.all(Object.entries(qs).map(async ([n, q]) => [n, { paused: await q.isPaused(), workers: (await q.getWorkers()).length }] as const)));
  const gate = await readTokenState(rig.conn, run.prefix).catch((e: unknown) => String(e));
  await closeQueues(qs);
  const lastStderr = [...run.running.values()].map((p) => ({ role: p.role, text: p.stderr() }));
  await run.stopAll();
  return { counts: cs, paused, gate, lastStderr };
}

export interface Measured {
  rig: Rig;
  run: Run;
  pop: Population;
  wanted: Set<string>;
  appended: Set<string>;
  faults: Map<string, number>;
  end: EndState;
  settled: boolean;
  started: number;
}

export async function outcomeOf(m: Measured): Promise<Outcome> {
  const { rig, pop, wanted } = m;
  const by = issuesByMessage(rig.sim);
  let dupIssues = 0;
  let issues = 0;
  for (const [id, list] of by) {
    if (!wanted.has(id)) continue;
    issues += list.length;
    dupIssues += list.length - 1;
  }
  const accountsByEmail = new Map<string, number>();
  for (const a of rig.sim.state.accounts.values()) if (a.email) accountsByEmail.set(a.email, (accountsByEmail.get(a.email) ?? 0) + 1);
  const cs = m.end.counts;
  return {
    appended: m.appended.size,
    issues,
    accountsCreated: pop.unknown.filter((e) => accountsByEmail.has(e)).length,
    newSenders: pop.unknown.length,
    duplicateIssues: dupIssues,
    duplicateAccounts: [...accountsByEmail.values()].reduce((n, k) => n + Math.max(0, k - 1), 0),
    lostMails: [...wanted].filter((id) => !by.has(id)).length,
    missingAccounts: pop.unknown.filter((e) => !accountsByEmail.has(e)).length,
    stuckJobs: Object.values(cs).reduce((n, x) => n + unfinished(x), 0),
    failedJobs: Object.values(cs).reduce((n, x) => n + (x.failed ?? 0), 0),
    unfinishedInImap: await imapUnfinished(rig, m.run.imapUser, wanted).catch(() => -1),
    violations: Object.fromEntries(Object.entries(rig.sim.counters.snapshot().violations).filter(([, v]) => v > 0)),
    simProblems: rig.sim.counters.simProblems.length,
    faults: Object.fromEntries(m.faults),
    settled: m.settled,
    seconds: Math.round((Date.now() - m.started) / 1000),
  };
}

/** Prints the report on stdout (and, on a problem, the end state on stderr); the number of problems. */
export function reportOutcome(rig: Rig, mode: string, outcome: Outcome, end: EndState): number {
  const violations = Object.values(outcome.violations).reduce((a, b) => a + b, 0);
  const stuck = outcome.stuckJobs + outcome.failedJobs + Math.max(0, outcome.unfinishedInImap);
  const bad = outcome.duplicateIssues + outcome.duplicateAccounts + outcome.lostMails + outcome.missingAccounts + stuck + violations + (outcome.unfinishedInImap < 0 ? 1 : 0);
  process.stdout.write(
    [
      `Mailroom chaos run (${mode}), roles: ${ALL_ROLES.join(', ')}; ${outcome.seconds} s`,
      `faults injected: ${Object.entries(outcome.faults).map(([k, v]) => `${k} x${v}`).join(', ')}`,
      '',
      table([
        ['check', 'count'],
        ['mails appended', outcome.appended],
        ['issues created', outcome.issues],
        [`accounts created (of ${outcome.newSenders} new senders)`, outcome.accountsCreated],
        ['duplicate issues', outcome.duplicateIssues],
        ['duplicate accounts', outcome.duplicateAccounts],
        ['lost mails (no issue)', outcome.lostMails],
        ['missing accounts', outcome.missingAccounts],
        ['jobs stuck (waiting/active/delayed)', outcome.stuckJobs],
        ['jobs failed', outcome.failedJobs],
        ['mails not finished in IMAP', outcome.unfinishedInImap],
        ['simulator violations', violations],
      ]),
      ...(violations ? [`violations: ${JSON.stringify(outcome.violations)}`, ...rig.sim.counters.violationLog().slice(0, 5).map((v) => `  ${v.kind} ${v.operation}: ${v.detail}`)] : []),
      bad ? `FAIL: ${bad} problem(s)${outcome.settled ? '' : ' (did not settle in time)'}` : 'OK: no duplicate, loss, stuck job or violation',
      `CHAOS-RESULT ${JSON.stringify(outcome)}`,
      '',
    ].join('\n'),
  );
  if (bad) {
    process.stderr.write(`queue counts at the end: ${JSON.stringify(end.counts)}\n`);
    process.stderr.write(`queues (paused, workers connected): ${JSON.stringify(end.paused)}; token gate: ${JSON.stringify(end.gate)}\n`);
    for (const p of end.lastStderr) process.stderr.write(`--- ${p.role} stderr (tail) ---\n${p.text.slice(-1500)}\n`);
  }
  return bad;
}
