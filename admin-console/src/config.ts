/** What the API tells the page before sign-in (GET ./config.json, admin_console.py). */
export interface ConsoleConfig {
  /** Better-Auth's base URL (the API's BETTER_AUTH_URL): the client adds /api/auth. */
  authUrl: string;
  /** Where the API is: its root path ("" when it is served at the host's root). */
  apiUrl: string;
  /** The user roles set-role accepts. */
  roles: string[];
  /** ADMIN_ROLES: the roles that count as admin (the audit log wants one). */
  adminRoles: string[];
  /** The organization roles update-member-role accepts. */
  organizationRoles: string[];
  /** ADMIN_CONSOLE_PASSWORD_SIGN_IN: whether the auth server signs in with email and password. */
  passwordSignIn: boolean;
  /** ADMIN_CONSOLE_SIGN_IN_PROVIDERS: the auth server's OAuth providers, a button each. */
  signInProviders: SignInProvider[];
}

export interface SignInProvider {
  /** Better-Auth's id: a `socialProviders` key or a genericOAuth `providerId`. */
  id: string;
  /** What its button says. */
  name: string;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch("./config.json", { cache: "no-store", credentials: "omit" });
  if (!response.ok) throw new Error(`The console's settings did not load (HTTP ${response.status}).`);
  const config = (await response.json()) as ConsoleConfig;
  return { ...config, apiUrl: new URL(`${config.apiUrl}/`, window.location.origin).href.replace(/\/$/, "") };
}
