// Contract checks for tests: every request a client sent and every response the simulator
// gave, held against Atlassian's OpenAPI specs (../shared/specs or MAILROOM_SPECS_DIR).
import { loadSpecValidator, type Exchange, type SpecValidator } from '../../src/jira-sim/openapi.js';
import { specsDir } from './corpus.js';

let cached: Promise<SpecValidator | undefined> | undefined;

/** The validator for the shared specs, or undefined when they (or ajv) are absent. */
export function contractValidator(): Promise<SpecValidator | undefined> {
  const dir = specsDir();
  if (!dir) return Promise.resolve(undefined);
  cached ??= loadSpecValidator(dir);
  return cached;
}

/** Every way these exchanges break the specs, one line each (empty when all conform). */
export async function contractProblems(exchanges: Exchange[]): Promise<string[]> {
  const v = await contractValidator();
  if (!v) throw new Error('the OpenAPI specs are absent: skip contract tests with describe.skipIf(!specsDir())');
  const out: string[] = [];
  for (const ex of exchanges) {
    const where = `${ex.method} ${ex.path}${ex.query.size ? '?' + ex.query.toString() : ''} -> ${ex.status}`;
    for (const p of [...v.checkRequest(ex), ...v.checkResponse(ex)]) out.push(`${where}: ${p.where} ${p.operationId ?? ''}: ${p.message}`);
  }
  return out;
}
