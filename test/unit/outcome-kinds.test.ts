// Every error class Mailroom defines with a kind (a MailroomError subclass) is mapped by
// outcomeOf, the one place kinds meet BullMQ (src/station/worker.ts): each class is listed
// here with the action it must get, and the list is checked against the classes in src/, so a
// new kind cannot arrive unmapped and untested.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthError, NotFoundError, PermanentError, RateLimitedError, RetryableError } from '../../src/core/errors.js';
import { AlreadyExistsError, IssueLimitError, JiraNoAnswerError, JiraServerError, PermissionError, UserNotFoundYetError } from '../../src/jira/errors.js';
import { outcomeOf, type Outcome } from '../../src/station/worker.js';
import { TokenKeyError, TokenPausedError, TokenUnavailableError } from '../../src/token/errors.js';
import { sourceFiles } from '../helpers/code-shape.js';

const SRC = join(import.meta.dirname, '../../src');

const KINDS: [string, Error, Outcome['action']][] = [
  ['RetryableError', new RetryableError('Jira answered 503'), 'retry'],
  ['RateLimitedError', new RateLimitedError('429', 1500), 'rate-limit'],
  ['PermanentError', new PermanentError('bad input'), 'fail-permanently'],
  ['NotFoundError', new NotFoundError('no such issue'), 'fail-permanently'],
  ['AuthError', new AuthError('token refused'), 'pause-for-auth'],
  ['AlreadyExistsError', new AlreadyExistsError('user exists'), 'fail-permanently'],
  ['JiraServerError', new JiraServerError('500', 500), 'retry'],
  ['JiraNoAnswerError', new JiraNoAnswerError('socket hang up'), 'retry'],
  ['IssueLimitError', new IssueLimitError('413: the issue holds its most comments', 'add comment'), 'fail-permanently'],
  ['PermissionError', new PermissionError('403 on SUP', 'CREATE_ISSUES', 'create issue'), 'fail-permanently'],
  ['UserNotFoundYetError', new UserNotFoundYetError('user not found yet', 'acc-1'), 'retry'],
  ['TokenPausedError', new TokenPausedError('gate tripped'), 'pause-for-auth'],
  ['TokenUnavailableError', new TokenUnavailableError('no token stored'), 'pause-for-auth'],
  ['TokenKeyError', new TokenKeyError('sealed with another key'), 'retry'],
];

describe('outcomeOf maps every error kind', () => {
  it.each(KINDS)('%s -> its action', (_name, err, action) => {
    const o = outcomeOf(err);
    expect(o.action).toBe(action);
    expect(o.message).toContain(err.message);
  });

  it('a rate limit keeps its wait and its scope', () => {
    const o = outcomeOf(new RateLimitedError('429', 1500));
    expect(o).toMatchObject({ action: 'rate-limit', waitMs: 1500 });
  });

  it('an error without a kind (a bug, a library throwing) is retried, never dropped', () => {
    expect(outcomeOf(new Error('undefined is not a function')).action).toBe('retry');
    expect(outcomeOf('a string thrown').action).toBe('retry');
  });

  it('lists every class in src/ that carries a kind (a new one must be added here with its action)', () => {
    const kinded = new Set(['MailroomError', ...KINDS.map(([n]) => n)]);
    const declared: string[] = [];
    // Classes extending a kinded class, to a fixed point (a subclass of a subclass counts).
    const sources = sourceFiles(SRC).filter((f) => !f.includes('/jira-sim/')).map((f) => readFileSync(f, 'utf8'));
    const all = sources.flatMap((s) => [...s.matchAll(/class (\w+) extends (\w+)/g)].map((m) => [m[1]!, m[2]!] as const));
    const reached = new Set(['MailroomError']);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [cls, base] of all) {
        if (!reached.has(base) || reached.has(cls)) continue;
        reached.add(cls);
        declared.push(cls);
        grew = true;
      }
    }
    expect(declared.length).toBeGreaterThanOrEqual(10);
    expect(declared.filter((c) => !kinded.has(c))).toEqual([]);
  });
});
