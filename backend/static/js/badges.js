// @ts-check
// Quiet checks: each post's check (verify.js writes it into the post's [data-chain-mark]) shows as one small badge,
// checked, not verified or a lie found, each with a text alternative, that opens the sentence and a link to the
// check settings. A lie opens itself. Nothing here decides anything: it only shows what verify.js found.

const STATES = {
  checked: { icon: "✓", label: "checked against the chain" },
  unverified: { icon: "?", label: "not verified" },
  lie: { icon: "✗", label: "a lie found" },
};

/** The state a mark's classes say, or null while it is not set. @param {HTMLElement} mark */
function stateOf(mark) {
  if (mark.hidden || !mark.textContent?.trim()) return null;
  if (mark.classList.contains("chain-warning")) return "lie";
  if (mark.classList.contains("chain-unverified")) return "unverified";
  return mark.classList.contains("chain-checked") ? "checked" : "unverified";
}

/** Show the badge around ``mark`` as its mark says. @param {HTMLElement} mark */
function showBadge(mark) {
  const badge = mark.closest("[data-check-badge]");
  if (!(badge instanceof HTMLDetailsElement)) return;
  const state = stateOf(mark);
  if (state === null || badge.dataset.check === state) return;
  const { icon, label } = STATES[state];
  badge.dataset.check = state;
  badge.hidden = false;
  const summary = badge.querySelector("summary");
  if (summary) summary.title = `${label}: ${mark.textContent}`;
  const iconBox = badge.querySelector(".check-icon");
  if (iconBox) iconBox.textContent = icon;
  const text = badge.querySelector(".check-label");
  if (text) text.textContent = label;
  if (state === "lie") badge.open = true;
}

/** Follow every post's mark, now and after <main> is replaced. */
export function initBadges() {
  const update = () => {
    const line = document.querySelector("[data-chain-summary]");
    if (line instanceof HTMLElement && line.title !== line.textContent) line.title = line.textContent || "";
    for (const mark of document.querySelectorAll("[data-check-badge] [data-chain-mark]")) {
      if (mark instanceof HTMLElement) showBadge(mark);
    }
  };
  new MutationObserver(update).observe(document.body, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeFilter: ["class", "hidden"],
  });
  update();
}
