// The parts of markdown-it 14.1.0 (vendored as /static/vendor/markdown-it.esm.js) that markdown.js uses.
// The package ships no types of its own; these are written from its API documentation.

interface MarkdownItToken {
  type: string;
  tag: string;
  nesting: number;
  content: string;
  attrs: [string, string][] | null;
  children: MarkdownItToken[] | null;
  attrGet(name: string): string | null;
  attrSet(name: string, value: string): void;
}

type MarkdownItRule = (
  tokens: MarkdownItToken[],
  idx: number,
  options: object,
  env: object,
  self: { renderToken(tokens: MarkdownItToken[], idx: number, options: object): string },
) => string;

interface MarkdownIt {
  render(source: string, env?: object): string;
  enable(names: string[]): MarkdownIt;
  linkify: { set(options: object): void; add(schema: string, definition: null): void };
  renderer: { rules: Record<string, MarkdownItRule> };
  // an inline rule: (state, silent) -> whether it matched at state.pos; `at` replaces the rule of that name
  inline: { ruler: { at(name: string, rule: (state: any, silent: boolean) => boolean): void } };
}

declare function markdownit(preset: string, options?: object): MarkdownIt;
export default markdownit;
