/**
 * Settings, read from the environment in one place. Nothing else reads process.env.
 *
 * DATABASE_URL accepts the same URLs as the Python backend (SQLAlchemy style):
 *   postgres://, postgresql://, postgresql+asyncpg://  -> pg Pool (the "+driver" part is dropped)
 *   sqlite:///relative.db, sqlite:////absolute.db        -> better-sqlite3 (3 slashes = relative, 4 = absolute)
 *   sqlite+aiosqlite:///...                              -> same, "+driver" dropped
 *   file:relative.db, file:/absolute.db, file:///abs.db -> better-sqlite3
 * Unset: <repo>/data/app.db, the backend's default file.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { type VersionedSecret, parseSecretsEnv } from "./secrets.ts";
import { type SecondaryStorageConfig, loadSecondaryStorageConfig } from "./secondary-storage.ts";

export const JWT_ALGORITHMS = ["EdDSA", "RS256", "ES256", "PS256", "ES512"] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export type DatabaseTarget =
  | { kind: "postgres"; connectionString: string; display: string }
  | { kind: "sqlite"; filename: string; display: string };

export interface Config {
  production: boolean;
  database: DatabaseTarget;
  /** BETTER_AUTH_SECRET; undefined when only BETTER_AUTH_SECRETS is set. */
  secret: string | undefined;
  /** BETTER_AUTH_SECRETS, parsed (the first entry signs). */
  secrets?: VersionedSecret[];
  secretIsDevDefault: boolean;
  /** SECONDARY_STORAGE_URL and friends: sessions in Redis. */
  secondaryStorage?: SecondaryStorageConfig;
  baseURL: string;
  host: string;
  port: number;
  jwtAlg: JwtAlgorithm;
  jwtRotationInterval?: number;
  jwtGracePeriod?: number;
  trustedOrigins: string[];
  rateLimitEnabled?: boolean;
  /** ACCESS_CONTROL_FILE: the JSON file of roles the backend reads too (access.ts, org-access.ts). */
  accessControlFile?: string;
  /** ADMIN_USER_IDS (comma-separated): the admin plugin's adminUserIds. */
  adminUserIds: string[];
  /** API_KEY_RATE_LIMIT_ENABLED: the api-key plugin's rateLimit.enabled (its default: true). */
  apiKeyRateLimitEnabled?: boolean;
  /**
   * ORGANIZATION_DYNAMIC_ROLES: the organization plugin's dynamicAccessControl.enabled (its default: false).
   * The API reads the same variable, so both honour the organizationRole table or neither does.
   */
  organizationDynamicRoles: boolean;
  social: SocialConfig;
}

/** An OAuth client registered with a provider. */
export interface OAuthClient {
  clientId: string;
  clientSecret: string;
}

/** A generic OpenID Connect provider, found through its discovery document. */
export interface OidcProviderConfig extends OAuthClient {
  providerId: string;
  discoveryUrl: string;
  scopes: string[];
}

/** Sign-in providers (src/social.ts): each one is on when its variables are set. */
export interface SocialConfig {
  google?: OAuthClient;
  github?: OAuthClient;
  oidc?: OidcProviderConfig;
}

export class ConfigError extends Error {}

/** This package's folder (auth-server/), whatever the current directory. */
export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_SQLITE_PATH = path.resolve(PACKAGE_DIR, "..", "data", "app.db");

export const DEV_SECRET = "dev-only-insecure-better-auth-secret-do-not-use-in-production";

type Env = Record<string, string | undefined>;

function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
}

/**
 * Relative SQLite paths are relative to the directory the command was started from.
 * `npm run` changes into this package's folder but keeps the caller's folder in INIT_CWD.
 */
function callerDir(env: Env): string {
  return value(env, "INIT_CWD") ?? process.cwd();
}

function sqliteTarget(rawPath: string, env: Env, display: string): DatabaseTarget {
  const file = rawPath.split("?")[0];
  if (file === "" || file === ":memory:") {
    return { kind: "sqlite", filename: ":memory:", display };
  }
  const filename = path.resolve(callerDir(env), file);
  mkdirSync(path.dirname(filename), { recursive: true });
  return { kind: "sqlite", filename, display };
}

