/**
 * Typed client for the FastAPI Better-Auth backend.
 *
 * `src/schema.d.ts` is generated from the committed OpenAPI contract
 * (specs/003-fastapi-better-auth/contracts/openapi.yaml) by `npm run generate`; a backend test
 * fails when it is out of date. At run time this is openapi-fetch: a thin wrapper over `fetch`,
 * with paths, parameters, bodies and answers typed from the contract.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** Every error the API answers: `application/problem+json`. `message` equals `detail`, so
 * Better-Auth's `{code, message, status}` error handling reads the API's errors too. */
export type Problem = components["schemas"]["Problem"];
export type UserRead = components["schemas"]["UserRead"];
export type UserPage = components["schemas"]["UserPage"];
export type SessionInfo = components["schemas"]["SessionInfo"];

export type ApiClient = Client<paths>;

/** Where the bearer credential comes from: a Better-Auth JWT (`authClient.token()`,
 * `auth.api.getToken()`), or `null`/`undefined` for an anonymous call. Called per request. */
export type TokenSource = () =>
  | string
  | null
  | undefined
  | Promise<string | null | undefined>;

export interface ApiClientOptions {
  /** A custom `fetch` (tests, Next.js's extended fetch, ...). */
  fetch?: typeof globalThis.fetch;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

/**
 * A client for the API at `baseUrl` (e.g. `http://127.0.0.1:8000`; paths carry `/api/v1`).
 * `getToken` is asked for a JWT before each request and sent as `Authorization: Bearer`.
 */
export function createApiClient(
  baseUrl: string,
  getToken?: TokenSource,
  options: ApiClientOptions = {},
): ApiClient {
  const client = createClient<paths>({
    baseUrl: baseUrl.replace(/\/+$/, ""),
    fetch: options.fetch,
    headers: options.headers,
  });
  if (getToken) {
    const bearer: Middleware = {
      async onRequest({ request }) {
        const token = await getToken();
        if (token) request.headers.set("Authorization", `Bearer ${token}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}

/** Whether an error body is the API's problem+json. */
export function isProblem(value: unknown): value is Problem {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Problem).code === "string" &&
    typeof (value as Problem).status === "number"
  );
}
