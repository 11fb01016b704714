import {
  ErrorCode,
  type EvaluationContext,
  type FlagMetadata,
  type JsonValue,
  OpenFeatureEventEmitter,
  type Provider,
  ProviderEvents,
  type ResolutionDetails,
  StandardResolutionReasons,
} from "@openfeature/server-sdk";
import type { Check } from "./checks.ts";
import type { Uptier } from "./client.ts";

/**
 * An OpenFeature provider over Uptier's cached checks: the flag key is the feature key, the
 * evaluation context's `account` (or its targetingKey) the account. Boolean flags answer
 * "allowed"; number flags the remaining quantity; string flags the reason; object flags the whole
 * check. The context's `quantity` asks for more than one unit.
 */
export class UptierProvider implements Provider {
  readonly metadata = { name: "uptier" } as const;
  readonly runsOn = "server" as const;
  readonly events = new OpenFeatureEventEmitter();
  private readonly unsubscribe: () => void;

  constructor(private readonly client: Uptier) {
    this.unsubscribe = client.onChange((accounts) =>
      this.events.emit(ProviderEvents.ConfigurationChanged, {
        message:
          accounts === "all" ? "all entitlements changed" : `entitlements changed: ${accounts.join(", ")}`,
      }),
    );
  }

  async onClose(): Promise<void> {
    this.unsubscribe();
  }

  private async evaluate<T>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
    pick: (check: Check) => T | null,
  ): Promise<ResolutionDetails<T>> {
    const account = typeof context.account === "string" ? context.account : context.targetingKey;
    if (!account)
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.TARGETING_KEY_MISSING,
        errorMessage: "Set the account in the evaluation context (account or targetingKey).",
      };
    const quantity = typeof context.quantity === "number" ? context.quantity : 1;
    const check = await this.client.check(account, flagKey, { quantity });
    if (check.reason === "unknown_feature")
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.FLAG_NOT_FOUND,
        errorMessage: `No feature "${flagKey}" in the catalog.`,
      };
    if (check.source === "fallback")
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.PROVIDER_NOT_READY,
        errorMessage: "Uptier is unreachable and nothing is cached for this account.",
        flagMetadata: { stale: true, allowed: check.allowed },
      };
    const value = pick(check);
    const flagMetadata: FlagMetadata = Object.fromEntries(
      Object.entries({
        reason: check.reason,
        allowed: check.allowed,
        limit: check.limit,
        used: check.used,
        remaining: check.remaining,
        stale: check.stale,
        source: check.source,
        upgrade: check.upgrade?.key,
      }).filter(([, v]) => v !== null && v !== undefined),
    ) as FlagMetadata;
    if (value === null)
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.DEFAULT,
        flagMetadata,
      };
    return {
      value,
      variant: check.allowed ? "allowed" : "denied",
      reason:
        check.source === "cache"
          ? StandardResolutionReasons.CACHED
          : StandardResolutionReasons.TARGETING_MATCH,
      flagMetadata,
    };
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext) {
    return this.evaluate(flagKey, defaultValue, context, (c) => c.allowed);
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext) {
    return this.evaluate(flagKey, defaultValue, context, (c) => c.remaining);
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext) {
    return this.evaluate(flagKey, defaultValue, context, (c) => c.reason);
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext) {
    return this.evaluate(flagKey, defaultValue, context, (c) => c as unknown as T);
  }
}
