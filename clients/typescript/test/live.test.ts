/**
 * The typed client against a live stack: sign up with Better-Auth's own client, get a JWT from
 * the jwt plugin, call the API with it. Run by the backend's E2E suite
 * (backend/tests/e2e/test_typescript_client.py), which starts the auth server and the API and
 * passes their URLs as BETTER_AUTH_URL and API_URL; skipped when they are not set.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { createAuthClient } from "better-auth/client";
import { jwtClient } from "better-auth/client/plugins";

import { createApiClient, isProblem } from "../src/index.ts";

const AUTH_URL = process.env.BETTER_AUTH_URL;
const API_URL = process.env.API_URL;
const skip = AUTH_URL && API_URL ? false : "BETTER_AUTH_URL and API_URL are not set";

test("sign up with better-auth, call the API with its JWT", { skip }, async () => {
  // Node has no cookie jar: the bearer plugin hands the session token out in a header. Node's
  // fetch sends no Origin either, and Better-Auth refuses a sign-up without a trusted one: send
  // the auth server's own origin, which it trusts by default (a browser sends the page's).
  let sessionToken = "";
  const authClient = createAuthClient({
    baseURL: AUTH_URL,
    plugins: [jwtClient()],
    fetchOptions: {
      headers: { Origin: new URL(AUTH_URL!).origin },
      onSuccess(context) {
        sessionToken = context.response.headers.get("set-auth-token") ?? sessionToken;
      },
    },
  });
  const email = `ts-client-${randomBytes(6).toString("hex")}@example.com`;
  const signUp = await authClient.signUp.email({
    email,
    password: "correct-horse-battery-staple",
    name: "TypeScript Client",
  });
  assert.equal(signUp.error, null, JSON.stringify(signUp.error));
  assert.ok(sessionToken, "sign-up sent a set-auth-token header");

  const issued = await authClient.$fetch<{ token: string }>("/token", {
    method: "GET",
    headers: { Authorization: `Bearer ${sessionToken}` },
  });
  assert.equal(issued.error, null, JSON.stringify(issued.error));
  const jwt = issued.data?.token;
  assert.ok(jwt && jwt.split(".").length === 3, "a compact JWT");

  const api = createApiClient(API_URL!, () => jwt);
  const me = await api.GET("/api/v1/users/me");
  assert.equal(me.response.status, 200);
  assert.equal(me.data?.email, email);
  assert.equal(me.data?.id, signUp.data?.user.id);

  const session = await api.GET("/api/v1/auth/session");
  assert.equal(session.data?.tokenType, "jwt");

  // An anonymous call: the problem+json body reads like a Better-Auth error.
  const anonymous = createApiClient(API_URL!);
  const refused = await anonymous.GET("/api/v1/users/me");
  assert.equal(refused.response.status, 401);
  assert.ok(isProblem(refused.error));
  assert.equal(refused.error.message, refused.error.detail);
  assert.equal(refused.error.status, 401);
});
