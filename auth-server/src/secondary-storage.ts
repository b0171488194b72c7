/**
 * Sessions in Redis (Better-Auth's `secondaryStorage`, through @better-auth/redis-storage), on when
 * SECONDARY_STORAGE_URL is set. The API reads the same variables (backend/app/config.py), so both
 * servers look in the same place:
 *
 *   SECONDARY_STORAGE_URL           redis://[:password@]host:port/db, rediss:// for TLS
 *   SECONDARY_STORAGE_PREFIX        key prefix, default "better-auth:" (the package's default)
 *   STORE_SESSION_IN_DATABASE       session.storeSessionInDatabase (default false: no `session` rows at all)
 *   PRESERVE_SESSION_IN_DATABASE    session.preserveSessionInDatabase (rows kept for audit, ended not deleted)
 *
 * Better-Auth then keeps `<prefix><token>` -> {session, user}, `<prefix>active-sessions-<userId>` and
 * `<prefix>revoked-sessions-before-<userId>` (see docs/guides/secondary-storage.md).
 */
import { redisStorage } from "@better-auth/redis-storage";
import type { BetterAuthOptions } from "better-auth";
import { Redis } from "ioredis";

export interface SecondaryStorageConfig {
  url: string;
  prefix: string;
  storeSessionInDatabase: boolean;
  preserveSessionInDatabase: boolean;
}

type Env = Record<string, string | undefined>;
type Fail = (message: string) => Error;

function flag(env: Env, name: string, fail: Fail): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return false;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw fail(`${name}: must be true or false`);
}

/** The settings, or undefined when SECONDARY_STORAGE_URL is unset (sessions in the database). */
export function loadSecondaryStorageConfig(env: Env, fail: Fail): SecondaryStorageConfig | undefined {
  const url = env.SECONDARY_STORAGE_URL?.trim();
  if (!url) return undefined;
  if (!/^(redis|rediss|unix):\/\//i.test(url)) {
    throw fail("SECONDARY_STORAGE_URL: must be a redis://, rediss:// or unix:// URL");
  }
  // An empty prefix is Better-Auth's to allow, but it would make every key of the database look
  // like a session token to SCAN-based tools: keep the package's default unless one is given.
  const prefix = env.SECONDARY_STORAGE_PREFIX ?? "better-auth:";
  return {
    url,
    prefix,
    storeSessionInDatabase: flag(env, "STORE_SESSION_IN_DATABASE", fail),
    preserveSessionInDatabase: flag(env, "PRESERVE_SESSION_IN_DATABASE", fail),
  };
}

/** Where a URL points, without its password. */
export function describeSecondaryStorage(config: SecondaryStorageConfig): string {
  return `${config.url.replace(/^([a-z]+:\/\/)[^@/]*@/i, "$1***@")} prefix "${config.prefix}"`;
}

/** The part of Better-Auth's options that puts sessions in Redis (empty without the setting). */
export function secondaryStorageOptions(config: SecondaryStorageConfig | undefined): Partial<BetterAuthOptions> {
  if (!config) return {};
  // lazyConnect: the migrations never touch the storage, and must not wait for Redis.
  const client = new Redis(config.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  client.on("error", (error: Error) => console.error(`[auth-server] secondary storage: ${error.message}`));
  return {
    secondaryStorage: redisStorage({ client, keyPrefix: config.prefix }),
    session: {
      storeSessionInDatabase: config.storeSessionInDatabase,
      preserveSessionInDatabase: config.preserveSessionInDatabase,
    },
  };
}
