import type { DomainEventOf } from "@uptier/core/api";
import type { Tx } from "../../db/client.ts";
import { DomainError } from "../errors.ts";
import { recordPromptEvent } from "./prompts.ts";
import { cancelFollowUps, type StepQueue } from "./steps.ts";

/**
 * A checkout's outcome, as the plays see it. The checkout recorded the prompt whose quote it applies
 * (its `attribution`, found when it began): that prompt moves to checkout_started (when the checkout
 * began) and, when it succeeded, to converted (when it completed). Any successful checkout of the
 * account cancels its scheduled follow-ups: the account converted.
 */
export async function recordCheckoutOutcome(
  tx: Tx,
  queue: StepQueue,
  event: DomainEventOf<"checkout.succeeded"> | DomainEventOf<"checkout.failed">,
): Promise<void> {
  const { checkout } = event.data;
  const attribution = checkout.attribution;
  const completedAt = new Date(checkout.completed_at ?? checkout.created);
  if (attribution) {
    const move = (type: "checkout_started" | "converted", at: Date) =>
      recordPromptEvent(tx, null, { account: checkout.account, id: attribution.prompt, event: { type } }, at);
    await ignoringRefusal(() => move("checkout_started", new Date(checkout.created)));
    if (event.type === "checkout.succeeded") await ignoringRefusal(() => move("converted", completedAt));
  }
  if (event.type === "checkout.succeeded") await cancelFollowUps(tx, queue, checkout.account, completedAt);
}

/**
 * A move the prompt's state refuses (already converted, on a redelivered event; a checkout of a
 * prompt never shown) changes nothing: the checkout is the fact, the prompt's state follows it when
 * it can. A refused move is refused before it writes anything.
 */
async function ignoringRefusal(move: () => Promise<unknown>): Promise<void> {
  try {
    await move();
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
  }
}
