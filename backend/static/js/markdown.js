// @ts-check
// Post bodies rendered in the browser exactly as the server renders them (backend/markdown.py): the same
// parser (markdown-it 14.1.0 here, markdown-it-py 4.3.0 there, its line-by-line port), the same rule set
// (../markdown-rules.json, read by both), the same render overrides and deterministic caps (tables only up
// to max_table_pipes pipes, nesting at most max_nesting, at most max_html_chars of HTML), then a sanitiser
// that keeps what nh3 keeps on the server (tags, attributes, and href only when it parses as an absolute URL
// of an allowed scheme, as Ammonia's url crate parses it: both are WHATWG URL parsers).
// The server's one budget that is not deterministic, CPU time, falls back to plain(): the body's source as
// escaped text, a pure function of the bytes that the browser recomputes exactly (verify.js accepts it).

import markdownit from "/static/vendor/markdown-it.esm.js";
import rules from "../markdown-rules.json" with { type: "json" };

/** @type {Record<string, string[]>} */
const ATTRIBUTES = rules.attributes;
const TAGS = new Set(rules.tags);
const SCHEMES = new Set(rules.url_schemes);
const REFUSED_HREF = new RegExp(rules.refused_href, "i"); // punycode or percent-encoded hosts: the link stays text
const DROPPED_WITH_CONTENT = new Set(["script", "style"]); // nh3's clean_content_tags on the server
// Python's str.isspace(), which the server's plain() and the document rule's strip() use (JS trim() differs:
// it strips U+FEFF and keeps U+001C..U+001F)
export const PY_SPACE =
  "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const BLANK = new RegExp(`^[${PY_SPACE}]*$`);

const escapeHtml = (/** @type {string} */ text) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** Each backtick run length's last position in ``src`` (markdown-it-py 4.3.0's _build_last_runs). @param {string} src */
function lastRuns(src) {
  /** @type {Record<number, number>} */
  const last = {};
  let pos = 0;
  let start;
  while ((start = src.indexOf("`", pos)) !== -1) {
    pos = start + 1;
    while (pos < src.length && src.charCodeAt(pos) === 0x60) pos++;
    last[pos - start] = start;
  }
  return last;
}

/**
 * markdown-it-py 4.3.0's backtick rule, line by line, in place of markdown-it 14.1.0's: that one caches where a
 * closing run can be from its first scan, which a link label's lookahead can leave short, so `[```> ```js` got
 * no code span in the browser and one on the server (found by test_render_parity's Hypothesis).
 * @param {any} state @param {boolean} silent
 */
function backtick(state, silent) {
  const start = state.pos;
  if (state.src.charCodeAt(start) !== 0x60) return false;
  const max = state.posMax;
  let pos = start + 1;
  while (pos < max && state.src.charCodeAt(pos) === 0x60) pos++;
  const marker = state.src.slice(start, pos);
  const openerLength = marker.length;
  if (!state.backticksScanned) {
    // lookaheads may visit runs out of order: the cache is built from the whole source, whatever the position
    state.backticks = lastRuns(state.src);
    state.backticksScanned = true;
  }
  if ((state.backticks[openerLength] ?? -1) >= pos) {
    let matchEnd = pos;
    let matchStart;
    while ((matchStart = state.src.indexOf("`", matchEnd)) !== -1 && matchStart < max) {
      matchEnd = matchStart + 1;
      while (matchEnd < state.src.length && state.src.charCodeAt(matchEnd) === 0x60) matchEnd++;
      if (matchEnd > max) break; // a run crossing posMax cannot close in this parse range
      if (matchEnd - matchStart === openerLength) {
        if (!silent) {
          const token = state.push("code_inline", "code", 0);
          token.markup = marker;
          let content = state.src.slice(pos, matchStart).replaceAll("\n", " ");
          // one space off each side, unless the content is all spaces
          if (content.startsWith(" ") && content.endsWith(" ") && /[^ ]/.test(content)) content = content.slice(1, -1);
          token.content = content;
        }
        state.pos = matchEnd;
        return true;
      }
    }
  }
  if (!silent) state.pending += marker;
  state.pos = pos;
  return true;
}

// Python's re.IGNORECASE lets [a-z] match four letters past ASCII (U+0130 İ, U+0131 ı, U+017F ſ, U+212A K: they
// case-map into ASCII), which JS's /i does not: markdown-it-py's patterns written [a-z] are spelt out with them here
const PY_AZ = "a-z\\u0130\\u0131\\u017f\\u212a";
// markdown-it-py 4.3.0's rules_inline/linkify.py SCHEME_RE, as Python's re reads it
const SCHEME_RE = new RegExp(`(?:^|[^${PY_AZ}0-9.+-])([${PY_AZ}][${PY_AZ}0-9.+-]*)$`, "i");

/**
 * markdown-it-py 4.3.0's linkify rule (bare http(s) URLs), in place of markdown-it 14.1.0's: the same but for the
 * scheme's boundary, which Python's case-insensitive [a-z] moves (`ſhttps://e.x` stays text on the server).
 * @param {any} state @param {boolean} silent
 */
function linkifyRule(state, silent) {
  if (!state.md.options.linkify || state.linkLevel > 0) return false;
  const pos = state.pos;
  if (pos + 3 > state.posMax || state.src.slice(pos, pos + 3) !== "://") return false;
  const match = SCHEME_RE.exec(state.pending);
  if (!match) return false;
  const proto = match[1];
  const link = state.md.linkify.matchAtStart(state.src.slice(pos - proto.length));
  if (!link) return false;
  const url = link.url.replace(/\*+$/, ""); // a '*' at the end is emphasis
  const fullUrl = state.md.normalizeLink(url);
  if (!state.md.validateLink(fullUrl)) return false;
  if (!silent) {
    state.pending = state.pending.slice(0, -proto.length);
    const open = state.push("link_open", "a", 1);
    open.attrs = [["href", fullUrl]];
    open.markup = "linkify";
    open.info = "auto";
    state.push("text", "", 0).content = state.md.normalizeLinkText(url);
    const close = state.push("link_close", "a", -1);
    close.markup = "linkify";
    close.info = "auto";
  }
  state.pos += url.length - proto.length;
  return true;
}

/**
 * The text of HTML5's named character reference ``&name;``, or null where ``name`` is not one: markdown-it-py's
 * ``entities[name]`` (Python's html.entities.html5), read from markdown-it's decoder, which also decodes a legacy
 * prefix (``&oumlx;`` as ``öx;``): a decoding that left the name's tail (ending in ";") was a prefix.
 * @param {any} md @param {string} name @returns {string | null}
 */
function namedEntity(md, name) {
  if (name.startsWith("#")) return null;
  const reference = `&${name};`;
  const decoded = md.utils.unescapeAll(reference);
  return decoded === reference || (decoded.endsWith(";") && name !== "semi") ? null : decoded;
}

const DIGITAL_ENTITY = /^&#((?:x[a-f0-9]{1,6}|[0-9]{1,7}));/i;
const NAMED_ENTITY = /^&([a-z][a-z0-9]{1,31});/i; // [a-z] past ASCII (PY_AZ) never spells an entity's name

/**
 * markdown-it-py 4.3.0's entity rule: a named reference only as a whole name (markdown-it 14.1.0 decoded
 * `&oumlx;` as `öx;`, the server leaves it as text). @param {any} state @param {boolean} silent
 */
function entityRule(state, silent) {
  const pos = state.pos;
  if (state.src.charCodeAt(pos) !== 0x26 || pos + 1 >= state.posMax) return false;
  const rest = state.src.slice(pos, pos + 40);
  /** @type {string | null} */
  let content;
  let match;
  if (state.src.charCodeAt(pos + 1) === 0x23) {
    match = DIGITAL_ENTITY.exec(rest);
    if (!match) return false;
    const code = match[1][0].toLowerCase() === "x" ? parseInt(match[1].slice(1), 16) : parseInt(match[1], 10);
    content = state.md.utils.isValidEntityCode(code) ? state.md.utils.fromCodePoint(code) : "\ufffd";
  } else {
    match = NAMED_ENTITY.exec(rest);
    content = match && namedEntity(state.md, match[1]);
    if (!match || content === null) return false;
  }
  if (!silent) {
    const token = state.push("text_special", "", 0);
    token.content = content;
    token.markup = match[0];
    token.info = "entity";
  }
  state.pos += match[0].length;
  return true;
}

const UNESCAPE_ALL = new RegExp(
  `\\\\([!"#$%&'()*+,\\-./:;<=>?@[\\\\\\]^_\`{|}~])|&([${PY_AZ}#][${PY_AZ}0-9]{1,31});`,
  "gi",
);

