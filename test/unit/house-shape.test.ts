// The house rules of src/ (README, "Layout"): folders stand on floors and import only from
// floors below; the simulator is reached only by the demo, the `jira-sim` command and tests;
// no function over 80 lines outside the simulator, no file over 400 lines. bench/ (the benchmark
// and chaos harness) is held to the same function and file limits (issue 25 point 4).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as catalog from '../../src/queues/catalog.js';
import { fileLines, folderCycles, functionSpans, importEdges, layerViolations, sourceFiles, type LayerRules } from '../helpers/code-shape.js';

const SRC = join(import.meta.dirname, '../../src');
const BENCH = join(import.meta.dirname, '../../bench');

export const RULES: LayerRules = {
  floors: {
    core: 0, // errors, log, metrics registry, Redis connections
    config: 1,
    jira: 2, // the client, the one Retry-After gate, the site host
    mail: 2, // parse, content, the mail's ids, the store and its retention
    ledger: 2, // the delivery ledger: which issue each mail became (resolver, deliverer, responder, ops)
    queues: 3, // queue catalog, adding jobs, the audit trail, what a role is
    token: 4, // the workaround token: storage, checks, clients on it
    oauth: 5, // mailbox and SMTP OAuth grants
    station: 5, // what a worker is (defineStation), the role that runs stations; the only user of BullMQ's Worker
    imap: 6, // the stages, one folder each; none imports another
    identity: 6,
    deliver: 6,
    notify: 6,
    respond: 7, // mail to customers: uses notify's SMTP machinery and deliver's issue property
    ops: 7,
    web: 8,
    roles: 9,
    'jira-sim': 9,
    cli: 10,
    demo: 11,
  },
  reachableOnlyFrom: { 'jira-sim': ['cli', 'demo'] },
};

const MAX_FUNCTION_LINES = 80;
const MAX_FILE_LINES = 400;

/** Functions under root longer than the limit, as "file:line name (n lines)". */
function longFunctions(root: string, exempt: (file: string) => boolean = () => false): string[] {
  return functionSpans(root)
    .filter((s) => s.lines > MAX_FUNCTION_LINES && !exempt(s.file))
    .map((s) => `${s.file}:${s.line} ${s.name} (${s.lines} lines)`);
}

/** Files under root longer than the limit, as "file (n lines)". */
function bigFiles(root: string): string[] {
  return sourceFiles(root)
    .map((f) => ({ f: f.slice(root.length + 1), n: fileLines(f) }))
    .filter((x) => x.n > MAX_FILE_LINES)
    .map((x) => `${x.f} (${x.n} lines)`);
}

describe('the checker', () => {
  // The rules below would pass vacuously if the checker saw nothing: show it catching each kind.
  const rules: LayerRules = { floors: { low: 0, high: 1, side: 1, sim: 1 }, reachableOnlyFrom: { sim: ['top'] } };
  it('catches an import from a lower floor to a higher one, a same-floor import and an unknown folder', () => {
    const v = layerViolations(
      [
        { from: 'low/a.ts', to: 'high/b.ts' },
        { from: 'high/b.ts', to: 'low/a.ts' },
        { from: 'loose.ts', to: 'low/a.ts' },
        { from: 'high/b.ts', to: 'side/c.ts' },
        { from: 'high/b.ts', to: 'sim/s.ts' },
      ],
      rules,
    );
    expect(v).toHaveLength(4);
    expect(v[0]).toMatch(/low\/a\.ts imports high\/b\.ts/);
    expect(v[1]).toMatch(/folder "" has no floor/);
    expect(v[2]).toMatch(/high\/ \(floor 1\) may not import side\/ \(floor 1\)/);
    expect(v[3]).toMatch(/only top may reach sim/);
  });
  it('finds a cycle between folders', () => {
    expect(folderCycles([{ from: 'a/x.ts', to: 'b/y.ts' }, { from: 'b/y.ts', to: 'c/z.ts' }, { from: 'c/z.ts', to: 'a/x.ts' }])).toEqual([['a', 'b', 'c']]);
    expect(folderCycles([{ from: 'a/x.ts', to: 'b/y.ts' }])).toEqual([]);
  });
  it('measures functions', () => {
    const spans = functionSpans(SRC, [join(SRC, 'core/errors.ts')]);
    expect(spans.length).toBeGreaterThan(3);
    expect(spans.every((s) => s.lines >= 1)).toBe(true);
  });
});

describe('src/', () => {
  const edges = importEdges(SRC);
  it('reads many imports (the graph is not empty)', () => {
    expect(edges.length).toBeGreaterThan(300);
  });
  it('has no import to a folder on the same or a higher floor, and the simulator only from cli and demo', () => {
    expect(layerViolations(edges, RULES)).toEqual([]);
  });
  it('has no cycle between folders', () => {
    expect(folderCycles(edges)).toEqual([]);
  });
  it(`has no function over ${MAX_FUNCTION_LINES} lines outside the simulator`, () => {
    expect(longFunctions(SRC, (f) => f.startsWith('jira-sim/'))).toEqual([]);
  });
  it(`has no file over ${MAX_FILE_LINES} lines`, () => {
    expect(bigFiles(SRC)).toEqual([]);
  });
});

