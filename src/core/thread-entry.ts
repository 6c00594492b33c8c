// How to start a worker thread on one of our modules: the compiled .js beside the caller in a
// build. Under tsx or vitest only the .ts exists; Node 20 does not run `--import tsx` from a
// worker's execArgv, so a small bootstrap registers tsx's loader in the thread and then
// imports the .ts.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** `js` is the module's URL with a .js extension (e.g. `new URL('./x.js', import.meta.url)`). */
export function threadEntry(js: URL): { script: URL | string; eval: boolean } {
  if (existsSync(fileURLToPath(js))) return { script: js, eval: false };
  const ts = new URL(js.href.replace(/\.js$/, '.ts')).href;
  // tsx's ESM entry ("tsx/esm/api", import condition); require.resolve would give its CJS twin.
  const tsxDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsxApi = pathToFileURL(join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  return {
    script: `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(ts)}); })`,
    eval: true,
  };
}