/**
 * markdown-it-py 4.3.0's unescapeAll (backslash escapes and references in link destinations and titles):
 * named references only as whole names, as in the entity rule. @param {any} md @param {string} text
 */
function unescapeAll(md, text) {
  if (!text.includes("\\") && !text.includes("&")) return text;
  return text.replace(
    UNESCAPE_ALL,
    (/** @type {string} */ match, /** @type {string} */ escaped, /** @type {string} */ name) => {
      if (escaped) return escaped;
      const named = namedEntity(md, name);
      if (named !== null) return named;
      const decimal = /^#([0-9]{1,8})$/.exec(name);
      const hex = /^#x([a-f0-9]{1,8})$/i.exec(name);
      const code = decimal ? parseInt(decimal[1], 10) : hex ? parseInt(hex[1], 16) : -1;
      if (code >= 0 && md.utils.isValidEntityCode(code)) return md.utils.fromCodePoint(code);
      return match;
    },
  );
}

/**
 * markdown-it's parseLinkDestination (the same in both) with markdown-it-py's unescapeAll.
 * @param {any} md @param {string} str @param {number} start @param {number} max
 */
function parseLinkDestination(md, str, start, max) {
  const result = { ok: false, pos: 0, str: "" };
  let pos = start;
  if (str.charCodeAt(pos) === 0x3c) {
    pos++;
    while (pos < max) {
      const code = str.charCodeAt(pos);
      if (code === 0x0a || code === 0x3c) return result;
      if (code === 0x3e) {
        result.pos = pos + 1;
        result.str = unescapeAll(md, str.slice(start + 1, pos));
        result.ok = true;
        return result;
      }
      pos += code === 0x5c && pos + 1 < max ? 2 : 1;
    }
    return result; // no closing '>'
  }
  let level = 0;
  while (pos < max) {
    const code = str.charCodeAt(pos);
    if (code <= 0x20 || code === 0x7f) break; // space and ASCII controls
    if (code === 0x5c && pos + 1 < max) {
      if (str.charCodeAt(pos + 1) === 0x20) break;
      pos += 2;
      continue;
    }
    if (code === 0x28 && ++level > 32) return result;
    if (code === 0x29) {
      if (level === 0) break;
      level--;
    }
    pos++;
  }
  if (start === pos || level !== 0) return result;
  result.str = unescapeAll(md, str.slice(start, pos));
  result.pos = pos;
  result.ok = true;
  return result;
}

/**
 * markdown-it's parseLinkTitle (the same in both) with markdown-it-py's unescapeAll.
 * @param {any} md @param {string} str @param {number} start @param {number} max @param {any} [prev]
 */
function parseLinkTitle(md, str, start, max, prev) {
  const state = { ok: false, can_continue: false, pos: 0, str: "", marker: 0 };
  let pos = start;
  if (prev) {
    state.str = prev.str;
    state.marker = prev.marker;
  } else {
    if (pos >= max) return state;
    const marker = str.charCodeAt(pos);
    if (marker !== 0x22 && marker !== 0x27 && marker !== 0x28) return state;
    start++;
    pos++;
    state.marker = marker === 0x28 ? 0x29 : marker;
  }
  while (pos < max) {
    const code = str.charCodeAt(pos);
    if (code === state.marker) {
      state.pos = pos + 1;
      state.str += unescapeAll(md, str.slice(start, pos));
      state.ok = true;
      return state;
    } else if (code === 0x28 && state.marker === 0x29) {
      return state;
    } else if (code === 0x5c && pos + 1 < max) {
      pos++;
    }
    pos++;
  }
  state.can_continue = true; // no closing marker: a reference's title may go on on the next line
  state.str += unescapeAll(md, str.slice(start, pos));
  return state;
}

// The server's bare-URL finder is linkify-it-py 2.2.0, a port of linkify-it 5.0 whose patterns read differently
// in Python's re than the originals do in JS: Python matches code points where JS's (without the u flag) match
// UTF-16 units, and linkify-it leaves its "any character" ungrouped after a look-ahead, so that every character
// past U+FFFF, punctuation too, is a letter of a host name there (`http://\u{1144d}` linked in the browser only);
// Python's \d is any decimal digit (`http://a.b:\u{663}` has a port on the server); the two packages' character
// classes come from different Unicode versions; case-insensitive [a-z] takes U+0130 and U+0131 in Python. The
// browser's linkify-it therefore runs linkify-it-py's patterns (linkify_it/ucre.py, for http(s) schemes without
// fuzzy links: the rule set's), built here with the u flag from the server's own classes: P, Z and Cc as
// linkify-it-py generated them (Unicode 16.0.0) and \d as Python 3.11's re reads it (Unicode 14.0.0 Nd).
const PY_P =
  "\\u{21}-\\u{23}\\u{25}-\\u{2a}\\u{2c}-\\u{2f}\\u{3a}-\\u{3b}\\u{3f}-\\u{40}\\u{5b}-\\u{5d}\\u{5f}\\u{7b}\\u{7d}\\u{a1}\\u{a7}\\u{ab}\\u{b6}-\\u{b7}\\u{bb}\\u{bf}\\u{37e}\\u{387}\\u{55a}-\\u{55f}\\u{589}-\\u{58a}\\u{5be}\\u{5c0}\\u{5c3}\\u{5c6}\\u{5f3}-\\u{5f4}\\u{609}-\\u{60a}\\u{60c}-\\u{60d}\\u{61b}\\u{61d}-\\u{61f}\\u{66a}-\\u{66d}\\u{6d4}\\u{700}-\\u{70d}\\u{7f7}-\\u{7f9}\\u{830}-\\u{83e}\\u{85e}\\u{964}-\\u{965}\\u{970}\\u{9fd}\\u{a76}\\u{af0}\\u{c77}\\u{c84}\\u{df4}\\u{e4f}\\u{e5a}-\\u{e5b}\\u{f04}-\\u{f12}\\u{f14}\\u{f3a}-\\u{f3d}\\u{f85}\\u{fd0}-\\u{fd4}\\u{fd9}-\\u{fda}\\u{104a}-\\u{104f}\\u{10fb}\\u{1360}-\\u{1368}\\u{1400}\\u{166e}\\u{169b}-\\u{169c}\\u{16eb}-\\u{16ed}\\u{1735}-\\u{1736}\\u{17d4}-\\u{17d6}\\u{17d8}-\\u{17da}\\u{1800}-\\u{180a}\\u{1944}-\\u{1945}\\u{1a1e}-\\u{1a1f}\\u{1aa0}-\\u{1aa6}\\u{1aa8}-\\u{1aad}\\u{1b4e}-\\u{1b4f}\\u{1b5a}-\\u{1b60}\\u{1b7d}-\\u{1b7f}\\u{1bfc}-\\u{1bff}\\u{1c3b}-\\u{1c3f}\\u{1c7e}-\\u{1c7f}\\u{1cc0}-\\u{1cc7}\\u{1cd3}\\u{2010}-\\u{2027}\\u{2030}-\\u{2043}\\u{2045}-\\u{2051}\\u{2053}-\\u{205e}\\u{207d}-\\u{207e}\\u{208d}-\\u{208e}\\u{2308}-\\u{230b}\\u{2329}-\\u{232a}\\u{2768}-\\u{2775}\\u{27c5}-\\u{27c6}\\u{27e6}-\\u{27ef}\\u{2983}-\\u{2998}\\u{29d8}-\\u{29db}\\u{29fc}-\\u{29fd}\\u{2cf9}-\\u{2cfc}\\u{2cfe}-\\u{2cff}\\u{2d70}\\u{2e00}-\\u{2e2e}\\u{2e30}-\\u{2e4f}\\u{2e52}-\\u{2e5d}\\u{3001}-\\u{3003}\\u{3008}-\\u{3011}\\u{3014}-\\u{301f}\\u{3030}\\u{303d}\\u{30a0}\\u{30fb}\\u{a4fe}-\\u{a4ff}\\u{a60d}-\\u{a60f}\\u{a673}\\u{a67e}\\u{a6f2}-\\u{a6f7}\\u{a874}-\\u{a877}\\u{a8ce}-\\u{a8cf}\\u{a8f8}-\\u{a8fa}\\u{a8fc}\\u{a92e}-\\u{a92f}\\u{a95f}\\u{a9c1}-\\u{a9cd}\\u{a9de}-\\u{a9df}\\u{aa5c}-\\u{aa5f}\\u{aade}-\\u{aadf}\\u{aaf0}-\\u{aaf1}\\u{abeb}\\u{fd3e}-\\u{fd3f}\\u{fe10}-\\u{fe19}\\u{fe30}-\\u{fe52}\\u{fe54}-\\u{fe61}\\u{fe63}\\u{fe68}\\u{fe6a}-\\u{fe6b}\\u{ff01}-\\u{ff03}\\u{ff05}-\\u{ff0a}\\u{ff0c}-\\u{ff0f}\\u{ff1a}-\\u{ff1b}\\u{ff1f}-\\u{ff20}\\u{ff3b}-\\u{ff3d}\\u{ff3f}\\u{ff5b}\\u{ff5d}\\u{ff5f}-\\u{ff65}\\u{10100}-\\u{10102}\\u{1039f}\\u{103d0}\\u{1056f}\\u{10857}\\u{1091f}\\u{1093f}\\u{10a50}-\\u{10a58}\\u{10a7f}\\u{10af0}-\\u{10af6}\\u{10b39}-\\u{10b3f}\\u{10b99}-\\u{10b9c}\\u{10d6e}\\u{10ead}\\u{10f55}-\\u{10f59}\\u{10f86}-\\u{10f89}\\u{11047}-\\u{1104d}\\u{110bb}-\\u{110bc}\\u{110be}-\\u{110c1}\\u{11140}-\\u{11143}\\u{11174}-\\u{11175}\\u{111c5}-\\u{111c8}\\u{111cd}\\u{111db}\\u{111dd}-\\u{111df}\\u{11238}-\\u{1123d}\\u{112a9}\\u{113d4}-\\u{113d5}\\u{113d7}-\\u{113d8}\\u{1144b}-\\u{1144f}\\u{1145a}-\\u{1145b}\\u{1145d}\\u{114c6}\\u{115c1}-\\u{115d7}\\u{11641}-\\u{11643}\\u{11660}-\\u{1166c}\\u{116b9}\\u{1173c}-\\u{1173e}\\u{1183b}\\u{11944}-\\u{11946}\\u{119e2}\\u{11a3f}-\\u{11a46}\\u{11a9a}-\\u{11a9c}\\u{11a9e}-\\u{11aa2}\\u{11b00}-\\u{11b09}\\u{11be1}\\u{11c41}-\\u{11c45}\\u{11c70}-\\u{11c71}\\u{11ef7}-\\u{11ef8}\\u{11f43}-\\u{11f4f}\\u{11fff}\\u{12470}-\\u{12474}\\u{12ff1}-\\u{12ff2}\\u{16a6e}-\\u{16a6f}\\u{16af5}\\u{16b37}-\\u{16b3b}\\u{16b44}\\u{16d6d}-\\u{16d6f}\\u{16e97}-\\u{16e9a}\\u{16fe2}\\u{1bc9f}\\u{1da87}-\\u{1da8b}\\u{1e5ff}\\u{1e95e}-\\u{1e95f}";
