import { createHash, type Hash } from 'node:crypto';

/**
 * The MD5 both Updaters keep: setMD5()'s target, the running hash over the bytes flushed to flash
 * (as received) and the hex digest end() takes. How the target is compared (case) and when the
 * digest is taken stay with each core.
 */
export class UpdateMd5 {
  /** `_target_md5`: empty when setMD5() was not called. */
  target = '';
  private hash: Hash = createHash('md5');
  private digestHex = '';

  /** `setMD5`: exactly 32 characters or it is refused; `normalise` runs after that check. */
  setTarget(expectedMd5: string, normalise: (md5: string) => string = (md5) => md5): boolean {
    if (expectedMd5.length !== 32) return false;
    this.target = normalise(expectedMd5);
    return true;
  }

  /** begin(): a fresh hash and no digest; the target is the caller's to clear. */
  restart(): void {
    this.hash = createHash('md5');
    this.digestHex = '';
  }

  update(bytes: Uint8Array): void {
    this.hash.update(bytes);
  }

  /** The digest end() computes and keeps, so md5String() reports it afterwards. */
  finish(): string {
    this.digestHex = this.hash.copy().digest('hex');
    return this.digestHex;
  }

  /** The digest end() kept, or '' before end() took one. */
  finished(): string {
    return this.digestHex;
  }

  /** `md5String()`: the kept digest, else the MD5 of the bytes flushed so far. */
  hex(): string {
    return this.digestHex !== '' ? this.digestHex : this.hash.copy().digest('hex');
  }
}
