import { describe, expect, it } from 'vitest';
import { precacheList, precacheVersion } from '../../scripts/lib/precache';

describe("the service worker's precache list", () => {
  it('keeps the page, scripts, styles, SIMD wasm, woff2 fonts and models; drops the rest', () => {
    const dist = [
      'index.html',
      'sw.js',
      'assets/index-fdDIwEWC.js',
      'assets/index-fdDIwEWC.js.map',
      'assets/engine.worker-M-21uZn6.js',
      'assets/index-GTdRX7Gq.css',
      'assets/tfjs-backend-wasm-BIA8cDLW.wasm',
      'assets/tfjs-backend-wasm-simd-BrM3BlWr.wasm',
      'assets/tfjs-backend-wasm-threaded-simd-BLCcuiBu.wasm',
      'assets/KaTeX_Main-Bold-Cx986IdX.woff2',
      'assets/KaTeX_Main-Bold-Jm3AIy58.woff',
      'assets/KaTeX_Main-Bold-waoOVXN0.ttf',
      'models/index.json',
      'models/lm/model.safetensors',
    ];
    expect(precacheList(dist)).toEqual([
      'assets/KaTeX_Main-Bold-Cx986IdX.woff2',
      'assets/engine.worker-M-21uZn6.js',
      'assets/index-GTdRX7Gq.css',
      'assets/index-fdDIwEWC.js',
      'assets/tfjs-backend-wasm-simd-BrM3BlWr.wasm',
      'assets/tfjs-backend-wasm-threaded-simd-BLCcuiBu.wasm',
      'index.html',
      'models/index.json',
      'models/lm/model.safetensors',
    ]);
  });

  it('names a new cache when any listed byte changes', () => {
    const a = [{ path: 'index.html', bytes: new Uint8Array([1, 2]) }];
    const b = [{ path: 'index.html', bytes: new Uint8Array([1, 3]) }];
    expect(precacheVersion(a)).toBe(precacheVersion(a));
    expect(precacheVersion(a)).not.toBe(precacheVersion(b));
    expect(precacheVersion(a)).toMatch(/^[0-9a-f]{16}$/);
  });
});
