// Globals the browser modules meet at run time that no package declares (tsc reads this; nothing serves it).

/** An injected EIP-1193 wallet (window.ethereum), as signer.js uses it. */
interface InjectedWallet {
  request(args: { method: string; params?: unknown[] | object }): Promise<any>;
}

interface Window {
  ethereum?: InjectedWallet;
  /** The Swagger UI instance swagger-init.js starts. */
  ui?: unknown;
}

/** Swagger UI's bundle, a classic script loaded before swagger-init.js. */
declare const SwaggerUIBundle: ((options: object) => unknown) & { presets: { apis: unknown } };
/** ReDoc's standalone bundle, a classic script loaded before redoc-init.js. */
declare const Redoc: { init(specUrl: string | undefined, options: object, element: HTMLElement | null): void };
