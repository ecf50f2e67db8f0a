// A message of one spec: an MTI and the values of its fields, with typed access by field number
// (`get(4)`) or subfield id (`get('60.2')`). Values are strings for n, an, ans and z fields (z uses
// `=` for the separator nibble D) and bytes for b fields. The bitmap is not stored: pack computes it
// from the fields present. Logging a message (JSON or util.inspect) prints the masked dump.

import { type CompiledSpec, type CompiledSubfield, compiled } from './compile.ts';
import { Iso8583Error } from './errors.ts';
import { dumpMessage, formatDump, type MessageDump } from './mask.ts';
import type { FieldNumber, FieldValue, MessageSpec, SubfieldId } from './spec.ts';
import { HEX, HEX_VALUE } from './tables.ts';

export type AnyFieldValue = string | Uint8Array;

/** A message as plain data: b fields as upper-case hex. For goldens and tests; it holds card data. */
export interface ExposedMessage {
  readonly mti: string;
  readonly fields: Readonly<Record<string, string>>;
}

function unknownField(field: number | string): Iso8583Error {
  return new Iso8583Error({
    field: typeof field === 'number' ? field : Number.parseInt(field, 10) || 0,
    fieldName: 'unknown',
    reason: 'unknown_field',
    offset: -1,
    detail: `the spec has no ${typeof field === 'number' ? 'field' : 'subfield'} ${field}`,
  });
}

function subfieldError(sub: CompiledSubfield, reason: Iso8583Error['reason'], detail: string): Iso8583Error {
  return new Iso8583Error({
    field: sub.field,
    fieldName: sub.fieldName,
    reason,
    offset: -1,
    detail: `subfield ${sub.id} (${sub.spec.name}): ${detail}`,
  });
}

/** What pack, unpack and the dump need of a message of any spec (a Message<S> of every S is one). */
export interface AnyMessage {
  readonly spec: MessageSpec;
  readonly mti: string;
  /** @internal */
  readonly slots: readonly (AnyFieldValue | undefined)[];
  /** @internal */
  readonly compiled: CompiledSpec;
}

export class Message<S extends MessageSpec = MessageSpec> {
  readonly spec: S;
  /** Four digits, e.g. `0200`; checked when packed. */
  mti: string;
  /** @internal Values indexed by field number; use get/set. */
  readonly slots: (AnyFieldValue | undefined)[];
  /** @internal */
  readonly compiled: CompiledSpec;

  constructor(spec: S, mti = '') {
    this.spec = spec;
    this.mti = mti;
    this.compiled = compiled(spec);
    // Holey on purpose: filling 65 or 129 slots costs more than unpacking a field.
    this.slots = new Array(this.compiled.maxField + 1);
  }

  /** A message from plain data (b fields as hex), e.g. a golden's JSON. Values are checked as by `set`. */
  static fromFields<S extends MessageSpec>(spec: S, exposed: ExposedMessage): Message<S> {
    const message = new Message(spec, exposed.mti);
    for (const [key, text] of Object.entries(exposed.fields)) {
      const field = message.compiled.fields[Number(key)];
      if (field === undefined || !/^\d+$/.test(key)) throw unknownField(key);
      if (!field.isBytes) {
        message.slots[field.number] = text;
        continue;
      }
      if (text.length % 2 !== 0) {
        throw new Iso8583Error({
          field: field.number,
          fieldName: field.name,
          reason: 'bad_character',
          offset: -1,
          detail: 'hex text of odd length',
        });
      }
      const bytes = new Uint8Array(text.length / 2);
      for (let i = 0; i < bytes.length; i++) {
        const high = HEX_VALUE[text.charCodeAt(2 * i)] ?? -1;
        const low = HEX_VALUE[text.charCodeAt(2 * i + 1)] ?? -1;
        if (high < 0 || low < 0) {
          throw new Iso8583Error({
            field: field.number,
            fieldName: field.name,
            reason: 'bad_character',
            offset: -1,
            detail: `character ${2 * i} is not hex`,
          });
        }
        bytes[i] = (high << 4) | low;
      }
      message.slots[field.number] = bytes;
    }
    return message;
  }

