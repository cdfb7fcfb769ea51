/**
 * An HTTP/1.1 server host on raw `Deno.listen` sockets: request heads parsed
 * by `protocol/http`, bodies by Content-Length or chunked, persistent and
 * pipelined connections answered in order, header and idle timeouts,
 * streamed file responses with backpressure, graceful shutdown. The
 * application is a handler from request to response, callable without
 * sockets.
 *
 * @module
 */

import { ChunkedDecoder } from "../protocol/http/chunked.ts";
import { HttpParseError } from "../protocol/http/errors.ts";
import {
  type BodyFraming,
  bodyFraming,
  DEFAULT_HTTP_LIMITS,
  type HeaderList,
  type HttpLimits,
  keepAlive,
  parseRequestHead,
  parseTarget,
  type RequestHead,
  requireHost,
} from "../protocol/http/request.ts";
import {
  bodyless,
  formatResponseHead,
  httpDate,
  STATUS_TEXT,
} from "../protocol/http/response.ts";
import { concat, formatAddr } from "./frame_conn.ts";
import { Logger } from "./log.ts";
import { isTransportError } from "./transport.ts";
import { VERSION } from "./version.ts";
import { stopOnAbort } from "./signals.ts";
import {
  drainConnections,
  type ListenOptions,
  listenStream,
} from "./stream_listener.ts";

/** Methods the server knows; others get 501 before any handler runs. */
export const KNOWN_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "OPTIONS",
]);

/** A file region to send as the body, read and written in large chunks. */
export interface FileBody {
  readonly file: Deno.FsFile;
  /** First byte to send. */
  readonly start: number;
  /** How many bytes to send. */
  readonly length: number;
}

/** What a handler answers. */
export interface HttpResponse {
  readonly status: number;
  readonly headers?: readonly (readonly [string, string])[];
  /**
   * Bytes and strings are sent with Content-Length; a file region is
   * streamed with Content-Length and closed afterwards; an async iterable is
   * sent chunked (HTTP/1.1) or until close (HTTP/1.0).
   */
  readonly body?: Uint8Array | string | FileBody | AsyncIterable<Uint8Array>;
}

/** A request as a handler sees it. */
export interface HttpRequest {
  readonly method: string;
  /** The request-target as sent. */
  readonly target: string;
  /** The path of the target, still percent-encoded. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  readonly headers: HeaderList;
  /** `host:port` of the client. */
  readonly peer: string;
  /** Body length when the client declared one. */
  readonly contentLength: number | undefined;
  /** Whether the request has a body at all. */
  readonly hasBody: boolean;
  /** Reads the whole body; over `maxBytes` throws {@linkcode HttpError} 413. */
  bytes(maxBytes?: number): Promise<Uint8Array>;
  /** The body as UTF-8 text. */
  text(maxBytes?: number): Promise<string>;
  /** The body as it arrives; each chunk is a fresh copy. Bounded like `bytes`. */
  chunks(maxBytes?: number): AsyncIterable<Uint8Array>;
}

/** Answers one request. Throw {@linkcode HttpError} for an error status. */
export type HttpHandler = (
  request: HttpRequest,
) => HttpResponse | Promise<HttpResponse>;

/**
 * An error that knows its HTTP answer; the host turns it into a response.
 *
 * @example
 * ```ts
 * throw new HttpError(404, "No such file: /missing.txt");
 * ```
 */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];

  /** Creates the error; `message` is shown in the error page. */
  constructor(
    status: number,
    message: string,
    headers: readonly (readonly [string, string])[] = [],
  ) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A small HTML error page; the message is escaped. */
export function errorPage(status: number, message: string): HttpResponse {
  const title = `${status} ${STATUS_TEXT[status] ?? "Error"}`;
  const body =
    `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n` +
    `<body><h1>${title}</h1>\n<p>${
      escapeHtml(message)
    }</p>\n<hr><p>socklab/${VERSION}</p></body></html>\n`;
  return {
    status,
    headers: [["content-type", "text/html; charset=utf-8"]],
    body,
  };
}

