import { describe, expect, it } from 'vitest';
import { commandModules, commandName, loadCommands } from '../../src/cli/commands/index.js';

describe('CLI command loading', () => {
  it.each([
    [['token', 'status'], 'token'],
    [['-c', 'x.yml', 'failed', 'list'], 'failed'],
    [['--config', 'ingest', 'ingest', 'a.eml'], 'ingest'],
    [['--help'], undefined],
    [[], undefined],
  ])('%j names the command %s', (argv, name) => {
    expect(commandName(argv)).toBe(name);
  });

  it('loads only the named command, and every command for help or a typo', async () => {
    expect(await loadCommands(['token', 'status'])).toHaveLength(1);
    expect(await loadCommands(['tokn'])).toHaveLength(Object.keys(commandModules).length);
    expect(await loadCommands(['--help'])).toHaveLength(Object.keys(commandModules).length);
  });
});
