// Pure pieces of the Jira simulator: JQL subset, multipart parsing, the seeded fault pattern,
// and the OpenAPI exchange checker (on a tiny inline spec, so no files are read).
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { SimFaults } from '../../src/jira-sim/faults.js';
import { JqlError, parseJql } from '../../src/jira-sim/jql.js';
import { parseMultipart } from '../../src/jira-sim/multipart.js';
import { buildSpecValidator } from '../../src/jira-sim/openapi.js';
import type { SimIssue } from '../../src/jira-sim/state.js';

function issue(over: Partial<SimIssue>): SimIssue {
  return { id: '1', key: 'SUP-1', projectKey: 'SUP', fields: {}, comments: [], attachments: [], properties: new Map(), created: '', ...over };
}

describe('parseJql', () => {
  const a = issue({ fields: { summary: 'Printer on fire', labels: ['mail'], reporter: { accountId: 'acc1' } }, properties: new Map([['mailroom', { messageId: '<m1@x>' }]]) });
  const b = issue({ id: '2', key: 'HD-7', projectKey: 'HD', fields: { summary: 'VPN down' } });

  it('filters by project, key, reporter, labels, summary and issue property, joined by AND', () => {
    expect([a, b].filter(parseJql('project = SUP')).map((i) => i.key)).toEqual(['SUP-1']);
    expect([a, b].filter(parseJql('project in (SUP, "HD") ORDER BY created DESC')).length).toBe(2);
    expect([a, b].filter(parseJql('key = hd-7')).map((i) => i.key)).toEqual(['HD-7']);
    expect([a, b].filter(parseJql('reporter = acc1 AND labels = mail')).map((i) => i.key)).toEqual(['SUP-1']);
    expect([a, b].filter(parseJql('summary ~ "vpn"')).map((i) => i.key)).toEqual(['HD-7']);
    const indexed = { indexed: new Set(['mailroom']) };
    expect([a, b].filter(parseJql('issue.property[mailroom].messageId = "<m1@x>"', indexed)).map((i) => i.key)).toEqual(['SUP-1']);
    expect([a, b].filter(parseJql('issue.property[mailroom].messageId = "<m2@x>"', indexed))).toEqual([]);
    expect([a, b].filter(parseJql('project != SUP')).map((i) => i.key)).toEqual(['HD-7']);
  });

  it('an issue property is no JQL field unless an app indexed it: Jira Cloud\'s 400 message', () => {
    expect(() => parseJql('issue.property[mailroom.message].id = "m1@x"')).toThrow(
      "Field 'issue.property[mailroom.message].id' does not exist or you do not have permission to view it.",
    );
    expect(() => parseJql('issue.property[mailroom.message].id = "m1@x"', { indexed: new Set(['other']) })).toThrow(JqlError);
    expect(() => parseJql('issue.property[mailroom.message].id = "m1@x"', { indexed: 'all' })).not.toThrow();
  });

  it('creator, currentUser(), created with relative and absolute dates, and AND inside quotes', () => {
    const now = Date.parse('2026-12-01T08:00:00Z');
    const old = issue({ key: 'SUP-2', created: '2026-11-30T08:00:00.000Z', fields: { summary: 'salt and pepper', creator: { accountId: 'bot' } } });
    const fresh = issue({ key: 'SUP-3', created: '2026-12-01T07:50:00.000Z', fields: { summary: 'fresh', creator: { accountId: 'bot' } } });
    const all = [old, fresh];
    const keys = (jql: string) => all.filter(parseJql(jql, { currentUser: 'bot', now })).map((i) => i.key);
    expect(keys('creator = currentUser() AND created >= -15m')).toEqual(['SUP-3']);
    expect(keys('created >= "-2d" AND created < -1h')).toEqual(['SUP-2']);
    expect(keys('created >= "2026/12/01 07:00"')).toEqual(['SUP-3']);
    expect(keys('summary ~ "salt and pepper" AND creator = bot')).toEqual(['SUP-2']);
    expect(() => parseJql('created >= "yesterday"')).toThrow(/Date value/);
    expect(() => parseJql('creator = currentUser()')).toThrow(JqlError); // anonymous: no current user
  });

  it('refuses what it does not know, as Jira does for an unknown field', () => {
    expect(() => parseJql('assignee = me')).toThrow(JqlError);
    expect(() => parseJql('this is not jql')).toThrow(/cannot parse/);
  });
});

describe('parseMultipart', () => {
  it('reads binary file parts byte for byte', () => {
    const bytes = Buffer.from([0, 1, 2, 13, 10, 45, 45, 255]);
    const body = Buffer.concat([
      Buffer.from('--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'),
      bytes,
      Buffer.from('\r\n--XyZ--\r\n'),
    ]);
    const parts = parseMultipart(body, 'multipart/form-data; boundary=XyZ');
    expect(parts).toHaveLength(1);
    expect(parts![0]).toMatchObject({ name: 'file', filename: 'a.bin', contentType: 'application/octet-stream' });
    expect(Buffer.compare(parts![0]!.data, bytes)).toBe(0);
  });

  it('gives undefined without a boundary', () => {
    expect(parseMultipart(Buffer.from('x'), 'application/json')).toBeUndefined();
  });
});

