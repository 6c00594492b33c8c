// The body of a content-pool thread: parse the raw mail the pool sends, send text and
// attachments back; a refusal goes back as its message and whether it is permanent.
import { parentPort } from 'node:worker_threads';
import { PermanentError } from '../core/errors.js';
import { parseContent } from './content.js';

export interface ContentRequest {
  id: number;
  raw: Uint8Array;
}

parentPort?.postMessage({ ready: true });

parentPort?.on('message', (req: ContentRequest) => {
  const raw = Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength);
  parseContent(raw).then(
    (content) => parentPort!.postMessage({ id: req.id, content }),
    (e: unknown) => parentPort!.postMessage({ id: req.id, error: e instanceof Error ? e.message : String(e), permanent: e instanceof PermanentError }),
  );
});
