// CPU time another process has used, read from /proc/<pid>/stat (utime + stime, in clock ticks
// of 1/100 s on Linux). Unlike wall-clock figures it hardly moves with how busy the machine is,
// so a change in the work a role does per mail shows even on a shared, loaded machine.
import { readFile } from 'node:fs/promises';

/** Clock ticks per second (sysconf(_SC_CLK_TCK)): 100 on every Linux this runs on. */
const TICKS_PER_SEC = 100;

/** CPU milliseconds used so far by the process, or undefined when it cannot be read (gone, not Linux). */
export async function cpuMs(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  // Fields after the command name (which may hold spaces, hence the last ')'): utime is the
  // 14th field of the whole line, stime the 15th (proc(5)).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / TICKS_PER_SEC : undefined;
}
