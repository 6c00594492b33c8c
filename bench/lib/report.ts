// What `npm run bench` writes (bench/results.json) and the table it prints (bench/run.ts runs the
// measurements).
import type { BullmqCeiling } from '../bullmq.js';
import type { HtmlDeliveryBench } from '../html.js';
import { newSenderRows, type NewSenderBurst } from '../new-senders.js';
import type { ParseBench } from '../parse.js';
import { customerMailRows, type CustomerMailsBench } from '../respond.js';
import type { Machine } from './machine.js';
import { round, table, type Spread } from './stats.js';

export interface StageFigures {
  mails: number;
  senders: number;
  newSenders: number;
  appendPerSec: number;
  pollerMailsPerSec: number;
  resolveMailsPerSec: number;
  deliverMailsPerSec: number;
  /** Jira calls the deliverer made per mail it delivered (the staged deliver run). */
  deliverCallsPerMail: number;
  endToEndMails: number;
  endToEndMailsPerSec: number;
}

export interface BenchResults {
  mode: 'quick' | 'default';
  machine: Machine;
  jiraSim: { latencyMs: number; jitterMs: number };
  bullmq: BullmqCeiling;
  parse: (ParseBench & { corpus: string }) | { skipped: string };
  stages: StageFigures & { ratioToCeiling: { poller: number; resolve: number; deliver: number; endToEnd: number } };
  latencyMs: {
    mails: number;
    senders: number;
    newSenders: number;
    appendsPerSec: number;
    appendToEnqueued: Spread;
    enqueuedToAccountReady: Spread;
    enqueuedToAccountReadyNewSender: Spread;
    appendToIssue: Spread;
  };
  jira: { mails: number; uniqueSenders: number; newSenders: number; callsPerMail: number; userSearchesPerUniqueSender: number; createUserPerNewSender: number; byOperation: Record<string, number> };
  /**
   * baselineRssMB: half a second after the warm-up mails (just after work); idleRssMB: after
   * POLLER_IDLE_MS with nothing to do, past the parse threads' idle time (they stop).
   */
  pollerRss: { mailBytes: number; baselineRssMB: number; idleRssMB: number; peakRssMB: number; peakHwmMB: number; samples: number };
  /** The deliverer's event-loop delay while one big HTML mail (a tag bomb) is delivered. */
  htmlDelivery: HtmlDeliveryBench;
  /** MEMORY USAGE of every key of the install, before and after the mails were queued, per mail; and the job hashes alone. */
  redis: { queuedMails: number; bytesPerMailAllKeys: number; bytesPerMailJobKeys: number; jobKeys: number };
  /** Issue #25: new senders arriving in a burst, first append -> account ready and each step between (fresh role processes). */
  newSenderBurst: NewSenderBurst;
  /** Issue #26: agents' public comments mailed to email-only participants by the notifier process. */
  customerMails: CustomerMailsBench;
  durationSec: number;
}


