/**
 * The one Better-Auth configuration, shared by the server (server.ts), the migrations (migrate.ts) and the
 * conformance vectors (vectors.ts). Plugins: jwt (plus a `sid` claim), admin, bearer, organization with
 * teams, api-key; email + password sign-in; Google, GitHub and generic OIDC sign-in when configured
 * (social.ts). Everything else stays at Better-Auth's defaults, so the schema and tokens are what a
 * Better-Auth app with these plugins produces (backend/tests/fixtures/better-auth/).
 */
import { apiKey } from "@better-auth/api-key";
import { betterAuth } from "better-auth";
import { admin } from "better-auth/plugins/admin";
import { bearer } from "better-auth/plugins/bearer";
import { jwt, type JWKOptions } from "better-auth/plugins/jwt";
import { organization } from "better-auth/plugins/organization";
import Database from "better-sqlite3";
import pg from "pg";

import { adminAccessOptions } from "./access.ts";
import type { Config } from "./config.ts";
import { organizationAccessOptions } from "./org-access.ts";
import { oidcPlugins, socialProviders } from "./social.ts";
import { secondaryStorageOptions } from "./secondary-storage.ts";

export type DatabaseHandle =
  | { kind: "postgres"; pool: pg.Pool; close: () => Promise<void> }
  | { kind: "sqlite"; db: Database.Database; close: () => Promise<void> };

export function openDatabase(config: Config): DatabaseHandle {
  const target = config.database;
  if (target.kind === "postgres") {
    const pool = new pg.Pool({ connectionString: target.connectionString, max: 10 });
    // An idle client losing its connection (database restart) must not crash the process.
    pool.on("error", (error) => console.error(`[auth-server] idle database connection failed: ${error.message}`));
    return { kind: "postgres", pool, close: () => pool.end() };
  }
  const db = new Database(target.filename);
  // Shared with the Python backend: wait for its locks instead of failing, and honour ON DELETE CASCADE.
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  return {
    kind: "sqlite",
    db,
    close: async () => {
      db.close();
    },
  };
}

function keyPairConfig(config: Config): JWKOptions {
  return config.jwtAlg === "EdDSA" ? { alg: "EdDSA", crv: "Ed25519" } : { alg: config.jwtAlg };
}

/**
 * Header in which server.ts passes the TCP peer address to Better-Auth (always overwritten, never taken
 * from the client). Better-Auth reads client IPs only from headers; without it, rate limiting falls back
 * to one shared bucket and sessions get an empty ipAddress.
 */
export const CLIENT_IP_HEADER = "x-auth-server-client-ip";

export function createAuth(config: Config, database: DatabaseHandle) {
  return betterAuth({
    database: database.kind === "postgres" ? database.pool : database.db,
    secret: config.secret,
    // BETTER_AUTH_SECRETS (rotation): the first entry signs; BETTER_AUTH_SECRET then only decrypts old data.
    ...(config.secrets ? { secrets: config.secrets } : {}),
    // SECONDARY_STORAGE_URL: sessions in Redis (secondary-storage.ts).
    ...secondaryStorageOptions(config.secondaryStorage),
    baseURL: config.baseURL,
    trustedOrigins: config.trustedOrigins,
    emailAndPassword: { enabled: true },
    // Google, GitHub and a generic OpenID Connect provider, each when configured (social.ts).
    socialProviders: socialProviders(config),
    telemetry: { enabled: false },
    // A single-address X-Forwarded-For from a proxy in front wins (Better-Auth's default header);
    // otherwise the peer address of the connection.
    advanced: { ipAddress: { ipAddressHeaders: ["x-forwarded-for", CLIENT_IP_HEADER] } },
    ...(config.rateLimitEnabled === undefined ? {} : { rateLimit: { enabled: config.rateLimitEnabled } }),
    plugins: [
      jwt({
        jwks: {
          keyPairConfig: keyPairConfig(config),
          ...(config.jwtRotationInterval === undefined ? {} : { rotationInterval: config.jwtRotationInterval }),
          ...(config.jwtGracePeriod === undefined ? {} : { gracePeriod: config.jwtGracePeriod }),
        },
        jwt: {
          // Better-Auth's default payload (the whole user row) plus the session id, so that the API can
          // refuse a JWT once its session is gone (signed out, revoked). Without definePayload the
          // payload is `session.user`; `sub` is added by Better-Auth after this function either way.
          definePayload: ({ user, session }) => ({ ...user, sid: session.id }),
        },
      }),
      // Roles and adminUserIds from ACCESS_CONTROL_FILE / ADMIN_USER_IDS, shared with the API (access.ts).
      admin(adminAccessOptions(config)),
      bearer(),
      // Tables organization, member, invitation, team, teamMember; session.activeOrganizationId/activeTeamId.
      // Custom organization roles from ACCESS_CONTROL_FILE's "organization" section, and with
      // ORGANIZATION_DYNAMIC_ROLES=true roles created per organization at run time (table organizationRole).
      organization({ teams: { enabled: true }, ...organizationAccessOptions(config) }),
      // Table apikey; keys sent in the x-api-key header. API_KEY_RATE_LIMIT_ENABLED=false turns the per-key
      // rate limit off (rateLimit.enabled: no key is counted, and new keys get rateLimitEnabled false),
      // as the backend does with the same variable.
      apiKey(config.apiKeyRateLimitEnabled === undefined ? {} : { rateLimit: { enabled: config.apiKeyRateLimitEnabled } }),
      ...oidcPlugins(config),
    ],
  });
}

export type Auth = ReturnType<typeof createAuth>;
