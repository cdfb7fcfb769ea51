/**
 * Progress for long transfers: a bar with rate and time left, redrawn in
 * place on a terminal, plain lines at each quarter otherwise (logs, pipes).
 *
 * @module
 */

const encoder = new TextEncoder();

/** Human-readable bytes: `1.5 MB`, `640 kB`, `12 B`. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = n;
  let unit = "B";
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${unit}`;
}

function formatTime(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** What is being transferred. */
  label: string;
  /** Total bytes, when known. */
  total?: number;
  /** Bytes already held (a resumed transfer). */
  start?: number;
  /** Redraw in place (a terminal) or print quarter lines. Default: stderr is a terminal. */
  terminal?: boolean;
  /** Where lines go. Default stderr. */
  write?: (text: string) => void;
  now?: () => number;
}

/**
 * A transfer's progress.
 *
 * @example
 * ```ts
 * const progress = new Progress({ label: "video_2022.mp4", total: size });
 * progress.update(received);
 * progress.done();
 * ```
 */
export class Progress {
  #options: ProgressOptions;
  #started: number;
  #lastDraw = -Infinity;
  #quarter = 0;
  #done = 0;
  #write: (text: string) => void;
  #terminal: boolean;
  #now: () => number;

  /** Starts the clock. */
  constructor(options: ProgressOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#terminal = options.terminal ?? Deno.stderr.isTerminal();
    this.#write = options.write ??
      ((text) => Deno.stderr.writeSync(encoder.encode(text)));
    this.#done = options.start ?? 0;
  }

  /** Seconds since the start. */
  get elapsed(): number {
    return (this.#now() - this.#started) / 1000;
  }

  /** Bytes per second of this transfer so far. */
  get rate(): number {
    const moved = this.#done - (this.#options.start ?? 0);
    return this.elapsed > 0 ? moved / this.elapsed : 0;
  }

  /** Records that `done` bytes of the total are held now. */
  update(done: number): void {
    this.#done = done;
    const total = this.#options.total;
    if (this.#terminal) {
      if (this.#now() - this.#lastDraw < 100) return;
      this.#lastDraw = this.#now();
      this.#write(`\r${this.#line()}\x1b[K`);
      return;
    }
    if (total === undefined || total === 0) return;
    const quarter = Math.floor((done / total) * 4);
    if (quarter > this.#quarter && quarter < 4) {
      this.#quarter = quarter;
      this.#write(`${this.#line()}\n`);
    }
  }

  #line(): string {
    const total = this.#options.total;
    const rate = `${formatBytes(Math.round(this.rate))}/s`;
    if (total === undefined || total === 0) {
      return `${this.#options.label}  ${formatBytes(this.#done)}  ${rate}`;
    }
    const fraction = Math.min(1, this.#done / total);
    const width = 24;
    const filled = Math.round(fraction * width);
    const left = this.rate > 0 ? (total - this.#done) / this.rate : Infinity;
    return `${this.#options.label}  [${"#".repeat(filled)}${
      "-".repeat(width - filled)
    }] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${
      formatBytes(this.#done)
    }/${formatBytes(total)}  ${rate}  ${formatTime(left)} left`;
  }

  /** Ends the bar (a terminal gets its line finished). */
  done(): void {
    if (this.#terminal) this.#write(`\r${this.#line()}\x1b[K\n`);
  }
}
