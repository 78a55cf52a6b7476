import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { formatFieldPath, formatRigIssue, RigError, type RigErrorCode, type RigIssue } from './errors.ts';
import {
  JsonDuplicateKeyError,
  JsonSyntaxError,
  type ParsedJson,
  parseJsonWithPositions,
} from './json-source.ts';
import { Redactor } from './redactor.ts';
import {
  type FirmwareConfig,
  PROFILE_PLATFORMS,
  type RigDocument,
  type RigTarget,
  rigSchema,
  SECRET_KEYS,
  type SecretRef,
  secretsOf,
  type TlsConfig,
} from './schema.ts';

/** Where a target was declared, so later errors (a missing secret) can name the file and entry. */
export interface TargetSource {
  file: string;
  index: number;
}

/** A rig target with the rig's defaults merged in, TLS paths made absolute, secrets still references. */
export type LoadedTarget = RigTarget & { source: TargetSource };

/**
 * A validated rig: plain data, so vitest can `provide` a target to the worker that runs its
 * suites. Secrets are still `{ env }` references; `resolveSecrets` turns them into values.
 */
export interface Rig {
  /** The file as the user named it (used in messages). */
  file: string;
  /** Its absolute path. */
  path: string;
  name: string;
  description?: string;
  targets: LoadedTarget[];
}

export interface LoadRigOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Fail now, listing every missing variable, instead of when a target's secrets are resolved.
   * Off by default: listing or validating a lab rig must work without the lab's environment.
   */
  checkSecrets?: boolean;
}

/** The comment key allowed in every object of a rig file (see schema.ts). */
export const COMMENT_KEY = '//';

export async function loadRig(file: string, options: LoadRigOptions = {}): Promise<Rig> {
  return parseRig(await readRigFile(file, () => readFile(file, 'utf8')), file, options);
}

/** For `vitest.config.ts`, which builds its projects before anything async can run. */
export function loadRigSync(file: string, options: LoadRigOptions = {}): Rig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw notFound(file, error);
  }
  return parseRig(text, file, options);
}

async function readRigFile(file: string, read: () => Promise<string>): Promise<string> {
  try {
    return await read();
  } catch (error) {
    throw notFound(file, error);
  }
}

function notFound(file: string, error: unknown): RigError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EISDIR'
        ? 'is a directory, not a rig file'
        : `cannot read it (${code})`;
  return new RigError('RIG_NOT_FOUND', file, [{ field: '', message: reason }], `${file}: ${reason}`);
}

/** Validates rig text; `file` names it in messages and anchors relative TLS paths. */
export function parseRig(text: string, file: string, options: LoadRigOptions = {}): Rig {
  let parsed: ParsedJson;
  try {
    parsed = parseJsonWithPositions(text);
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      const issue: RigIssue = {
        field: '',
        message: `invalid JSON: ${error.description}`,
        position: error.position,
      };
      throw new RigError('RIG_JSON', file, [issue], formatRigIssue(file, issue));
    }
    if (error instanceof JsonDuplicateKeyError) {
      // There is no document yet, so the target is named by its index only.
      const message = `duplicate key (first at line ${error.firstPosition.line})`;
      const issue = issueAt(undefined, [...error.path, error.key], message, { position: error.position });
      throw rigError('RIG_INVALID', file, [issue], []);
    }
    throw error;
  }

  const raw = parsed.value;
  const literalSecrets = collectLiteralSecrets(raw);
  const issues: RigIssue[] = [];
  const document = stripComments(raw, [], (path) =>
    issues.push(issueAt(raw, path, `a "${COMMENT_KEY}" comment takes a string or a list of strings`, parsed)),
  );
  issues.push(...duplicateTargetNames(document, parsed));

  const result = rigSchema.safeParse(document);
  if (!result.success)
    issues.push(...result.error.issues.flatMap((issue) => describeIssue(issue, document, parsed)));
  if (issues.length > 0) throw rigError('RIG_INVALID', file, issues, literalSecrets);

  const rig = buildRig(result.data!, file);
  if (options.checkSecrets) {
    for (const target of rig.targets) resolveSecrets(target, options.env ?? process.env);
  }
  return rig;
}

