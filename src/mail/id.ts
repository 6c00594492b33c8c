// The Message-IDs a mail answers, which say the thread it joins. The mail's own ids (job ids,
// ledger key, audit subject) are all made in ref.ts.
import type { MailRecord } from './record.js';
import { normalizeMessageId } from './ref.js';

// Every id of one mail is made in ref.ts; these two are re-exported for their many readers.
export { mailKey, normalizeMessageId } from './ref.js';

/** Message-IDs this mail answers, nearest first: In-Reply-To, then References from the end. */
export function threadIds(record: Pick<MailRecord, 'inReplyTo' | 'references'>): string[] {
  const ids = [record.inReplyTo, ...[...record.references].reverse()].filter((x): x is string => !!x).map(normalizeMessageId);
  return [...new Set(ids.filter(Boolean))];
}
