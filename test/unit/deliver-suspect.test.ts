import { describe, expect, it } from 'vitest';
import { suspectLabel, suspectLine } from '../../src/deliver/suspect.js';

describe('a suspected mail\'s label and line (issue 23)', () => {
  it('labels and explains only a person\'s mail a weak signal spoke for', () => {
    const weak = { kind: 'human' as const, reason: 'delivery-failure subject "Undeliverable: parcel" (weak signal: delivered, nobody provisioned)', suspected: 'bounce' as const };
    expect(suspectLabel(weak)).toBe('mailroom-suspected-bounce');
    expect(suspectLine(weak)).toMatch(/^Note: this may be a delivery failure report \(delivery-failure subject .*\); it was delivered in case a person wrote it, and no account was created for anyone in it\.$/);
    expect(suspectLabel({ ...weak, suspected: 'auto-reply' })).toBe('mailroom-suspected-auto-reply');
    expect(suspectLine({ ...weak, suspected: 'auto-reply' })).toMatch(/may be an automatic reply/);
    expect(suspectLabel({ kind: 'human', reason: 'no automated-mail markers' })).toBeUndefined();
    expect(suspectLine({ kind: 'human', reason: 'no automated-mail markers' })).toBeUndefined();
    // Labels may hold no spaces in Jira.
    for (const s of ['bounce', 'auto-reply', 'feedback-report', 'list'] as const) expect(suspectLabel({ ...weak, suspected: s })).toMatch(/^\S+$/);
    expect(suspectLine({ ...weak, suspected: 'list' })).toMatch(/may be list or bulk mail/);
  });
});
