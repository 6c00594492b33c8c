// A small slice of the corpus for --quick runs: every k-th mail file, linked into a temp folder,
// so the quick run exercises the same parse benchmark in a few seconds.
import { mkdtemp, readdir, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const NOT_MAIL = /^(SOURCE|LICENSE|README|MANIFEST|EXPECTED)|\.upstream$|\.mbox$/i;

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of (await readdir(dir)).sort()) {
    const p = join(dir, n);
    if ((await stat(p)).isDirectory()) out.push(...(await walk(p)));
    else if (!NOT_MAIL.test(n)) out.push(p);
  }
  return out;
}

export async function sampleCorpus(dir: string, count: number): Promise<{ dir: string; files: number }> {
  const files = await walk(dir);
  const step = Math.max(1, Math.floor(files.length / count));
  const picked = files.filter((_, i) => i % step === 0).slice(0, count);
  const out = await mkdtemp(join(tmpdir(), 'mrbench-corpus-'));
  await Promise.all(picked.map((p, i) => symlink(p, join(out, `${String(i).padStart(4, '0')}-${basename(p)}`))));
  return { dir: out, files: picked.length };
}
