// Every CLI command module, registered in this order in `mailroom --help`.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { register as audit } from './audit.js';
import { register as config } from './config.js';
import { register as failed } from './failed.js';
import { register as ingest } from './ingest.js';
import { register as jiraSim } from './jira-sim.js';
import { register as mailboxes } from './mailboxes.js';
import { register as notify } from './notify.js';
import { register as status } from './status.js';
import { register as token } from './token.js';

export type Register = (program: Command, ctx: CliContext) => void;

export const commands: Register[] = [config, ingest, status, mailboxes, failed, audit, token, jiraSim, notify];
