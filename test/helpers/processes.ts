// Which processes are still alive, by what their command line names (a data dir, a profile dir):
// how tests check that a helper left nothing running.
import { execFileSync } from 'node:child_process';

/** Pids of processes (other than this one) whose command line contains `needle`. */
export function processesNaming(needle: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(needle))
    .map((l) => Number(l.trim().split(/\s+/, 1)[0]))
    .filter((pid) => pid !== process.pid);
}
