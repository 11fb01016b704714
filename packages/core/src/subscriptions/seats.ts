/**
 * Seats: paid for on the subscription (its shape's `seats`), in use by its account's invited and
 * active members. One rule — the seats paid for cover the people using them — asked three ways.
 */

/** Whether `seats` cover `inUse` people: a subscription's seats never drop below the seats in use. */
export const seatsCover = (seats: number, inUse: number): boolean => seats >= inUse;

/** Whether one more member (an invite) fits in the seats paid for, or needs a seat bought first. */
export const hasFreeSeat = (seats: number, inUse: number): boolean => seatsCover(seats, inUse + 1);

/**
 * The seats a reduction leaves when it applies: the seats asked for, held at the seats in use when
 * people joined since it was asked (a scheduled cut applied at the period end).
 */
export const seatsAfterReduction = (seats: number, inUse: number): number =>
  seatsCover(seats, inUse) ? seats : inUse;
