// A throwaway Dovecot IMAP server for tests, on a free loopback port in a temp folder
// (recipe: ../shared/recipes/dovecot-test.conf). Dovecot must run as root so it can switch to
// its dovecot/dovenull users; tests that need it skip with a notice when that is not possible.
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';

const run = promisify(execFile);

export const DOVECOT_BIN = ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'].find((p) => existsSync(p));

const DOVEADM_BIN = ['/usr/bin/doveadm', '/usr/local/bin/doveadm'].find((p) => existsSync(p)) ?? 'doveadm';

/** Why Dovecot cannot run here, or undefined when it can. */
export function dovecotUnavailable(): string | undefined {
  if (!DOVECOT_BIN) return 'dovecot is not installed (apt-get install dovecot-imapd)';
  if (process.getuid?.() !== 0) return 'dovecot tests need root (dovecot switches to its own users)';
  return undefined;
}

export interface DovecotUser {
  user: string;
  password: string;
}

export interface DovecotOptions {
  users?: DovecotUser[];
  /** Advertise no IDLE capability, like servers that only support polling. */
  noIdle?: boolean;
  /**
   * Also accept OAuth 2.0 bearer tokens (Dovecot's oauth2 passdb), checked by RFC 7662
   * introspection against `introspectionUrl` (test/helpers/oauth-server.ts). Only the listed SASL
   * mechanisms are advertised besides PLAIN/LOGIN, so a test picks which one imapflow uses.
   */
  oauth?: { introspectionUrl: string; mechanisms: ('xoauth2' | 'oauthbearer')[] };
}

export interface Dovecot {
  host: string;
  port: number;
  dir: string;
  users: DovecotUser[];
  /** Stop the server (kill the master) and remove its folder. Safe to call twice. */
  stop(): Promise<void>;
  /** Stop and start again on the same port with the same mail. */
  restart(): Promise<void>;
  /** Stop the server but keep the mail, e.g. to test a poller facing a dead server. */
  halt(): Promise<void>;
  /** Start a halted server again. */
  resume(): Promise<void>;
  /** End a user's IMAP sessions (doveadm kick), as a server does when it drops a session. */
  kick(user: string): Promise<void>;
  /** Append a raw message over IMAP (as the first user unless told otherwise); returns its UID. */
  appendRaw(raw: string | Buffer, opts?: { folder?: string; user?: string }): Promise<number | undefined>;
  /** An imapflow client logged in as a user (first by default), for test assertions. */
  client(user?: string): Promise<ImapFlow>;
}

export const DEFAULT_USER: DovecotUser = { user: 'support@example.test', password: 'secret-imap-pass' };

import { freePort } from '../../src/ops/own-redis.js';

export { freePort };

function config(dir: string, port: number, opts: DovecotOptions): string {
  const recipe = `protocols = imap
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/run/state
log_path = ${dir}/dovecot.log
# Tests try wrong passwords on purpose; the default 2 s penalty would only slow them down.
auth_failure_delay = 0
# A throwaway server: no fsync per APPEND (5x faster appends), and only Dovecot touches the maildir.
mail_fsync = never
maildir_very_dirty_syncs = yes
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login${opts.oauth ? ' ' + opts.oauth.mechanisms.join(' ') : ''}
mail_location = maildir:${dir}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
${
  opts.oauth
    ? `passdb {
  driver = oauth2
  mechanisms = ${opts.oauth.mechanisms.join(' ')}
  args = ${dir}/oauth2.conf.ext
}
`
    : ''
}userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=${dir}/mail/%u
}
`;
  // Replacing the post-login capability list is how Dovecot is made to look like a server
  // without IDLE; the client then has to poll.
  const noIdle = opts.noIdle
    ? 'imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED ESEARCH MOVE LITERAL+\n'
    : '';
  return recipe + noIdle;
}

async function pidAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A daemon's exited master stays a zombie until init reaps it, which can take a second or
  // more in a container: it has let go of its port by then, so it counts as gone.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return !/^\d+ \(.*\) Z/.test(stat);
}

