// @ts-check
// One score per post, the reader's lens's; the tallies and what the lens did in words (as backend/web/filters.py
// words them on the server: tally_words and lens_score).

/** @typedef {{upvotes: number, downvotes: number, score: number, counted_upvotes?: number, counted_downvotes?: number, counted_score?: number}} Tallies */

/** The score a post shows under lens ``name``. @param {Tallies} post @param {string} name */
export function lensScore(post, name) {
  return name === "all" || post.counted_score === undefined ? post.score : post.counted_score;
}

/** "12 up, 30 down; your lens (default) counts 3 up, 4 down: 35 voters were new to the board".
 * @param {Tallies} post @param {string} name */
export function tallyWords(post, name) {
  const raw = `${post.upvotes} up, ${post.downvotes} down`;
  if (name === "all" || post.counted_upvotes === undefined || post.counted_downvotes === undefined) {
    return `${raw}; your lens (${name}) counts every vote`;
  }
  const up = post.counted_upvotes;
  const down = post.counted_downvotes;
  const leftOut = Math.max(post.upvotes + post.downvotes - up - down, 0);
  const counted = `${raw}; your lens (${name}) counts ${up} up, ${down} down`;
  if (name === "trusted") return `${counted}: only your trusted voters' votes`;
  if (leftOut === 0) return `${raw}; your lens (${name}) counts them all`;
  return `${counted}: ${leftOut} ${leftOut === 1 ? "voter was" : "voters were"} new to the board`;
}

/** The query that asks the API for a post under this page's lens: its name, and fold/trust/mute as the page has them.
 * @param {string} name */
export function lensQuery(name) {
  const params = new URLSearchParams({ lens: name });
  const page = new URLSearchParams(location.search);
  for (const key of ["fold", "trust", "mute"]) {
    const value = page.get(key);
    if (value !== null) params.set(key, value);
  }
  return params.toString();
}