const PY_Z = "\\u{20}\\u{a0}\\u{1680}\\u{2000}-\\u{200a}\\u{2028}-\\u{2029}\\u{202f}\\u{205f}\\u{3000}";
const PY_CC = "\\u{0}-\\u{1f}\\u{7f}-\\u{9f}";
const PY_DIGIT =
  "[\\u{30}-\\u{39}\\u{660}-\\u{669}\\u{6f0}-\\u{6f9}\\u{7c0}-\\u{7c9}\\u{966}-\\u{96f}\\u{9e6}-\\u{9ef}\\u{a66}-\\u{a6f}\\u{ae6}-\\u{aef}\\u{b66}-\\u{b6f}\\u{be6}-\\u{bef}\\u{c66}-\\u{c6f}\\u{ce6}-\\u{cef}\\u{d66}-\\u{d6f}\\u{de6}-\\u{def}\\u{e50}-\\u{e59}\\u{ed0}-\\u{ed9}\\u{f20}-\\u{f29}\\u{1040}-\\u{1049}\\u{1090}-\\u{1099}\\u{17e0}-\\u{17e9}\\u{1810}-\\u{1819}\\u{1946}-\\u{194f}\\u{19d0}-\\u{19d9}\\u{1a80}-\\u{1a89}\\u{1a90}-\\u{1a99}\\u{1b50}-\\u{1b59}\\u{1bb0}-\\u{1bb9}\\u{1c40}-\\u{1c49}\\u{1c50}-\\u{1c59}\\u{a620}-\\u{a629}\\u{a8d0}-\\u{a8d9}\\u{a900}-\\u{a909}\\u{a9d0}-\\u{a9d9}\\u{a9f0}-\\u{a9f9}\\u{aa50}-\\u{aa59}\\u{abf0}-\\u{abf9}\\u{ff10}-\\u{ff19}\\u{104a0}-\\u{104a9}\\u{10d30}-\\u{10d39}\\u{11066}-\\u{1106f}\\u{110f0}-\\u{110f9}\\u{11136}-\\u{1113f}\\u{111d0}-\\u{111d9}\\u{112f0}-\\u{112f9}\\u{11450}-\\u{11459}\\u{114d0}-\\u{114d9}\\u{11650}-\\u{11659}\\u{116c0}-\\u{116c9}\\u{11730}-\\u{11739}\\u{118e0}-\\u{118e9}\\u{11950}-\\u{11959}\\u{11c50}-\\u{11c59}\\u{11d50}-\\u{11d59}\\u{11da0}-\\u{11da9}\\u{16a60}-\\u{16a69}\\u{16ac0}-\\u{16ac9}\\u{16b50}-\\u{16b59}\\u{1d7ce}-\\u{1d7ff}\\u{1e140}-\\u{1e149}\\u{1e2f0}-\\u{1e2f9}\\u{1e950}-\\u{1e959}\\u{1fbf0}-\\u{1fbf9}]";
const ZPCC = `[${PY_Z}${PY_P}${PY_CC}]`;

const ZCC = `[${PY_Z}${PY_CC}]`;
const SEPARATORS = "[><\\u{ff5c}]";
const PY_END = "(?:$|(?=\\n$))"; // Python's $: the end, or before a newline that ends the text
const PY_DOT = "[^\\n]"; // Python's .
const PSEUDO_LETTER = `(?:(?!${SEPARATORS}|${ZPCC})[\\s\\S])`;
const AUTH = `(?:(?:(?!${ZCC}|[@/\\[\\]()])${PY_DOT}){1,50}@)?`;
const D = PY_DIGIT;
const PORT = `(?::(?:6(?:[0-4]${D}{3}|5(?:[0-4]${D}{2}|5(?:[0-2]${D}|3[0-5])))|[1-5]?${D}{1,4}))?`;
const XN = "xn--[a-z\\u{130}\\u{131}0-9\\-]{1,59}";
const DOMAIN = `(?:${XN}|(?:${PSEUDO_LETTER})|(?:${PSEUDO_LETTER}(?:-|${PSEUDO_LETTER}){0,61}${PSEUDO_LETTER}))`;
const HOST = `(?:(?:(?:${DOMAIN})\\.)*${DOMAIN})`;
const HOST_TERMINATOR = `(?=${PY_END}|${SEPARATORS}|${ZPCC})(?!-|_|:${D}|\\.-|\\.(?!${PY_END}|${ZPCC}))`;
const PATH =
  "(?:[/?#](?:" +
  [
    `(?!${ZCC}|${SEPARATORS}|[()[\\]{}.,"'?!\\-;])${PY_DOT}`,
    `\\[(?:(?!${ZCC}|\\])${PY_DOT})*\\]`,
    `\\((?:(?!${ZCC}|[)])${PY_DOT})*\\)`,
    `\\{(?:(?!${ZCC}|[}])${PY_DOT})*\\}`,
    `"(?:(?!${ZCC}|["])${PY_DOT})+"`,
    `'(?:(?!${ZCC}|['])${PY_DOT})+'`,
    `'(?=${PSEUDO_LETTER}|[-])`,
    "\\.{2,}[a-zA-Z\\u{130}\\u{131}0-9%/&]",
    `\\.(?!${ZCC}|[.]|${PY_END})`,
    "-+",
    `,(?!${ZCC}|${PY_END})`,
    `;(?!${ZCC}|${PY_END})`,
    `!+(?!${ZCC}|[!]|${PY_END})`,
    `\\?(?!${ZCC}|[?]|${PY_END})`,
  ].join("|") +
  ")+|\\/)?";

/** The server's character classes as linkify's patterns here hold them, for tests. */
export const LINKIFY_CLASSES = { digit: PY_DIGIT, punctuation: `[${PY_P}]`, space: `[${PY_Z}]`, control: `[${PY_CC}]` };

/**
 * ``src`` with its letter i as Python's re.IGNORECASE reads it, also U+0130 and U+0131 (JS's iu takes neither), in
 * and out of character classes. @param {string} src
 */
