// What the figures were measured on: they mean little without it.
import { cpus, loadavg, totalmem } from 'node:os';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGB: number;
  node: string;
  redis: string;
  /** 1-minute load average when the run started: a busy machine makes slower figures. */
  loadAtStart: number;
  at: string;
}

export function describeMachine(redisVersion: string): Machine {
  const c = cpus();
  return {
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    memoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    redis: redisVersion,
    loadAtStart: Math.round(loadavg()[0]! * 100) / 100,
    at: new Date().toISOString(),
  };
}