function rigError(code: RigErrorCode, file: string, issues: RigIssue[], literalSecrets: string[]): RigError {
  // Zod messages do not quote values, but ours quote a few (a bad profile); a literal secret in the
  // file must not come back out through one, so every message passes the redactor.
  const redactor = new Redactor(literalSecrets);
  const sorted = issues
    .map((issue) => ({ ...issue, message: redactor.redact(issue.message) }))
    .sort(
      (a, b) =>
        (a.position?.line ?? Number.MAX_SAFE_INTEGER) - (b.position?.line ?? Number.MAX_SAFE_INTEGER) ||
        (a.position?.column ?? 0) - (b.position?.column ?? 0),
    );
  return new RigError(code, file, sorted, sorted.map((issue) => formatRigIssue(file, issue)).join('\n'));
}

const KEBAB_CASE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** Labels an issue with its target (by name when the name is sound, else by index) and its field. */
function issueAt(
  document: unknown,
  path: readonly PropertyKey[],
  message: string,
  source?: Pick<ParsedJson, 'locate'> | { position?: RigIssue['position'] },
): RigIssue {
  const position =
    source && 'locate' in source
      ? source.locate(path.filter((segment) => typeof segment !== 'symbol') as (string | number)[])
      : source?.position;
  if (path[0] === 'targets' && typeof path[1] === 'number') {
    const index = path[1];
    const name = valueAt(document, ['targets', index, 'name']);
    const nameIsTheProblem = path[2] === 'name';
    const target = typeof name === 'string' && KEBAB_CASE.test(name) && !nameIsTheProblem ? name : undefined;
    return { target, targetIndex: index, field: formatFieldPath(path.slice(2)), message, position };
  }
  return { field: formatFieldPath(path), message, position };
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function describeIssue(issue: z.core.$ZodIssue, document: unknown, parsed: ParsedJson): RigIssue[] {
  const path = issue.path;
  const at = (message: string, where: readonly PropertyKey[] = path) =>
    issueAt(document, where, message, parsed);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const owner = valueAt(document, path) as Record<string, unknown> | undefined;
      const discriminator =
        typeof owner?.type === 'string'
          ? ` for power type "${owner.type}"`
          : typeof owner?.kind === 'string'
            ? ` for kind "${owner.kind}"`
            : '';
      return issue.keys.map((key) => at(`unknown key${discriminator}`, [...path, key]));
    }
    case 'invalid_union': {
      if ('discriminator' in issue && typeof issue.discriminator === 'string') {
        const received = valueAt(document, path);
        const what =
          issue.discriminator === 'kind' ? 'target kind' : `${String(path.at(-2) ?? '')} type`.trim();
        const options = (issue as { options?: unknown[] }).options ?? [];
        const shown =
          typeof received === 'string'
            ? `unknown ${what} "${received}"`
            : `missing or non-string "${issue.discriminator}"`;
        return [at(`${shown}; expected one of ${options.join(', ')}`)];
      }
      return [at(issue.message)];
    }
    case 'invalid_value': {
      const received = valueAt(document, path);
      const options = issue.values.map((value) => String(value)).join(', ');
      const secretField = SECRET_KEYS.has(String(path.at(-1)));
      const got =
        !secretField && typeof received === 'string' && received.length <= 64
          ? `"${received}" is not one; `
          : '';
      return [
        at(issue.values.length === 1 ? `${got}expected ${options}` : `${got}expected one of ${options}`),
      ];
    }
    case 'invalid_type': {
      const received = valueAt(document, path);
      if (received === undefined) return [at(`required (${issue.expected})`)];
      return [
        at(
          `expected ${issue.expected}, got ${received === null ? 'null' : Array.isArray(received) ? 'array' : typeof received}`,
        ),
      ];
    }
    default:
      return [at(issue.message)];
  }
}