describe('SimFaults', () => {
  it('one-shot faults hit the next matching requests only', () => {
    const f = new SimFaults({}, 7);
    f.rateLimit({ count: 2, retryAfterSec: 3, operation: 'createUser' });
    f.drop(1);
    expect(f.decide('findUsers')).toEqual({ kind: 'drop' });
    expect(f.decide('createUser')).toMatchObject({ kind: 'rateLimit', status: 429, retryAfterSec: 3 });
    expect(f.decide('findUsers')).toEqual({ kind: 'pass' });
    expect(f.decide('createUser')).toMatchObject({ kind: 'rateLimit' });
    expect(f.decide('createUser')).toEqual({ kind: 'pass' });
  });

  it('the 5xx rate is seeded: the same seed gives the same pattern', () => {
    const run = () => {
      const f = new SimFaults({ errorRate: 0.3 }, 42);
      return Array.from({ length: 200 }, () => f.decide('x').kind);
    };
    const first = run();
    expect(run()).toEqual(first);
    const errors = first.filter((k) => k === 'error').length;
    expect(errors).toBeGreaterThan(30);
    expect(errors).toBeLessThan(90);
  });

  it('jitter stays within latency ± jitter', () => {
    const f = new SimFaults({ latencyMs: 100, jitterMs: 20 }, 1);
    for (let i = 0; i < 100; i++) {
      const d = f.delayMs();
      expect(d).toBeGreaterThanOrEqual(80);
      expect(d).toBeLessThanOrEqual(120);
    }
  });
});

describe('buildSpecValidator', () => {
  const doc = {
    openapi: '3.0.1',
    paths: {
      '/rest/thing/{id}': {
        get: {
          operationId: 'getThing',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'integer' } },
            { name: 'expand', in: 'query', schema: { type: 'boolean' } },
          ],
          responses: { '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } } },
        },
      },
      '/rest/thing/search': {
        get: { operationId: 'searchThings', 'x-experimental': true, responses: { '200': { description: 'ok' } } },
      },
      '/rest/thing': {
        post: {
          operationId: 'createThing',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
          responses: { '201': { description: 'created' } },
        },
      },
    },
    components: {
      schemas: {
        Thing: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: { type: 'string' }, note: { type: 'string', nullable: true }, self: { type: 'string', format: 'uri' } },
        },
      },
    },
  };
  const v = buildSpecValidator([{ id: 'mini.json', doc }], Ajv as never, addFormats as never);
  const q = (s = '') => new URLSearchParams(s);

  it('prefers literal paths over templated ones and reads x-experimental', () => {
    expect(v.find('GET', '/rest/thing/search')).toEqual({ operationId: 'searchThings', experimental: true });
    expect(v.find('GET', '/rest/thing/12')).toEqual({ operationId: 'getThing', experimental: false });
  });

  it('checks path and query parameters, including unknown ones', () => {
    expect(v.checkRequest({ method: 'GET', path: '/rest/thing/12', query: q('expand=true') })).toEqual([]);
    const bad = v.checkRequest({ method: 'GET', path: '/rest/thing/abc', query: q('expand=maybe&bogus=1') }).map((p) => p.message);
    expect(bad).toEqual(expect.arrayContaining([
      'unknown query parameter "bogus"',
      expect.stringMatching(/path parameter "id"/),
      expect.stringMatching(/query parameter "expand"/),
    ]));
  });

  it('checks JSON bodies through $ref, honouring nullable and additionalProperties', () => {
    const post = (body: unknown, contentType = 'application/json') => v.checkRequest({ method: 'POST', path: '/rest/thing', query: q(), body, contentType });
    expect(post({ name: 'a', note: null })).toEqual([]);
    expect(post({ note: 'x' })[0]!.message).toMatch(/required property 'name'/);
    expect(post({ name: 'a', extra: 1 })[0]!.message).toMatch(/additional properties/);
    expect(post(undefined, '')[0]!.message).toBe('request body required');
    expect(post('x', 'text/plain')[0]!.message).toMatch(/content type text\/plain not accepted/);
  });

  it('checks response bodies and flags undocumented statuses', () => {
    const res = (status: number, responseBody: unknown) => v.checkResponse({ method: 'GET', path: '/rest/thing/1', query: q(), status, responseBody });
    expect(res(200, { name: 'a', self: 'http://127.0.0.1:1/rest/thing/1' })).toEqual([]);
    expect(res(200, { name: 'a', self: 'not a uri' })[0]!.message).toMatch(/format/);
    expect(res(418, {})[0]!.message).toBe('status 418 is not documented');
  });

  it('an undocumented operation is a request problem', () => {
    expect(v.checkRequest({ method: 'DELETE', path: '/rest/thing/1', query: q() })[0]!.message).toMatch(/not a documented operation/);
  });
});
