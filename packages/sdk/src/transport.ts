import type { Settings } from "./options.ts";

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly retryAfterMs: number | null,
  ) {
    super(`Uptier answered ${status}`);
  }
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref?.();
  });

/**
 * Requests to the Uptier API with the secret key, retrying network failures, 5xx, 408 and 429 with
 * jittered exponential backoff (or the server's Retry-After).
 */
export class Transport {
  /** set once the client has closed: a failure is then final */
  private stopped = false;

  constructor(
    private readonly settings: Settings,
    readonly fetchImpl: typeof fetch,
  ) {}

  headers(): Record<string, string> {
    return { authorization: `Bearer ${this.settings.apiKey}` };
  }

  url(path: string): string {
    return `${this.settings.baseUrl}${path}`;
  }

  /** No more retries: what fails from now on fails at once. */
  stopRetrying(): void {
    this.stopped = true;
  }

  async request(
    method: string,
    path: string,
    body: unknown,
    { retries }: { retries: number },
  ): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.fetchImpl(this.url(path), {
          method,
          headers: {
            ...this.headers(),
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.settings.requestTimeoutMs),
        });
        const json = await response.json().catch(() => null);
        if (response.ok) return json;
        const retryAfter = Number(response.headers.get("retry-after"));
        throw new HttpError(
          response.status,
          json,
          Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null,
        );
      } catch (error) {
        const retryable =
          !(error instanceof HttpError) ||
          error.status >= 500 ||
          error.status === 429 ||
          error.status === 408;
        if (!retryable || attempt >= retries || this.stopped) throw error;
        const backoff = Math.min(this.settings.retryMaxMs, this.settings.retryBaseMs * 2 ** attempt);
        const wait =
          error instanceof HttpError && error.retryAfterMs !== null
            ? error.retryAfterMs
            : Math.random() * backoff;
        await sleep(wait);
      }
    }
  }
}
