// The README is the front door and docs/ holds the manuals: every relative link in them must
// name a file (or folder) that exists, and every #anchor a heading of that file, so a moved
// section or a renamed file cannot leave a reader at a dead end.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return markdownFiles(p);
    return name.endsWith('.md') ? [p] : [];
  });
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^#{1,6}\s+(.*)$/.exec(line);
    if (m?.[1]) anchors.add(m[1].trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  }
  return anchors;
}

function withoutCode(text: string): string {
  return text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
}

const files = [join(root, 'README.md'), ...(existsSync(join(root, 'docs')) ? markdownFiles(join(root, 'docs')) : [])];

describe('documentation links', () => {
  it.each(files.map((f) => [relative(root, f), f]))('%s: every relative link and anchor resolves', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const broken: string[] = [];
    for (const m of withoutCode(text).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target)) continue;
      const [path, anchor] = target.split('#');
      const abs = path ? resolve(dirname(file), path) : file;
      if (!existsSync(abs)) {
        broken.push(`${target}: no such file`);
        continue;
      }
      if (anchor && abs.endsWith('.md') && !anchorsOf(readFileSync(abs, 'utf8')).has(anchor)) broken.push(`${target}: no such heading`);
    }
    expect(broken).toEqual([]);
  });

  it('the production quick start begins within the README\'s first 60 lines', () => {
    const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n');
    const at = lines.findIndex((l) => /^## Production quick start/.test(l));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThan(60);
  });
});
