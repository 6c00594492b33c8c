// Memory of another process, read from /proc/<pid>/status: VmHWM is the kernel's own peak
// resident set (so a spike between two samples is not missed), VmRSS the current one.
import { readFile, writeFile } from 'node:fs/promises';

export interface RssReading {
  rssKb: number;
  hwmKb: number;
}

export async function readRss(pid: number): Promise<RssReading | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (!status) return undefined;
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

export interface RssSampler {
  /** Stop sampling; the highest VmRSS seen and the final VmHWM (MB). */
  stop(): Promise<{ peakRssMB: number; hwmMB: number; samples: number }>;
}

export function sampleRss(pid: number, everyMs = 20): RssSampler {
  let peak = 0;
  let hwm = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await readRss(pid);
      if (r) {
        samples++;
        peak = Math.max(peak, r.rssKb);
        hwm = Math.max(hwm, r.hwmKb);
      }
      await new Promise((res) => setTimeout(res, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const last = await readRss(pid);
      if (last) hwm = Math.max(hwm, last.hwmKb);
      return { peakRssMB: Math.round(peak / 102.4) / 10, hwmMB: Math.round(hwm / 102.4) / 10, samples };
    },
  };
}

/** Reset the kernel's peak (VmHWM) to the current RSS (Linux: write 5 to clear_refs; needs the right to). */
export async function resetPeak(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
