import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';
import createDebug from 'debug';
import { InvalidRequestError, PodnetError, errorMessage } from '../errors';
import type { Route } from './routes';

const debug = createDebug('podnet:api');

/** Largest request podnet reads; Docker's are a few KB. */
export const BODY_LIMIT = '1mb';

/**
 * Deepest nesting of arrays and objects a request body may have. Docker's bodies are a few
 * levels deep; validating a body nested 100000 deep would overflow the stack.
 */
export const MAX_JSON_DEPTH = 64;

/** Response header carrying the PodnetError code of a failed call ("unexpected" otherwise). */
export const ERROR_CODE_HEADER = 'X-Podnet-Error-Code';

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The deepest nesting of {} and [] in raw JSON, stopping as soon as it passes `limit`. One pass
 * over the bytes; brackets inside strings do not count. Multi-byte UTF-8 never contains these
 * ASCII bytes, so scanning bytes is exact.
 */
export function jsonDepthExceeds(buf: Uint8Array, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** The error shape Docker reads: NetworkDriver looks at Err, IpamDriver at Error. */
export function errorBody(err: unknown): { Err: string; Error: string } {
  const msg = errorMessage(err);
  return { Err: msg, Error: msg };
}

function zodMessage(err: { issues: { path: (string | number)[]; message: string }[] }): string {
  return err.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

/**
 * The HTTP side of the plugin: translation only. Any Content-Type and Host are accepted (Docker
 * sends none), an empty body is {}, and anything thrown becomes 500 {"Err","Error"}.
 */
export function createApp(routes: Readonly<Record<string, Route>>, ready: () => Promise<void>): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(
    express.json({
      type: () => true,
      limit: BODY_LIMIT,
      strict: false,
      // Runs on the raw body before JSON.parse: too deep a body never reaches the parser or the schemas.
      verify: (_req, _res, buf) => {
        if (jsonDepthExceeds(buf, MAX_JSON_DEPTH)) {
          throw new InvalidRequestError(`request body nested deeper than ${MAX_JSON_DEPTH} levels: refused`);
        }
      },
    }),
  );
  for (const [path, route] of Object.entries(routes)) {
    app.post(path, (req: Request, res: Response, next: NextFunction) => {
      const started = Date.now();
      const parsed = route.schema.safeParse(req.body ?? {});
      if (!parsed.success) {
        next(new InvalidRequestError(`${path.slice(1)}: invalid request: ${zodMessage(parsed.error)}`));
        return;
      }
      const work = route.immediate ? Promise.resolve() : ready();
      work
        .then(() => route.call(parsed.data as never))
        .then((body) => {
          debug('%s ok (%dms)', path, Date.now() - started);
          res.status(200).json(body);
        })
        .catch(next);
    });
  }
  app.use((req: Request, res: Response) => {
    res.status(404).json(errorBody(`podnet does not implement ${req.method} ${req.path}`));
  });
  // Express recognises error middleware by its four parameters.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let e = err;
    const type = (err as { type?: string }).type;
    if (err instanceof PodnetError) e = err; // e.g. thrown by the body's verify hook
    else if (type === 'entity.too.large') e = new InvalidRequestError(`request body larger than ${BODY_LIMIT}: refused`);
    else if (type === 'entity.parse.failed') e = new InvalidRequestError(`request body is not valid JSON: ${errorMessage(err)}`);
    else if (type !== undefined) e = new InvalidRequestError(`unreadable request body: ${errorMessage(err)}`);
    const level = e instanceof PodnetError ? e.code : 'unexpected';
    debug('%s failed (%s): %s', req.path, level, errorMessage(e));
    if (!(e instanceof PodnetError)) console.error(`podnet: ${req.path}: unexpected error:`, err);
    res.setHeader(ERROR_CODE_HEADER, level);
    res.status(500).json(errorBody(e));
  });
  return app;
}

/** What a plugin server knows about its requests, so that it can stop without dropping any. */
interface Drain {
  /** Requests read and not yet answered. */
  readonly inFlight: Set<ServerResponse>;
  stopping: boolean;
  /** Stopping, and everything sent before it began has been read: idle now means idle. */
  idleMeansIdle: boolean;
  /** Connections accepted so far. */
  accepted: number;
}

/** At most this long is spent accepting connections that were waiting when stopping began. */
const BACKLOG_BUDGET_MS = 200;

const drains = new WeakMap<Server, Drain>();

/** Every answer written after stopping began says `Connection: close`: Node then closes its connection. */
function closeAfterAnswer(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
}

/**
 * The HTTP server of the plugin: `app` behind a tracker of requests in flight, which closeServer
 * uses to answer all of them and close each connection as soon as its last answer is written.
 */
export function createPluginServer(app: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer(app);
  const drain: Drain = { inFlight: new Set(), stopping: false, idleMeansIdle: false, accepted: 0 };
  server.on('connection', () => drain.accepted++);
  drains.set(server, drain);
  // First listener: runs before the app, so the header is set before any answer can be written.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    drain.inFlight.add(res);
    if (drain.stopping) closeAfterAnswer(res);
    res.once('close', () => {
      drain.inFlight.delete(res);
      // A response whose headers were out before stopping began kept its connection alive: it is
      // idle now, close it (after one more poll: a request the client sent since is read first).
      if (drain.idleMeansIdle) void nextPoll().then(() => server.closeIdleConnections());
    });
  });
  return server;
}

/** Resolves after the event loop has polled for I/O at least once more. */
function nextPoll(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/**
 * Polls until a poll accepts no connection: Node accepts one connection of a Unix socket's
 * backlog per loop iteration, and closing the listener resets those still waiting.
 */
async function acceptBacklog(drain: Drain | undefined): Promise<void> {
  const until = Date.now() + BACKLOG_BUDGET_MS;
  for (;;) {
    const before = drain?.accepted;
    await nextPoll();
    if (drain === undefined || drain.accepted === before || Date.now() > until) return;
  }
}

/**
 * Stops the server without dropping a request: no new connections; idle keep-alive connections
 * are closed at once; every request in flight is answered, with `Connection: close`, and its
 * connection closed right after. Resolves when the last connection is gone, or after `timeoutMs`
 * (a request that hangs), when whatever is left is cut.
 *
 * "In flight" includes requests the client has sent but the plugin has not read yet: connections
 * still in the listen backlog, and bytes waiting in a socket that looks idle. Closing either at
 * once resets them unanswered, so the listener closes only once a poll accepted nothing more
 * (the backlog is empty), and idle connections after one more (which reads what they sent).
 */
export async function closeServer(server: Server, timeoutMs: number): Promise<void> {
  const drain = drains.get(server);
  if (drain) {
    drain.stopping = true;
    for (const res of drain.inFlight) closeAfterAnswer(res);
  }
  const closed = new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, timeoutMs);
    timer.unref();
    void acceptBacklog(drain).then(async () => {
      // net's close, not http's: http's would also drop idle connections before their bytes are read.
      NetServer.prototype.close.call(server, () => {
        clearTimeout(timer);
        resolve();
      });
      await nextPoll();
      if (drain) drain.idleMeansIdle = true;
      server.closeIdleConnections();
    });
  });
  await closed;
}
