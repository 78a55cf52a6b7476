import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** A secret the scan looks for, with the user names it may be sent beside (Basic auth). */
export interface ScannedSecret {
  name: string;
  value: string;
  usernames?: string[];
}

export interface SecretHit {
  secret: string;
  form: string;
  where: string;
}

/**
 * Every form a secret can take in an output, written independently of the redactor's own list so
 * the scan does not share its blind spots: as it is, URL-encoded (both hex cases, form encoding),
 * Base64 (alone, as `user:secret` of a Basic header, and the alignment-independent middle of it
 * inside longer Base64 text), the hex of its bytes, and its MD5 and SHA-256 hex digests.
 */
export function secretForms(secret: ScannedSecret): Map<string, string> {
  const value = secret.value;
  const bytes = Buffer.from(value, 'utf8');
  const forms = new Map<string, string>();
  const add = (form: string, text: string) => {
    if (!forms.has(text)) forms.set(text, form);
  };
  add('plain', value);
  const encoded = encodeURIComponent(value);
  add('url-encoded', encoded);
  add(
    'url-encoded (lower-case hex)',
    encoded.replace(/%[0-9A-F]{2}/g, (percentEscape) => percentEscape.toLowerCase()),
  );
  add('form-encoded', new URLSearchParams({ v: value }).toString().slice(2));
  add('base64', bytes.toString('base64'));
  add('base64url', bytes.toString('base64url'));
  for (const username of secret.usernames ?? []) {
    add(`basic auth (${username})`, Buffer.from(`${username}:${value}`).toString('base64'));
  }
  // Inside longer base64 text the secret's bytes start at any of three alignments; the
  // characters wholly determined by the secret are the same wherever it sits.
  for (let shift = 0; shift < 3; shift++) {
    const text = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const first = Math.ceil((shift * 8) / 6);
    const last = Math.floor(((shift + bytes.length) * 8) / 6);
    const core = text.slice(first, last);
    if (core.length >= 8) add(`base64 core (offset ${shift})`, core);
  }
  add('hex', bytes.toString('hex'));
  add('hex (upper-case)', bytes.toString('hex').toUpperCase());
  for (const algorithm of ['md5', 'sha256'] as const) {
    const digest = createHash(algorithm).update(value).digest('hex');
    add(algorithm, digest);
    add(`${algorithm} (upper-case)`, digest.toUpperCase());
  }
  return forms;
}

/** Every occurrence of every form of every secret in `text`. */
export function scanText(text: string, where: string, secrets: readonly ScannedSecret[]): SecretHit[] {
  const hits: SecretHit[] = [];
  for (const secret of secrets) {
    for (const [form, name] of secretForms(secret)) {
      if (text.includes(form)) hits.push({ secret: secret.name, form: name, where });
    }
  }
  return hits;
}

/** Scans every file under `dir` (bytes read as latin1, so binary attachments are scanned too). */
export function scanTree(
  dir: string,
  secrets: readonly ScannedSecret[],
): { hits: SecretHit[]; files: number } {
  const hits: SecretHit[] = [];
  let files = 0;
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    files++;
    const bytes = readFileSync(path);
    hits.push(...scanText(bytes.toString('latin1'), path, secrets));
    // UTF-8 text with non-ASCII secrets reads differently as latin1; scan it as UTF-8 as well.
    hits.push(...scanText(bytes.toString('utf8'), path, secrets));
  }
  return { hits, files };
}
