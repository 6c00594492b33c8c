// CPU time another process has used, read from /proc/<pid>/stat (utime + stime, in clock ticks
// of 1/100 s on Linux). Unlike wall-clock figures it hardly moves with how busy the machine is,
// so a change in the work a role does per mail shows even on a shared, loaded machine.
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second (sysconf(_SC_CLK_TCK)): 100 on every Linux this runs on. */
const TICKS_PER_SEC = 100;

/** A /proc/<pid>/stat line's process group and CPU milliseconds (utime + stime), or undefined. */
function readStat(stat: string | undefined): { pgrp: number; ms: number } | undefined {
  if (!stat) return undefined;
  // Fields after the command name (which may hold spaces, hence the last ')'): pgrp is the 5th
  // field of the whole line, utime the 14th, stime the 15th (proc(5)).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [pgrp, utime, stime] = [Number(rest[2]), Number(rest[11]), Number(rest[12])];
  return Number.isFinite(utime) && Number.isFinite(stime) ? { pgrp, ms: ((utime + stime) * 1000) / TICKS_PER_SEC } : undefined;
}

const statOf = (pid: number | string) => readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);

/** CPU milliseconds used so far by the process, or undefined when it cannot be read (gone, not Linux). */
export async function cpuMs(pid: number | undefined): Promise<number | undefined> {
  return pid ? readStat(await statOf(pid))?.ms : undefined;
}

/** CPU milliseconds used so far by every live process of process group `pgid` (a server and the children it forked). */
export async function groupCpuMs(pgid: number | undefined): Promise<number | undefined> {
  if (!pgid) return undefined;
  let total = 0;
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(await statOf(name));
    if (s?.pgrp === pgid) total += s.ms;
  }
  return total;
}

/** CPU milliseconds this process has used (every thread). */
export function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The machine's CPU milliseconds so far, over every core, from one read of /proc/stat's CPU line
 * (user nice system idle iowait irq softirq steal ...): `busy` is all but idle and iowait,
 * steal included; `steal` is the time a virtual machine's host gave its cores to others, which
 * nothing on this machine used.
 */
export async function machineCpuMs(): Promise<{ busy: number; steal: number } | undefined> {
  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
  const ms = (ticks: number) => (ticks * 1000) / TICKS_PER_SEC;
  return { busy: ms(f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!), steal: ms(f[7]!) };
}
