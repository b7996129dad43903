// @ts-check
// A thread page: the reply a permalink names is highlighted and shown (its folded branches opened); a
// permalink to a reply this page does not hold (deeper, or on a later page of replies) opens the reply's own page.

/** Highlight the post the address names (#post-N), opening every branch fold around it. */
export function highlightTarget() {
  const match = /^#post-(\d+)$/.exec(location.hash);
  if (!match || !document.getElementById("replies")) return;
  document.querySelectorAll(".post.is-highlighted").forEach((post) => post.classList.remove("is-highlighted"));
  const target = document.getElementById(`post-${match[1]}`);
  if (!target) {
    location.replace(`/posts/${match[1]}${location.search}`);
    return;
  }
  for (let fold = target.closest("details"); fold; fold = fold.parentElement?.closest("details") ?? null) {
    if (fold instanceof HTMLDetailsElement) fold.open = true;
  }
  target.classList.add("is-highlighted");
  target.scrollIntoView({ block: "center" });
}

/** Follow the address's #post-N now and whenever it changes. */
export function initThread() {
  highlightTarget();
  window.addEventListener("hashchange", highlightTarget);
}
