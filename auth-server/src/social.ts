/**
 * Sign-in through OAuth providers: Google and GitHub (Better-Auth's built-in `socialProviders`) and one
 * generic OpenID Connect provider (the `genericOAuth` plugin, configured from its discovery document).
 * Each is on when its variables are set (config.ts); with none set, this adds nothing, and the server,
 * its schema and its tokens are exactly those of email + password sign-in.
 *
 * Every provider uses Better-Auth's own endpoints: POST /api/auth/sign-in/social {provider} starts the
 * authorization-code flow (state and PKCE verifier kept by Better-Auth, OIDC nonce for the generic one),
 * and the provider sends the browser back to /api/auth/callback/<providerId> (Better-Auth 1.6's genericOAuth:
 * /api/auth/oauth2/callback/<providerId>), which creates or links the user and its `account` row, and sets
 * the session cookie.
 */
import type { BetterAuthOptions, BetterAuthPlugin } from "better-auth";
import { genericOAuth } from "better-auth/plugins/generic-oauth";

import type { Config } from "./config.ts";
import { genericOAuthCallbackPath } from "./versions.ts";

/** Better-Auth's `socialProviders` for Google and GitHub. */
export function socialProviders(config: Config): NonNullable<BetterAuthOptions["socialProviders"]> {
  const { google, github } = config.social;
  return { ...(google && { google }), ...(github && { github }) };
}

/** The genericOAuth plugin with the OIDC provider, or nothing. */
export function oidcPlugins(config: Config): BetterAuthPlugin[] {
  const oidc = config.social.oidc;
  if (!oidc) return [];
  return [
    genericOAuth({
      config: [
        {
          providerId: oidc.providerId,
          discoveryUrl: oidc.discoveryUrl,
          clientId: oidc.clientId,
          clientSecret: oidc.clientSecret,
          scopes: oidc.scopes,
          // Register the provider only when discovery names an issuer and a jwks_uri, so every ID token is
          // verified (signature, iss, aud, nonce) instead of merely decoded. Unreachable at start:
          // Better-Auth logs it and retries discovery on the provider's first sign-in.
          requireIdTokenVerification: true,
          // PKCE (S256) is the plugin's default; said here because the flow relies on it.
          pkce: true,
        },
      ],
    }),
  ];
}

/** The configured providers and the redirect URI to register with each, or `undefined` when none is. */
export function providerSummary(config: Config): string | undefined {
  const { google, github, oidc } = config.social;
  const ids = [google && "google", github && "github", oidc?.providerId].filter(Boolean);
  if (ids.length === 0) return undefined;
  const callback = (id: string) =>
    `${config.baseURL}/api/auth${id === oidc?.providerId ? genericOAuthCallbackPath() : "/callback"}/${id}`;
  return ids.map((id) => `${id} (redirect URI ${callback(String(id))})`).join(", ");
}
