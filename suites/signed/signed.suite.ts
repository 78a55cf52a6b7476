import { EspotaUploader } from '../../drivers/espota/index.ts';
import type { Target } from '../../drivers/target/index.ts';
import { gzipImage } from '../../fixtures/index.ts';
import { currentTarget, type RequirementContext, strategyRequirement } from '../framework/index.ts';
import {
  describeBoot,
  freshVersion,
  imageFor,
  powerCycle,
  type UpdateResult,
  updateTarget,
} from '../framework/strategy/index.ts';
import {
  flipSignatureByte,
  refusalPattern,
  sign,
  signatureOffset,
  signingOf,
  targetSigning,
} from './signing-kit.ts';

/*
 * Signed updates, whatever the target's update path (web form, espota, HTTP pull, MQTT-triggered
 * download, esp_https_ota): a device built with a verifier installs a correctly signed image and
 * refuses every other one with its core's own error, and keeps running the old image. Every
 * refusal ends with its acceptance twin: the same device, right after, installs a correctly
 * signed image. The signing scheme and key come from the rig (suites/signed/signing-kit.ts).
 */

const SOURCE_8266 =
  'docs/protocols/signed-images.md §1.1, §1.5 (Updater::end(): length word, SHA-256 of the image read back from flash, RSASSA-PKCS1-v1_5, error 12), §1.6';
const SOURCE = `${SOURCE_8266}; §2 (arduino-esp32 UPDATE_SIGN 512-byte block, error 14); §3 (ESP-IDF signature sector, ESP_ERR_OTA_VALIDATE_FAILED)`;
const NEEDS = ['signed-images', 'console', 'power-cycle'] as const;

type Context = Pick<RequirementContext, 'target' | 'step' | 'check'>;

function describeUpdate(result: UpdateResult): string {
  const boot = result.booted ? `; booted ${describeBoot(result.booted)}` : '';
  return `${result.accepted ? 'accepted' : 'not accepted'}: ${result.detail}${boot}`;
}

function consoleSince(target: Target, mark: number): string {
  return (target.console?.lines() ?? [])
    .slice(mark)
    .map((line) => line.text)
    .join('\n');
}

/** The version the device runs now, from a fresh power-up (which also ends any open session). */
async function runningVersion({ target, step }: Context, why: string): Promise<string | undefined> {
  booted.delete(target.name);
  const boot = await step(`power cycle (${why})`, () => powerCycle(target, `power cycle (${why})`));
  return boot.version;
}

/**
 * Per target: the version the last acceptance twin saw boot (a clean state: the device restarted
 * into it). The next refusal starts from it instead of another power cycle; anything else that
 * happens to the device forgets it.
 */
const booted = new Map<string, string>();

async function knownVersion(context: Context): Promise<string | undefined> {
  const version = booted.get(context.target.name);
  booted.delete(context.target.name);
  return version ?? runningVersion(context, 'known state');
}

/** A correctly signed image installs and boots: the positive control and every refusal's twin. */
async function installsSigned(context: Context, label: string): Promise<void> {
  const { target, step, check } = context;
  const signing = targetSigning(target);
  const version = freshVersion(label);
  const signed = sign(signing, imageFor(target, version));
  booted.delete(target.name);
  const result = await step(`update to ${version}, signed (${signing.scheme})`, () =>
    updateTarget(target, signed),
  );
  // With rollback the new image is pending until its self-test confirms it, and esp_ota_begin
  // refuses to start meanwhile (ESP_ERR_OTA_ROLLBACK_INVALID_STATE): such a target starts each
  // refusal from a power cycle instead.
  if (result.accepted && result.booted?.version === version && !target.capabilities.has('rollback')) {
    booted.set(target.name, version);
  }
  check(
    result.accepted && result.booted?.version === version,
    `the correctly signed ${version} is installed and boots`,
    describeUpdate(result),
  );
}

/**
 * The refusal pattern: from a known image, `bad` is sent; the device must refuse it with its core's
 * own error, still run the old image after a power cycle, then install a correctly signed image.
 */
