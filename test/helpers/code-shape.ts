// Measures of the source tree for the house rules (test/unit/house-shape.test.ts): which
// folder imports which, how long each file and each function is. Imports are read by the
// TypeScript compiler's own pre-processor and functions by its parser, not by regexes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ts$/.test(f) && !f.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(root);
  return out;
}

export interface ImportEdge {
  from: string; // file, relative to root
  to: string; // file, relative to root
}

/** Every relative import (static, dynamic, re-export, `import type`) between files under root. */
export function importEdges(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(root)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = resolve(dirname(file), ref.fileName).replace(/\.js$/, '.ts');
      edges.push({ from: relative(root, file), to: relative(root, target) });
    }
  }
  return edges;
}

/** The folder a file belongs to (its first path segment), or '' for a file at the root. */
export function folderOf(file: string): string {
  const parts = file.split('/');
  return parts.length > 1 ? parts[0]! : '';
}

export interface LayerRules {
  /** Folder → floor: a folder may import only folders on a lower floor. */
  floors: Record<string, number>;
  /** Folders only the listed folders may import (besides tests and tools outside src). */
  reachableOnlyFrom?: Record<string, string[]>;
}

/** What breaks the rules: an import to the same or a higher floor, an unknown folder, a forbidden reach. */
export function layerViolations(edges: ImportEdge[], rules: LayerRules): string[] {
  const out = new Set<string>();
  for (const e of edges) {
    const a = folderOf(e.from);
    const b = folderOf(e.to);
    if (!(a in rules.floors)) out.add(`${e.from}: folder "${a}" has no floor`);
    if (!(b in rules.floors)) out.add(`${e.to}: folder "${b}" has no floor`);
    if (a === b || !(a in rules.floors) || !(b in rules.floors)) continue;
    const only = rules.reachableOnlyFrom?.[b];
    if (only) {
      if (!only.includes(a)) out.add(`${e.from} imports ${e.to}: only ${only.join(', ')} may reach ${b}/`);
      continue;
    }
    if (rules.floors[b]! >= rules.floors[a]!) out.add(`${e.from} imports ${e.to}: ${a}/ (floor ${rules.floors[a]}) may not import ${b}/ (floor ${rules.floors[b]})`);
  }
  return [...out];
}

/** Cycles between folders (strongly connected components of more than one folder). */
export function folderCycles(edges: ImportEdge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = folderOf(e.from);
    const b = folderOf(e.to);
    if (a === b) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    if (!graph.has(b)) graph.set(b, new Set());
    graph.get(a)!.add(b);
  }
  // Tarjan's algorithm.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const sccs: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) sccs.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return sccs;
}

export interface FunctionSpan {
  file: string;
  name: string;
  line: number;
  lines: number;
}

/** Every function, method, arrow and accessor with its length in lines (first to last line). */
export function functionSpans(root: string, files = sourceFiles(root)): FunctionSpan[] {
  const out: FunctionSpan[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
        out.push({ file: relative(root, file), name: nameOf(node), line: start + 1, lines: end - start + 1 });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out;
}

function nameOf(node: ts.Node): string {
  const n = (node as { name?: ts.Node }).name;
  if (n && (ts.isIdentifier(n) || ts.isStringLiteral(n))) return n.text;
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isPropertyAssignment(p) && ts.isIdentifier(p.name)) return p.name.text;
  return '(anonymous)';
}

export function fileLines(file: string): number {
  const text = readFileSync(file, 'utf8');
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}