/** Hide the password when printing a URL. */
function redact(url: string): string {
  return url.replace(/^([a-z0-9+.-]+:\/\/[^:/@]*:)[^@]*@/i, "$1***@");
}

export function parseDatabaseUrl(raw: string | undefined, env: Env = process.env): DatabaseTarget {
  if (!raw) {
    mkdirSync(path.dirname(DEFAULT_SQLITE_PATH), { recursive: true });
    return { kind: "sqlite", filename: DEFAULT_SQLITE_PATH, display: `sqlite:///${DEFAULT_SQLITE_PATH}` };
  }
  const match = /^([a-z][a-z0-9.-]*)(\+[a-z0-9_]+)?:(.*)$/i.exec(raw);
  if (!match) throw new ConfigError("DATABASE_URL: not a database URL");
  const scheme = match[1].toLowerCase();
  const rest = match[3];
  if (scheme === "postgres" || scheme === "postgresql") {
    // pg reads sslmode itself; channel_binding (Neon) is accepted and ignored by pg. pg 8 already treats
    // require/verify-ca as verify-full (and warns about it on every start): say so explicitly to keep the
    // same strict behaviour without the warning. `uselibpqcompat=true` in the URL opts into libpq semantics.
    let connectionString = `postgresql:${rest}`;
    if (!/[?&]uselibpqcompat=true(&|$)/i.test(connectionString)) {
      connectionString = connectionString.replace(/([?&]sslmode=)(require|verify-ca)(?=&|$)/i, "$1verify-full");
    }
    return { kind: "postgres", connectionString, display: redact(connectionString) };
  }
  if (scheme === "sqlite") {
    // SQLAlchemy: sqlite:///rel/path.db (relative), sqlite:////abs/path.db (absolute), sqlite:// (memory).
    if (!rest.startsWith("//")) throw new ConfigError("DATABASE_URL: sqlite URLs look like sqlite:///path/to/file.db");
    return sqliteTarget(rest.slice(3), env, raw);
  }
  if (scheme === "file") {
    if (rest.startsWith("//")) return sqliteTarget(fileURLToPath(`file:${rest.split("?")[0]}`), env, raw);
    return sqliteTarget(rest, env, raw);
  }
  throw new ConfigError(`DATABASE_URL: unsupported scheme '${scheme}' (use postgresql://, sqlite:/// or file:)`);
}

function parseSeconds(env: Env, name: string): number | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds <= 0) throw new ConfigError(`${name}: must be a positive whole number of seconds`);
  return seconds;
}

function parseBoolean(env: Env, name: string): boolean | undefined {
  const raw = value(env, name)?.toLowerCase();
  if (raw === undefined) return undefined;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(`${name}: must be true or false`);
}

