// The compiled, validated shape of a rules file. The types live in the kernel (event/config.ts,
// event/model.ts), because the stages below config read them too; they are re-exported here so that
// config/ reads as before. Problem is config's own: only loading a rules file finds problems.
export type * from '../event/model.js';
export type * from '../event/config.js';

/** A problem found in a rules file, pointing at a place a person can open in an editor. */
export interface Problem {
  file: string;
  line: number; // 1-based
  col: number; // 1-based
  severity: 'error' | 'warning';
  message: string;
  /** Set on the last line of a list cut at PROBLEMS_LISTED: the problems it stands for. */
  more?: { problems: number; errors: number };
}