/** Escapes `& < > " '` for HTML text and attributes. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[
        c
      ]!,
  );
}

/** One line of the access log, handed to {@linkcode HttpServerOptions.accessLog}. */
export interface AccessEntry {
  readonly peer: string;
  readonly method: string;
  readonly target: string;
  readonly version: string;
  readonly status: number;
  readonly bytes: number;
  readonly referer: string | undefined;
  readonly userAgent: string | undefined;
  readonly ms: number;
  readonly time: Date;
}

/** Options for {@linkcode HttpServer}. */
export interface HttpServerOptions extends ListenOptions {
  handler: HttpHandler;
  /** Request-line and header limits. */
  limits?: Partial<HttpLimits>;
  /** A request head must arrive within this long of its first byte (ms). Default 10 000. */
  headerTimeoutMs?: number;
  /** A kept-alive connection idle for this long is closed (ms). Default 5000. */
  idleTimeoutMs?: number;
  /** Largest request body accepted at all (bytes). Default 1 GiB. */
  maxBodyBytes?: number;
  /** Connections served at once; more get 503. Default 1024. */
  maxConnections?: number;
  /** Serve one connection at a time, as the seed's HW2 describes. */
  serial?: boolean;
  /** How long shutdown waits for requests in flight (ms). Default 5000. */
  graceMs?: number;
  log?: Logger;
  /** Called once per answered request. */
  accessLog?: (entry: AccessEntry) => void;
  signal?: AbortSignal;
  /** Clock for Date headers and the log; tests inject one. */
  now?: () => Date;
}

/** Bytes read per socket read, and the largest file chunk written at once. */
const READ_SIZE = 64 * 1024;
const FILE_CHUNK = 256 * 1024;
/** Unread request body we are willing to read and discard to keep a connection. */
const MAX_DRAIN = 256 * 1024;

/**
 * Serves HTTP/1.1 on one port. Binds in the constructor, so `addr` is valid
 * at once.
 *
 * @example
 * ```ts
 * await using server = new HttpServer({ handler: () => ({ status: 200, body: "hi" }) });
 * ```
 */
export class HttpServer implements AsyncDisposable {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  #listener: Deno.Listener;
  #options: Required<
    Pick<
      HttpServerOptions,
      | "headerTimeoutMs"
      | "idleTimeoutMs"
      | "maxBodyBytes"
      | "maxConnections"
      | "graceMs"
    >
  >;
  #limits: HttpLimits;
  #handler: HttpHandler;
  #log: Logger;
  #accessLog: ((entry: AccessEntry) => void) | undefined;
  #serial: boolean;
  #now: () => Date;
  #connections = new Set<HttpConnection>();
  #closing = false;
  #accepting: Promise<void>;
  #done = Promise.withResolvers<void>();
  #dateCache = { second: -1, text: "" };

