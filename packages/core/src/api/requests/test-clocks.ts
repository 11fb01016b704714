import { z } from "zod";
import { IsoInstant } from "../../periods/instant.ts";
import { ListQuery } from "./common.ts";

/** A test clock (Stripe's model): accounts created on it live by its frozen time, not the server's. */
export const CreateTestClockInput = z
  .object({
    frozen_time: IsoInstant.describe("The clock's starting time (ISO 8601, UTC)"),
    name: z.string().min(1).max(300).optional(),
  })
  .strict();

/** Moves the clock forward to `to`, running everything due in between as of each due instant. */
export const AdvanceTestClockInput = z
  .object({
    to: IsoInstant.describe("The new frozen time: after the current one"),
  })
  .strict();

export const ListTestClocksQuery = ListQuery;