async function refuses(
  context: Context,
  label: string,
  what: string,
  bad: (version: string) => Uint8Array,
): Promise<void> {
  const { target, step, check } = context;
  const signing = targetSigning(target);
  const before = await knownVersion(context);
  const version = freshVersion(label);
  const bytes = bad(version);
  const mark = target.console?.lines().length ?? 0;
  const result = await step(`update to ${version}: ${what}`, () => updateTarget(target, bytes));
  const said = `${result.detail}\n${consoleSince(target, mark)}`;
  check(!result.accepted, `${what} is refused`, describeUpdate(result));
  const pattern = refusalPattern(signing.scheme);
  check(pattern.test(said), `the refusal names the core's own error ${pattern}`, said.slice(0, 600));
  const after = await runningVersion(context, 'after the refused update');
  check(after === before, `the old image (${before}) still runs after a power cycle`, String(after));
  await installsSigned(context, `${label}-ok`);
}

strategyRequirement(
  'signed/accept/1',
  'MUST',
  'a correctly signed image is installed and boots',
  { source: SOURCE, needs: [...NEEDS] },
  async (context) => {
    const { target, check } = context;
    await runningVersion(context, 'known state');
    const mark = target.console?.lines().length ?? 0;
    await installsSigned(context, 'sig-ok');
    const scheme = targetSigning(target).scheme;
    if (scheme.startsWith('esp-idf')) {
      // The lines ESP-IDF's own tests wait for (pytest_simple_ota.py L377‑380, L507‑509; §3.6).
      const said = consoleSince(target, mark);
      const expected = [
        'Verifying image signature...',
        scheme === 'esp-idf-sbv2-rsa' ? 'Verifying with RSA-PSS...' : 'Verifying with ECDSA...',
        ...(scheme === 'esp-idf-sbv2-rsa' ? ['Signature verified successfully!'] : []),
      ];
      const missing = expected.filter((line) => !said.includes(line));
      check(
        missing.length === 0,
        `the console shows ${expected.join(' / ')}`,
        `missing: ${missing.join(' / ')}`,
      );
    }
  },
);

strategyRequirement(
  'signed/refuse/1',
  'MUST',
  "an unsigned image is refused with the core's signature error and the old image keeps running",
  { source: SOURCE, needs: [...NEEDS] },
  (context) => refuses(context, 'sig-none', 'an unsigned image', (v) => imageFor(context.target, v)),
);

strategyRequirement(
  'signed/refuse/2',
  'MUST',
  'an image signed with another key is refused and the old image keeps running',
  { source: SOURCE, needs: [...NEEDS] },
  async (context) => {
    const signing = targetSigning(context.target);
    const otherKeyPem = await signing.otherKeyPem();
    return refuses(context, 'sig-other', 'an image signed with another key', (v) =>
      sign(signing, imageFor(context.target, v), otherKeyPem),
    );
  },
);

strategyRequirement(
  'signed/refuse/3',
  'MUST',
  'an image whose signature has one flipped bit is refused and the old image keeps running',
  { source: SOURCE, needs: [...NEEDS] },
  (context) => {
    const signing = targetSigning(context.target);
    return refuses(context, 'sig-flip', 'a signature with a flipped bit', (v) => {
      const image = imageFor(context.target, v);
      return flipSignatureByte(signing.scheme, sign(signing, image), image.length);
    });
  },
);

strategyRequirement(
  'signed/refuse/5',
  'MUST',
  'an image whose signature is cut short is refused and the old image keeps running',
  { source: SOURCE, needs: [...NEEDS] },
  (context) => {
    const signing = targetSigning(context.target);
    return refuses(context, 'sig-short', 'a truncated signature', (v) => {
      const image = imageFor(context.target, v);
      const signed = sign(signing, image);
      // ESP-IDF: the file ends inside block 0's signature (the rest of the sector is 0xFF fill).
      if (signing.scheme.startsWith('esp-idf'))
        return signed.subarray(0, signatureOffset(signing.scheme, image.length) + 100);
      if (!signing.scheme.startsWith('esp8266')) return signed.subarray(0, signed.length - 64);
      // The length word stays: 64 signature bytes are missing before it.
      const tail = signed.subarray(signed.length - 4);
      return new Uint8Array(Buffer.concat([signed.subarray(0, signed.length - 4 - 64), tail]));
    });
  },
);

strategyRequirement(
  'signed/refuse/6',
  'MUST',
  "an image changed after it was signed (another valid build under the first one's signature) is refused",
  { source: SOURCE, needs: [...NEEDS] },
  (context) => {
    const signing = targetSigning(context.target);
    return refuses(context, 'sig-body', 'a body modified after signing', (v) => {
      const original = imageFor(context.target, `${v}-a`.slice(0, 31));
      const modified = imageFor(context.target, v);
      const trailer = sign(signing, original).subarray(original.length);
      return new Uint8Array(Buffer.concat([modified, trailer]));
    });
  },
);

