// Issue #14, finding 6: a token-bearing Jira call answered by a redirect is not followed. The
// target here answers /myself for anyone: followed, `token set` would accept any token.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJiraClient } from '../../src/jira/client.js';

let site: Server;
let elsewhere: Server;
let elsewhereUrl: string;
const seenElsewhere: (string | undefined)[] = [];

const listen = async (s: Server) => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};

beforeAll(async () => {
  elsewhere = createServer((req, res) => {
    seenElsewhere.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ accountId: 'anyone', emailAddress: 'admin@acme.example', displayName: 'Anyone', active: true }));
  });
  elsewhereUrl = await listen(elsewhere);
  site = createServer((req, res) => {
    res.writeHead(302, { location: `${elsewhereUrl}${req.url}` });
    res.end();
  });
  await listen(site);
});
afterAll(async () => {
  site.close();
  elsewhere.close();
});

describe('Jira client and redirects', () => {
  it('refuses a redirect on a token-bearing call, and never reaches its target', async () => {
    const base = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    const client = createJiraClient({ baseUrl: base, email: 'admin@acme.example', token: 'not-a-real-token', timeoutMs: 5000 });
    await expect(client.myself()).rejects.toMatchObject({
      kind: 'permanent',
      message: expect.stringMatching(/redirect \(302 to http:\/\/127\.0\.0\.1:\d+\/rest\/api\/3\/myself\); Mailroom does not follow redirects/) as unknown,
    });
    expect(seenElsewhere).toEqual([]);
  });
});
