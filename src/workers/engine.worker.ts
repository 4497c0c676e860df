/**
 * The worker entry: picks the backend on `init`, then hands every request to the Engine.
 * Requests that arrive before the backend is ready wait for it, in order.
 */
import { loseContextForTesting, selectBackend, watchContextLoss } from './backend';
import { Engine } from './engine';
import { weightBudget } from './budget';
import type { Request, Response } from './protocol';

interface WorkerScope {
  postMessage(message: Response, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent<Request>) => void) | null;
}

const scope = self as unknown as WorkerScope;
const post = (message: Response, transfer: Transferable[] = []) =>
  scope.postMessage(message, transfer);

let engine: Promise<Engine | null> | null = null;

const noBackend = (id: number, message: string) =>
  post({ type: 'error', id, code: 'no-backend', message });

async function start(init: Extract<Request, { type: 'init' }>): Promise<Engine | null> {
  try {
    const info = await selectBackend({
      preferred: init.backend,
      canvas: init.canvas,
      threads: init.threads,
    });
    post({ type: 'backend', info });
    if (info.backend === 'webgl') watchContextLoss(() => post({ type: 'context-lost' }));
    // Chrome and Edge say how much memory the device has (capped at 8 GiB); others do not.
    const deviceMemory = (navigator as WorkerNavigator & { deviceMemory?: number }).deviceMemory;
    return new Engine({
      post,
      pageUrl: init.pageUrl,
      padToBuckets: info.backend === 'webgl',
      weightBudget: weightBudget(deviceMemory),
    });
  } catch (e) {
    noBackend(0, (e as Error).message);
    return null;
  }
}

scope.onmessage = ({ data: request }) => {
  if (request.type === 'init') {
    engine = start(request);
  } else if (request.type === 'debug-lose-context') {
    loseContextForTesting();
  } else if (!engine) {
    noBackend(request.id, 'the worker got a request before init');
  } else {
    void engine.then((e) =>
      e ? e.handle(request) : noBackend(request.id, 'no tfjs backend works here'),
    );
  }
};