  /** Binds and starts accepting. */
  constructor(options: HttpServerOptions) {
    this.#handler = options.handler;
    this.#limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
    this.#options = {
      headerTimeoutMs: options.headerTimeoutMs ?? 10_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 5000,
      maxBodyBytes: options.maxBodyBytes ?? 1024 ** 3,
      maxConnections: options.maxConnections ?? 1024,
      graceMs: options.graceMs ?? 5000,
    };
    this.#log = options.log ?? new Logger({ name: "http" });
    this.#accessLog = options.accessLog;
    this.#serial = options.serial ?? false;
    this.#now = options.now ?? (() => new Date());
    this.#listener = listenStream(options);
    this.addr = this.#listener.addr as Deno.NetAddr;
    this.finished = this.#done.promise;
    stopOnAbort(options.signal, () => this.shutdown(), this.finished);
    this.#accepting = this.#acceptLoop();
  }

  /** Connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#connections.size >= this.#options.maxConnections) {
          this.#refuse(conn);
          continue;
        }
        const connection = new HttpConnection(conn, this);
        this.#connections.add(connection);
        const served = connection.run().finally(() =>
          this.#connections.delete(connection)
        );
        // --serial: the next connection waits in the backlog until this one is done.
        if (this.#serial) await served;
      }
    } catch (error) {
      if (!this.#closing) this.#log.error("accept failed", { error });
    }
  }

  #refuse(conn: Deno.Conn): void {
    this.#log.warn("connection refused: at the connection limit", {
      peer: formatAddr(conn.remoteAddr),
      limit: this.#options.maxConnections,
    });
    const page = errorPage(
      503,
      "The server is at its connection limit; try again later.",
    );
    const body = encoder.encode(page.body as string);
    const head = formatResponseHead(503, [
      ...page.headers ?? [],
      ["content-length", String(body.length)],
      ["retry-after", "1"],
      ["connection", "close"],
    ]);
    writeAll(conn, concat([head, body])).catch(() => {}).finally(() => {
      try {
        conn.close();
      } catch { /* gone */ }
    });
  }

  /** Stops accepting, finishes requests in flight, closes idle connections. */
  shutdown(): Promise<void> {
    if (this.#closing) return this.finished;
    this.#closing = true;
    try {
      this.#listener.close();
    } catch { /* closed */ }
    drainConnections(this.#connections, this.#options.graceMs)
      .then(() => this.#accepting)
      .then(() => this.#done.resolve());
    return this.finished;
  }

  /** Same as {@linkcode shutdown}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** @internal What a connection needs from its server. */
  get _ctx(): HttpContext {
    return {
      handler: this.#handler,
      limits: this.#limits,
      ...this.#options,
      log: this.#log,
      accessLog: this.#accessLog,
      closing: () => this.#closing,
      now: this.#now,
      date: () => {
        const now = this.#now();
        const second = Math.floor(now.getTime() / 1000);
        if (second !== this.#dateCache.second) {
          this.#dateCache = { second, text: httpDate(now) };
        }
        return this.#dateCache.text;
      },
    };
  }
}

interface HttpContext {
  handler: HttpHandler;
  limits: HttpLimits;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  maxBodyBytes: number;
  graceMs: number;
  log: Logger;
  accessLog: ((entry: AccessEntry) => void) | undefined;
  closing: () => boolean;
  now: () => Date;
  date: () => string;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

const TIMEOUT = Symbol("timeout");

/** Why the read of a request head stopped. */
class ReadTimeout extends Error {
  constructor(readonly partial: boolean) {
    super(partial ? "request head timeout" : "idle timeout");
  }
}

/**
 * A connection's read deadline. Every request on a kept-alive connection
 * waits under one, and a setTimeout plus clearTimeout per request was a
 * tenth of the server's time for a small response; so one timer runs at a
 * time, and when it fires before the current deadline (which moved later
 * since it was set) it re-arms for the rest.
 */
class ReadDeadline {
  #at = Infinity;
  #expire: ((value: typeof TIMEOUT) => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  /** Resolves to TIMEOUT at `at` (a `performance.now()` time) unless {@linkcode end} comes first. */
  wait(at: number): Promise<typeof TIMEOUT> {
    const { promise, resolve } = Promise.withResolvers<typeof TIMEOUT>();
    this.#expire = resolve;
    this.#at = at;
    if (this.#timer === undefined || this.#timerAt > at) this.#schedule();
    return promise;
  }

  /** The wait is over; a timer still running finds nobody and stops. */
  end(): void {
    this.#expire = undefined;
    this.#at = Infinity;
  }

  /** Ends the wait and stops the timer. */
  clear(): void {
    this.end();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timerAt = this.#at;
    this.#timer = setTimeout(
      () => this.#fire(),
      Math.max(0, this.#at - performance.now()),
    );
  }

  #fire(): void {
    this.#timer = undefined;
    const expire = this.#expire;
    if (expire === undefined) return;
    if (performance.now() < this.#at) return this.#schedule();
    this.end();
    expire(TIMEOUT);
  }
}

/** One connection: reads requests in order, answers each before the next. */
class HttpConnection {
  readonly peer: string;
  readonly done: Promise<void>;
  #conn: Deno.Conn;
  #ctx: HttpContext;
  #buf: Uint8Array = new Uint8Array(0);
  #readBuffer = new Uint8Array(READ_SIZE);
  #closed = false;
  #busy = false;
  #shuttingDown = false;
  #deadline = new ReadDeadline();
  /** Set when the stream can no longer be trusted to hold a next request. */
  mustClose = false;
  #doneResolver = Promise.withResolvers<void>();

  constructor(conn: Deno.Conn, server: HttpServer) {
    this.#conn = conn;
    this.#ctx = server._ctx;
    this.peer = formatAddr(conn.remoteAddr);
    this.done = this.#doneResolver.promise;
  }

  async run(): Promise<void> {
    try {
      while (!this.#closed && !this.#shuttingDown) {
        const more = await this.#serveOne();
        if (!more) break;
      }
    } catch (error) {
      if (!(isTransportError(error) || this.#closed)) {
        this.#ctx.log.error("connection failed", { peer: this.peer, error });
      }
    } finally {
      this.close();
      this.#deadline.clear();
      this.#doneResolver.resolve();
    }
  }

  beginShutdown(): void {
    this.#shuttingDown = true;
    if (!this.#busy) this.close();
  }

  forceClose(): void {
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deadline.clear();
    try {
      this.#conn.close();
    } catch { /* gone */ }
  }

  /** Reads more bytes into the buffer; `false` at end of stream. */
  async #fill(deadline?: Promise<typeof TIMEOUT>): Promise<boolean> {
    const reading = this.#conn.read(this.#readBuffer);
    const n = deadline
      ? await Promise.race([reading, deadline])
      : await reading;
    if (n === TIMEOUT) {
      reading.catch(() => {}); // settles when the socket is closed
      throw new ReadTimeout(this.#buf.some((b) => b !== 0x0d && b !== 0x0a));
    }
    if (n === null) return false;
    this.#buf = this.#buf.length === 0
      ? this.#readBuffer.slice(0, n)
      : concat([this.#buf, this.#readBuffer.subarray(0, n)]);
    return true;
  }

  /** Reads until a whole request head is buffered, within the timeouts. */
  async #readHead(): Promise<{ head: RequestHead; next: number } | null> {
    // The header clock starts at the head's first byte, not when the wait
    // began: time spent idle beforehand is the idle timeout's business.
    let started: number | undefined;
    try {
      for (;;) {
        const parsed = parseRequestHead(this.#buf, 0, this.#ctx.limits);
        if (parsed) return parsed;
        const partial = this.#buf.some((b) => b !== 0x0d && b !== 0x0a);
        if (partial) started ??= performance.now();
        // A kept-alive connection may sit idle; a started head must finish in time.
        const at = started !== undefined
          ? started + this.#ctx.headerTimeoutMs
          : performance.now() + this.#ctx.idleTimeoutMs;
        if (!(await this.#fill(this.#deadline.wait(at)))) return null;
      }
    } finally {
      this.#deadline.end();
    }
  }

  /** Serves one request; `false` when the connection is done. */
  async #serveOne(): Promise<boolean> {
    let parsed: { head: RequestHead; next: number } | null;
    try {
      parsed = await this.#readHead();
    } catch (error) {
      if (error instanceof ReadTimeout) {
        if (error.partial) {
          // Slowloris: a head that trickles in is cut off, with a 408.
          await this.#sendError(
            408,
            `The request head did not arrive within ${this.#ctx.headerTimeoutMs} ms.`,
            undefined,
          );
        }
        return false;
      }
      if (error instanceof HttpParseError) {
        await this.#sendError(error.status, error.message, undefined);
        return false;
      }
      throw error;
    }
    if (parsed === null) return false;
    this.#busy = true;
    try {
      return await this.#answer(parsed.head, parsed.next);
    } finally {
      this.#busy = false;
    }
  }

  async #answer(head: RequestHead, next: number): Promise<boolean> {
    const start = performance.now();
    this.#buf = this.#buf.subarray(next);
    let framing: BodyFraming;
    let target: { path: string; query: string };
    try {
      framing = bodyFraming(head);
      target = parseTarget(head.target, head.method);
      if (head.version === "HTTP/1.1") requireHost(head);
    } catch (error) {
      if (!(error instanceof HttpParseError)) throw error;
      await this.#sendError(error.status, error.message, head);
      return false;
    }
    const body = new BodyReader(this, framing, head, this.#ctx.maxBodyBytes);
    let persistent = keepAlive(head) && !this.#shuttingDown &&
      !this.#ctx.closing();
    let response: HttpResponse;
    if (!KNOWN_METHODS.has(head.method)) {
      response = errorPage(
        501,
        `The method ${head.method} is not implemented.`,
      );
      persistent = false;
    } else if (
      framing.kind === "length" && framing.length > this.#ctx.maxBodyBytes
    ) {
      response = errorPage(
        413,
        `The body of ${framing.length} bytes is over the limit of ${this.#ctx.maxBodyBytes}.`,
      );
      persistent = false;
    } else {
      const request = this.#request(head, target, framing, body);
      try {
        response = await this.#ctx.handler(request);
      } catch (error) {
        if (error instanceof HttpError) {
          const page = errorPage(error.status, error.message);
          response = {
            ...page,
            headers: [...page.headers ?? [], ...error.headers],
          };
        } else if (error instanceof HttpParseError) {
          response = errorPage(error.status, error.message);
          persistent = false;
        } else {
          this.#ctx.log.error("handler failed", {
            peer: this.peer,
            target: head.target,
            error,
          });
          if (this.#ctx.log.enabled("debug")) {
            this.#ctx.log.debug((error as Error).stack ?? "");
          }
          response = errorPage(
            500,
            "The server failed while answering this request.",
          );
        }
      }
    }
    if (this.mustClose) persistent = false;
    // A shutdown begun while the handler ran: say so before closing.
    if (this.#shuttingDown || this.#ctx.closing()) persistent = false;
    // An unread body must be consumed to find the next request, or the
    // connection closed.
    if (persistent && !body.finished) {
      persistent = await body.drain(MAX_DRAIN).catch(() => false);
    }
    const sent = await this.#send(head, response, persistent);
    this.#ctx.accessLog?.({
      peer: this.peer,
      method: head.method,
      target: head.target,
      version: head.version,
      status: response.status,
      bytes: sent,
      referer: head.headers.get("referer"),
      userAgent: head.headers.get("user-agent"),
      ms: performance.now() - start,
      time: this.#ctx.now(),
    });
    return persistent;
  }

  #request(
    head: RequestHead,
    target: { path: string; query: string },
    framing: BodyFraming,
    body: BodyReader,
  ): HttpRequest {
    return {
      method: head.method,
      target: head.target,
      path: target.path,
      query: new URLSearchParams(target.query),
      version: head.version,
      headers: head.headers,
      peer: this.peer,
      contentLength: framing.kind === "length" ? framing.length : undefined,
      hasBody: framing.kind === "chunked" ||
        (framing.kind === "length" && framing.length > 0),
      bytes: (max) => body.readAll(max),
      text: async (max) => decoder.decode(await body.readAll(max)),
      chunks: (max) => body.iterate(max),
    };
  }

  async #sendError(
    status: number,
    message: string,
    head: RequestHead | undefined,
  ): Promise<void> {
    const response = errorPage(status, message);
    this.#ctx.log.info("bad request", {
      peer: this.peer,
      status,
      reason: message,
    });
    let bytes = 0;
    try {
      bytes = await this.#send(head, response, false);
    } catch { /* the peer may be gone already */ }
    this.#ctx.accessLog?.({
      peer: this.peer,
      method: head?.method ?? "-",
      target: head?.target ?? "-",
      version: head?.version ?? "-",
      status,
      bytes,
      referer: head?.headers.get("referer"),
      userAgent: head?.headers.get("user-agent"),
      ms: 0,
      time: this.#ctx.now(),
    });
  }

  /** Writes a response; returns the body bytes sent. */
  async #send(
    head: RequestHead | undefined,
    response: HttpResponse,
    persistent: boolean,
  ): Promise<number> {
    const method = head?.method ?? "GET";
    const http10 = head?.version === "HTTP/1.0";
    const headers: [string, string][] = [
      ["date", this.#ctx.date()],
      ["server", `socklab/${VERSION}`],
    ];
    for (const [k, v] of response.headers ?? []) headers.push([k, v]);
    let body = response.body;
    if (typeof body === "string") body = encoder.encode(body);
    const noBody = bodyless(method, response.status);
    let chunked = false;
    let closeAfter = !persistent;
    if (body instanceof Uint8Array) {
      if (!hasHeader(headers, "content-length")) {
        headers.push(["content-length", String(body.length)]);
      }
    } else if (body !== undefined && "file" in body) {
      if (!hasHeader(headers, "content-length")) {
        headers.push(["content-length", String(body.length)]);
      }
    } else if (body !== undefined) {
      if (noBody) {
        // Nothing will be read from the stream; HEAD still gets its headers.
      } else if (http10) {
        closeAfter = true;
      } else {
        chunked = true;
        headers.push(["transfer-encoding", "chunked"]);
      }
    } else if (!noBody || response.status === 304) {
      if (!noBody) headers.push(["content-length", "0"]);
    }
    if (closeAfter) headers.push(["connection", "close"]);
    else if (http10) headers.push(["connection", "keep-alive"]);
    const bytesHead = formatResponseHead(response.status, headers);
    try {
      if (noBody || body === undefined) {
        await writeAll(this.#conn, bytesHead);
        return 0;
      }
      if (body instanceof Uint8Array) {
        await writeAll(
          this.#conn,
          body.length <= READ_SIZE ? concat([bytesHead, body]) : bytesHead,
        );
        if (body.length > READ_SIZE) await writeAll(this.#conn, body);
        return body.length;
      }
      if ("file" in body) {
        await writeAll(this.#conn, bytesHead);
        return await this.#sendFile(body);
      }
      await writeAll(this.#conn, bytesHead);
      let sent = 0;
      for await (const chunk of body) {
        if (chunk.length === 0) continue;
        sent += chunk.length;
        await writeAll(
          this.#conn,
          chunked
            ? concat([
              encoder.encode(chunk.length.toString(16) + "\r\n"),
              chunk,
              CRLF,
            ])
            : chunk,
        );
      }
      if (chunked) await writeAll(this.#conn, encoder.encode("0\r\n\r\n"));
      return sent;
    } finally {
      if (
        body !== undefined && !(body instanceof Uint8Array) && "file" in body
      ) {
        try {
          body.file.close();
        } catch { /* already closed */ }
      }
      if (closeAfter) this.close();
    }
  }

  /** Streams a file region: one large read and one write at a time. */
  async #sendFile(body: FileBody): Promise<number> {
    await body.file.seek(body.start, Deno.SeekMode.Start);
    const buffer = new Uint8Array(
      Math.min(FILE_CHUNK, Math.max(body.length, 1)),
    );
    let left = body.length;
    while (left > 0) {
      const n = await body.file.read(
        buffer.subarray(0, Math.min(buffer.length, left)),
      );
      if (n === null) {
        // The file shrank under us: the promised length cannot be kept.
        this.close();
        throw new Error(`file ended ${left} bytes early`);
      }
      await writeAll(this.#conn, buffer.subarray(0, n));
      left -= n;
    }
    return body.length;
  }

  /**
   * @internal For the body reader: takes buffered bytes, reading more if
   * needed. A body that stalls for the header timeout ends the connection.
   */
  async _take(
    max: number,
    interim: () => Promise<void>,
  ): Promise<Uint8Array | null> {
    if (this.#buf.length === 0) {
      await interim();
      const deadline = this.#deadline.wait(
        performance.now() + this.#ctx.headerTimeoutMs,
      );
      try {
        if (!(await this.#fill(deadline))) return null;
      } catch (error) {
        if (!(error instanceof ReadTimeout)) throw error;
        this.mustClose = true;
        throw new HttpError(
          408,
          `The request body stalled for ${this.#ctx.headerTimeoutMs} ms.`,
        );
      } finally {
        this.#deadline.end();
      }
    }
    const n = Math.min(max, this.#buf.length);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** @internal Puts back bytes a chunked decoder did not consume. */
  _unshift(bytes: Uint8Array): void {
    this.#buf = this.#buf.length === 0 ? bytes : concat([bytes, this.#buf]);
  }

  /** @internal Sends "100 Continue" once, when a handler starts reading. */
  async _continue(): Promise<void> {
    await writeAll(this.#conn, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
  }
}

const CRLF = new Uint8Array([0x0d, 0x0a]);

function hasHeader(
  headers: readonly (readonly [string, string])[],
  name: string,
): boolean {
  return headers.some(([k]) => k.toLowerCase() === name);
}

/** Reads one request's body off its connection, exactly once. */
class BodyReader {
  #conn: HttpConnection;
  #framing: BodyFraming;
  #left: number;
  #chunked: ChunkedDecoder | undefined;
  #expectContinue: boolean;
  #limit: number;
  #read = 0;
  finished: boolean;

  constructor(
    conn: HttpConnection,
    framing: BodyFraming,
    head: RequestHead,
    limit: number,
  ) {
    this.#conn = conn;
    this.#framing = framing;
    this.#left = framing.kind === "length" ? framing.length : 0;
    this.#chunked = framing.kind === "chunked"
      ? new ChunkedDecoder({ maxBodyBytes: limit })
      : undefined;
    this.#expectContinue = head.version === "HTTP/1.1" &&
      (head.headers.get("expect") ?? "").toLowerCase() === "100-continue";
    this.#limit = limit;
    this.finished = framing.kind === "none" ||
      (framing.kind === "length" && framing.length === 0);
  }

  #interim = async (): Promise<void> => {
    if (!this.#expectContinue) return;
    this.#expectContinue = false;
    await this.#conn._continue();
  };

  /** Next piece of body data, or null at its end. */
  async next(): Promise<Uint8Array | null> {
    if (this.finished) return null;
    try {
      return await this.#next();
    } catch (error) {
      // A body that failed midway leaves the stream at an unknown place.
      this.#conn.mustClose = true;
      throw error;
    }
  }

  async #next(): Promise<Uint8Array | null> {
    if (this.#framing.kind === "length") {
      const piece = await this.#conn._take(this.#left, this.#interim);
      if (piece === null) {
        throw new HttpParseError(
          400,
          "Cannot read body: the connection closed before Content-Length bytes arrived",
        );
      }
      this.#left -= piece.length;
      if (this.#left === 0) this.finished = true;
      this.#read += piece.length;
      return piece.slice();
    }
    const decoder = this.#chunked!;
    for (;;) {
      const input = await this.#conn._take(Infinity, this.#interim);
      if (input === null) {
        throw new HttpParseError(
          400,
          "Cannot read body: the connection closed inside a chunked body",
        );
      }
      const { data, consumed, done } = decoder.push(input);
      if (consumed < input.length) {
        this.#conn._unshift(input.subarray(consumed));
      }
      if (done) this.finished = true;
      const joined = data.length === 1 ? data[0]! : concat(data);
      this.#read += joined.length;
      if (joined.length > 0 || done) {
        return joined.length > 0 ? joined.slice() : null;
      }
    }
  }

  async *iterate(max = this.#limit): AsyncGenerator<Uint8Array> {
    if (this.#framing.kind === "length" && this.#left > max) {
      throw new HttpError(
        413,
        `The body of ${this.#left} bytes is over the limit of ${max}.`,
      );
    }
    for (;;) {
      const piece = await this.next();
      if (piece === null) return;
      if (this.#read > max) {
        throw new HttpError(413, `The body is over the limit of ${max} bytes.`);
      }
      yield piece;
    }
  }

  async readAll(max = this.#limit): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for await (const piece of this.iterate(max)) parts.push(piece);
    return concat(parts);
  }

  /** Reads and discards up to `max` bytes of unread body; whether it ended. */
  async drain(max: number): Promise<boolean> {
    if (this.#expectContinue) return false; // the client is waiting to send; don't invite it
    if (this.#framing.kind === "length" && this.#left > max) return false;
    let seen = 0;
    while (!this.finished) {
      const piece = await this.next();
      if (piece === null) break;
      seen += piece.length;
      if (seen > max) return false;
    }
    return true;
  }
}
