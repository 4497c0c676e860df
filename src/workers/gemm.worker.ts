/**
 * A helper thread of our matrix products on tfjs-wasm's threaded build, started by the model
 * worker (backend.ts): it runs its part of every product until the model worker ends it
 * (src/model/kernels/gemmPool.ts).
 */
import { type HelperInit, serveGemm } from '../model/kernels/gemmPool';

interface HelperScope {
  postMessage(message: 'ready'): void;
  onmessage: ((event: MessageEvent<HelperInit>) => void) | null;
}

const scope = self as unknown as HelperScope;
scope.onmessage = ({ data }) => serveGemm(data, () => scope.postMessage('ready'));
