// `/__sim/...`: the simulator's controls over HTTP (JSON), so a simulator started by
// `mailroom jira-sim` can be seeded, faulted and read by other processes.
import type { Reply } from './http.js';
import { addAdmin, seedDemo } from './seed.js';
import type { JiraSim } from './server.js';
import type { SimAccountType } from './state.js';

type Body = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function issueView(sim: JiraSim) {
  return sim.state.allIssues().map((i) => ({
    id: i.id,
    key: i.key,
    projectKey: i.projectKey,
    fields: i.fields,
    serviceDeskId: i.serviceDeskId,
    requestTypeId: i.requestTypeId,
    comments: i.comments.map((c) => ({ id: c.id, authorId: c.authorId, body: c.body, created: c.created, ...(c.internal ? { internal: true } : {}), ...(c.visibility ? { visibility: c.visibility } : {}) })),
    attachments: i.attachments.map((a) => ({ id: a.id, filename: a.filename, mimeType: a.mimeType, size: a.size })),
    properties: Object.fromEntries(i.properties),
  }));
}

function stateView(sim: JiraSim) {
  const { state } = sim;
  return {
    accounts: [...state.accounts.values()].map((a) => ({
      ...a,
      permissions: [...a.permissions],
      projectPermissions: Object.fromEntries([...a.projectPermissions].map(([k, v]) => [k, [...v]])),
    })),
    tokens: [...state.tokens.values()].map((t) => ({ accountId: t.accountId, status: t.status, expiresAt: t.expiresAt, remainingRequests: t.remainingRequests })),
    groups: [...state.groups.values()].map((g) => ({ groupId: g.groupId, name: g.name, members: [...g.members] })),
    projects: [...state.projects.values()].map((p) => ({ id: p.id, key: p.key, name: p.name, issueTypes: p.issueTypes })),
    serviceDesks: [...state.serviceDesks.values()].map((d) => ({ id: d.id, projectKey: d.projectKey, customers: [...d.customers], requestTypes: [...d.requestTypes.values()] })),
    issues: issueView(sim),
  };
}

