// Packing: documents (by length) into rows of at most seq_len tokens. Pure and deterministic.
// Best-fit decreasing: longest documents first, each into the fullest row it still fits in
// (ties: the row that reached that room last), found in O(log seq_len) with a tree over remaining capacities.

export interface PackResult {
  /** Each row lists document indices in the order their tokens are laid out. */
  rows: number[][];
  /** Tokens / (rows × seq_len): 1 means no padding at all. */
  efficiency: number;
}

export function packDocs(lengths: number[], seqLen: number, packing: boolean): PackResult {
  for (const [i, n] of lengths.entries()) {
    if (!(n >= 1 && n <= seqLen)) throw new Error(`document ${i} has length ${n}, outside 1..${seqLen}`);
  }
  const rows = packing ? bestFitDecreasing(lengths, seqLen) : lengths.map((_, i) => [i]);
  const total = lengths.reduce((a, b) => a + b, 0);
  return { rows, efficiency: rows.length === 0 ? 1 : total / (rows.length * seqLen) };
}

function bestFitDecreasing(lengths: number[], seqLen: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  // buckets[c] holds the rows with exactly c tokens of room left.
  const buckets: number[][] = Array.from({ length: seqLen + 1 }, () => []);
  const tree = new CapacityTree(seqLen);
  const rows: number[][] = [];
  const room: number[] = [];
  for (const d of order) {
    const n = lengths[d]!;
    const c = tree.firstAtLeast(n);
    let r: number;
    if (c < 0) {
      r = rows.length;
      rows.push([]);
      room.push(seqLen);
    } else {
      const bucket = buckets[c]!;
      r = bucket.pop()!;
      if (bucket.length === 0) tree.set(c, false);
    }
    rows[r]!.push(d);
    const left = room[r]! - n;
    room[r] = left;
    if (left > 0) {
      buckets[left]!.push(r);
      tree.set(left, true);
    }
  }
  return rows;
}

/** Which capacities 0..size have a row; finds the smallest capacity >= n that does. */
class CapacityTree {
  private readonly n: number;
  private readonly t: Uint8Array;
  constructor(size: number) {
    let n = 1;
    while (n < size + 1) n *= 2;
    this.n = n;
    this.t = new Uint8Array(2 * n);
  }
  set(i: number, on: boolean): void {
    let p = i + this.n;
    this.t[p] = on ? 1 : 0;
    for (p >>= 1; p >= 1; p >>= 1) this.t[p] = this.t[2 * p]! | this.t[2 * p + 1]!;
  }
  firstAtLeast(lo: number): number {
    return this.find(1, 0, this.n - 1, lo);
  }
  private find(node: number, l: number, r: number, lo: number): number {
    if (r < lo || this.t[node] === 0) return -1;
    if (l === r) return l;
    const m = (l + r) >> 1;
    const left = this.find(2 * node, l, m, lo);
    return left >= 0 ? left : this.find(2 * node + 1, m + 1, r, lo);
  }
}
