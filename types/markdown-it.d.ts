// The parts of markdown-it 14.1.0 (vendored as /static/vendor/markdown-it.esm.js) that markdown.js uses.
// The package ships no types of its own; these are written from its API documentation.

interface MarkdownItToken {
  type: string;
  tag: string;
  nesting: number;
  content: string;
  info: string;
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
  self: {
    renderToken(tokens: MarkdownItToken[], idx: number, options: object): string;
    renderAttrs(token: { attrs: [string, string][] | null }): string;
  },
) => string;

interface MarkdownIt {
  render(source: string, env?: object): string;
  enable(names: string[]): MarkdownIt;
  // linkify-it; `re` holds its compiled patterns (markdown.js puts linkify-it-py's in place after compile)
  linkify: { set(options: object): void; add(schema: string, definition: null): void; re: Record<string, unknown> };
  // replaced by markdown-it-py's (markdown.js): a link destination's href, and the text shown for a bare URL
  normalizeLink: (url: string) => string;
  normalizeLinkText: (url: string) => string;
  // common/utils (unescapeAll, isValidEntityCode, fromCodePoint) and lib.mdurl (encode, decode, format)
  utils: {
    unescapeAll(text: string): string;
    isValidEntityCode(code: number): boolean;
    fromCodePoint(code: number): string;
    isPunctChar(ch: string): boolean;
    isMdAsciiPunct(code: number): boolean;
    isWhiteSpace(code: number): boolean;
    isSpace(code: number): boolean;
    escapeHtml(text: string): string;
    lib: { mdurl: object };
  };
  // parseLinkLabel, parseLinkDestination and parseLinkTitle, read by the link, image and reference rules
  helpers: Record<string, (...args: any[]) => any>;
  renderer: { rules: Record<string, MarkdownItRule> };
  // an inline rule: (state, silent) -> whether it matched at state.pos; `at` replaces the rule of that name
  // the block rules: markdown.js replaces "reference"
  block: {
    ruler: { at(name: string, rule: (state: any, start: number, end: number, silent: boolean) => boolean): void };
  };
  // State: StateInline, whose prototype's scanDelims markdown.js replaces
  inline: { ruler: { at(name: string, rule: (state: any, silent: boolean) => boolean): void }; State: any };
}

declare function markdownit(preset: string, options?: object): MarkdownIt;
export default markdownit;