export async function adminRoutes(sim: JiraSim, method: string, path: string, raw: Buffer): Promise<Reply> {
  let b: Body = {};
  if (raw.length) {
    try {
      b = JSON.parse(raw.toString('utf8')) as Body;
    } catch {
      return { status: 400, body: { error: 'send a JSON body' } };
    }
  }
  const { state } = sim;
  try {
    const key = `${method} ${path}`;
    switch (key) {
      case 'GET /__sim/counters':
        return { status: 200, body: sim.counters.snapshot() };
      case 'GET /__sim/state':
        return { status: 200, body: stateView(sim) };
      case 'GET /__sim/issues':
        return { status: 200, body: issueView(sim) };
      case 'POST /__sim/reset':
        sim.reset();
        return { status: 200, body: { ok: true } };
      case 'POST /__sim/seed-demo':
        return { status: 200, body: seedDemo(sim) };
      case 'POST /__sim/admins': {
        const email = str(b.email);
        if (!email) return { status: 400, body: { error: 'email is required' } };
        const r = addAdmin(state, { email, ...(str(b.token) ? { token: str(b.token)! } : {}), siteAdmin: b.siteAdmin !== false });
        return { status: 201, body: { accountId: r.account.accountId, email, token: r.token } };
      }
      case 'POST /__sim/accounts': {
        const a = state.addAccount({
          ...(str(b.email) ? { email: str(b.email)! } : {}),
          ...(str(b.displayName) ? { displayName: str(b.displayName)! } : {}),
          ...(str(b.accountType) ? { accountType: str(b.accountType) as SimAccountType } : {}),
          emailHidden: b.emailHidden === true,
          active: b.active !== false,
          permissions: Array.isArray(b.permissions) ? b.permissions.map(String) : [],
          ...(b.projectPermissions && typeof b.projectPermissions === 'object' ? { projectPermissions: b.projectPermissions as Record<string, string[]> } : {}),
          siteAdmin: b.siteAdmin === true,
        });
        return { status: 201, body: { accountId: a.accountId } };
      }
      case 'POST /__sim/tokens': {
        const accountId = str(b.accountId) ?? state.accountsByEmail(str(b.email) ?? '')[0]?.accountId;
        if (!accountId) return { status: 400, body: { error: 'accountId or the email of an existing account is required' } };
        const token = state.addToken({
          accountId,
          ...(str(b.token) ? { token: str(b.token)! } : {}),
          ...(typeof b.expiresAt === 'number' ? { expiresAt: b.expiresAt } : {}),
          ...(typeof b.expiresAfterRequests === 'number' ? { expiresAfterRequests: b.expiresAfterRequests } : {}),
        });
        return { status: 201, body: { token } };
      }
      case 'POST /__sim/tokens/revoke':
        state.revokeToken(String(b.token));
        return { status: 200, body: { ok: true } };
      case 'POST /__sim/tokens/expire':
        // Now, or later: { token, afterRequests?: n, at?: epoch ms }.
        if (typeof b.afterRequests === 'number' || typeof b.at === 'number') {
          state.expireTokenAfter(String(b.token), {
            ...(typeof b.afterRequests === 'number' ? { requests: b.afterRequests } : {}),
            ...(typeof b.at === 'number' ? { at: b.at } : {}),
          });
        } else state.expireToken(String(b.token));
        return { status: 200, body: { ok: true } };
      case 'POST /__sim/groups': {
        const g = state.addGroup({ name: String(b.name), ...(str(b.groupId) ? { groupId: str(b.groupId)! } : {}) });
        return { status: 201, body: { groupId: g.groupId, name: g.name } };
      }
      case 'POST /__sim/groups/members':
        state.addToGroup({ ...(str(b.groupId) ? { groupId: str(b.groupId)! } : {}), ...(str(b.name) ? { name: str(b.name)! } : {}) }, String(b.accountId));
        return { status: 200, body: { ok: true } };
      case 'POST /__sim/projects': {
        const p = state.addProject({ key: String(b.key), ...(str(b.name) ? { name: str(b.name)! } : {}) });
        return { status: 201, body: { id: p.id, key: p.key } };
      }
      case 'POST /__sim/servicedesks': {
        const d = state.addServiceDesk({
          projectKey: String(b.projectKey),
          ...(str(b.id) ? { id: str(b.id)! } : {}),
          ...(Array.isArray(b.requestTypes) ? { requestTypes: b.requestTypes as { id: string; name: string }[] } : {}),
        });
        return { status: 201, body: { id: d.id, projectKey: d.projectKey } };
      }
      case 'POST /__sim/indexed-properties': {
        // { keys: [...] } or { keys: 'all' }: as if an installed app indexed these issue properties for JQL.
        state.indexedProperties = b.keys === 'all' ? 'all' : new Set(Array.isArray(b.keys) ? b.keys.map(String) : []);
        return { status: 200, body: { indexed: state.indexedProperties === 'all' ? 'all' : [...state.indexedProperties] } };
      }
      case 'POST /__sim/index-lag': {
        // { ms }: how long JQL search lags writes (Jira Cloud: seconds to minutes).
        if (typeof b.ms !== 'number' || !(b.ms >= 0)) throw new Error('index-lag wants { "ms": <number >= 0> }');
        sim.state.indexLagMs = b.ms;
        return { status: 200, body: { indexLagMs: sim.state.indexLagMs } };
      }
      case 'POST /__sim/webhooks': {
        // { url, secret?, events? }: an admin webhook (webhooks.ts); { clear: true } removes all.
        if (b.clear === true) state.webhooks.clear();
        const url = str(b.url);
        if (url) {
          if (!/^https?:\/\//.test(url)) return { status: 400, body: { error: 'url must be http(s)://…' } };
          state.webhooks.register({ url, ...(str(b.secret) ? { secret: str(b.secret)! } : {}), ...(Array.isArray(b.events) ? { events: b.events.map(String) } : {}) });
        }
        return { status: 200, body: { hooks: state.webhooks.hooks.map((h) => ({ url: h.url, signed: !!h.secret, events: h.events ?? 'all' })) } };
      }
      case 'GET /__sim/webhooks':
        return { status: 200, body: { hooks: state.webhooks.hooks.map((h) => ({ url: h.url, signed: !!h.secret })), deliveries: state.webhooks.deliveries } };
      case 'POST /__sim/faults': {
        if (b.clear === true) sim.faults.clear();
        const settings: Record<string, unknown> = {};
        for (const k of ['latencyMs', 'jitterMs', 'errorRate', 'writeFailRate']) if (typeof b[k] === 'number') settings[k] = b[k];
        if (Array.isArray(b.errorOperations)) settings.errorOperations = b.errorOperations.map(String);
        if (Array.isArray(b.writeFailOperations)) settings.writeFailOperations = b.writeFailOperations.map(String);
        sim.faults.set(settings);
        if (b.rateLimit && typeof b.rateLimit === 'object') sim.faults.rateLimit(b.rateLimit);
        const drop = b.drop as { count?: number; operation?: string } | undefined;
        if (drop) sim.faults.drop(drop.count ?? 1, drop.operation);
        const hang = b.hang as { count?: number; operation?: string } | undefined;
        if (hang) sim.faults.hang(hang.count ?? 1, hang.operation);
        const stall = b.stall as { count?: number; operation?: string } | undefined;
        if (stall) sim.faults.stall(stall.count ?? 1, stall.operation);
        const lose = b.loseReply as { count?: number; operation?: string } | undefined;
        if (lose) sim.faults.loseReply(lose.count ?? 1, lose.operation);
        const failAfter = b.failAfterWrite as { count?: number; operation?: string; status?: number } | undefined;
        if (failAfter) sim.faults.failAfterWrite(failAfter.count ?? 1, failAfter.operation, failAfter.status);
        const refuse = b.refuse as { operation?: unknown; status?: number; message?: string; count?: number; issue?: string } | undefined;
        if (refuse && typeof refuse.operation === 'string') sim.faults.refuse({ ...refuse, operation: refuse.operation });
        return { status: 200, body: { settings: sim.faults.settings } };
      }
      default:
        return { status: 404, body: { error: `no simulator control ${key}` } };
    }
  } catch (e) {
    return { status: 400, body: { error: (e as Error).message } };
  }
}
