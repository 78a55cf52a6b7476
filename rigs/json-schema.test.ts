import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RIG_JSON_SCHEMA_FILE, rigJsonSchema } from './json-schema.ts';

describe('rig.schema.json', () => {
  it('is the JSON Schema generated from the zod schema (regenerate: npx tsx rigs/json-schema.ts)', () => {
    expect(JSON.parse(readFileSync(RIG_JSON_SCHEMA_FILE, 'utf8'))).toEqual(rigJsonSchema());
  });

  it('allows the "//" comment key in closed objects and still closes them', () => {
    const schema = rigJsonSchema() as { properties: Record<string, unknown>; additionalProperties: unknown };
    expect(schema.properties).toHaveProperty('//');
    expect(schema.additionalProperties).toBe(false);
  });
});