const pyDottedI = (src) =>
  src.replace(/\[[^\]]*\]|i/g, (part) =>
    part === "i" ? "[i\\u{130}\\u{131}]" : part.includes("i") ? `${part.slice(0, -1)}\\u{130}\\u{131}]` : part,
  );

/**
 * linkify-it-py's patterns in place of linkify-it's (see PY_P): the http(s) validator, the scheme search and the
 * pretest, which markdown-it's core rule asks of a whole paragraph before it tests its text tokens one by one (a
 * fuzzy host such as `www.` there lets `_https://ä_` be tested as `https://ä`). They are rebuilt by linkify-it's
 * compile(), which set() and add() call: this runs after them.
 * @param {any} linkifyIt
 */
function pyLinkifyPatterns(linkifyIt) {
  const re = linkifyIt.re;
  re.http = new RegExp(`^//${AUTH}${HOST}${PORT}${HOST_TERMINATOR}${PATH}`, "iu");
  const schemes = rules.linkify_schemes.map((scheme) => `${scheme}:`).join("|");
  const schemeTest = `(^|(?!_)(?:${SEPARATORS}|${ZPCC}))(${schemes})`;
  re.schema_test = new RegExp(schemeTest, "iu");
  re.schema_search = new RegExp(schemeTest, "giu");
  re.schema_at_start = new RegExp(`^${schemeTest}`, "iu");
  // linkify-it's top-level domains (the same list in both packages), with linkify-it-py's xn-- and Python's i
  if (!String(re.src_tlds).endsWith(`|${re.src_xn}`)) throw new Error("linkify-it's TLD list changed");
  const tlds = `${pyDottedI(String(re.src_tlds).slice(0, -String(re.src_xn).length - 1))}|${XN}`;
  const hostFuzzyTest = `localhost|www\\.|\\.${D}{1,3}\\.|(?:\\.(?:${tlds})(?:${ZPCC}|>|${PY_END}))`;
  re.pretest = new RegExp(`(${schemeTest})|(${hostFuzzyTest})|@`, "iu");
}

// ---- link destinations: markdown-it-py 4.3.0's normalizeLink / normalizeLinkText over Python's mdurl 0.1.2 and
// punycode (markdown_it/common/normalize_url.py, mdurl/_parse.py, markdown_it/_punycode.py). markdown-it 14.1.0's
// differ by their language: JS's trim() keeps U+0085 and U+001C..U+001F that Python's strip() drops (`<http:ß\x85>`
// linked with a different target), JS's . stops at U+2028, U+2029 and CR where Python's does not (a host part
// after one was dropped), punycode.js counts UTF-16 units and refuses `xn---x` that Python's codec decodes, and
// markdown-it-py bracket-encodes IPv6 hosts since 4.3.0. mdurl's format, encode and decode are the same in both.

const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");
const PROTOCOL = /^([a-z\u0130\u0131\u017f\u212a0-9.+-]+:)/i; // mdurl's, with re.IGNORECASE's [a-z]
const PORT_PATTERN = /:[0-9]*(?:$|(?=\n$))/;
const NON_HOST_CHARS = [
  "%",
  "/",
  "?",
  ";",
  "#",
  "'",
  "{",
  "}",
  "|",
  "\\",
  "^",
  "`",
  "<",
  ">",
  '"',
  "`",
  " ",
  "\r",
  "\n",
  "\t",
];
const HOSTNAME_PART = /^[+a-z0-9A-Z_-]{0,63}(?:$|(?=\n$))/;
const HOSTNAME_PART_START = /^([+a-z0-9A-Z_-]{0,63})([^\n]*)(?:$|(?=\n$))/;
const HOSTLESS = new Set(["javascript", "javascript:"]);
const SLASHED = new Set(["http", "https", "ftp", "gopher", "file", "http:", "https:", "ftp:", "gopher:", "file:"]);

/**
 * @typedef {{protocol: string | null, slashes: boolean, auth: string | null, port: string | null,
 *   hostname: string | null, hash: string | null, search: string | null, pathname: string | null}} ParsedUrl
 */

/** The first of ``chars`` in ``text``, or -1. @param {string} text @param {string[]} chars */
function firstOf(text, chars) {
  let end = -1;
  for (const ch of chars) {
    const at = text.indexOf(ch);
    if (at !== -1 && (end === -1 || at < end)) end = at;
  }
  return end;
}

/** mdurl 0.1.2's url_parse(url, slashes_denote_host=True), as Python runs it. @param {string} url @returns {ParsedUrl} */
function parseUrl(url) {
  /** @type {ParsedUrl} */
  const parsed = {
    protocol: null,
    slashes: false,
    auth: null,
    port: null,
    hostname: null,
    hash: null,
    search: null,
    pathname: null,
  };
  let rest = url.replace(PY_STRIP, "");
  let proto = "";
  let lowerProto = "";
  const protoMatch = PROTOCOL.exec(rest);
  if (protoMatch) {
    proto = protoMatch[0];
    lowerProto = proto.toLowerCase();
    parsed.protocol = proto;
    rest = rest.slice(proto.length);
  }
  const slashes = rest.startsWith("//");
  if (slashes && !(proto && HOSTLESS.has(proto))) {
    rest = rest.slice(2);
    parsed.slashes = true;
  }
  if (!HOSTLESS.has(proto) && (slashes || (proto && !SLASHED.has(proto)))) {
    const hostEnd = firstOf(rest, ["/", "?", "#"]);
    const atSign = hostEnd === -1 ? rest.lastIndexOf("@") : rest.lastIndexOf("@", hostEnd);
    if (atSign !== -1) {
      parsed.auth = rest.slice(0, atSign);
      rest = rest.slice(atSign + 1);
    }
    let end = firstOf(rest, NON_HOST_CHARS);
    if (end === -1) end = rest.length;
    if (end > 0 && rest[end - 1] === ":") end--;
    let host = rest.slice(0, end);
    rest = rest.slice(end);
    const port = PORT_PATTERN.exec(host);
    if (port) {
      if (port[0] !== ":") parsed.port = port[0].slice(1);
      host = host.slice(0, host.length - port[0].length);
    }
    if (host) parsed.hostname = host;
    let hostname = parsed.hostname || "";
    const ipv6 = hostname.startsWith("[") && hostname.endsWith("]");
    if (!ipv6) {
      const parts = hostname.split(".");
      for (let i = 0; i < parts.length; i++) {
        const part = parts[i];
        if (!part || HOSTNAME_PART.test(part)) continue;
        // Python counts code points: each one past ASCII stands for one letter
        const ascii = Array.from(part, (ch) => ((ch.codePointAt(0) ?? 0) > 127 ? "x" : ch)).join("");
        if (HOSTNAME_PART.test(ascii)) continue;
        const valid = parts.slice(0, i);
        const notHost = parts.slice(i + 1);
        const bit = HOSTNAME_PART_START.exec(part);
        if (bit) {
          valid.push(bit[1]);
          notHost.unshift(bit[2]);
        }
        if (notHost.length) rest = notHost.join(".") + rest;
        hostname = valid.join(".");
        break;
      }
    }
    if (Array.from(hostname).length > 255) hostname = "";
    if (ipv6) hostname = hostname.slice(1, -1);
    parsed.hostname = hostname;
  }
  const hash = rest.indexOf("#");
  if (hash !== -1) {
    parsed.hash = rest.slice(hash);
    rest = rest.slice(0, hash);
  }
  const query = rest.indexOf("?");
  if (query !== -1) {
    parsed.search = rest.slice(query);
    rest = rest.slice(0, query);
  }
  if (rest) parsed.pathname = rest;
  if (SLASHED.has(lowerProto) && parsed.hostname && !parsed.pathname) parsed.pathname = "";
  return parsed;
}

/** Python's punycode codec's decoding of ``label`` (RFC 3492), throwing where it raises. @param {string} label */
function punycodeDecode(label) {
  if (/[^\0-\x7f]/.test(label)) throw new Error("not ASCII");
  const dash = label.lastIndexOf("-");
  const output = dash === -1 ? [] : Array.from(label.slice(0, dash), (ch) => ch.codePointAt(0) ?? 0);
  const extended = (dash === -1 ? label : label.slice(dash + 1)).toUpperCase();
  let char = 0x80;
  let pos = -1;
  let bias = 72;
  let at = 0;
  while (at < extended.length) {
    const first = at === 0;
    let delta = 0;
    let w = 1;
    for (let j = 0; ; j++) {
      if (at >= extended.length) throw new Error("incomplete punycode");
      const code = extended.charCodeAt(at++);
      const digit = code >= 0x41 && code <= 0x5a ? code - 0x41 : code >= 0x30 && code <= 0x39 ? code - 22 : -1;
      if (digit < 0) throw new Error("invalid punycode digit");
      const t = Math.min(Math.max(36 * (j + 1) - bias, 1), 26);
      delta += digit * w;
      if (digit < t) break;
      w *= 36 - t;
    }
    pos += delta + 1;
    char += Math.floor(pos / (output.length + 1));
    if (char > 0x10ffff) throw new Error("invalid code point");
    // a lone surrogate (`xn--a-rc4g` is U+D800): Python's codec gives it, but no text can hold it, and the
    // server's normalizeLinkText keeps such a host as written (backend/markdown.py, _PostMarkdown)
    if (char >= 0xd800 && char <= 0xdfff) throw new Error("a surrogate code point");
    pos %= output.length + 1;
    output.splice(pos, 0, char);
    bias = adapt(delta, first, output.length);
  }
  return output.map((code) => String.fromCodePoint(code)).join("");
}