describe('bench/', () => {
  it('is read whole (the harness and its lib/, not an empty folder)', () => {
    const files = sourceFiles(BENCH).map((f) => f.slice(BENCH.length + 1));
    expect(files).toEqual(expect.arrayContaining(['chaos.ts', 'run.ts', 'lib/rig.ts']));
    expect(functionSpans(BENCH).length).toBeGreaterThan(100);
  });
  it(`has no function over ${MAX_FUNCTION_LINES} lines`, () => {
    expect(longFunctions(BENCH)).toEqual([]);
  });
  it(`has no file over ${MAX_FILE_LINES} lines`, () => {
    expect(bigFiles(BENCH)).toEqual([]);
  });
});

describe('the station layer', () => {
  // BullMQ's worker, its signals and a job's lock are the station layer's (src/station/): a step
  // that waits says ctx.park(until, why), and errors carry kinds that outcomeOf maps.
  const RESERVED = /\b(Worker|DelayedError|WaitingChildrenError|UnrecoverableError)\b/;
  const LOCK_USE = /\.(moveToDelayed|moveToWaitingChildren|moveToFailed|moveToCompleted|extendLock)\(|\bctx\.token\b/;
  const offenders = (files: string[]) =>
    files.flatMap((f) => {
      const text = readFileSync(f, 'utf8');
      const imports = [...text.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'bullmq'/g)].map((m) => m[1] ?? '');
      const rel = f.slice(SRC.length + 1);
      return [...(imports.some((names) => RESERVED.test(names)) ? [`${rel} imports BullMQ's worker machinery`] : []), ...(LOCK_USE.test(text) ? [`${rel} moves a job under its lock`] : [])];
    });
  it("is where BullMQ's Worker, DelayedError and lock tokens are used (the check sees them there)", () => {
    const inside = sourceFiles(SRC).filter((f) => f.slice(SRC.length + 1).startsWith('station/'));
    expect(offenders(inside).length).toBeGreaterThanOrEqual(2);
  });
  it('is the only place: no other file in src/ imports them or moves a job under its lock', () => {
    const outside = sourceFiles(SRC).filter((f) => !f.slice(SRC.length + 1).startsWith('station/'));
    expect(outside.length).toBeGreaterThan(100);
    expect(offenders(outside)).toEqual([]);
  });

  // Every production worker is a station (defineStation, run by its role), so a newcomer finds
  // them all by that one name; startWorker is the station layer's own (tests may call it).
  const START_WORKER = /\bstartWorker\b/;
  const startsWorkers = (files: string[]) => files.filter((f) => START_WORKER.test(readFileSync(f, 'utf8').replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, ''))).map((f) => f.slice(SRC.length + 1));
  it('starts every worker: startWorker is named in station/ (the check sees it there)', () => {
    expect(startsWorkers(sourceFiles(join(SRC, 'station')))).toContain('station/station.ts');
  });
  it('is the only place that starts a worker: no other file in src/ names startWorker', () => {
    const outside = sourceFiles(SRC).filter((f) => !f.slice(SRC.length + 1).startsWith('station/'));
    expect(startsWorkers(outside)).toEqual([]);
  });
  it('defines a station for every queue in the catalog', () => {
    // `queue: mailInbound,` in a defineStation({...}) call, one per queue, beside its processor.
    const defined = sourceFiles(SRC)
      .map((f) => readFileSync(f, 'utf8'))
      .filter((text) => /\bdefineStation\(\{/.test(text))
      .flatMap((text) => [...text.matchAll(/defineStation\(\{\s*queue:\s*(\w+),/g)].map((m) => (catalog as Record<string, { name?: string }>)[m[1] ?? '']?.name ?? `${m[1]} (not in the catalog)`));
    expect(defined.sort()).toEqual(catalog.allQueues.map((q) => q.name).sort());
  });
});

describe('one delivery reads top-down', () => {
  // deliverer.ts opens a Delivery (delivery.ts) and hands it down the steps; a step gets what it
  // needs from it (d.save(), d.remember(), ...) and never calls back into delivery.ts.
  it('no delivery step imports anything but types from delivery.ts', () => {
    const steps = sourceFiles(join(SRC, 'deliver')).filter((f) => !/\/(delivery|deliverer)\.ts$/.test(f));
    expect(steps.length).toBeGreaterThan(8);
    const callsBack = steps.filter((f) => /import\s+\{[^}]*\}\s+from\s+'\.\/delivery\.js'/.test(readFileSync(f, 'utf8').replace(/import\s+type\s+\{[^}]*\}\s+from\s+'\.\/delivery\.js'/g, '')));
    expect(callsBack.map((f) => f.slice(SRC.length + 1))).toEqual([]);
  });
});

describe('docs/architecture.md', () => {
  it('its floor table names the same folders on the same floors as these rules', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/architecture.md'), 'utf8');
    const table: Record<string, number> = {};
    // Rows like "| 6 | `imap/`, `identity/`, `deliver/`, `notify/` | what it holds |".
    for (const m of doc.matchAll(/^\| (\d+) \| ([^|]+) \|/gm)) {
      for (const f of (m[2] ?? '').matchAll(/`([a-z-]+)\/`/g)) table[f[1] ?? ''] = Number(m[1]);
    }
    expect(table).toEqual(RULES.floors);
  });
});
