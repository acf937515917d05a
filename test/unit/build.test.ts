/** scripts/build.ts's guard: a package module bundled in two formats fails the build. */
import { describe, expect, it } from 'vitest';
import { assertOneCopyOfEachModule } from '../../scripts/build.js';

describe('assertOneCopyOfEachModule', () => {
  it('accepts one file per module, whatever its format, and our own sources', () => {
    expect(() =>
      assertOneCopyOfEachModule([
        'src/main.ts',
        'node_modules/graphql/language/parser.mjs',
        'node_modules/pg/lib/client.js',
        'node_modules/jose/dist/node/esm/jwt/verify.js',
      ]),
    ).not.toThrow();
  });

  it('refuses a package module bundled twice (parser.js and parser.mjs: two classes where one is expected)', () => {
    expect(() =>
      assertOneCopyOfEachModule([
        'node_modules/graphql/language/parser.mjs',
        'node_modules/graphql/language/parser.js',
        'node_modules/pg/lib/client.js',
      ]),
    ).toThrow(/bundled twice[\s\S]*node_modules\/graphql\/language\/parser\.mjs \+ node_modules\/graphql\/language\/parser\.js/);
  });

  it('tells apart modules of the same name in different packages', () => {
    expect(() =>
      assertOneCopyOfEachModule(['node_modules/a/index.js', 'node_modules/b/index.mjs', 'node_modules/a/lib/index.cjs']),
    ).not.toThrow();
  });
});