/** RFC 3492's bias adaptation, as Python's codec. @param {number} delta @param {boolean} first @param {number} count */
function adapt(delta, first, count) {
  delta = Math.floor(delta / (first ? 700 : 2));
  delta += Math.floor(delta / count);
  let divisions = 0;
  while (delta > 455) {
    delta = Math.floor(delta / 35);
    divisions += 36;
  }
  return divisions + Math.floor((36 * delta) / (delta + 38));
}

/** Python's punycode codec's encoding of ``label`` (RFC 3492, code points). @param {string} label */
function punycodeEncode(label) {
  const codes = Array.from(label, (ch) => ch.codePointAt(0) ?? 0);
  const basic = codes.filter((code) => code < 0x80);
  const output = String.fromCharCode(...basic);
  const digit = (/** @type {number} */ d) => String.fromCharCode(d < 26 ? 0x61 + d : d + 22);
  let n = 0x80;
  let delta = 0;
  let bias = 72;
  let handled = basic.length;
  let encoded = "";
  while (handled < codes.length) {
    const m = Math.min(...codes.filter((code) => code >= n));
    delta += (m - n) * (handled + 1);
    n = m;
    for (const code of codes) {
      if (code < n) delta++;
      if (code !== n) continue;
      let q = delta;
      for (let k = 36; ; k += 36) {
        const t = Math.min(Math.max(k - bias, 1), 26);
        if (q < t) break;
        encoded += digit(t + ((q - t) % (36 - t)));
        q = Math.floor((q - t) / (36 - t));
      }
      encoded += digit(q);
      bias = adapt(delta, handled === basic.length, handled + 1);
      delta = 0;
      handled++;
    }
    delta++;
    n++;
  }
  return basic.length ? `${output}-${encoded}` : encoded;
}

/** markdown-it-py's _punycode.map_domain. @param {string} domain @param {(label: string) => string} fn */
function mapDomain(domain, fn) {
  const parts = domain.split("@");
  const local = parts.length > 1 ? `${parts[0]}@` : "";
  return (
    local +
    (parts.length > 1 ? parts[1] : domain)
      .split(/[.\u3002\uff0e\uff61]/)
      .map(fn)
      .join(".")
  );
}

const RECODE_HOSTNAME_FOR = ["http:", "https:", "mailto:"];

/** Whether markdown-it-py recodes this URL's host name. @param {ParsedUrl} parsed */
const recodesHost = (parsed) =>
  Boolean(parsed.hostname) && (!parsed.protocol || RECODE_HOSTNAME_FOR.includes(parsed.protocol));

/** markdown-it-py 4.3.0's normalizeLink. @param {any} mdurl @param {string} url */
function normalizeLink(mdurl, url) {
  const parsed = parseUrl(url);
  if (recodesHost(parsed)) {
    try {
      parsed.hostname = mapDomain(String(parsed.hostname), (label) =>
        /[^\0-\x7e]/.test(label) ? `xn--${punycodeEncode(label)}` : label,
      );
    } catch {
      // kept as it was, as markdown-it-py's suppress(Exception)
    }
  }
  if (!parsed.hostname || !parsed.hostname.includes(":")) return mdurl.encode(mdurl.format(parsed));
  /** @param {string | null} part */
  const encode = (part) => (part ? mdurl.encode(part) : part);
  return mdurl.format({
    ...parsed,
    protocol: encode(parsed.protocol),
    auth: encode(parsed.auth),
    hostname: encode(parsed.hostname),
    pathname: encode(parsed.pathname),
    search: encode(parsed.search),
    hash: encode(parsed.hash),
  });
}

/** markdown-it-py 4.3.0's normalizeLinkText. @param {any} mdurl @param {string} url */
function normalizeLinkText(mdurl, url) {
  const parsed = parseUrl(url);
  if (recodesHost(parsed)) {
    try {
      parsed.hostname = mapDomain(String(parsed.hostname), (label) =>
        label.startsWith("xn--") ? punycodeDecode(label.slice(4).toLowerCase()) : label,
      );
    } catch {
      // kept as it was
    }
  }
  return mdurl.decode(mdurl.format(parsed), `${mdurl.decode.defaultChars}%`);
}

// ---- emphasis and strikethrough delimiters: whether a neighbour is punctuation. markdown-it asks uc.micro 2.1.0
// (Unicode 15.1), markdown-it-py Python 3.11's unicodedata (Unicode 14.0, and nothing past U+FFFF: the server reads
// a delimiter's neighbours as the browser does, backend/markdown.py). Five symbols are new since 14.0, so
// `\u31ef_a_` had emphasis in the browser only.
const UNASSIGNED_IN_PYTHON = /[\u2ffc-\u2fff\u31ef]/;

/**
 * Whether ``ch``, one UTF-16 unit, is punctuation or a symbol as the server's delimiter scan reads it.
 * @param {any} utils markdown-it's utils @param {string} ch
 */
function punctuation(utils, ch) {
  return utils.isPunctChar(ch) && !UNASSIGNED_IN_PYTHON.test(ch);
}

/**
 * markdown-it's StateInline.scanDelims (markdown-it-py's line for line) with the server's punctuation.
 * @this {any} @param {number} start @param {boolean} canSplitWord
 */
function scanDelims(start, canSplitWord) {
  const utils = this.md.utils;
  const max = this.posMax;
  const marker = this.src.charCodeAt(start);
  const lastChar = start > 0 ? this.src.charCodeAt(start - 1) : 0x20; // the start of the line as white space
  let pos = start;
  while (pos < max && this.src.charCodeAt(pos) === marker) pos++;
  const nextChar = pos < max ? this.src.charCodeAt(pos) : 0x20; // and its end
  const lastPunct = utils.isMdAsciiPunct(lastChar) || punctuation(utils, String.fromCharCode(lastChar));
  const nextPunct = utils.isMdAsciiPunct(nextChar) || punctuation(utils, String.fromCharCode(nextChar));
  const lastSpace = utils.isWhiteSpace(lastChar);
  const nextSpace = utils.isWhiteSpace(nextChar);
  const leftFlanking = !nextSpace && (!nextPunct || lastSpace || lastPunct);
  const rightFlanking = !lastSpace && (!lastPunct || nextSpace || nextPunct);
  return {
    can_open: leftFlanking && (canSplitWord || !rightFlanking || lastPunct),
    can_close: rightFlanking && (canSplitWord || !leftFlanking || nextPunct),
    length: pos - start,
  };
}

/** The punctuation test of delimiter scans, for tests: a UTF-16 unit's code. @param {number} code */
export function delimiterPunctuation(code) {
  parsers ??= { tables: parser(true), plain: parser(false) };
  const utils = parsers.tables.utils;
  return utils.isMdAsciiPunct(code) || punctuation(utils, String.fromCharCode(code));
}