export function loadConfig(env: Env = process.env): Config {
  const production = value(env, "NODE_ENV") === "production";

  const fail = (message: string) => new ConfigError(message);
  const explicitSecret = value(env, "BETTER_AUTH_SECRET");
  const secrets = parseSecretsEnv(value(env, "BETTER_AUTH_SECRETS"), fail);
  if (!explicitSecret && !secrets && production) {
    throw new ConfigError("BETTER_AUTH_SECRET: required when NODE_ENV=production (generate one with `openssl rand -base64 32`)");
  }

  const baseURL = (value(env, "BETTER_AUTH_URL") ?? "http://localhost:3000").replace(/\/+$/, "");
  try {
    new URL(baseURL);
  } catch {
    throw new ConfigError("BETTER_AUTH_URL: not a URL (e.g. http://localhost:3000)");
  }

  const portRaw = value(env, "PORT") ?? "3000";
  const port = Number(portRaw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError("PORT: must be a port number");

  const algRaw = value(env, "JWT_ALG") ?? "EdDSA";
  const jwtAlg = JWT_ALGORITHMS.find((alg) => alg.toLowerCase() === algRaw.toLowerCase());
  if (!jwtAlg) throw new ConfigError(`JWT_ALG: must be one of ${JWT_ALGORITHMS.join(", ")}`);

  const trustedOrigins = (value(env, "TRUSTED_ORIGINS") ?? "")
    .split(",")
    .map((origin) => origin.trim().replace(/\/+$/, ""))
    .filter(Boolean);

  return {
    production,
    database: parseDatabaseUrl(value(env, "DATABASE_URL"), env),
    secret: explicitSecret ?? (secrets ? undefined : DEV_SECRET),
    secrets,
    secretIsDevDefault: !explicitSecret && !secrets,
    secondaryStorage: loadSecondaryStorageConfig(env, fail),
    baseURL,
    host: value(env, "HOST") ?? "127.0.0.1",
    port,
    jwtAlg,
    jwtRotationInterval: parseSeconds(env, "JWT_ROTATION_INTERVAL"),
    jwtGracePeriod: parseSeconds(env, "JWT_GRACE_PERIOD"),
    trustedOrigins,
    rateLimitEnabled: parseBoolean(env, "BETTER_AUTH_RATE_LIMIT"),
    accessControlFile: value(env, "ACCESS_CONTROL_FILE"),
    adminUserIds: (value(env, "ADMIN_USER_IDS") ?? "")
      .split(",")
      .map((id) => id.trim())
      .filter(Boolean),
    apiKeyRateLimitEnabled: parseBoolean(env, "API_KEY_RATE_LIMIT_ENABLED"),
    organizationDynamicRoles: parseBoolean(env, "ORGANIZATION_DYNAMIC_ROLES") ?? false,
    social: parseSocialConfig(env),
  };
}

/** A client id and its secret: both or neither. */
function parseOAuthClient(env: Env, idName: string, secretName: string): OAuthClient | undefined {
  const clientId = value(env, idName);
  const clientSecret = value(env, secretName);
  if (!clientId && !clientSecret) return undefined;
  if (!clientId) throw new ConfigError(`${idName}: required when ${secretName} is set`);
  if (!clientSecret) throw new ConfigError(`${secretName}: required when ${idName} is set`);
  return { clientId, clientSecret };
}

// The callback path is /api/auth/callback/<providerId>: one URL path segment.
const PROVIDER_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const DEFAULT_OIDC_SCOPES = ["openid", "email", "profile"];

function parseOidcProvider(env: Env, builtIn: Set<string>): OidcProviderConfig | undefined {
  const discoveryUrl = value(env, "OIDC_DISCOVERY_URL");
  const client = parseOAuthClient(env, "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET");
  if (!discoveryUrl) {
    if (client) throw new ConfigError("OIDC_DISCOVERY_URL: required when OIDC_CLIENT_ID is set");
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(discoveryUrl);
  } catch {
    throw new ConfigError("OIDC_DISCOVERY_URL: not a URL (e.g. https://idp.example.com/.well-known/openid-configuration)");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new ConfigError("OIDC_DISCOVERY_URL: must be an http(s) URL");
  if (!client) throw new ConfigError("OIDC_CLIENT_ID and OIDC_CLIENT_SECRET: required when OIDC_DISCOVERY_URL is set");
  const providerId = value(env, "OIDC_PROVIDER_ID") ?? "oidc";
  if (!PROVIDER_ID.test(providerId)) {
    throw new ConfigError("OIDC_PROVIDER_ID: lower-case letters, digits, - and _ (it is a URL path segment)");
  }
  // Better-Auth would only warn, and sign-ins through "google" would then go to this provider.
  if (builtIn.has(providerId)) throw new ConfigError(`OIDC_PROVIDER_ID: "${providerId}" is already the built-in provider`);
  const scopes = (value(env, "OIDC_SCOPES") ?? DEFAULT_OIDC_SCOPES.join(" ")).split(/[\s,]+/).filter(Boolean);
  return { providerId, discoveryUrl: url.href, scopes, ...client };
}

export function parseSocialConfig(env: Env): SocialConfig {
  const google = parseOAuthClient(env, "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET");
  const github = parseOAuthClient(env, "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET");
  const builtIn = new Set([google && "google", github && "github"].filter((id): id is string => Boolean(id)));
  const oidc = parseOidcProvider(env, builtIn);
  return { ...(google && { google }), ...(github && { github }), ...(oidc && { oidc }) };
}
