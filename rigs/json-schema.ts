import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { COMMENT_KEY } from './load-rig.ts';
import { rigSchema } from './schema.ts';

/**
 * The rig schema as JSON Schema, for editors (`"$schema": "./rig.schema.json"`). Generated from
 * the zod schema so the two cannot drift; the `"//"` comment key the loader accepts everywhere is
 * added to every closed object.
 */
export function rigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(rigSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  const comment = {
    description: 'A comment',
    anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
  };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (record.type === 'object' && record.additionalProperties === false) {
      record.properties = { [COMMENT_KEY]: comment, ...(record.properties as object | undefined) };
    }
    for (const child of Object.values(record)) visit(child);
  };
  visit(schema);
  return schema;
}

export const RIG_JSON_SCHEMA_FILE = fileURLToPath(new URL('./rig.schema.json', import.meta.url));

// `npx tsx rigs/json-schema.ts` rewrites rigs/rig.schema.json after a schema change.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(RIG_JSON_SCHEMA_FILE, `${JSON.stringify(rigJsonSchema(), null, 2)}\n`);
}
