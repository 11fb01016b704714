/**
 * A member's own fields beyond email and role: a name and properties (scalars the plays' member
 * audience rules test). Bounded so a member row stays small whatever a client sends: at most
 * `keys` properties, keys of at most `keyLength` characters, strings of at most `stringLength`.
 */
export const MEMBER_PROPERTY_BOUNDS = { keys: 50, keyLength: 100, stringLength: 1000 } as const;

export type PropertyValue = string | number | boolean;

/**
 * Properties after an update: the patch's keys over the current ones, a null value removing its
 * key (Stripe's metadata rule). The current object is not changed.
 */
export function mergeProperties(
  current: Readonly<Record<string, PropertyValue>>,
  patch: Readonly<Record<string, PropertyValue | null>>,
): Record<string, PropertyValue> {
  const merged: Record<string, PropertyValue> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** How the copy names a member (`member.name`): their name, or their email when they gave none. */
export function memberName(member: { readonly name: string | null; readonly email: string }): string {
  return member.name ?? member.email;
}
