/**
 * gemm.worker.ts for Node's worker_threads (gemm-threads.test.ts): the same serveGemm, reached
 * through parentPort instead of a Worker's global scope.
 */
import { parentPort } from 'node:worker_threads';
import { type HelperInit, serveGemm } from '../../src/model/kernels/gemmPool';

parentPort!.once('message', (init: HelperInit) =>
  serveGemm(init, () => parentPort!.postMessage('ready')),
);
