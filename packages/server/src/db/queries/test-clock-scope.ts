import { type Column, type SQL, sql } from "drizzle-orm";

/**
 * Whether a row's account is one a run acts on: with a clock, the accounts on that test clock
 * (its advance); without, the accounts on none (the real-time jobs, which never touch an account
 * living by a test clock). One primary-key probe of `accounts` per row; the partial index
 * accounts_on_test_clock serves the clock's own listing.
 */
export function accountInScope(accountId: Column | SQL, testClock: string | undefined): SQL {
  return testClock === undefined
    ? sql`not exists (select 1 from accounts on_clock where on_clock.id = ${accountId} and on_clock.test_clock_id is not null)`
    : sql`exists (select 1 from accounts on_clock where on_clock.id = ${accountId} and on_clock.test_clock_id = ${testClock})`;
}
