import { createHash, randomBytes } from 'node:crypto';

/** WebServer's requestAuthentication() default realm (reference §2.1). */
export const AUTH_REALM = 'Login Required';

export type AuthScheme = 'basic' | 'digest';

function md5Hex(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/**
 * The WebServer's authenticate()/requestAuthentication() pair as the update server uses it:
 * credentials count only when both are non-empty; a Basic or a Digest Authorization header is
 * accepted. Digest needs the nonce and opaque of this boot's last Digest challenge, because the
 * server compares them with the ones it issued (derived from ESP8266WebServer-impl.h).
 */
export class UploadAuth {
  private readonly username: string;
  private readonly password: string;
  private readonly scheme: AuthScheme;
  private nonce = '';
  private opaque = '';

  constructor(options: { username: string; password: string; scheme: AuthScheme }) {
    this.username = options.username;
    this.password = options.password;
    this.scheme = options.scheme;
  }

  get required(): boolean {
    return this.username !== '' && this.password !== '';
  }

  /** The WWW-Authenticate value of a 401; a Digest challenge issues a fresh nonce. */
  challenge(): string {
    if (this.scheme === 'basic') return `Basic realm="${AUTH_REALM}"`;
    this.nonce = md5Hex(randomBytes(16).toString('hex'));
    this.opaque = md5Hex(randomBytes(16).toString('hex'));
    return `Digest realm="${AUTH_REALM}", qop="auth", nonce="${this.nonce}", opaque="${this.opaque}"`;
  }

  authenticate(method: string, authorization: string | undefined): boolean {
    if (!this.required) return true;
    if (authorization === undefined) return false;
    if (authorization.startsWith('Basic ')) {
      const expected = Buffer.from(`${this.username}:${this.password}`).toString('base64');
      return authorization.slice('Basic '.length).trim() === expected;
    }
    if (authorization.startsWith('Digest')) return this.authenticateDigest(method, authorization);
    return false;
  }

  private authenticateDigest(method: string, authorization: string): boolean {
    const field = (name: string): string => {
      const quoted = new RegExp(`${name}="([^"]*)"`).exec(authorization);
      if (quoted) return quoted[1] ?? '';
      return new RegExp(`${name}=([^,\\s]*)`).exec(authorization)?.[1] ?? '';
    };
    const username = field('username');
    const realm = field('realm');
    const nonce = field('nonce');
    const uri = field('uri');
    const response = field('response');
    const opaque = field('opaque');
    if (username === '' || username !== this.username) return false;
    if (realm === '' || nonce === '' || uri === '' || response === '' || opaque === '') return false;
    if (this.nonce === '' || nonce !== this.nonce || opaque !== this.opaque || realm !== AUTH_REALM)
      return false;
    const ha1 = md5Hex(`${username}:${realm}:${this.password}`);
    const ha2 = md5Hex(`${method}:${uri}`);
    const qop = field('qop');
    const expected =
      qop === 'auth' || qop === 'auth-int'
        ? md5Hex(`${ha1}:${nonce}:${field('nc')}:${field('cnonce')}:${qop}:${ha2}`)
        : md5Hex(`${ha1}:${nonce}:${ha2}`);
    return response === expected;
  }
}
