// The retry-line gate of a worker (src/station/repeat-log.ts): times are passed in.
import { describe, expect, it } from 'vitest';
import { repeatGate } from '../../src/station/repeat-log.js';

describe('repeatGate', () => {
  it('says a reason once a minute, and then how many lines it stood for', () => {
    const gate = repeatGate(60_000);
    expect(gate('Jira did not answer', 0)).toEqual({ loud: true });
    expect(gate('Jira did not answer', 1_000)).toEqual({ loud: false });
    expect(gate('Jira answered 502', 2_000)).toEqual({ loud: true });
    expect(gate('Jira did not answer', 59_999)).toEqual({ loud: false });
    expect(gate('Jira did not answer', 60_000)).toEqual({ loud: true, alike: 2 });
    expect(gate('Jira did not answer', 130_000)).toEqual({ loud: true });
  });
});
