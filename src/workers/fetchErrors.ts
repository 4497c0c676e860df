/**
 * What went wrong while fetching a model's files, said so that the user knows what to do: the
 * network, CORS, an HTTP error, a file that is absent or cut short, a model too big to load.
 */
import { formatBytes } from '../model/formatBytes';

/**
 * The network failed (`unreachable`: no answer at all, as offline), the server refused (CORS),
 * or answered with an HTTP error.
 */
export class FetchError extends Error {
  override name = 'FetchError';
  constructor(
    message: string,
    readonly unreachable = false,
  ) {
    super(message);
  }
}

/** A file is absent, cut short or not what it should be, or the model is too big to load. */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
  constructor(
    readonly code: 'missing' | 'corrupt' | 'too-large',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Why a fetch threw. Browsers give the same TypeError for a network failure and for a response
 * that CORS hides; asking again in `no-cors` mode tells them apart: an opaque answer means the
 * server is there but does not let this page read it.
 */
export async function fetchFailure(
  url: URL,
  file: string,
  error: Error,
  fetchFn: typeof fetch,
  signal: AbortSignal,
): Promise<FetchError> {
  if (isCrossOrigin(url)) {
    try {
      await fetchFn(url, { method: 'HEAD', mode: 'no-cors', signal });
      return new FetchError(
        `${url.host} does not let this page read ${file} (no CORS header Access-Control-Allow-Origin on ${url.href}); serve the folder with CORS, or download the files and open them with "open files…"`,
      );
    } catch {
      // unreachable in no-cors mode too: a network failure
    }
  }
  return new FetchError(
    `could not fetch ${file} from ${url.host}: network failure (${error.message}); are you offline, or is the URL wrong?`,
    true,
  );
}

/** Whether fetching `url` is a CORS request (in a browser, from another origin). */
export function isCrossOrigin(url: URL): boolean {
  return typeof location !== 'undefined' && url.origin !== location.origin;
}

/** An HTTP answer other than 200 or 404, as the user should read it; null when it is fine. */
export function httpError(url: URL, response: Response): FetchError | null {
  if (response.status === 401 || response.status === 403) {
    return new FetchError(
      `${url.href} answered HTTP ${response.status}: the repository does not exist, or is private or gated (only public models can be loaded)`,
    );
  }
  if (!response.ok || !response.body) {
    return new FetchError(`fetching ${url.href} failed: HTTP ${response.status}`);
  }
  return null;
}

export function tooLarge(what: string, budget: number): ModelFileError {
  return new ModelFileError(
    'too-large',
    `${what}, more than this device's budget of ${formatBytes(budget)} for weights (a quarter of its memory, at most 2 GiB; see docs/checkpoints.md)`,
  );
}

export function truncated(file: string, loaded: number, fileBytes: number): ModelFileError {
  return new ModelFileError(
    'corrupt',
    `${file} is truncated: ${loaded} of the ${fileBytes} bytes its header describes arrived`,
  );
}
