/**
 * Text PostgreSQL cannot store as sent: `text` and `jsonb` refuse the NUL character, and a lone
 * UTF-16 surrogate is not Unicode at all (pg would write a replacement character into text, and
 * jsonb refuses the escape). Everything that reaches the database from outside is checked with
 * this: GraphQL arguments (src/http/storable-input.ts) and token claims (src/auth/token-verifier.ts).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why PostgreSQL would refuse this text, or null when it can store it. */
export function storableTextProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain the NUL character (\\u0000)';
  if (LONE_SURROGATE.test(text)) return 'must be valid Unicode text (it contains a lone surrogate)';
  return null;
}
