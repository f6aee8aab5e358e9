// The CPU a PostgreSQL server has used, for the harnesses (pg-replica.ts, pg-store.ts): the
// postmaster and every process it forked (backends, walwriter, checkpointer, …), from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';
import { cpuSecondsOf } from './common.js';

const parentOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};

/** The server's processes, found through a connection to it (the checkpointer's parent). */
export async function postgresProcesses(c: pg.Client): Promise<number[]> {
  const { rows } = await c.query(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'`);
  const postmaster = parentOf(rows[0].pid as number);
  const out = [postmaster];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (parentOf(Number(d)) === postmaster) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU seconds used so far by these processes (those that exited since count no more). */
export const cpuSecondsOfAll = (pids: number[]) => pids.reduce((a, p) => a + (cpuSecondsOf(p) || 0), 0);