const scheme = signingOf(currentTarget());
const listing = currentTarget() === undefined;

if (listing || scheme?.startsWith('esp8266')) {
  strategyRequirement(
    'signed/refuse/4',
    'MUST',
    'ESP8266: an image whose signature length word is wrong is refused and the old image keeps running',
    { source: `${SOURCE_8266} (sigLen != verifier.length() → 12)`, needs: [...NEEDS] },
    (context) => {
      const signing = targetSigning(context.target);
      return refuses(context, 'sig-len', 'a wrong length word', (v) => {
        const signed = sign(signing, imageFor(context.target, v)).slice();
        const view = new DataView(signed.buffer);
        view.setUint32(signed.length - 4, view.getUint32(signed.length - 4, true) + 4, true);
        return signed;
      });
    },
  );
}

if (listing || (scheme?.startsWith('esp8266') && currentTarget()?.capabilities.includes('gzip-images'))) {
  strategyRequirement(
    'signed/gzip/1',
    'MUST',
    'ESP8266: a gzipped image signed after compression is installed and boots',
    {
      source: 'docs/protocols/signed-images.md §1.7 (gzip first, then sign the .gz; fixed in 3.0.0)',
      needs: [...NEEDS, 'gzip-images'],
    },
    async ({ target, step, check }) => {
      const signing = targetSigning(target);
      const version = freshVersion('sig-gz');
      const bytes = sign(signing, gzipImage(imageFor(target, version)));
      booted.delete(target.name);
      const result = await step(`update to ${version}, gzipped then signed`, () =>
        updateTarget(target, bytes),
      );
      check(
        result.accepted && result.booted?.version === version,
        `the gzipped, signed ${version} is installed and boots`,
        describeUpdate(result),
      );
    },
  );
}

if (listing || (scheme?.startsWith('esp8266') && currentTarget()?.profile === 'arduino-ota')) {
  strategyRequirement(
    'signed/md5/1',
    'MUST',
    'ESP8266 ArduinoOTA: a correctly signed image whose invitation carries a wrong MD5 is still installed (the MD5 is ignored under a verifier)',
    {
      source:
        'docs/protocols/signed-images.md §1.6 (Updater.cpp L194‑196, L430‑432: MD5 only without a verifier)',
      needs: [...NEEDS],
    },
    async (context) => {
      const { target, step, check } = context;
      const signing = targetSigning(target);
      await runningVersion(context, 'known state');
      const version = freshVersion('sig-md5');
      const bytes = sign(signing, imageFor(target, version));
      const uploader = new EspotaUploader({
        host: target.description.host!,
        port: target.description.port!,
        targetName: target.name,
        ...(target.description.password === undefined ? {} : { password: target.description.password }),
        transcript: target.transcript,
        redact: (text) => target.redactor.redact(text),
      });
      const answer = await step(`espota upload of ${version} with the MD5 of other bytes`, async () => {
        try {
          return (await uploader.upload(bytes, { md5: '0123456789abcdef0123456789abcdef' })).result;
        } catch (error) {
          return (error as Error).message;
        } finally {
          await uploader.close();
        }
      });
      check(answer === 'OK', 'the device answers OK (it verifies the signature, not the MD5)', answer);
      const after = await runningVersion(context, 'after the upload');
      check(after === version, `${version} runs`, String(after));
    },
  );
}

if (listing || scheme === 'esp8266-legacy') {
  strategyRequirement(
    'signed/legacy/1',
    'MUST',
    'ESP8266 core 2.5.x: a legacy (raw-digest) signature installs and a core ≥ 2.6 signature is refused',
    {
      source: 'docs/protocols/signed-images.md §1.3 (2.5.2 br_rsa_pkcs1_vrfy with a NULL OID)',
      needs: [...NEEDS],
    },
    async (context) => {
      const signing = targetSigning(context.target);
      await refuses(context, 'sig-legacy', 'a core ≥ 2.6 (DigestInfo) signature', (v) =>
        sign({ ...signing, scheme: 'esp8266-pkcs1' }, imageFor(context.target, v)),
      );
    },
  );
}
