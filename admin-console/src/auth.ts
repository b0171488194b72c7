/**
 * Signing in with Better-Auth's own client, and the JWT the API wants.
 *
 * The session is Better-Auth's: its cookie, set by the auth server on its own origin and sent
 * back to it with `credentials: "include"` (the client's default). The JWT (GET /api/auth/token)
 * lives in this module's memory only: never in localStorage, sessionStorage or a cookie, where
 * any script of the origin (or a browser extension, or a shared computer) could read it after
 * the tab is gone. A reload asks Better-Auth for a new one with the session cookie. It is
 * renewed before `exp`, and once more when the API answers 401 (a clock that drifted).
 */
import { createAuthClient } from "better-auth/client";

const RENEW_MARGIN_SECONDS = 60;
const MIN_RENEW_DELAY_MS = 5_000;

export interface AuthError {
  status: number;
  code?: string;
  message: string;
}

type AuthClient = ReturnType<typeof createAuthClient>;

export class Session {
  private client: AuthClient;
  private jwt: string | null = null;
  private expiresAt = 0;
  private timer: number | undefined;
  private pending: Promise<string | null> | null = null;
  /** Called when the session ends by itself (revoked, expired, banned). */
  onEnded: (reason: string) => void = () => {};

  constructor(authUrl: string) {
    this.client = createAuthClient({
      baseURL: authUrl,
      // The console polls nothing: it asks for a JWT when it needs one.
      sessionOptions: { refetchOnWindowFocus: false },
    });
  }

  get signedIn(): boolean {
    return this.jwt !== null;
  }

  /** Email and password, as the auth server has them enabled. The refusal in its words. */
  async signIn(email: string, password: string): Promise<AuthError | null> {
    const { error } = await this.client.signIn.email({ email, password });
    if (error) return toAuthError(error);
    const token = await this.renew();
    if (token === null) {
      return {
        status: 401,
        message:
          "Signed in, but the auth server did not get its session cookie back. Open the console " +
          "on the same site as the auth server (see the admin console guide).",
      };
    }
    return null;
  }

  /**
   * Sign in through an OAuth provider: Better-Auth answers with the provider's authorization URL
   * and its client navigates there (a navigation, not a connection: the page's policy allows it).
   * The provider sends the browser back to Better-Auth's callback, which sets the session cookie
   * and redirects to `callbackURL`, or to `errorCallbackURL?error=<code>` (views/signin.ts reads it). Only a
   * refusal before leaving (an unknown provider, an untrusted callback URL) comes back here.
   * Generic OAuth providers are social providers in Better-Auth 1.7 (the genericOAuth plugin
   * adds them to `socialProviders`), so one endpoint serves them all.
   */
  async signInWith(provider: string, callbackURL: string, errorCallbackURL: string): Promise<AuthError | null> {
    const { error } = await this.client.signIn.social({ provider, callbackURL, errorCallbackURL });
    return error ? toAuthError(error) : null;
  }

  /** A JWT when Better-Auth has a session for this browser (a reload), else null. Asks
   * get-session first: it answers 200 `null` without a session, where /token would be a 401. */
  async resume(): Promise<string | null> {
    const { data } = await this.client.getSession();
    return data ? this.renew() : null;
  }

  async signOut(): Promise<void> {
    this.forget();
    await this.client.signOut();
  }

  /** The current JWT, renewed first when it is about to expire. */
  async token(): Promise<string | null> {
    if (this.jwt !== null && Date.now() / 1000 < this.expiresAt - RENEW_MARGIN_SECONDS / 2) {
      return this.jwt;
    }
    return this.renew();
  }

  /** A new JWT from Better-Auth (one request at a time); null when the session is gone. */
  renew(): Promise<string | null> {
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async fetchToken(): Promise<string | null> {
    const { data, error } = await this.client.$fetch<{ token: string }>("/token", { method: "GET" });
    if (error || !data?.token) {
      const wasSignedIn = this.jwt !== null;
      this.forget();
      if (wasSignedIn) this.onEnded(error?.message ?? "Your session has ended.");
      return null;
    }
    this.jwt = data.token;
    this.expiresAt = expiryOf(data.token);
    this.schedule();
    return this.jwt;
  }

  private schedule(): void {
    window.clearTimeout(this.timer);
    const delay = (this.expiresAt - RENEW_MARGIN_SECONDS) * 1000 - Date.now();
    this.timer = window.setTimeout(() => void this.renew(), Math.max(delay, MIN_RENEW_DELAY_MS));
  }

  private forget(): void {
    window.clearTimeout(this.timer);
    this.jwt = null;
    this.expiresAt = 0;
  }
}

/** `exp` of a JWT (seconds); the signature is the API's business, not the page's. */
function expiryOf(jwt: string): number {
  try {
    const payload = jwt.split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp : 0;
  } catch {
    return 0;
  }
}

function toAuthError(error: { status: number; statusText?: string; code?: string; message?: string }): AuthError {
  return {
    status: error.status,
    code: error.code,
    message: error.message || error.statusText || `The auth server answered ${error.status}.`,
  };
}
