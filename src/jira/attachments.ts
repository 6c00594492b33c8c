// Reading an attachment's bytes: streamed through the core's download, with a cap (the
// responder mails agents' files to customers; src/respond/comment-files.ts).
import type { JiraClient } from './client.js';
import { enc, type JiraCore } from './core.js';

export type AttachmentMethods = Pick<JiraClient, 'getAttachmentContent'>;

export function attachmentMethods({ download, expectOk }: JiraCore): AttachmentMethods {
  return {
    async getAttachmentContent(id, maxBytes) {
      const op = 'getAttachmentContent';
      // redirect=false: the bytes in this answer, not a 303 to a download host the token must not follow to.
      const a = await download(op, { method: 'GET', path: `/rest/api/3/attachment/content/${enc(id)}`, query: { redirect: false } }, maxBytes);
      if ('tooLarge' in a) return { tooLarge: true };
      expectOk(op, a);
      return { bytes: a.bytes ?? Buffer.alloc(0) };
    },
  };
}