/** Removes `"//"` comment members everywhere, reporting a comment that is not prose. */
function stripComments(
  value: unknown,
  path: (string | number)[],
  bad: (path: (string | number)[]) => void,
): unknown {
  if (Array.isArray(value))
    return value.map((element, index) => stripComments(element, [...path, index], bad));
  if (value === null || typeof value !== 'object') return value;
  const result: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === COMMENT_KEY) {
      const prose =
        typeof child === 'string' || (Array.isArray(child) && child.every((line) => isProse(line)));
      if (!prose) bad([...path, key]);
      continue;
    }
    Object.defineProperty(result, key, {
      value: stripComments(child, [...path, key], bad),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return result;
}

const isProse = (line: unknown): boolean =>
  typeof line === 'string' || (Array.isArray(line) && line.every((inner) => typeof inner === 'string'));

/** Checked on the raw document so a duplicate is reported even when another target is also broken. */
function duplicateTargetNames(document: unknown, parsed: ParsedJson): RigIssue[] {
  const targets = valueAt(document, ['targets']);
  if (!Array.isArray(targets)) return [];
  const firstIndex = new Map<string, number>();
  const issues: RigIssue[] = [];
  targets.forEach((target, index) => {
    const name = valueAt(target, ['name']);
    if (typeof name !== 'string') return;
    const first = firstIndex.get(name);
    if (first === undefined) firstIndex.set(name, index);
    else {
      issues.push(
        issueAt(
          document,
          ['targets', index, 'name'],
          `duplicate target name "${name}" (also targets[${first}])`,
          parsed,
        ),
      );
    }
  });
  return issues;
}

/** Secrets written into the file itself, so no message can echo them. */
function collectLiteralSecrets(value: unknown): string[] {
  const found: string[] = [];
  const visit = (node: unknown, key: string | undefined) => {
    if (typeof node === 'string') {
      if (key !== undefined && SECRET_KEYS.has(key)) found.push(node);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    if (
      key !== undefined &&
      SECRET_KEYS.has(key) &&
      typeof (node as { default?: unknown }).default === 'string'
    ) {
      found.push((node as { default: string }).default);
    }
    // A container's `env` maps variable names to secrets, so each of its string values is one.
    const isContainerEnv = key === 'env' && !('default' in node);
    for (const [childKey, child] of Object.entries(node)) visit(child, isContainerEnv ? 'token' : childKey);
  };
  visit(value, undefined);
  return found;
}

function buildRig(document: RigDocument, file: string): Rig {
  const path = resolve(file);
  const directory = dirname(path);
  const defaults = document.defaults ?? {};
  const targets = document.targets.map((target, index): LoadedTarget => {
    const merged: RigTarget = { ...target };
    if (merged.platform === undefined && defaults.platform !== undefined && merged.kind !== 'update-server') {
      // A default platform applies where the profile runs on it; luartos stays ESP32 in a mostly-ESP8266 rig.
      if (PROFILE_PLATFORMS[merged.profile].includes(defaults.platform)) merged.platform = defaults.platform;
    }
    if (defaults.limits || merged.limits) merged.limits = { ...defaults.limits, ...merged.limits };
    if (defaults.tls || merged.tls)
      merged.tls = absoluteTlsPaths({ ...defaults.tls, ...merged.tls }, directory);
    if (merged.kind === 'board' && merged.firmware)
      merged.firmware = absoluteFirmwarePaths(merged.firmware, directory);
    if ((merged.kind === 'emulator' || merged.kind === 'emulator-process') && defaults.emulator) {
      merged.emulator = { ...defaults.emulator, ...merged.emulator };
    }
    return { ...merged, source: { file, index } };
  });
  return {
    file,
    path,
    name: document.name ?? path.replace(/^.*[\\/]/, '').replace(/\.json$/, ''),
    ...(document.description === undefined ? {} : { description: document.description }),
    targets,
  };
}

function absoluteFirmwarePaths(firmware: FirmwareConfig, directory: string): FirmwareConfig {
  const absolute = (file: string) => (isAbsolute(file) ? file : resolve(directory, file));
  const image = (entry: FirmwareConfig['baseline']) =>
    typeof entry === 'string' ? absolute(entry) : { ...entry, path: absolute(entry.path) };
  return {
    ...firmware,
    baseline: image(firmware.baseline),
    update: image(firmware.update),
    ...(firmware.bootloader === undefined ? {} : { bootloader: absolute(firmware.bootloader) }),
    ...(firmware.partitionTable === undefined ? {} : { partitionTable: absolute(firmware.partitionTable) }),
  };
}

function absoluteTlsPaths(tls: TlsConfig, directory: string): TlsConfig {
  const absolute = (file: string | undefined) =>
    file === undefined || isAbsolute(file) ? file : resolve(directory, file);
  return {
    ...tls,
    caFile: absolute(tls.caFile),
    certFile: absolute(tls.certFile),
    keyFile: absolute(tls.keyFile),
  };
}

/** The target named `name`, or a rig error that lists the names there are. */
export function findTarget(rig: Rig, name: string): LoadedTarget {
  const target = rig.targets.find((candidate) => candidate.name === name);
  if (target) return target;
  const message = `${rig.file}: no target "${name}"; the rig has ${rig.targets.map((t) => t.name).join(', ')}`;
  throw new RigError(
    'RIG_TARGET_NOT_FOUND',
    rig.file,
    [{ field: '', message: `no target "${name}"` }],
    message,
  );
}

/** A rig value with every secret reference replaced by its value. */
export type Resolved<T> = T extends SecretRef
  ? string
  : T extends readonly (infer Element)[]
    ? Resolved<Element>[]
    : T extends object
      ? { [Key in keyof T]: Resolved<T[Key]> }
      : T;

export type ResolvedTarget = Resolved<LoadedTarget>;

export interface ResolvedSecrets<T> {
  target: Resolved<T>;
  /** Hides every secret of this target (and its Basic-auth forms). */
  redactor: Redactor;
}

/**
 * Reads every secret of `target` from `env` (a `default` applies when the variable is unset or
 * empty). A missing variable is a rig error naming the variable, the target and the field: all
 * missing ones at once, and never a value.
 */
export function resolveSecrets<T extends RigTarget & { source?: TargetSource }>(
  target: T,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedSecrets<T> {
  const values = new Map<string, string>();
  const issues: RigIssue[] = [];
  for (const [path, secret] of secretsOf(target)) {
    if (typeof secret === 'string') {
      values.set(JSON.stringify(path), secret);
      continue;
    }
    const fromEnv = env[secret.env];
    if (fromEnv !== undefined && fromEnv !== '') values.set(JSON.stringify(path), fromEnv);
    else if (secret.default !== undefined) values.set(JSON.stringify(path), secret.default);
    else {
      issues.push({
        target: target.name,
        targetIndex: target.source?.index,
        field: formatFieldPath(path),
        message: `environment variable ${secret.env} is ${fromEnv === '' ? 'empty' : 'not set'}`,
      });
    }
  }
  const file = target.source?.file ?? '(rig)';
  if (issues.length > 0) {
    const message = issues.map((issue) => formatRigIssue(file, issue)).join('\n');
    throw new RigError('RIG_SECRET_MISSING', file, issues, message);
  }
  const resolved = replaceAt(target, [], values) as Resolved<T>;
  return {
    target: resolved,
    redactor: new Redactor(values.values(), { credentials: credentialPairs(resolved) }),
  };
}

/**
 * One redactor for a whole run: every secret any target of the rig can resolve. Report writers
 * use it, since a report spans targets. Missing variables are skipped here; resolving that
 * target reports them.
 */
export function redactorForRig(rig: Rig, env: NodeJS.ProcessEnv = process.env): Redactor {
  let redactor = new Redactor([]);
  for (const target of rig.targets) {
    const values: string[] = [];
    for (const [, secret] of secretsOf(target)) {
      const value = typeof secret === 'string' ? secret : env[secret.env] ? env[secret.env] : secret.default;
      if (value) values.push(value);
    }
    let credentials: ReturnType<typeof credentialPairs> = [];
    try {
      credentials = credentialPairs(resolveSecrets(target, env).target);
    } catch {
      // A target with a missing secret has no pair to hide; its other values are in `values`.
    }
    redactor = redactor.with(values, { credentials });
  }
  return redactor;
}

function replaceAt(value: unknown, path: (string | number)[], values: ReadonlyMap<string, string>): unknown {
  const own = values.get(JSON.stringify(path));
  if (own !== undefined) return own;
  if (Array.isArray(value))
    return value.map((element, index) => replaceAt(element, [...path, index], values));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, child]) => [key, replaceAt(child, [...path, key], values)]),
  );
}

/** The user/password pairs a driver sends as Basic auth, so the header is hidden whole. */
function credentialPairs(target: unknown): { username: string; password: string }[] {
  const pairs: { username: string; password: string }[] = [];
  const add = (username: unknown, password: unknown) => {
    if (typeof username === 'string' && typeof password === 'string') pairs.push({ username, password });
  };
  const record = target as Record<string, Record<string, unknown> | undefined> & Record<string, unknown>;
  add(record.username, record.password);
  add(record.power?.user, record.power?.password);
  // Shelly Gen2 authenticates as the fixed user "admin".
  if (record.power?.type === 'shelly-gen2') add('admin', record.power?.password);
  add(record.mqtt?.username, record.mqtt?.password);
  return pairs;
}