export function render(r: BenchResults): string {
  const ratio = (n: number) => `${round(n * 100, 1)}%`;
  const ms = (s: Spread) => [s.p50, s.p95, s.p99].map((v) => (v === undefined ? '-' : `${v}`)).join(' / ');
  const parse = 'skipped' in r.parse ? undefined : r.parse;
  const lines: (string | number | undefined)[][] = [
    ['figure', 'value', 'workload'],
    ['BullMQ ceiling: add (jobs/s)', r.bullmq.addPerSec, `${r.bullmq.jobs} empty jobs`],
    ['BullMQ ceiling: process (jobs/s)', r.bullmq.processPerSec, `${r.bullmq.jobs} empty jobs, concurrency ${r.bullmq.concurrency}`],
    ['poller: IMAP -> enqueued (mails/s)', `${r.stages.pollerMailsPerSec} (${ratio(r.stages.ratioToCeiling.poller)} of add)`, `${r.stages.mails} mails waiting in the inbox`],
    ['resolver+provisioner (mails/s)', `${r.stages.resolveMailsPerSec} (${ratio(r.stages.ratioToCeiling.resolve)} of process)`, `${r.stages.mails} mails, ${r.stages.senders} senders, ${r.stages.newSenders} new`],
    ['deliverer (mails/s)', `${r.stages.deliverMailsPerSec} (${ratio(r.stages.ratioToCeiling.deliver)} of process)`, `${r.stages.mails} mails`],
    ['end to end (mails/s)', `${r.stages.endToEndMailsPerSec} (${ratio(r.stages.ratioToCeiling.endToEnd)} of process)`, `${r.stages.endToEndMails} mails, all roles at once`],
    ['parse: Mailroom (MB/s, mails/s)', parse ? `${parse.mailroomMBps}, ${parse.mailroomMailsPerSec}` : 'skipped', parse ? `${parse.mails} corpus mails, ${round(parse.bytes / 1e6, 1)} MB` : undefined],
    ['parse: bare mailparser (MB/s, mails/s)', parse ? `${parse.bareMBps}, ${parse.bareMailsPerSec}` : 'skipped', parse ? 'same mails, same run' : undefined],
    ['append -> enqueued p50/p95/p99 (ms)', ms(r.latencyMs.appendToEnqueued), `${r.latencyMs.mails} mails at ${r.latencyMs.appendsPerSec}/s`],
    ['enqueued -> account ready p50/p95/p99 (ms)', ms(r.latencyMs.enqueuedToAccountReady), `same mails (${r.latencyMs.newSenders} of ${r.latencyMs.senders} senders new)`],
    ['  first mail of a new sender', ms(r.latencyMs.enqueuedToAccountReadyNewSender), `${r.latencyMs.enqueuedToAccountReadyNewSender.n} mails`],
    ['append -> issue created p50/p95/p99 (ms)', ms(r.latencyMs.appendToIssue), 'same mails'],
    ['deliverer: Jira calls per delivered mail', r.stages.deliverCallsPerMail, `${r.stages.mails} mails, no attachments (staged deliver run)`],
    ['Jira calls per mail', r.jira.callsPerMail, `${r.jira.mails} mails, ${r.jira.uniqueSenders} senders, ${r.jira.newSenders} new`],
    ['user searches per unique sender', r.jira.userSearchesPerUniqueSender, 'same run'],
    ['user creates per new sender', r.jira.createUserPerNewSender, 'same run'],
    ['poller peak RSS (MB, VmHWM)', `${r.pollerRss.peakHwmMB} (idle ${r.pollerRss.idleRssMB}, just after work ${r.pollerRss.baselineRssMB})`, `one ${round(r.pollerRss.mailBytes / 2 ** 20, 1)} MB mail`],
    ['deliverer event-loop delay p50/p99/max (ms)', `${r.htmlDelivery.eventLoopDelayMs.p50} / ${r.htmlDelivery.eventLoopDelayMs.p99} / ${r.htmlDelivery.eventLoopDelayMs.max} (target p99 < 50)`, `one ${r.htmlDelivery.mailMB} MB HTML mail delivered in ${r.htmlDelivery.deliverMs} ms; idle p99 ${r.htmlDelivery.idleDelayMs.p99}`],
    ['Redis bytes per queued mail', `${r.redis.bytesPerMailAllKeys} (job hash ${r.redis.bytesPerMailJobKeys})`, `${r.redis.queuedMails} mail-inbound jobs waiting`],
    ...newSenderRows(r.newSenderBurst),
    ...customerMailRows(r.customerMails),
  ];
  const m = r.machine;
  return [
    `Mailroom benchmark (${r.mode}), ${m.at}`,
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGB} GB, Node ${m.node}, Redis ${m.redis}, load ${m.loadAtStart} at start`,
    `Jira simulator latency ${r.jiraSim.latencyMs} ms +- ${r.jiraSim.jitterMs} ms; run took ${r.durationSec} s`,
    '',
    table(lines),
  ].join('\n');
}

