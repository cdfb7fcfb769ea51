/**
 * Keeps bulk transfers from starving requests on the same thread. A
 * JavaScript server has one thread: twenty downloads whose sockets always
 * take the next write keep it busy for many milliseconds per turn of the
 * event loop, and every calculation waits behind that turn (measured: 330k
 * calc/s alone, under 2k beside 20 downloads, p99 25 ms).
 *
 * So while requests keep arriving, large writes take turns: each turn of
 * the event loop carries at most {@linkcode FairShareOptions.turnBytes}
 * of them, in the order they asked, and the rest wait for the next turn —
 * a timer, which also lets the runtime poll every socket for input. When
 * no request has arrived lately (a download alone), writes are not held.
 *
 * @module
 */

/** Options for {@linkcode FairShare}. */
export interface FairShareOptions {
  /** Bytes of large writes per turn while requests arrive. 256 KiB. */
  turnBytes?: number;
  /** How long a request keeps large writes taking turns (ms). 100. */
  holdMs?: number;
  /** Time source (ms). */
  now?: () => number;
}

/**
 * The governor large writes go through; one per thread, shared as
 * {@linkcode fairShare}.
 *
 * @example
 * ```ts
 * fairShare.request();          // the server saw a request
 * await fairShare.turn(262144); // before a large socket write
 * ```
 */
export class FairShare {
  #turnBytes: number;
  #holdMs: number;
  #now: () => number;
  #lastRequest = -Infinity;
  #used = 0;
  #turnScheduled = false;
  #waiting: { bytes: number; resolve: () => void }[] = [];
  /** Counters: writes held for a later turn, and turns taken. */
  readonly stats = { held: 0, turns: 0 };

  /** Creates a governor. */
  constructor(options: FairShareOptions = {}) {
    this.#turnBytes = options.turnBytes ?? 256 * 1024;
    this.#holdMs = options.holdMs ?? 100;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Notes that a request arrived (one that is not itself a download). */
  request(): void {
    this.#lastRequest = this.#now();
  }

  /** Whether a request arrived within the hold time. */
  get contended(): boolean {
    return this.#now() - this.#lastRequest < this.#holdMs;
  }

  /**
   * Resolves when a write of `bytes` may go: at once without contention or
   * while this turn has room, else in a later turn, first come first
   * served.
   */
  turn(bytes: number): Promise<void> | undefined {
    if (this.#waiting.length === 0 && !this.contended) return undefined;
    this.#scheduleTurn();
    if (this.#waiting.length === 0 && this.#used < this.#turnBytes) {
      this.#used += bytes;
      return undefined;
    }
    this.stats.held++;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting.push({ bytes, resolve });
    return promise;
  }

  /** Starts a new turn on the next timer: fresh budget, waiters in order. */
  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setTimeout(() => {
      this.#turnScheduled = false;
      this.stats.turns++;
      this.#used = 0;
      while (this.#waiting.length > 0 && this.#used < this.#turnBytes) {
        const next = this.#waiting.shift()!;
        this.#used += next.bytes;
        next.resolve();
      }
      if (this.#waiting.length > 0 || this.#used > 0) this.#scheduleTurn();
    }, 0);
  }
}

/** The governor of this thread. */
export const fairShare: FairShare = new FairShare();