async function waitForGreeting(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let buf = '';
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(1000, () => done(false));
      s.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('* OK')) done(true);
      });
      s.on('error', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`dovecot did not answer on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function killMaster(dir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(join(dir, 'run', 'master.pid'), 'utf8')).trim());
  } catch {
    return; // never started, or already gone
  }
  if (!pid || !(await pidAlive(pid))) return;
  try {
    // The master is a session leader (it daemonizes with setsid): signalling its process group
    // stops its children too, which saves the seconds the master otherwise waits for them.
    process.kill(-pid, 'SIGTERM');
  } catch {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
  }
  const deadline = Date.now() + 5000;
  while (await pidAlive(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
      break;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  // The master's children (imap, auth) exit when it does; give the listener a moment to close.
  await new Promise((r) => setTimeout(r, 50));
}

export async function startDovecot(opts: DovecotOptions = {}): Promise<Dovecot> {
  const why = dovecotUnavailable();
  if (why) throw new Error(why);
  const users = opts.users?.length ? opts.users : [DEFAULT_USER];
  const dir = await mkdtemp(join(tmpdir(), 'mrdovecot-'));
  // Dovecot's unprivileged processes must traverse the folder; the mail belongs to dovecot.
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'mail'));
  await mkdir(join(dir, 'run'));
  const { uid, gid } = await dovecotIds();
  await chown(join(dir, 'mail'), uid, gid);
  await writeFile(join(dir, 'users'), users.map((u) => `${u.user}:{PLAIN}${u.password}`).join('\n') + '\n', { mode: 0o644 });

  if (opts.oauth) {
    // No auth cache (the default): every login is introspected, so a revoked token is refused at once.
    await writeFile(
      join(dir, 'oauth2.conf.ext'),
      `introspection_mode = post\nintrospection_url = ${opts.oauth.introspectionUrl}\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n`,
      { mode: 0o644 },
    );
  }

  let port = 0;
  const start = async (): Promise<void> => {
    await writeFile(join(dir, 'dovecot.conf'), config(dir, port, opts));
    await launch(DOVECOT_BIN!, ['-c', join(dir, 'dovecot.conf')]);
    await waitForGreeting(port, 10_000);
  };
  // A free port can be taken between probing and binding; try a few.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (e) {
      await killMaster(dir);
      if (attempt >= 3) {
        const log = await readFile(join(dir, 'dovecot.log'), 'utf8').catch(() => '');
        await rm(dir, { recursive: true, force: true });
        throw new Error(`could not start dovecot: ${(e as Error).message}\n${log.slice(-2000)}`, { cause: e });
      }
    }
  }

  // Back on the same port (clients know it). On a loaded machine the old master's listener can
  // outlive it briefly and the new one exits 89 (a chaos run lost its Dovecot so): try again.
  const startAgain = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await start();
      } catch (e) {
        await killMaster(dir);
        if (attempt >= 4) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  let stopped = false;
  const dovecot: Dovecot = {
    host: '127.0.0.1',
    port,
    dir,
    users,
    async stop() {
      if (stopped) return;
      stopped = true;
      await killMaster(dir);
      await rm(dir, { recursive: true, force: true });
    },
    async halt() {
      await killMaster(dir);
    },
    async resume() {
      await startAgain();
    },
    async restart() {
      await killMaster(dir);
      await startAgain();
    },
    async kick(user) {
      await run(DOVEADM_BIN, ['-c', join(dir, 'dovecot.conf'), 'kick', user]);
    },
    async client(user) {
      const u = users.find((x) => x.user === user) ?? users[0]!;
      const c = new ImapFlow({
        host: '127.0.0.1',
        port,
        secure: false,
        doSTARTTLS: false,
        auth: { user: u.user, pass: u.password },
        logger: false,
      });
      await c.connect();
      return c;
    },
    async appendRaw(raw, o = {}) {
      const c = await dovecot.client(o.user);
      try {
        const folder = o.folder ?? 'INBOX';
        if (folder !== 'INBOX') await c.mailboxCreate(folder).catch(() => undefined);
        const r = await c.append(folder, raw);
        return r ? r.uid : undefined;
      } finally {
        await c.logout().catch(() => c.close());
      }
    },
  };
  return dovecot;
}

// Dovecot daemonizes; its children keep stdio open, so wait for the launcher's exit, not for
// its pipes to close (execFile would hang).
async function launch(bin: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const p = spawn(bin, args, { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} exited with ${code}`))));
  });
}

let ids: { uid: number; gid: number } | undefined;
async function dovecotIds(): Promise<{ uid: number; gid: number }> {
  if (ids) return ids;
  const { stdout: u } = await run('id', ['-u', 'dovecot']);
  const { stdout: g } = await run('id', ['-g', 'dovecot']);
  ids = { uid: Number(u.trim()), gid: Number(g.trim()) };
  return ids;
}

/** A small RFC 822 message; `n` makes the subject and Message-ID unique. */
export function testMail(n: number | string, opts: { from?: string | null; body?: string; extraHeaders?: string } = {}): string {
  const from = opts.from === null ? '' : `From: ${opts.from ?? `Customer ${n} <customer${n}@example.org>`}\r\n`;
  return (
    from +
    `To: support@example.test\r\n` +
    `Subject: Test mail ${n}\r\n` +
    `Message-ID: <test-${n}@mailroom.test>\r\n` +
    `Date: ${new Date().toUTCString()}\r\n` +
    (opts.extraHeaders ?? '') +
    `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n` +
    (opts.body ?? `Hello, this is mail ${n}.\r\n`)
  );
}

/**
 * A Mailroom configuration (the YAML shape, before parsing) with one mailbox reading `dovecot`,
 * and the environment that goes with it. Parse it with parseConfig(), or write it as YAML for a
 * poller process.
 */
export function pollerTestConfig(
  dovecot: Pick<Dovecot, 'host' | 'port' | 'users'>,
  opts: {
    storeDir: string;
    mailboxId?: string;
    folder?: string;
    password?: string;
    port?: number;
    mailbox?: Record<string, unknown>;
    poller?: Record<string, unknown>;
  },
): { raw: Record<string, unknown>; env: Record<string, string> } {
  const user = dovecot.users[0]!;
  return {
    raw: {
      jira: { site: 'http://127.0.0.1:1' },
      store: { kind: 'fs', dir: opts.storeDir },
      mailboxes: [
        {
          id: opts.mailboxId ?? 'support',
          imap: {
            host: dovecot.host,
            port: opts.port ?? dovecot.port,
            tls: false,
            user: user.user,
            passwordEnv: 'TEST_IMAP_PASSWORD',
            folder: opts.folder ?? 'INBOX',
          },
          after: { action: 'none' },
          ...opts.mailbox,
        },
      ],
      poller: { lockTtl: '3s', reconnectMin: '200ms', reconnectMax: '1s', ...opts.poller },
      log: { level: 'warn' },
    },
    env: { TEST_IMAP_PASSWORD: opts.password ?? user.password },
  };
}

/** Poll `fn` until it returns something other than undefined/false; fail with `what` after the timeout. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
