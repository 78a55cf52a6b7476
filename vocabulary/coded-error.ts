/**
 * The class an error class with a stable `code` extends, made for its code and its name:
 * `export class FlashUsageError extends codedError('FLASH_USAGE', 'FlashUsageError') {}`.
 *
 * `code` and `name` are own fields with literal types, set as soon as Error's constructor returns,
 * as `readonly code = …` in the error class itself would set them. The constructor is Error's
 * (a message, and options with a `cause`); an error class with more fields declares its own.
 */
export function codedError<const Code extends string, const Name extends string>(code: Code, name: Name) {
  return class CodedError extends Error {
    readonly code = code;
    override readonly name = name;
  };
}
