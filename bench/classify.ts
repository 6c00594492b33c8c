// `npm run bench:classify [-- --corpus DIR]`: classification's precision on people's mails that
// look like machine mail, and its recall on machine mail (sisimai, and a held-out part), as in
// docs/classification.md. The same figures are asserted by test/integration/classify-precision.test.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { scoreClassification } from './lib/classify-score.js';
import { ROOT } from './lib/rig.js';

const { values: args } = parseArgs({ options: { corpus: { type: 'string', default: join(ROOT, '..', 'shared', 'corpora') } } });
const sisimai = join(args.corpus, 'sisimai-set-of-emails');
const s = await scoreClassification(join(ROOT, 'test', 'fixtures', 'mail', 'human-lookalikes'), existsSync(sisimai) ? sisimai : undefined, ROOT);
const out = (line: string) => process.stdout.write(`${line}\n`);
const h = s.humanLookalikes;
out(`people's mails with bounce/out-of-office wording: ${h.delivered}/${h.mails} delivered (${h.deliveredPct}%), ${h.labelled} of them labelled suspected`);
for (const d of h.dropped) out(`  DROPPED ${d}`);
for (const [name, r] of [['machine mail (sisimai maildir/bsd, expectation tables)', s.machineMail], ['held-out machine mail (sisimai maildir/err, mailbox/mbox-*, to-be-debugged-because/)', s.heldOut]] as const) {
  out(`${name}: ${r.silent}/${r.mails} finished silently (${r.silentPct}%), ${r.flagged} more delivered labelled (caught ${r.caughtPct}%)`);
  for (const m of r.misses) out(`  ${m}`);
}
