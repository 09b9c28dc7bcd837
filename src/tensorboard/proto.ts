// The few protobuf messages a scalar TensorBoard event needs, encoded by hand:
//   Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(Math.max(0, Math.trunc(n)));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const tag = (field: number, wire: number) => varint((field << 3) | wire);

function bytesField(field: number, data: Uint8Array): Uint8Array {
  return Uint8Array.from([...tag(field, 2), ...varint(data.length), ...data]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

function scalarValue(name: string, value: number): Uint8Array {
  const f = new Uint8Array(5);
  f.set(tag(2, 5));
  new DataView(f.buffer).setFloat32(1, value, true);
  return concat([bytesField(1, utf8(name)), f]);
}

export interface EventProto {
  wallTime: number;
  step?: number;
  fileVersion?: string;
  scalars?: Record<string, number>;
}

export function encodeEvent(e: EventProto): Uint8Array {
  const wall = new Uint8Array(9);
  wall[0] = tag(1, 1)[0]!;
  new DataView(wall.buffer).setFloat64(1, e.wallTime, true);
  const parts: Uint8Array[] = [wall];
  if (e.step !== undefined) parts.push(Uint8Array.from([...tag(2, 0), ...varint(e.step)]));
  if (e.fileVersion !== undefined) parts.push(bytesField(3, utf8(e.fileVersion)));
  if (e.scalars) {
    const values = Object.entries(e.scalars).map(([k, v]) => bytesField(1, scalarValue(k, v)));
    parts.push(bytesField(5, concat(values)));
  }
  return concat(parts);
}
