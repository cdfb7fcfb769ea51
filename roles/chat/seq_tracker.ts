/**
 * Counting what UDP lost and reordered: every message of a room carries
 * the room's `seq` (private messages their own), so a client that sees
 * 7 after 5 knows 6 is missing, and if 6 comes after all it arrived out of
 * order rather than being lost.
 *
 * @module
 */

/** Gaps remembered one by one; a larger jump is counted, not remembered. */
export const MAX_TRACKED_GAP = 1000;

/** What one arrival means. */
export type SeqEvent =
  /** The first, or the one after the highest so far. */
  | { readonly kind: "next" }
  /** Beyond the next: `from`–`to` are missing (lost, unless they come late). */
  | { readonly kind: "gap"; readonly from: number; readonly to: number }
  /** One that was missing arrived after a later one. */
  | { readonly kind: "late" }
  /** Seen before. */
  | { readonly kind: "duplicate" };

/**
 * The sequence numbers of one stream (a room, or private messages).
 *
 * @example
 * ```ts
 * const t = new SeqTracker();
 * t.observe(1); t.observe(3); // { kind: "gap", from: 2, to: 2 }
 * t.observe(2);               // { kind: "late" }
 * [t.received, t.lost, t.reordered]; // [3, 0, 1]
 * ```
 */
export class SeqTracker {
  /** Messages counted (duplicates not). */
  received = 0;
  /** Arrivals after a later message. */
  reordered = 0;
  /** Arrivals seen before. */
  duplicates = 0;
  #lowest: number | undefined;
  #highest: number | undefined;
  #missing = new Set<number>();
  /** Missing ones beyond what is remembered: counted lost for good. */
  #untracked = 0;

  /** Messages missing now: skipped and not (yet) arrived. */
  get lost(): number {
    return this.#missing.size + this.#untracked;
  }

  /** Notes the arrival of `seq`. */
  observe(seq: number): SeqEvent {
    if (this.#lowest === undefined || this.#highest === undefined) {
      this.#lowest = this.#highest = seq;
      this.received++;
      return { kind: "next" };
    }
    if (seq > this.#highest) {
      const from = this.#highest + 1;
      this.#highest = seq;
      this.received++;
      if (seq === from) return { kind: "next" };
      this.#skip(from, seq - 1);
      return { kind: "gap", from, to: seq - 1 };
    }
    if (this.#missing.delete(seq)) {
      this.received++;
      this.reordered++;
      return { kind: "late" };
    }
    if (seq < this.#lowest) {
      // Earlier than the first one seen (a replay arriving out of order).
      this.#skip(seq + 1, this.#lowest - 1);
      this.#lowest = seq;
      this.received++;
      this.reordered++;
      return { kind: "late" };
    }
    this.duplicates++;
    return { kind: "duplicate" };
  }

  #skip(from: number, to: number): void {
    const count = to - from + 1;
    if (count <= 0) return;
    const remembered = Math.min(count, MAX_TRACKED_GAP - this.#missing.size);
    for (let n = 0; n < remembered; n++) this.#missing.add(from + n);
    this.#untracked += count - Math.max(0, remembered);
  }
}