// ---- reference labels: markdown-it-py 4.3.0's normalizeReference, `[label]` against `[label]: url`. Both fold case
// by lower() then upper(); JS's follow the browser's Unicode (Unicode 17 in Chromium 156) and Python 3.11's Unicode
// 14.0, so a label in a letter cased since (Garay, U+A7CB..., U+019B's new capital) matched its other case in the
// browser only. The code points Python 3.11 folds, generated from it (gaps and lengths in base 36): only those
// are folded here, by JS's toLowerCase().toUpperCase(), whose result for each is Python's (the test checks every
// code point). The white space trimmed and collapsed is markdown-it-py's fixed set, not the browser's \s.
const PY_CASED_RANGES =
  "2p.p 1m 15.n 1.7 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1.2 1 1 1 2 1 1 1 1 1 1 1.1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 2 1 1.2 2 1 2 3 5 2 3.1 3 2 1 1 2 4 2 3 1 2 3 1 5.1 1.1 1.1 1 1 1 1 1 1 1 1.1 1 1 1 1 1 1 1 1 1.1 1.1 1 3 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 3 1 1 1 1 1 1 1 1 8 2.1 1 4 1 1 1 1.5 1.1 1 1.1 3.1 1 1.1 1.4 2 1.1 2 7 2 1.1 3.5 5 a.1 4m 17 1 3 3.2 i r.y 1.1 3.2 1 1 1 1 1 1 1 1 1 1 1 1.6 2 2 1g.1b 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 9 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 2 1 1 1 1 1 1.1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1d.12 288.16 2.2 l4.5 1oi.8 6o 3 g 36 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1.6 2 2 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1.8 8.5 a.7 8.7 8.5 a.7 8.7 8.d 2.1g 1.1 4 1 3.2 1.1 4 3.3 2.1 8.7 a.2 1.1 4 89 3.1 y x.f 4 nf.p 1fq.1b 1 3.1 1 1 1 6 2 a 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 8 1 4 c.11 1 5 nwz 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 j 1 1 1 1 1 1 1 1 1 1 1 1 1 3r 1 1 1 1 1 1 3 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 a 1 2 1 1 1 1 4 4 1.1 2 1 1 1 1 1 1 1 1 1 b 1 1 1 1 1 1 1 4 1 6 5 1 s nw s.27 fnk.6 c.4 tl.p y5.13 3s.z 4b.a 1.e 1.6 1.1 1dv.1e 2bx.v gw0.v o82.x";
/** @type {Set<number>} */
const PY_CASED = new Set();
{
  let previous = -1;
  for (const token of PY_CASED_RANGES.split(" ")) {
    const [gap, length = "0"] = token.split(".");
    const first = previous + 1 + parseInt(gap, 36);
    previous = first + parseInt(length, 36);
    for (let code = first; code <= previous; code++) PY_CASED.add(code);
  }
}
const MD_TRIM = "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const MD_TRIM_EDGES = new RegExp(`^[${MD_TRIM}]+|[${MD_TRIM}]+$`, "g");
const MD_TRIM_RUNS = new RegExp(`[${MD_TRIM}]+`, "g");

/** markdown-it-py 4.3.0's normalizeReference, as Python 3.11 folds case. @param {string} label */
export function normalizeReference(label) {
  let folded = "";
  for (const ch of label.replace(MD_TRIM_EDGES, "").replace(MD_TRIM_RUNS, " ")) {
    folded += PY_CASED.has(ch.codePointAt(0) ?? 0) ? ch.toLowerCase().toUpperCase() : ch;
  }
  return folded;
}

/**
 * Skips spaces and newlines from ``pos`` (the link rules' loop). @param {any} state @param {number} pos
 * @param {number} max
 */
function skipSpaceAndNewlines(state, pos, max) {
  while (pos < max) {
    const code = state.src.charCodeAt(pos);
    if (!state.md.utils.isSpace(code) && code !== 0x0a) break;
    pos++;
  }
  return pos;
}

/**
 * The end of a reference link's label after ``labelEnd`` (`[text][label]`, `[text][]` or `[text]`), and the
 * reference it names, or null. markdown-it's, shared by the link and image rules.
 * @param {any} state @param {number} pos @param {number} labelStart @param {number} labelEnd
 * @returns {{pos: number, ref: {href: string, title: string}} | null}
 */
function referenceAt(state, pos, labelStart, labelEnd) {
  if (typeof state.env.references === "undefined") return null;
  let label;
  if (pos < state.posMax && state.src.charCodeAt(pos) === 0x5b) {
    const start = pos + 1;
    pos = state.md.helpers.parseLinkLabel(state, pos);
    if (pos >= 0) label = state.src.slice(start, pos++);
    else pos = labelEnd + 1;
  } else {
    pos = labelEnd + 1;
  }
  if (!label) label = state.src.slice(labelStart, labelEnd); // collapsed `[]` and shortcut references
  const ref = state.env.references[normalizeReference(label)];
  return ref ? { pos, ref } : null;
}

/**
 * markdown-it's link rule (markdown-it-py's line for line) with the server's normalizeReference.
 * @param {any} state @param {boolean} silent
 */
function linkRule(state, silent) {
  if (state.src.charCodeAt(state.pos) !== 0x5b) return false;
  const oldPos = state.pos;
  const max = state.posMax;
  const labelStart = state.pos + 1;
  const labelEnd = state.md.helpers.parseLinkLabel(state, state.pos, true);
  if (labelEnd < 0) return false;
  let href = "";
  let title = "";
  let parseReference = true;
  let pos = labelEnd + 1;
  if (pos < max && state.src.charCodeAt(pos) === 0x28) {
    // an inline link: [text](  <href>  "title"  )
    parseReference = false;
    pos = skipSpaceAndNewlines(state, pos + 1, max);
    if (pos >= max) return false;
    let res = state.md.helpers.parseLinkDestination(state.src, pos, state.posMax);
    if (res.ok) {
      href = state.md.normalizeLink(res.str);
      if (state.md.validateLink(href)) pos = res.pos;
      else href = "";
      const start = pos;
      pos = skipSpaceAndNewlines(state, pos, max);
      res = state.md.helpers.parseLinkTitle(state.src, pos, state.posMax);
      if (pos < max && start !== pos && res.ok) {
        title = res.str;
        pos = skipSpaceAndNewlines(state, res.pos, max);
      }
    }
    if (pos >= max || state.src.charCodeAt(pos) !== 0x29) parseReference = true; // no closing ')': a reference?
    pos++;
  }
  if (parseReference) {
    const found = referenceAt(state, pos, labelStart, labelEnd);
    if (!found) {
      state.pos = oldPos;
      return false;
    }
    ({ pos } = found);
    href = found.ref.href;
    title = found.ref.title;
  }
  if (!silent) {
    state.pos = labelStart;
    state.posMax = labelEnd;
    const open = state.push("link_open", "a", 1);
    open.attrs = [["href", href]];
    if (title) open.attrs.push(["title", title]);
    state.linkLevel++;
    state.md.inline.tokenize(state);
    state.linkLevel--;
    state.push("link_close", "a", -1);
  }
  state.pos = pos;
  state.posMax = max;
  return true;
}

/**
 * markdown-it's image rule (markdown-it-py's line for line) with the server's normalizeReference.
 * @param {any} state @param {boolean} silent
 */
function imageRule(state, silent) {
  if (state.src.charCodeAt(state.pos) !== 0x21 || state.src.charCodeAt(state.pos + 1) !== 0x5b) return false;
  const oldPos = state.pos;
  const max = state.posMax;
  const labelStart = state.pos + 2;
  const labelEnd = state.md.helpers.parseLinkLabel(state, state.pos + 1, false);
  if (labelEnd < 0) return false;
  let href = "";
  let title = "";
  let pos = labelEnd + 1;
  if (pos < max && state.src.charCodeAt(pos) === 0x28) {
    // an inline image: ![alt](  <src>  "title"  )
    pos = skipSpaceAndNewlines(state, pos + 1, max);
    if (pos >= max) return false;
    let res = state.md.helpers.parseLinkDestination(state.src, pos, state.posMax);
    if (res.ok) {
      href = state.md.normalizeLink(res.str);
      if (state.md.validateLink(href)) pos = res.pos;
      else href = "";
    }
    const start = pos;
    pos = skipSpaceAndNewlines(state, pos, max);
    res = state.md.helpers.parseLinkTitle(state.src, pos, state.posMax);
    if (pos < max && start !== pos && res.ok) {
      title = res.str;
      pos = skipSpaceAndNewlines(state, res.pos, max);
    }
    if (pos >= max || state.src.charCodeAt(pos) !== 0x29) {
      state.pos = oldPos;
      return false;
    }
    pos++;
  } else {
    const found = referenceAt(state, pos, labelStart, labelEnd);
    if (!found) {
      state.pos = oldPos;
      return false;
    }
    ({ pos } = found);
    href = found.ref.href;
    title = found.ref.title;
  }
  if (!silent) {
    const content = state.src.slice(labelStart, labelEnd);
    /** @type {any[]} */
    const tokens = [];
    state.md.inline.parse(content, state.md, state.env, tokens);
    const token = state.push("image", "img", 0);
    token.attrs = [
      ["src", href],
      ["alt", ""],
    ];
    token.children = tokens;
    token.content = content;
    if (title) token.attrs.push(["title", title]);
  }
  state.pos = pos;
  state.posMax = max;
  return true;
}

/**
 * markdown-it's reference rule (`[label]: url "title"`, markdown-it-py's line for line) with the server's
 * normalizeReference. @param {any} state @param {number} startLine @param {number} _endLine @param {boolean} silent
 */
