// Every command's --help ends with examples (issue 19.10): walk the whole command tree as
// `mailroom --help` builds it, and read each help page as a person would see it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { loadCommands } from '../../src/cli/commands/index.js';
import type { CliContext } from '../../src/cli/context.js';
import { mailroomVersion } from '../../src/cli/version.js';

const unused: CliContext = {
  config: () => {
    throw new Error('help needs no configuration');
  },
  redis: () => {
    throw new Error('help needs no Redis');
  },
  redisFailure: () => undefined,
  close: async () => undefined,
};

function helpOf(cmd: Command): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => void (text += s), writeErr: (s) => void (text += s) });
  cmd.outputHelp();
  return text;
}

function walk(cmd: Command, path: string[] = []): { path: string; help: string }[] {
  return cmd.commands.flatMap((c) => [{ path: [...path, c.name()].join(' '), help: helpOf(c) }, ...walk(c, [...path, c.name()])]);
}

describe('mailroom help', () => {
  it('has examples on every command and subcommand', async () => {
    const program = new Command('mailroom');
    for (const register of await loadCommands(['--help'])) register(program, unused);
    const pages = walk(program);
    expect(pages.map((p) => p.path)).toEqual(expect.arrayContaining(['token status', 'token check', 'token clear', 'mailboxes retry']));
    const without = pages.filter((p) => !/\nExamples?:\n {2}(\S.*)?mailroom /.test(p.help)).map((p) => p.path);
    expect(without).toEqual([]);
  });

  it('knows its version from package.json, built or not', () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(mailroomVersion()).toBe(pkg.version);
    expect(mailroomVersion(join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli'))).toBe(pkg.version);
  });
});
