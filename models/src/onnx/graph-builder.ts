// Builds an ONNX ModelProto as plain objects and encodes it. Opsets are pinned: ai.onnx 17, ai.onnx.ml 3, IR 8
// (onnxruntime >= 1.12 runs them; the ONNX versioning doc maps opset 17 to IR version 8).
import { AttributeType, DataType, ModelProto } from './proto.js';

export const ONNX_OPSET = 17;
export const ONNX_ML_OPSET = 3;
export const ONNX_IR_VERSION = 8;

type Attr =
  | { name: string; type: number; i?: number; f?: number; s?: Uint8Array; ints?: number[]; floats?: number[] }
  | { name: string; type: number; strings: Uint8Array[] };

export type AttrValue = number | string | number[] | string[] | { floats: readonly number[] };

interface Node {
  op_type: string;
  domain?: string;
  name: string;
  input: string[];
  output: string[];
  attribute: Attr[];
}

interface Tensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

const utf8 = new TextEncoder();
/** Encoded attribute strings: a tree ensemble repeats 'LEAF' and 'BRANCH_LT' once per node (tens of thousands). */
const utf8Memo = new Map<string, Uint8Array>();

function utf8Of(s: string): Uint8Array {
  let b = utf8Memo.get(s);
  if (b === undefined) {
    b = utf8.encode(s);
    if (utf8Memo.size < 256) utf8Memo.set(s, b);
  }
  return b;
}

function attr(name: string, v: AttrValue): Attr {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: utf8.encode(v) };
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  if (!Array.isArray(v)) return { name, type: AttributeType.FLOATS, floats: [...v.floats] };
  if (v.length > 0 && typeof v[0] === 'string') {
    return { name, type: AttributeType.STRINGS, strings: (v as string[]).map(utf8Of) };
  }
  return { name, type: AttributeType.INTS, ints: v as number[] };
}

/** Little-endian bytes of a Float32Array (ONNX raw_data is little-endian whatever the host). */
function floatBytes(a: Float32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) dv.setFloat32(i * 4, a[i]!, true);
  return out;
}

function int64Bytes(a: readonly number[]): Uint8Array {
  const out = new Uint8Array(a.length * 8);
  const dv = new DataView(out.buffer);
  a.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits: Tensor[] = [];
  private counter = 0;
  private usesMl = false;

  /** A fresh value name with the given prefix. */
  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  floatInit(prefix: string, dims: number[], data: Float32Array): string {
    const name = this.fresh(prefix);
    if (dims.reduce((a, b) => a * b, 1) !== data.length)
      throw new Error(`initializer ${name}: dims do not fit data`);
    this.inits.push({ name, dims, data_type: DataType.FLOAT, raw_data: floatBytes(data) });
    return name;
  }

  int64Init(prefix: string, data: number[]): string {
    const name = this.fresh(prefix);
    this.inits.push({ name, dims: [data.length], data_type: DataType.INT64, raw_data: int64Bytes(data) });
    return name;
  }

  /** Adds a node; returns its output names (count given by `outputs`). */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    outputs = 1,
    domain = '',
  ): string[] {
    if (domain === 'ai.onnx.ml') this.usesMl = true;
    const out = Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      op_type: opType,
      ...(domain ? { domain } : {}),
      name: this.fresh(`n_${opType}`),
      input: inputs,
      output: out,
      attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
    });
    return out;
  }

  /** Renames the final value of `from` to the graph output name `to` (an Identity node). */
  output(from: string, to: string): void {
    this.nodes.push({
      op_type: 'Identity',
      name: this.fresh('n_out'),
      input: [from],
      output: [to],
      attribute: [],
    });
  }

  encode(opts: {
    name: string;
    inputs: { name: string; shape: (number | string)[] }[];
    outputs: { name: string; shape?: (number | string)[] }[];
    docString?: string;
    metadata?: Record<string, string>;
  }): Uint8Array {
    const valueInfo = (v: { name: string; shape?: (number | string)[] }) => ({
      name: v.name,
      type: {
        tensor_type: {
          elem_type: DataType.FLOAT,
          ...(v.shape
            ? {
                shape: {
                  dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
                },
              }
            : {}),
        },
      },
    });
    const model = {
      ir_version: ONNX_IR_VERSION,
      producer_name: 'vigil',
      producer_version: '0.1.0',
      opset_import: [
        { domain: '', version: ONNX_OPSET },
        ...(this.usesMl ? [{ domain: 'ai.onnx.ml', version: ONNX_ML_OPSET }] : []),
      ],
      doc_string: opts.docString ?? '',
      metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: opts.name,
        node: this.nodes,
        initializer: this.inits,
        input: opts.inputs.map(valueInfo),
        output: opts.outputs.map(valueInfo),
      },
    };
    const err = ModelProto.verify(model);
    if (err) throw new Error(`onnx: invalid model: ${err}`);
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }
}