function referenceRule(state, startLine, _endLine, silent) {
  const isSpace = state.md.utils.isSpace;
  let pos = state.bMarks[startLine] + state.tShift[startLine];
  let max = state.eMarks[startLine];
  let nextLine = startLine + 1;
  if (state.sCount[startLine] - state.blkIndent >= 4) return false; // a code block
  if (state.src.charCodeAt(pos) !== 0x5b) return false;

  /** The next line of the definition, or null where a block ends it. @param {number} line */
  const getNextLine = (line) => {
    const endLine = state.lineMax;
    if (line >= endLine || state.isEmpty(line)) return null;
    // a code block's indent, or a block quote's lazy line, continues it whatever it holds
    const isContinuation = state.sCount[line] - state.blkIndent > 3 || state.sCount[line] < 0;
    if (!isContinuation) {
      const terminators = state.md.block.ruler.getRules("reference");
      const oldParentType = state.parentType;
      state.parentType = "reference";
      const terminate = terminators.some((/** @type {any} */ rule) => rule(state, line, endLine, true));
      state.parentType = oldParentType;
      if (terminate) return null;
    }
    return state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line] + 1); // with its newline
  };
  /** Appends the next line to ``str`` when there is one. */
  const extend = () => {
    const lineContent = getNextLine(nextLine);
    if (lineContent === null) return false;
    str += lineContent;
    max = str.length;
    nextLine++;
    return true;
  };

  let str = state.src.slice(pos, max + 1);
  max = str.length;
  let labelEnd = -1;
  for (pos = 1; pos < max; pos++) {
    const ch = str.charCodeAt(pos);
    if (ch === 0x5b) return false;
    if (ch === 0x5d) {
      labelEnd = pos;
      break;
    } else if (ch === 0x0a) {
      extend();
    } else if (ch === 0x5c) {
      pos++;
      if (pos < max && str.charCodeAt(pos) === 0x0a) extend();
    }
  }
  if (labelEnd < 0 || str.charCodeAt(labelEnd + 1) !== 0x3a) return false;
  // [label]:   destination   'title'
  //         ^^^ optional white space, newlines too
  for (pos = labelEnd + 2; pos < max; pos++) {
    const ch = str.charCodeAt(pos);
    if (ch === 0x0a) extend();
    else if (!isSpace(ch)) break;
  }
  const destRes = state.md.helpers.parseLinkDestination(str, pos, max);
  if (!destRes.ok) return false;
  const href = state.md.normalizeLink(destRes.str);
  if (!state.md.validateLink(href)) return false;
  pos = destRes.pos;
  // where to roll back to without a title
  const destEndPos = pos;
  const destEndLineNo = nextLine;
  const start = pos;
  for (; pos < max; pos++) {
    const ch = str.charCodeAt(pos);
    if (ch === 0x0a) extend();
    else if (!isSpace(ch)) break;
  }
  let titleRes = state.md.helpers.parseLinkTitle(str, pos, max);
  while (titleRes.can_continue) {
    const before = max;
    if (!extend()) break;
    pos = before;
    titleRes = state.md.helpers.parseLinkTitle(str, pos, max, titleRes);
  }
  let title;
  if (pos < max && start !== pos && titleRes.ok) {
    title = titleRes.str;
    pos = titleRes.pos;
  } else {
    title = "";
    pos = destEndPos;
    nextLine = destEndLineNo;
  }
  while (pos < max && isSpace(str.charCodeAt(pos))) pos++; // trailing spaces
  if (pos < max && str.charCodeAt(pos) !== 0x0a && title) {
    // garbage after the title: a reference without it, if the line ends after the destination
    title = "";
    pos = destEndPos;
    nextLine = destEndLineNo;
    while (pos < max && isSpace(str.charCodeAt(pos))) pos++;
  }
  if (pos < max && str.charCodeAt(pos) !== 0x0a) return false; // garbage at the end of the line
  const label = normalizeReference(str.slice(1, labelEnd));
  if (!label) return false; // empty labels are not references (CommonMark 0.20)
  if (silent) return true;
  if (typeof state.env.references === "undefined") state.env.references = {};
  if (typeof state.env.references[label] === "undefined") state.env.references[label] = { title, href };
  state.line = nextLine;
  return true;
}

/** One markdown-it configured as backend/markdown.py's _parser(tables). @param {boolean} tables */
function parser(tables) {
  const linkify = rules.linkify_schemes.length > 0;
  const md = markdownit("commonmark", { html: false, linkify, typographer: false, maxNesting: rules.max_nesting });
  const extensions = rules.strikethrough ? ["strikethrough"] : [];
  if (tables && rules.tables) extensions.push("table");
  if (linkify) {
    extensions.push("linkify");
    md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false });
    for (const schema of ["http:", "https:", "ftp:", "mailto:", "//"]) {
      if (!rules.linkify_schemes.includes(schema.replace(/:$/, ""))) md.linkify.add(schema, null);
    }
    pyLinkifyPatterns(md.linkify);
  }
  md.enable(extensions);
  md.normalizeLink = (/** @type {string} */ url) => normalizeLink(md.utils.lib.mdurl, url);
  md.normalizeLinkText = (/** @type {string} */ url) => normalizeLinkText(md.utils.lib.mdurl, url);
  md.inline.State.prototype.scanDelims = scanDelims; // one class for every markdown-it: both parsers
  md.inline.ruler.at("backticks", backtick);
  md.inline.ruler.at("linkify", linkifyRule);
  md.inline.ruler.at("link", linkRule);
  md.inline.ruler.at("image", imageRule);
  md.block.ruler.at("reference", referenceRule);
  md.inline.ruler.at("entity", entityRule);
  md.helpers.parseLinkDestination = (
    /** @type {string} */ str,
    /** @type {number} */ start,
    /** @type {number} */ max,
  ) => parseLinkDestination(md, str, start, max);
  md.helpers.parseLinkTitle = (
    /** @type {string} */ str,
    /** @type {number} */ start,
    /** @type {number} */ max,
    /** @type {any} */ prev,
  ) => parseLinkTitle(md, str, start, max, prev);
  const renderRules = md.renderer.rules;
  renderRules.image = (tokens, idx) => {
    const token = tokens[idx];
    const alt = (token.children || []).map((child) => child.content).join("") || "untitled";
    return `<a class="md-image" href="${escapeHtml(String(token.attrGet("src") || ""))}">image: ${escapeHtml(alt)}</a>`;
  };
  renderRules.heading_open = renderRules.heading_close = (tokens, idx) => {
    const token = tokens[idx];
    const level = Math.min(Number(token.tag.slice(1)) + rules.heading_shift, 6);
    return token.nesting === 1 ? `<h${level}>` : `</h${level}>\n`;
  };
  // markdown-it-py's fence: its language class from markdown-it-py's unescapeAll (`&oumlx;` stays as written) and
  // white space; the class never survives sanitising, but its length counts towards max_html_chars on both sides
  renderRules.fence = (tokens, idx, options, _env, self) => {
    const token = tokens[idx];
    const info = token.info ? unescapeAll(md, token.info).replace(MD_TRIM_EDGES, "") : "";
    const code = md.utils.escapeHtml(token.content);
    if (!info) return `<pre><code${self.renderAttrs(token)}>${code}</code></pre>\n`;
    const langName = info.split(MD_TRIM_RUNS)[0];
    /** @type {[string, string][]} */
    const attrs = (token.attrs || []).map(([name, value]) => [name, value]);
    const at = attrs.findIndex(([name]) => name === "class");
    if (at < 0) attrs.push(["class", `language-${langName}`]);
    else attrs[at][1] += ` language-${langName}`;
    return `<pre><code${self.renderAttrs({ attrs })}>${code}</code></pre>\n`;
  };
  renderRules.th_open = renderRules.td_open = (tokens, idx, options, _env, self) => {
    const token = tokens[idx];
    const style = String(token.attrGet("style") || "");
    if (style.startsWith("text-align:")) {
      token.attrs = (token.attrs || []).filter(([name]) => name !== "style");
      token.attrSet("align", style.slice("text-align:".length));
    }
    return self.renderToken(tokens, idx, options);
  };
  return md;
}

/** @type {{tables: any, plain: any} | null} */
let parsers = null;

/** The length of ``text`` in code points, as Python's len(). @param {string} text */
function codePoints(text) {
  let pairs = 0;
  for (let i = 0; i < text.length - 1; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        pairs += 1;
        i += 1;
      }
    }
  }
  return text.length - pairs;
}

