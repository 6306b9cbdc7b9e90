import express, { type NextFunction, type Request, type Response } from 'express';
import type { Server } from 'node:http';
import createDebug from 'debug';
import { InvalidRequestError, PodnetError, errorMessage } from '../errors';
import type { Route } from './routes';

const debug = createDebug('podnet:api');

/** Largest request podnet reads; Docker's are a few KB. */
export const BODY_LIMIT = '1mb';

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
  app.use(express.json({ type: () => true, limit: BODY_LIMIT, strict: false }));
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
    if (type === 'entity.too.large') e = new InvalidRequestError(`request body larger than ${BODY_LIMIT}: refused`);
    else if (type === 'entity.parse.failed') e = new InvalidRequestError(`request body is not valid JSON: ${errorMessage(err)}`);
    else if (type !== undefined) e = new InvalidRequestError(`unreadable request body: ${errorMessage(err)}`);
    const level = e instanceof PodnetError ? e.code : 'unexpected';
    debug('%s failed (%s): %s', req.path, level, errorMessage(e));
    if (!(e instanceof PodnetError)) console.error(`podnet: ${req.path}: unexpected error:`, err);
    res.status(500).json(errorBody(e));
  });
  return app;
}

/** Closes the server: in-flight requests finish, idle keep-alive connections are dropped. */
export function closeServer(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, timeoutMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
