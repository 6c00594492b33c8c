// The Jira simulator for tests: a seeded site (see src/jira-sim/seed.ts) and a client for
// its workaround admin. Use startSeededSim() in a test, or withSim() for a whole file.
import type { Redis } from 'ioredis';
import { loadSecretKey } from '../../src/token/key.js';
import { saveToken } from '../../src/token/store.js';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { createJiraClient, type JiraClient, type JiraClientOptions } from '../../src/jira/index.js';
import { seedDemo, startJiraSim, type JiraSim, type JiraSimOptions, type SeededSite } from '../../src/jira-sim/index.js';
import { specsDir } from './corpus.js';

export interface SeededSim {
  sim: JiraSim;
  site: SeededSite;
  /** A client for the seeded admin (override any option, e.g. token or timeoutMs). */
  client(over?: Partial<JiraClientOptions>): JiraClient;
  /** Forget everything and seed the demo site again (same ids: the seed is fixed). */
  reseed(): void;
  close(): Promise<void>;
}

/** Start a simulator with the demo site. Requests are checked against the specs when present. */
export async function startSeededSim(opts: JiraSimOptions = {}): Promise<SeededSim> {
  const dir = specsDir();
  // No index lag unless a test asks (Jira's lag, the simulator's default, is tested where it matters).
  const sim = await startJiraSim({ ...(dir ? { specsDir: dir } : {}), indexLagMs: 0, ...opts });
  const box = { site: seedDemo(sim) };
  return {
    sim,
    get site() {
      return box.site;
    },
    client(over = {}) {
      return createJiraClient({ baseUrl: sim.url, email: box.site.admin.email, token: box.site.admin.token, timeoutMs: 5_000, ...over });
    },
    reseed() {
      sim.reset();
      box.site = seedDemo(sim);
    },
    close: () => sim.close(),
  };
}

/**
 * One simulator for the test file, reseeded before each test:
 *   const jira = withSim();  ...  jira().client().findUserByEmail(...)
 */
export function withSim(opts: JiraSimOptions = {}): () => SeededSim {
  let s: SeededSim | undefined;
  beforeAll(async () => {
    s = await startSeededSim(opts);
  });
  beforeEach(() => s?.reseed());
  afterAll(async () => {
    await s?.close();
  });
  return () => {
    if (!s) throw new Error('withSim(): the simulator starts in beforeAll; call jira() inside a test');
    return s;
  };
}

/**
 * Store the seeded workaround admin's token, sealed under `secretKeyBase64`, as `mailroom
 * token set` would (without the live check): what every test needing the token runtime does.
 */
export async function storeAdminToken(redis: Redis, prefix: string, secretKeyBase64: string, site: Pick<SeededSite, 'admin'>, days = 30): Promise<void> {
  await saveToken(redis, prefix, loadSecretKey({ base64: secretKeyBase64 }), {
    token: site.admin.token,
    email: site.admin.email,
    accountId: site.admin.accountId,
    storedAt: new Date(),
    expiresAt: new Date(Date.now() + days * 86_400_000),
  });
}
