import { createSerializerCompiler } from 'fastify-type-provider-zod';

// JSON out of the API. Money is a bigint of minor units and must reach the client as an exact JSON
// integer, also above 2^53 (a total, a balance): `JSON.rawJSON` writes the digits as they are. Never
// Number(value): that silently rounds.

// Node 24 has JSON.rawJSON; the `es2024` lib the project compiles against does not declare it yet.
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/** A JSON.stringify replacer that writes bigints as exact JSON integers. */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? rawJSON(value.toString()) : value;
}

/** JSON.stringify that writes bigints as exact JSON integers. */
export function stringifyJson(value: unknown): string {
  return JSON.stringify(value, bigintReplacer);
}

/** The response serializer of every route with a response schema: zod encodes, then bigint-aware JSON. */
export const serializerCompiler = createSerializerCompiler({ replacer: bigintReplacer });
