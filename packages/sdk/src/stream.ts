import { createParser, type EventSourceMessage } from "eventsource-parser";

export interface StreamOptions {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly fetch: typeof fetch;
  readonly onMessage: (message: EventSourceMessage) => void;
  readonly onOpen: () => void;
  readonly onDown: (error: unknown) => void;
  /** first reconnect delay; doubles (with jitter) up to maxDelayMs */
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * A Server-Sent Events connection over fetch that reconnects for ever with jittered exponential
 * backoff until closed. Parsing is eventsource-parser's.
 */
export class EventStream {
  private controller: AbortController | null = null;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: StreamOptions) {}

  start(): void {
    void this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.controller?.abort();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const controller = new AbortController();
    this.controller = controller;
    try {
      const response = await this.options.fetch(this.options.url, {
        headers: { ...this.options.headers, accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      this.attempt = 0;
      this.options.onOpen();
      const parser = createParser({ onEvent: (message) => this.options.onMessage(message) });
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
        parser.feed(decoder.decode(chunk, { stream: true }));
      throw new Error("stream ended");
    } catch (error) {
      if (this.closed) return;
      this.options.onDown(error);
      const min = this.options.minDelayMs ?? 250;
      const max = this.options.maxDelayMs ?? 5_000;
      const delay = Math.min(max, min * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      this.timer = setTimeout(() => void this.connect(), delay);
      this.timer.unref();
    }
  }
}
