// Checks HTTP exchanges against Atlassian's own OpenAPI 3.0 documents, so the simulator (and
// the contract tests) can say "this request or response is not what Jira documents".
// ajv is a dev dependency: it is imported lazily, and a missing ajv or spec means no checking
// rather than a simulator that will not start.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const SPEC_FILES = ['jira-platform-v3.json', 'jira-servicedesk.json'] as const;

interface Param {
  name: string;
  in: string;
  required?: boolean;
  schema?: Record<string, unknown>;
}

interface Operation {
  specId: string;
  method: string;
  template: string;
  matcher: RegExp;
  paramNames: string[];
  operationId: string;
  experimental: boolean;
  params: Param[];
  requestBody?: { required: boolean; content: Record<string, { schema?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

export interface Exchange {
  method: string;
  /** Path without query, e.g. /rest/api/3/user/search */
  path: string;
  query: URLSearchParams;
  contentType?: string;
  /** Parsed JSON request body, or undefined when there was none / it was not JSON. */
  body?: unknown;
  status?: number;
  responseBody?: unknown;
}

export interface SpecProblem {
  where: 'request' | 'response';
  operationId?: string;
  message: string;
}

type ValidateFn = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };
interface AjvLike {
  addSchema(schema: object, key: string): unknown;
  addFormat(name: string, format: unknown): unknown;
  compile(schema: object): ValidateFn;
}

export interface SpecValidator {
  /** Compile an operation's schemas now, so the first real request does not pay for it. */
  warm(method: string, path: string): void;
  /** The documented operation for a method and path, if any. */
  find(method: string, path: string): { operationId: string; experimental: boolean } | undefined;
  checkRequest(ex: Exchange): SpecProblem[];
  checkResponse(ex: Exchange): SpecProblem[];
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compileTemplate(template: string): { matcher: RegExp; paramNames: string[] } {
  const paramNames: string[] = [];
  const src = template
    .split(/(\{[^}]+\})/)
    .map((part) => {
      const m = /^\{([^}]+)\}$/.exec(part);
      if (m) {
        paramNames.push(m[1]!);
        return '([^/]+)';
      }
      return escapeRegex(part);
    })
    .join('');
  return { matcher: new RegExp(`^${src}$`), paramNames };
}

function coerce(value: string, schema: Record<string, unknown> | undefined): unknown {
  const type = schema?.type;
  if (type === 'integer' || type === 'number') return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  return value;
}

/** Build a validator from spec documents already parsed. `ajvCtor` is ajv's default export. */
export function buildSpecValidator(
  specs: { id: string; doc: Record<string, unknown> }[],
  ajvCtor: new (opts: object) => AjvLike,
  addFormats: (ajv: AjvLike) => unknown,
): SpecValidator {
  const ajv = new ajvCtor({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addFormat('url', true);
  const ops: Operation[] = [];
  for (const { id, doc } of specs) {
    ajv.addSchema({ components: doc.components ?? {} }, id);
    const paths = (doc.paths ?? {}) as Record<string, Record<string, unknown>>;
    for (const [template, item] of Object.entries(paths)) {
      const shared = (item.parameters ?? []) as Param[];
      for (const method of ['get', 'post', 'put', 'delete', 'patch']) {
        const op = item[method] as Record<string, unknown> | undefined;
        if (!op) continue;
        const { matcher, paramNames } = compileTemplate(template);
        ops.push({
          specId: id,
          method: method.toUpperCase(),
          template,
          matcher,
          paramNames,
          operationId: String(op.operationId ?? `${method} ${template}`),
          experimental: op['x-experimental'] === true,
          params: [...shared, ...((op.parameters ?? []) as Param[])],
          requestBody: op.requestBody as Operation['requestBody'],
          responses: (op.responses ?? {}) as Operation['responses'],
        });
      }
    }
  }
  // Literal paths win over templated ones (/user/search before /user/{id}).
  ops.sort((a, b) => a.paramNames.length - b.paramNames.length);

  const compiled = new Map<unknown, ValidateFn>();
  // $refs inside the documents are "#/components/...": rewrite them to point into the
  // schema registered under the document's id.
  const rebase = (schema: unknown, specId: string): unknown =>
    JSON.parse(JSON.stringify(schema), (k, v: unknown) =>
      k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${specId}${v}` : v,
    );
  function validatorFor(schema: unknown, specId: string): ValidateFn {
    let fn = compiled.get(schema);
    if (!fn) {
      fn = ajv.compile(rebase(schema, specId) as object);
      compiled.set(schema, fn);
    }
    return fn;
  }
  function errorsOf(fn: ValidateFn): string {
    return (fn.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''}`.trim())
      .join('; ');
  }

  function find(method: string, path: string): Operation | undefined {
    return ops.find((o) => o.method === method.toUpperCase() && o.matcher.test(path));
  }

  return {
    warm(method, path) {
      const op = find(method, path);
      if (!op) return;
      for (const p of op.params) if (p.schema) validatorFor(p.schema, op.specId);
      const body = op.requestBody?.content['application/json']?.schema;
      if (body) validatorFor(body, op.specId);
      for (const r of Object.values(op.responses)) {
        const schema = r.content?.['application/json']?.schema;
        if (schema) validatorFor(schema, op.specId);
      }
    },
    find(method, path) {
      const op = find(method, path);
      return op && { operationId: op.operationId, experimental: op.experimental };
    },
    checkRequest(ex) {
      const op = find(ex.method, ex.path);
      if (!op) return [{ where: 'request', message: `${ex.method} ${ex.path} is not a documented operation` }];
      const problems: SpecProblem[] = [];
      const say = (message: string) => problems.push({ where: 'request', operationId: op.operationId, message });
      const known = new Set(op.params.filter((p) => p.in === 'query').map((p) => p.name));
      for (const name of new Set(ex.query.keys())) {
        if (!known.has(name)) say(`unknown query parameter "${name}"`);
      }
      const pathValues = op.matcher.exec(ex.path)!.slice(1);
      for (const p of op.params) {
        let value: unknown;
        if (p.in === 'query') {
          const all = ex.query.getAll(p.name);
          if (all.length === 0) {
            if (p.required) say(`missing required query parameter "${p.name}"`);
            continue;
          }
          value = p.schema?.type === 'array'
            ? all.map((v) => coerce(v, p.schema?.items as Record<string, unknown> | undefined))
            : coerce(all[0]!, p.schema);
        } else if (p.in === 'path') {
          const i = op.paramNames.indexOf(p.name);
          value = coerce(decodeURIComponent(pathValues[i] ?? ''), p.schema);
        } else continue;
        if (!p.schema) continue;
        const fn = validatorFor(p.schema, op.specId);
        if (!fn(value)) say(`${p.in} parameter "${p.name}": ${errorsOf(fn)}`);
      }
      const rb = op.requestBody;
      if (rb) {
        const ct = (ex.contentType ?? '').split(';')[0]!.trim().toLowerCase();
        const media = rb.content[ct];
        if (!ct) {
          if (rb.required) say('request body required');
        } else if (!media) {
          say(`content type ${ct} not accepted (expected ${Object.keys(rb.content).join(', ')})`);
        } else if (ct === 'application/json' && media.schema) {
          const fn = validatorFor(media.schema, op.specId);
          if (!fn(ex.body)) say(`body: ${errorsOf(fn)}`);
        }
      } else if (ex.body !== undefined && ex.body !== null && ex.body !== '') {
        say('a body was sent to an operation that takes none');
      }
      return problems;
    },
    checkResponse(ex) {
      const op = find(ex.method, ex.path);
      if (!op || ex.status === undefined) return [];
      const r = op.responses[String(ex.status)] ?? op.responses.default;
      if (!r) return [{ where: 'response', operationId: op.operationId, message: `status ${ex.status} is not documented` }];
      const media = r.content?.['application/json'];
      if (!media?.schema) return [];
      const fn = validatorFor(media.schema, op.specId);
      if (fn(ex.responseBody)) return [];
      return [{ where: 'response', operationId: op.operationId, message: `status ${ex.status} body: ${errorsOf(fn)}` }];
    },
  };
}

const loaded = new Map<string, Promise<SpecValidator | undefined>>();

/**
 * Load the specs from a directory (absent files are skipped); undefined when none or no ajv.
 * Loaded once per directory and process: compiling the big schemas is the costly part.
 */
export function loadSpecValidator(dir: string): Promise<SpecValidator | undefined> {
  let v = loaded.get(dir);
  if (!v) {
    v = loadUncached(dir);
    loaded.set(dir, v);
  }
  return v;
}

async function loadUncached(dir: string): Promise<SpecValidator | undefined> {
  const specs = SPEC_FILES.filter((f) => existsSync(join(dir, f))).map((f) => ({
    id: f,
    doc: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>,
  }));
  if (specs.length === 0) return undefined;
  try {
    const ajvMod = (await import('ajv')) as unknown as { default: new (o: object) => AjvLike };
    const fmtMod = (await import('ajv-formats')) as unknown as { default: (a: AjvLike) => unknown };
    return buildSpecValidator(specs, ajvMod.default, fmtMod.default);
  } catch {
    return undefined; // ajv is a dev dependency; without it the simulator simply does not check
  }
}
