// @ts-check
// Who signs: an injected EIP-1193 wallet (it sends transactions itself), or a
// key made in this browser and kept in localStorage (it signs EIP-712 messages
// that /api/relay submits, so no ether is needed).

import { BrowserProvider, Wallet, getAddress } from "/static/vendor/ethers.min.js";

const KEY_ITEM = "indelible.key";
const MODE_ITEM = "indelible.signer";
const VOTES_ITEM = "indelible.votes.";

export function hasInjectedWallet() {
  return typeof window.ethereum === "object" && window.ethereum !== null && typeof window.ethereum.request === "function";
}

/** "wallet" when a wallet is injected and not declined on the key page, else "key". */
export function signerMode() {
  if (!hasInjectedWallet()) return "key";
  return localStorage.getItem(MODE_ITEM) === "key" ? "key" : "wallet";
}

export function setSignerMode(mode) {
  localStorage.setItem(MODE_ITEM, mode === "key" ? "key" : "wallet");
}

/** The browser key's wallet; made and stored on first use when create is true. */
export function browserKey({ create = true } = {}) {
  const stored = localStorage.getItem(KEY_ITEM);
  if (stored) return new Wallet(stored);
  if (!create) return null;
  const made = Wallet.createRandom();
  localStorage.setItem(KEY_ITEM, made.privateKey);
  return new Wallet(made.privateKey);
}

/** Replace the browser key with an exported one; returns its address (throws on a bad key). */
export function importKey(text) {
  const hex = text.trim().startsWith("0x") ? text.trim() : `0x${text.trim()}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new Error("a private key is 0x and 64 hex digits");
  const wallet = new Wallet(hex);
  localStorage.setItem(KEY_ITEM, wallet.privateKey);
  return wallet.address;
}

export function exportKey() {
  return localStorage.getItem(KEY_ITEM);
}

/** The address shown as the user's, without prompting anyone: null when there is none yet. */
export async function currentAddress() {
  if (signerMode() === "wallet") {
    try {
      const accounts = await window.ethereum.request({ method: "eth_accounts" });
      return accounts && accounts.length ? accounts[0] : null;
    } catch {
      return null;
    }
  }
  const key = browserKey({ create: false });
  return key ? key.address : null;
}

/** An ethers signer from the injected wallet, on the Board's chain. */
export async function walletSigner(chainId) {
  const provider = new BrowserProvider(window.ethereum, undefined, { pollingInterval: 500 });
  const signer = await provider.getSigner();
  const network = await provider.getNetwork();
  if (network.chainId !== BigInt(chainId)) {
    await window.ethereum.request({
      method: "wallet_switchEthereumChain",
      params: [{ chainId: `0x${Number(chainId).toString(16)}` }],
    });
    return walletSigner(chainId);
  }
  return signer;
}

// The votes cache: {postId: direction} per voter, written once a vote is known to be on chain and
// whenever the index answers. It only makes the highlight instant: the index's answer wins.
const votesItem = (address) => VOTES_ITEM + getAddress(address);

/** The cached votes of address, {postId: direction}. */
export function myVotes(address) {
  if (!address) return {};
  try {
    return JSON.parse(localStorage.getItem(votesItem(address)) || "{}");
  } catch {
    return {};
  }
}

/** Cache votes ({postId: direction}) as the votes of address on postIds: those absent have none. */
export function rememberVotes(address, postIds, votes) {
  const cached = myVotes(address);
  for (const postId of postIds) {
    if (votes[postId]) cached[postId] = votes[postId];
    else delete cached[postId];
  }
  localStorage.setItem(votesItem(address), JSON.stringify(cached));
}

export function rememberVote(address, postId, direction) {
  rememberVotes(address, [postId], { [postId]: direction });
}
