/** What a background loop logs (pino's and Fastify's loggers fit). */
export interface LoopLogger {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

/**
 * Runs a pass of work now and then: every `intervalMs`, at once again while a pass says there is
 * more, and on `wake()`. One pass at a time; a failed pass is logged and the next one tries again.
 */
export class PollLoop {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly pass: () => Promise<{ readonly more: boolean }>,
    private readonly intervalMs: number,
    private readonly log?: LoopLogger,
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** Runs a pass now (after the one running, if any). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  /** Stops the loop and waits for the pass in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), ms);
    this.timer.unref();
  }

  private run(): void {
    this.timer = null;
    this.running = (async () => {
      let more = false;
      try {
        more = (await this.pass()).more;
      } catch (error) {
        this.log?.error({ err: error, loop: this.name }, `${this.name} failed`);
      }
      this.running = null;
      const next = more || this.again;
      this.again = false;
      this.schedule(next ? 0 : this.intervalMs);
    })();
  }
}
