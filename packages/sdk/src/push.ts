import type { EntitlementCache } from "./cache.ts";
import type { UptierError } from "./options.ts";
import { EventStream } from "./stream.ts";
import type { Transport } from "./transport.ts";

/**
 * Keeps the cache fresh over the server's push channel (Server-Sent Events): `invalidate` names the
 * accounts whose entitlements changed, `reset` means all of them. While it is down the cache's
 * answers are marked stale; when it comes back everything cached is refetched.
 */
export function followPushes(
  transport: Transport,
  cache: EntitlementCache,
  on: { error(error: UptierError): void; change(accounts: readonly string[] | "all"): void },
): EventStream {
  const stream = new EventStream({
    url: transport.url("/v1/entitlements/stream"),
    headers: transport.headers(),
    fetch: transport.fetchImpl,
    onOpen: () => {
      // Anything may have changed while we were away: refresh what we hold.
      const wasDown = !cache.live;
      cache.live = true;
      if (wasDown) void cache.refreshAll();
    },
    onDown: (error) => {
      if (cache.live)
        on.error({
          kind: "stream_down",
          message: "The push channel is down; answers are marked stale.",
          detail: error,
        });
      cache.live = false;
    },
    onMessage: (message) => {
      if (message.event === "reset") {
        void cache.refreshAll().then(() => on.change("all"));
        return;
      }
      if (message.event !== "invalidate") return;
      let accounts: string[] = [];
      try {
        accounts = (JSON.parse(message.data) as { accounts?: string[] }).accounts ?? [];
      } catch {
        return;
      }
      const refreshing = cache.refreshAccounts(accounts);
      if (refreshing) void refreshing.refreshed.then(() => on.change(refreshing.held));
    },
  });
  stream.start();
  return stream;
}
