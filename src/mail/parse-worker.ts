// The body of a parse-pool thread: parse what the pool sends, send the record back.
import { parentPort } from 'node:worker_threads';
import { parseMail, type ParseOptions } from './parse.js';
import type { RawRef } from './record.js';

export interface ParseRequest {
  id: number;
  raw: Uint8Array;
  rawRef: RawRef;
  opts: ParseOptions;
}

parentPort?.postMessage({ ready: true });

parentPort?.on('message', (req: ParseRequest) => {
  const raw = Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
  // parseMail never throws; the catch is for the impossible, so the pool never waits forever.
  parseMail(raw, req.rawRef, req.opts).then(
    (record) => parentPort!.postMessage({ id: req.id, record }),
    (e: unknown) => parentPort!.postMessage({ id: req.id, error: e instanceof Error ? e.message : String(e) }),
  );
});
