import type { SourcePosition } from './json-source.ts';

export type RigErrorCode =
  | 'RIG_NOT_FOUND'
  | 'RIG_JSON'
  | 'RIG_INVALID'
  | 'RIG_SECRET_MISSING'
  /** A target asked for by name (`--target`) that the rig does not list. */
  | 'RIG_TARGET_NOT_FOUND';

/** One problem in a rig file, located as precisely as the file allows. */
export interface RigIssue {
  /** Target name when it is readable and not itself the problem. */
  target?: string;
  /** Index in `targets` when the problem is inside a target. */
  targetIndex?: number;
  /** Path inside the target (or the rig, outside targets), as written: `power.url`, `capabilities[2]`. */
  field: string;
  message: string;
  position?: SourcePosition;
}

/**
 * A rig problem: the rig is at fault, not the device, so a run reports it as a rig error and
 * never counts it against a target. The message names the file, the target and the field, one
 * line per problem, and never contains a secret's value.
 */
export class RigError extends Error {
  override readonly name = 'RigError';

  constructor(
    readonly code: RigErrorCode,
    /** The rig file as the user named it. */
    readonly file: string,
    readonly issues: readonly RigIssue[],
    message: string,
  ) {
    super(message);
  }
}

export function formatRigIssue(file: string, issue: RigIssue): string {
  const parts = [file];
  if (issue.targetIndex !== undefined) {
    parts.push(
      issue.target === undefined
        ? `target targets[${issue.targetIndex}]`
        : `target "${issue.target}" (targets[${issue.targetIndex}])`,
    );
  }
  if (issue.field !== '') parts.push(issue.field);
  const where = issue.position ? ` (line ${issue.position.line}, column ${issue.position.column})` : '';
  return `${parts.join(': ')}: ${issue.message}${where}`;
}

/** `['power', 'url']` → `power.url`; `['capabilities', 2]` → `capabilities[2]`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else {
      const name = String(segment);
      text += /^[A-Za-z_$][\w$-]*$/.test(name)
        ? text === ''
          ? name
          : `.${name}`
        : `[${JSON.stringify(name)}]`;
    }
  }
  return text;
}
