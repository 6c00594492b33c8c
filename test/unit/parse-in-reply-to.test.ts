import { describe, expect, it } from 'vitest';
import { parseMail } from '../../src/mail/parse.js';
import { ownMailOptions } from '../../src/mail/loop.js';

// An answer to one of this install's notifications is its own mail however In-Reply-To spells
// its ids: RFC 5322 allows `<a@x><b@y>` with no space, clients write commas, comments may lead.
const ours = '<mailroom.0123456789abcdef0123456789abcdef@acme.example>';
const theirs = '<mailroom.0123456789abcdef0123456789abcdef@vendor.example>';

async function read(inReplyTo: string) {
  const raw = Buffer.from(
    `From: Ann <ann@cust.example>\r\nTo: support@acme.example\r\nSubject: Re: [SUP-1] Issue created\r\nIn-Reply-To: ${inReplyTo}\r\nMessage-ID: <a@cust.example>\r\n\r\nok\r\n`,
  );
  return parseMail(raw, { sha256: 'a'.repeat(64), size: raw.length }, ownMailOptions({ from: 'help@acme.example' }));
}
const kindOf = async (inReplyTo: string) => (await read(inReplyTo)).classification.kind;

describe('In-Reply-To of an answer to our notification', () => {
  it.each([ours, `${ours} <x@y>`, `<x@y>${ours}`, `${ours}<x@y>`, `<x@y>,${ours}`, `(reply)${ours}`])('%s is our own', async (v) => {
    expect(await kindOf(v)).toBe('own');
  });
  it.each([theirs, `<x@y>${theirs}`, `<x@y>,${theirs}`])('%s (another company) is read', async (v) => {
    expect(await kindOf(v)).toBe('human');
  });
  it('threads on the first id however the ids are written', async () => {
    for (const v of ['<x@y>,<z@w>', '<x@y><z@w>', '<x@y> <z@w>', '(reply) <x@y>']) expect((await read(v)).inReplyTo, v).toBe('<x@y>');
  });
});
