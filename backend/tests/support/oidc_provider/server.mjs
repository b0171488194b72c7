/**
 * A real OpenID Connect provider for the end-to-end tests: panva's certified `oidc-provider`, on
 * http://HOST:PORT (127.0.0.1 by default), issuer = that origin. Used by tests/e2e/test_social_sign_in.py.
 *
 * OIDC_TEST_CONFIG (JSON) holds what a real provider keeps in its database:
 *   {"clients": [<client metadata, RFC 7591 names>], "accounts": [{"sub", "email", "email_verified", "name", "password"}]}
 * A client registered as application_type "native" with an http://127.0.0.1/... redirect URI accepts that URI
 * on any port (RFC 8252 section 7.3), so the test can register the auth server's callback before the auth
 * server has a port.
 *
 * The provider's own interactions, not its development-only ones: GET /interaction/<uid> shows a sign-in form
 * (login = the account's email, password) or a consent form; POST /interaction/<uid>/login and /confirm finish
 * them, POST /interaction/<uid>/abort refuses (access_denied). Everything else is the provider's: discovery,
 * /auth, /token, /me (userinfo), /jwks. PKCE is required of every client. GET /health answers 200.
 * Signing key and cookie keys are made at start: nothing outlives the process.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import http from "node:http";

import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

const host = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || "0");
const { clients = [], accounts = [] } = JSON.parse(process.env.OIDC_TEST_CONFIG || "{}");

const accountsByEmail = new Map(accounts.map((account) => [account.email.toLowerCase(), account]));
const accountsBySub = new Map(accounts.map((account) => [account.sub, account]));

const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: "test-key-1", alg: "RS256", use: "sig" };

const provider = new Provider(`http://${host}:${port}`, {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString("base64url")] },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true },
  // Lifetimes in seconds (set, so that the provider does not warn about its defaults).
  ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
  async findAccount(_ctx, sub) {
    const account = accountsBySub.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: account.email, email_verified: account.email_verified ?? true, name: account.name };
      },
    };
  },
});
for (const event of ["server_error", "authorization.error", "grant.error", "userinfo.error", "interaction.error"]) {
  provider.on(event, (_ctx, error) => console.error(`[oidc-provider] ${event}: ${error.message} ${error.error_description ?? ""}`));
}

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function page(res, status, title, body) {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`;
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
  res.end(html);
}

function loginForm(res, uid, status = 200, error = "") {
  page(
    res,
    status,
    "Sign in",
    `${error ? `<p role="alert">${escape(error)}</p>` : ""}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Email <input name="login" type="email" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`,
  );
}

function consentForm(res, uid, clientId, scopes) {
  page(
    res,
    200,
    "Authorize",
    `<p>${escape(clientId)} asks for: ${escape(scopes.join(" "))}</p>
<form method="post" action="/interaction/${escape(uid)}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit">Deny</button></form>`,
  );
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function samePassword(given, expected) {
  const a = Buffer.from(given ?? "", "utf8");
  const b = Buffer.from(expected ?? "", "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session, grantId } = details;
  if (details.uid !== uid) throw new Error("interaction mismatch");
  if (req.method === "GET" && !action) {
    if (prompt.name === "login") return loginForm(res, uid);
    const scopes = [...(prompt.details.missingOIDCScope ?? [])];
    return consentForm(res, uid, params.client_id, scopes);
  }
  if (req.method !== "POST") return page(res, 405, "Method not allowed", "");
  if (action === "login") {
    const form = await readForm(req);
    const account = accountsByEmail.get((form.get("login") ?? "").toLowerCase());
    if (prompt.name !== "login" || !account || !samePassword(form.get("password"), account.password)) {
      return loginForm(res, uid, 401, "Wrong email or password.");
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  }
  if (action === "confirm") {
    if (prompt.name !== "consent") return page(res, 400, "Nothing to confirm", "");
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    const result = { consent: { grantId: await grant.save() } };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  }
  if (action === "abort") {
    const result = { error: "access_denied", error_description: "End-User aborted interaction" };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }
  return page(res, 404, "Not found", "");
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;
const providerHandler = provider.callback();

const server = http.createServer((req, res) => {
  const pathname = (req.url ?? "/").split("?")[0];
  if (pathname === "/health") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  const match = INTERACTION.exec(pathname);
  if (!match) {
    providerHandler(req, res);
    return;
  }
  interaction(req, res, match[1], match[2]).catch((error) => {
    // SessionNotFound (no interaction cookie, or an expired one) and the like: the user starts over.
    console.error(`[oidc-provider] interaction failed: ${error.name}: ${error.message}`);
    if (!res.headersSent) page(res, 400, "Sign-in failed", `<p>${escape(error.name)}</p>`);
  });
});

server.listen(port, host, () => {
  console.log(`[oidc-provider] issuer ${provider.issuer} (${clients.length} client(s), ${accounts.length} account(s))`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
