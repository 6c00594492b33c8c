#!/usr/bin/env node
// The `mailroom` command. Runs the built CLI when dist/ was built from the sources beside it
// (its dist/build-stamp.json matches them, see bin/source-stamp.js) or when there are no
// sources (an image); otherwise it says dist/ is stale (or absent) and loads the TypeScript
// sources through tsx, so `git pull && npm ci` without `npm run build` never runs old code.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { distState } from './source-stamp.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const state = process.env.MAILROOM_FROM_SOURCE ? 'unbuilt' : distState(root);
if (state === 'fresh' || state === 'image') {
  await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'main.js')).href);
} else {
  if (state === 'stale') {
    process.stderr.write('mailroom: dist/ was not built from these sources (run `npm run build`); running the sources instead\n');
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
}
