import { eq } from "drizzle-orm";
import type { Executor } from "../../db/client.ts";
import { accounts, checkouts, quotes, subscriptions, testClocks } from "../../db/schema/index.ts";

const MAX_REMEMBERED = 100_000;

/**
 * The time an account lives by: its test clock's frozen time, or the server's for an account on
 * none. The routes that act for one account (a subscription, a quote, a checkout) ask it, so they
 * happen at the clock's time. An account's clock is set at its creation and never changes, so an
 * account found on none is remembered and costs no query again; one on a clock reads the clock.
 */
export class AccountTimes {
  private readonly onNoClock = new Set<string>();
  /** a subscription's account never changes */
  private readonly accountOf = new Map<string, string>();

  async of(db: Executor, accountId: string, now: Date): Promise<Date> {
    if (this.onNoClock.has(accountId)) return now;
    const [row] = await db
      .select({ clock: accounts.testClockId, frozenTime: testClocks.frozenTime })
      .from(accounts)
      .leftJoin(testClocks, eq(testClocks.id, accounts.testClockId))
      .where(eq(accounts.id, accountId));
    if (row?.clock) return row.frozenTime ?? now;
    // an unknown account is not remembered: it may be created next
    if (row) {
      if (this.onNoClock.size >= MAX_REMEMBERED) this.onNoClock.clear();
      this.onNoClock.add(accountId);
    }
    return now;
  }

  /** The time of a quote's account (a checkout of it); `now` for a quote not found (it is refused later). */
  async ofQuote(db: Executor, quoteId: string, now: Date): Promise<Date> {
    const [row] = await db.select({ account: quotes.accountId }).from(quotes).where(eq(quotes.id, quoteId));
    return row ? this.of(db, row.account, now) : now;
  }

  /** The time of a subscription's account (a read of it); its account is remembered, as is its clock. */
  async ofSubscription(db: Executor, subscriptionId: string, now: Date): Promise<Date> {
    let account = this.accountOf.get(subscriptionId);
    if (account === undefined) {
      const [row] = await db
        .select({ account: subscriptions.accountId })
        .from(subscriptions)
        .where(eq(subscriptions.id, subscriptionId));
      if (!row) return now;
      account = row.account;
      if (this.accountOf.size >= MAX_REMEMBERED) this.accountOf.clear();
      this.accountOf.set(subscriptionId, account);
    }
    return this.of(db, account, now);
  }

  /** The time of a checkout's account (its confirmation). */
  async ofCheckout(db: Executor, checkoutId: string, now: Date): Promise<Date> {
    const [row] = await db
      .select({ account: checkouts.accountId })
      .from(checkouts)
      .where(eq(checkouts.id, checkoutId));
    return row ? this.of(db, row.account, now) : now;
  }
}

const perApp = new WeakMap<object, AccountTimes>();

/** The app's one AccountTimes (its routes share what it remembers). */
export function accountTimesOf(app: object): AccountTimes {
  let times = perApp.get(app);
  if (!times) {
    times = new AccountTimes();
    perApp.set(app, times);
  }
  return times;
}
