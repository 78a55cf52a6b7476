/**
 * A strict JSON (RFC 8259) reader that remembers where every value sits, so a schema problem can
 * point at a line and column, and that refuses duplicate keys, which `JSON.parse` would silently
 * collapse to the last one (a rig file must lose nothing). Its syntax errors say what was expected
 * and where, and never quote the file: the text around an error may be a token.
 */

export interface SourcePosition {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units like an editor's column. */
  column: number;
}

export type JsonPath = readonly (string | number)[];

export interface ParsedJson {
  value: unknown;
  /** Where the value at `path` starts (for a member: its key), or undefined if there is none. */
  locate(path: JsonPath): SourcePosition | undefined;
}

export class JsonSyntaxError extends Error {
  constructor(
    readonly description: string,
    readonly position: SourcePosition,
  ) {
    super(`line ${position.line}, column ${position.column}: ${description}`);
  }
}

export class JsonDuplicateKeyError extends Error {
  constructor(
    readonly path: JsonPath,
    readonly key: string,
    readonly position: SourcePosition,
    readonly firstPosition: SourcePosition,
  ) {
    super(
      `duplicate key "${key}" (line ${position.line}, column ${position.column}; first at line ${firstPosition.line})`,
    );
  }
}

/**
 * The deepest nesting a rig may use. Real rigs go about six levels deep; a limit keeps a hostile
 * file (100,000 nested arrays) from overflowing the stack of this reader and of every walk after it.
 */
export const MAX_JSON_DEPTH = 64;

/** Keys that may repeat: comment keys are prose, not data. */
const REPEATABLE_KEY = '//';

export function parseJsonWithPositions(text: string): ParsedJson {
  const reader = new Reader(text);
  return { value: reader.document(), locate: (path) => reader.positionOf(path) };
}

const pathKey = (path: JsonPath): string => JSON.stringify(path);

class Reader {
  private index = 0;
  private readonly offsets = new Map<string, number>();
  private readonly lineStarts: number[] = [0];

  constructor(private readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  document(): unknown {
    // A UTF-8 BOM is what some Windows editors write; it is not content.
    if (this.text.charCodeAt(0) === 0xfeff) this.index = 1;
    this.skipWhitespace();
    const value = this.value([]);
    this.skipWhitespace();
    if (this.index < this.text.length)
      this.fail('expected the end of the document after the top-level value');
    return value;
  }

  positionOf(path: JsonPath): SourcePosition | undefined {
    const offset = this.offsets.get(pathKey(path));
    return offset === undefined ? undefined : this.position(offset);
  }

  private position(offset: number): SourcePosition {
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.lineStarts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - this.lineStarts[low]! + 1 };
  }

  private fail(description: string, offset = this.index): never {
    throw new JsonSyntaxError(description, this.position(offset));
  }

  private describeHere(): string {
    if (this.index >= this.text.length) return 'the end of the file';
    const char = this.text[this.index]!;
    // One character is safe to show; a run of them could be part of a secret.
    return /[\x21-\x7e]/.test(char)
      ? `'${char}'`
      : `character U+${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }

  private skipWhitespace(): void {
    while (this.index < this.text.length) {
      const code = this.text.charCodeAt(this.index);
      if (code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09) this.index++;
      else if (code === 0x2f && (this.text[this.index + 1] === '/' || this.text[this.index + 1] === '*')) {
        this.fail('comments are not JSON; write a "//" key instead (see rigs/README.md)');
      } else return;
    }
  }

  private value(path: JsonPath): unknown {
    if (path.length > MAX_JSON_DEPTH)
      this.fail(`nested deeper than ${MAX_JSON_DEPTH} levels; a rig file needs far fewer`);
    this.offsets.set(pathKey(path), this.index);
    const char = this.text[this.index];
    if (char === '{') return this.object(path);
    if (char === '[') return this.array(path);
    if (char === '"') return this.string();
    if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) return this.number();
    for (const [word, literal] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(word, this.index)) {
        this.index += word.length;
        return literal;
      }
    }
    return this.fail(`expected a value, found ${this.describeHere()}`);
  }

  private object(path: JsonPath): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    const keyOffsets = new Map<string, number>();
    this.index++;
    this.skipWhitespace();
    if (this.text[this.index] === '}') {
      this.index++;
      return result;
    }
    for (;;) {
      if (this.text[this.index] !== '"') {
        this.fail(
          this.text[this.index] === '}'
            ? 'trailing comma before }'
            : `expected a double-quoted key, found ${this.describeHere()}`,
        );
      }
      const keyOffset = this.index;
      const key = this.string();
      const first = keyOffsets.get(key);
      if (first !== undefined && key !== REPEATABLE_KEY) {
        throw new JsonDuplicateKeyError(path, key, this.position(keyOffset), this.position(first));
      }
      keyOffsets.set(key, keyOffset);
      this.skipWhitespace();
      if (this.text[this.index] !== ':')
        this.fail(`expected ':' after key "${key}", found ${this.describeHere()}`);
      this.index++;
      this.skipWhitespace();
      const memberPath = [...path, key];
      const value = this.value(memberPath);
      // The key is where a reader looks for a member; a value's own position is only better for scalars.
      this.offsets.set(pathKey(memberPath), keyOffset);
      if (key === REPEATABLE_KEY && Object.hasOwn(result, key)) {
        const previous = result[key];
        result[key] = [...(Array.isArray(previous) ? previous : [previous]), value];
      } else {
        // defineProperty: a key named "__proto__" must be data, not a prototype switch.
        Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
      }
      this.skipWhitespace();
      const separator = this.text[this.index];
      if (separator === ',') {
        this.index++;
        this.skipWhitespace();
      } else if (separator === '}') {
        this.index++;
        return result;
      } else this.fail(`expected ',' or '}' after the value of "${key}", found ${this.describeHere()}`);
    }
  }

  private array(path: JsonPath): unknown[] {
    const result: unknown[] = [];
    this.index++;
    this.skipWhitespace();
    if (this.text[this.index] === ']') {
      this.index++;
      return result;
    }
    for (;;) {
      if (this.text[this.index] === ']') this.fail('trailing comma before ]');
      result.push(this.value([...path, result.length]));
      this.skipWhitespace();
      const separator = this.text[this.index];
      if (separator === ',') {
        this.index++;
        this.skipWhitespace();
      } else if (separator === ']') {
        this.index++;
        return result;
      } else this.fail(`expected ',' or ']' after an array element, found ${this.describeHere()}`);
    }
  }

  private string(): string {
    const start = this.index;
    this.index++;
    while (this.index < this.text.length) {
      const code = this.text.charCodeAt(this.index);
      if (code === 0x22) {
        this.index++;
        try {
          return JSON.parse(this.text.slice(start, this.index)) as string;
        } catch {
          return this.fail('invalid escape sequence in a string', start);
        }
      }
      if (code === 0x5c) this.index += 2;
      else if (code < 0x20) this.fail('unescaped control character (a line break?) inside a string');
      else this.index++;
    }
    return this.fail('unterminated string', start);
  }

  private number(): number {
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(
      this.text.slice(this.index, this.index + 400),
    );
    if (!match) return this.fail(`expected a number, found ${this.describeHere()}`);
    this.index += match[0].length;
    return Number(match[0]);
  }
}