/** ``body`` as the server's HTML before sanitising, or null where the server shows plain text by a cap. */
export function renderHtml(/** @type {string} */ body) {
  parsers ??= { tables: parser(true), plain: parser(false) };
  const pipes = body.split("|").length - 1;
  const md = pipes <= rules.max_table_pipes ? parsers.tables : parsers.plain;
  // U+FEFF as U+2060 WORD JOINER, as backend/markdown.py's render(): JS's \s and trim() take U+FEFF for white
  // space where Python's do not, so the two markdown-its would trim and match reference labels differently
  const html = md.render(body.replaceAll("\ufeff", "\u2060"));
  return codePoints(html) > rules.max_html_chars ? null : html;
}

/** ``body`` as escaped text, as the server's plain(): a paragraph per blank-line-separated block, <br> kept. */
export function plainHtml(/** @type {string} */ body) {
  return body
    .replaceAll("\r\n", "\n")
    .split("\n\n")
    .filter((block) => !BLANK.test(block))
    .map((block) => `<p>${escapeHtml(block).replaceAll("\n", "<br>")}</p>`)
    .join("");
}

// Chromium's URL parser keeps hosts that nh3's (Rust's url crate, by WHATWG's rules) refuses, when a link leaves
// out the slashes (`http:a b`, which the refused_href pattern does not see): white space, escaped or mapped from
// U+00A0, it keeps as %20, and an xn-- label it takes as written, decodable or not. The server drops such hrefs.
const FORBIDDEN_IN_DOMAIN = /[\0-\x20#/:<>?@[\\\]^|%\x7f]/; // WHATWG's forbidden domain code points

/** ``hostname``'s %XX escapes decoded as UTF-8 (WHATWG's percent-decode, lossy). @param {string} hostname */
function percentDecoded(hostname) {
  /** @type {number[]} */
  const bytes = [];
  for (let i = 0; i < hostname.length; i++) {
    const escape = hostname.slice(i + 1, i + 3);
    if (hostname[i] === "%" && /^[0-9a-f]{2}$/i.test(escape)) {
      bytes.push(parseInt(escape, 16));
      i += 2;
    } else {
      bytes.push(...new TextEncoder().encode(hostname[i]));
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/**
 * Whether the url crate takes the host the browser parsed as ``hostname``: no forbidden code point once decoded,
 * and every xn-- label one that decodes (Python's codec, as the url crate's) to what the browser encodes back to it.
 * @param {string} hostname
 */
function hostAsTheServerTakesIt(hostname) {
  if (hostname.startsWith("[") && hostname.endsWith("]")) return true; // IPv6, which both parse strictly
  if (FORBIDDEN_IN_DOMAIN.test(percentDecoded(hostname))) return false;
  return hostname.split(".").every((label) => {
    if (!label.startsWith("xn--")) return true;
    try {
      const decoded = punycodeDecode(label.slice(4));
      return decoded !== "" && new URL(`http://${decoded}`).hostname === label;
    } catch {
      return false;
    }
  });
}

/** Whether ``href`` is kept by nh3: an absolute URL (WHATWG parse) of an allowed scheme; relative is denied. */
function allowedUrl(/** @type {string} */ href) {
  if (REFUSED_HREF.test(href)) return false;
  try {
    const url = new URL(href);
    return SCHEMES.has(url.protocol.slice(0, -1)) && hostAsTheServerTakesIt(url.hostname);
  } catch {
    return false;
  }
}

/** Copy what nh3 keeps of ``from``'s children into ``to``: allowed tags and attributes, others unwrapped. */
function keep(/** @type {Node} */ from, /** @type {Node} */ to) {
  for (const child of Array.from(from.childNodes)) {
    if (child.nodeType === Node.TEXT_NODE) {
      to.appendChild(document.createTextNode(/** @type {Text} */ (child).data));
      continue;
    }
    if (!(child instanceof Element)) continue;
    const name = child.localName;
    if (DROPPED_WITH_CONTENT.has(name)) continue;
    if (!TAGS.has(name)) {
      keep(child instanceof HTMLTemplateElement ? child.content : child, to);
      continue;
    }
    const element = document.createElement(name);
    const allowed = ATTRIBUTES[name] || [];
    for (const attribute of Array.from(child.attributes)) {
      if (!allowed.includes(attribute.name)) continue;
      if (attribute.name === "href" && !allowedUrl(attribute.value)) continue;
      element.setAttribute(attribute.name, attribute.value);
    }
    if (name === "a") element.setAttribute("rel", rules.link_rel);
    keep(child, element);
    to.appendChild(element);
  }
}

/** HTML as a sanitised fragment (parsed inert in a template, then rebuilt node by node). @param {string} html */
export function sanitise(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  const fragment = document.createDocumentFragment();
  keep(template.content, fragment);
  return fragment;
}

/** A Markdown body as the sanitised DOM the server's render() gives for it (plain text past a cap). */
export function renderBody(/** @type {string} */ body) {
  if (!body) return document.createDocumentFragment();
  const html = renderHtml(body);
  return sanitise(html === null ? plainHtml(body) : html);
}

/** A body as the server's plain-text fallback shows it. */
export function plainBody(/** @type {string} */ body) {
  const template = document.createElement("template");
  template.innerHTML = plainHtml(body);
  return template.content;
}

// parents whose whitespace-only text nodes are only the newlines between blocks
const BLOCK_PARENTS = new Set(["blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "div"]);

/**
 * The structure of a rendered body, one token per line: each element with its name and every attribute
 * (sorted), each text node with its whitespace collapsed, except inside <pre> where it is kept exactly.
 * Whitespace-only text between blocks is left out. @param {Node} root @returns {string[]}
 */
export function shapeOf(root) {
  /** @type {string[]} */
  const out = [];
  const walk = (/** @type {Node} */ node, /** @type {boolean} */ pre, /** @type {string} */ parent) => {
    for (const child of Array.from(node.childNodes)) {
      if (child.nodeType === Node.TEXT_NODE) {
        // U+FEFF: JS's trim() drops it where Python's strip() keeps it (markdown-it trims paragraphs and
        // headings); invisible, so left out of the comparison outside code
        const text = pre ? /** @type {Text} */ (child).data : /** @type {Text} */ (child).data.replaceAll("\ufeff", "");
        if (pre) out.push(`text ${JSON.stringify(text)}`);
        else if (!(/^\s*$/.test(text) && (parent === "" || BLOCK_PARENTS.has(parent)))) {
          out.push(`text ${JSON.stringify(text.replace(/\s+/g, " "))}`);
        }
        continue;
      }
      if (!(child instanceof Element)) continue;
      const attributes = Array.from(child.attributes, (a) => ` ${a.name}=${JSON.stringify(a.value)}`).sort();
      out.push(`<${child.localName}${attributes.join("")}>`);
      walk(child, pre || child.localName === "pre", child.localName);
      out.push(`</${child.localName}>`);
    }
  };
  walk(root, false, "");
  return out;
}

const cut = (/** @type {string | null} */ text) => {
  const shown = JSON.stringify(text ?? "(none)");
  return shown.length > 60 ? `${shown.slice(0, 57)}…"` : shown;
};

/** @param {ParentNode} root @param {string} selector @param {(el: Element) => string | null} value */
const each = (root, selector, value) => Array.from(root.querySelectorAll(selector), value);

/**
 * What differs between the body a node shows and the one the author's bytes render to, named in the reader's
 * words (a link's target, an image's source, a list's start, a code block's text...); empty when the same.
 * @param {ParentNode} shown @param {ParentNode} expected @returns {string[]}
 */
export function bodyDifferences(shown, expected) {
  const a = shapeOf(/** @type {Node} */ (/** @type {unknown} */ (shown)));
  const b = shapeOf(/** @type {Node} */ (/** @type {unknown} */ (expected)));
  if (a.length === b.length && a.every((token, i) => token === b[i])) return [];
  const found = [];
  const checks = /** @type {[string, string, (el: Element) => string | null][]} */ ([
    ["a link's target", "a:not(.md-image)", (el) => el.getAttribute("href")],
    ["an image's source", "a.md-image", (el) => el.getAttribute("href")],
    ["a list's start", "ol", (el) => el.getAttribute("start")],
    ["a code block's text", "pre", (el) => el.textContent],
    ["inline code", ":not(pre) > code", (el) => el.textContent],
  ]);
  for (const [what, selector, value] of checks) {
    const here = each(shown, selector, value);
    const there = each(expected, selector, value);
    const at = Array.from({ length: Math.max(here.length, there.length) }, (_, i) => i).find(
      (i) => here[i] !== there[i],
    );
    if (at !== undefined) found.push(`${what} differs (this node: ${cut(here[at])}; the author's: ${cut(there[at])})`);
  }
  if (found.length) return found;
  const at = a.findIndex((token, i) => token !== b[i]);
  return [`the text or its formatting differs (this node: ${cut(a[at] ?? null)}; the author's: ${cut(b[at] ?? null)})`];
}