  get<K extends FieldNumber<S>>(id: K): FieldValue<S, K> | undefined;
  get(id: SubfieldId<S>): string | undefined;
  get(id: number | string): AnyFieldValue | undefined {
    if (typeof id === 'number') return this.slots[id];
    const sub = this.compiled.subfields.get(id);
    if (sub === undefined) throw unknownField(id);
    const value = this.slots[sub.field];
    if (typeof value !== 'string') return undefined;
    if (sub.spec.variable) return value.length > sub.start ? value.slice(sub.start) : undefined;
    const end = sub.start + sub.spec.length;
    return value.length >= end ? value.slice(sub.start, end) : undefined;
  }

  has(id: FieldNumber<S> | SubfieldId<S>): boolean {
    return this.get(id as never) !== undefined;
  }

  /**
   * Sets a field (the value is checked against the spec when packed) or a subfield (checked now; the
   * subfields before it must be present, those after it are kept).
   */
  set<K extends FieldNumber<S>>(id: K, value: FieldValue<S, K>): this;
  set(id: SubfieldId<S>, value: string): this;
  set(id: number | string, value: AnyFieldValue): this {
    if (typeof id === 'number') {
      const field = this.compiled.fields[id];
      if (field === undefined) throw unknownField(id);
      if (field.isBytes ? !(value instanceof Uint8Array) : typeof value !== 'string') {
        throw new Iso8583Error({
          field: id,
          fieldName: field.name,
          reason: 'bad_value_type',
          offset: -1,
          detail: field.isBytes ? 'expects bytes (Uint8Array)' : 'expects a string',
        });
      }
      this.slots[id] = value;
      return this;
    }
    const sub = this.compiled.subfields.get(id);
    if (sub === undefined) throw unknownField(id);
    if (typeof value !== 'string') throw subfieldError(sub, 'bad_value_type', 'expects a string');
    const { length, variable } = sub.spec;
    if (variable ? value.length > length : value.length !== length) {
      throw subfieldError(
        sub,
        variable ? 'value_too_long' : 'bad_length',
        `${value.length} characters, ${variable ? 'at most' : 'expects'} ${length}`,
      );
    }
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c > 255 || sub.charset[c] === 0) throw subfieldError(sub, 'bad_character', `character ${i}`);
    }
    const current = this.slots[sub.field];
    const text = typeof current === 'string' ? current : '';
    if (text.length < sub.start) {
      throw subfieldError(
        sub,
        'subfield_gap',
        `the field has ${text.length} characters, the subfield starts at ${sub.start}`,
      );
    }
    this.slots[sub.field] =
      text.slice(0, sub.start) + value + (variable ? '' : text.slice(sub.start + length));
    return this;
  }

  /** Removes a field, or the last present subfield of a field (removing the field when it is empty). */
  delete(id: FieldNumber<S> | SubfieldId<S>): this {
    if (typeof id === 'number') {
      if (id >= 0 && id < this.slots.length) this.slots[id] = undefined;
      return this;
    }
    const sub = this.compiled.subfields.get(id);
    if (sub === undefined) throw unknownField(id);
    const current = this.slots[sub.field];
    if (typeof current !== 'string' || current.length <= sub.start) return this;
    if (!sub.spec.variable && current.length > sub.start + sub.spec.length) {
      throw subfieldError(sub, 'subfield_gap', 'a later subfield is present');
    }
    this.slots[sub.field] = sub.start === 0 ? undefined : current.slice(0, sub.start);
    return this;
  }

  /** Field numbers present, ascending. */
  fieldNumbers(): number[] {
    const numbers: number[] = [];
    for (const n of this.compiled.fieldNumbers) if (this.slots[n] !== undefined) numbers.push(n);
    return numbers;
  }

  /** Copies the given fields from another message of any spec (absent there: removed here). */
  copyFrom(other: AnyMessage, ids: readonly FieldNumber<S>[]): this {
    for (const id of ids) {
      const value = other.slots[id];
      if (value === undefined) this.slots[id] = undefined;
      else this.set(id as never, value as never);
    }
    return this;
  }

  /** Every value in clear, b fields as hex. Card data included: for goldens and tests, never logs. */
  exposeFields(): ExposedMessage {
    const fields: Record<string, string> = {};
    for (const n of this.fieldNumbers()) {
      const value = this.slots[n];
      if (typeof value === 'string') fields[String(n)] = value;
      else if (value !== undefined) {
        let hex = '';
        for (let i = 0; i < value.length; i++) hex += HEX[value[i]!];
        fields[String(n)] = hex;
      }
    }
    return { mti: this.mti, fields };
  }

  /** The masked dump: what JSON.stringify and loggers see. */
  toJSON(): MessageDump {
    return dumpMessage(this);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Message(${formatDump(this)})`;
  }
}
