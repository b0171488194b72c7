/**
 * Conformance vectors: the real output of the pinned Better-Auth, configured as in auth.ts, written into
 * the backend's test fixtures. The backend's tests read nothing else about Better-Auth.
 *
 *   npm run vectors                       write into ../backend/tests/fixtures/better-auth/
 *   npm run vectors -- --out DIR          write into DIR (the E2E drift test does this)
 *
 * Better-Auth runs in this process (auth.handler on Request objects, no port), each time on a fresh
 * temporary database:
 *   - origins.json: Better-Auth's answer to its origin check for a corpus of patterns and origins;
 *   - one SQLite file per JWT algorithm: sign-up, session token, JWT, JWKS (tokens.json); on the EdDSA
 *     one also an organization, a team, an invitation and an API key (rows-sqlite.json, api_key);
 *   - when DATABASE_URL names a PostgreSQL server: a temporary database on it (created, then dropped)
 *     with the same scenario (rows-postgres.json) and its DDL (schema-postgres.sql). Without it, the
 *     PostgreSQL files already in the output folder are left as they are, and a warning says so.
 * schema-*.sql hold exactly what getMigrations(...).compileMigrations() runs on an empty database.
 *
 * Random per run: ids, keys, tokens, signatures, timestamps. Stable for a given Better-Auth version and
 * configuration: the DDL, claim names and value types, JWT header fields, JWK fields, row columns.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { getMigrations } from "better-auth/db/migration";
import pg from "pg";

import { createAuth, openDatabase, type DatabaseHandle } from "./auth.ts";
import { writeOriginVectors } from "./origin-vectors.ts";
import { betterAuthVersion, installedVersion } from "./versions.ts";
import { ConfigError, JWT_ALGORITHMS, PACKAGE_DIR, parseDatabaseUrl, type Config, type JwtAlgorithm } from "./config.ts";

// Not a secret: published with the vectors so that tests can check session-token signatures.
const SECRET = "better-auth-vectors-secret-for-tests-only-0123456789";
const BASE_URL = "http://127.0.0.1:3000";
const PASSWORD = "vector-password-1234";
// The token is checked at this many seconds after it was issued (it has long expired when tests run).
const VALID_AFTER_ISSUE_SECONDS = 60;

const TABLES = [
  "user",
  "session",
  "account",
  "jwks",
  "organization",
  "member",
  "team",
  "teamMember",
  "invitation",
  "apikey",
] as const;

type Json = Record<string, unknown>;

function parseArgs(argv: string[]): { out: string } {
  let out = path.resolve(PACKAGE_DIR, "..", "backend", "tests", "fixtures", "better-auth");
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === "--out" && argv[i + 1]) {
      out = path.resolve(process.env.INIT_CWD ?? process.cwd(), argv[i + 1]);
      i += 1;
    } else {
      throw new ConfigError(`unknown argument ${argv[i]} (usage: npm run vectors -- [--out DIR])`);
    }
  }
  return { out };
}

function configFor(jwtAlg: JwtAlgorithm, database: Config["database"]): Config {
  return {
    production: false,
    database,
    secret: SECRET,
    secretIsDevDefault: false,
    baseURL: BASE_URL,
    host: "127.0.0.1",
    port: 0,
    jwtAlg,
    trustedOrigins: [],
    rateLimitEnabled: false,
    // Better-Auth's default roles, whatever the environment says: the vectors are the defaults'.
    adminUserIds: [],
    // The schema our migrations create has organizationRole: the DDL is dynamic access control's.
    organizationDynamicRoles: true,
    social: {}, // no OAuth provider: the vectors are email + password sign-in's
  };
}

/** One Better-Auth instance on one database, driven through its HTTP handler. */
class Driver {
  readonly auth;

  constructor(
    readonly config: Config,
    readonly database: DatabaseHandle,
  ) {
    this.auth = createAuth(config, database);
  }

  /** The DDL for an empty database, then applied. */
  async migrate(): Promise<string> {
    const plan = await getMigrations(this.auth.options);
    const sql = await plan.compileMigrations();
    await plan.runMigrations();
    return sql;
  }

  async call(method: "GET" | "POST", route: string, options: { bearer?: string; body?: Json } = {}): Promise<Response> {
    const headers = new Headers({ "user-agent": "better-auth-vectors" });
    if (options.bearer) headers.set("authorization", `Bearer ${options.bearer}`);
    if (options.body) headers.set("content-type", "application/json");
    const response = await this.auth.handler(
      new Request(`${BASE_URL}/api/auth${route}`, {
        method,
        headers,
        body: options.body ? JSON.stringify(options.body) : undefined,
      }),
    );
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
    return response;
  }

  async json(method: "GET" | "POST", route: string, options: { bearer?: string; body?: Json } = {}): Promise<Json> {
    return (await (await this.call(method, route, options)).json()) as Json;
  }

  async row(table: string): Promise<Json> {
    if (this.database.kind === "sqlite") {
      const row = this.database.db.prepare(`select * from "${table}" limit 2`).all() as Json[];
      if (row.length !== 1) throw new Error(`${table}: expected one row, found ${row.length}`);
      return row[0];
    }
    // row_to_json: the values exactly as PostgreSQL renders them (timestamptz with its offset).
    const result = await this.database.pool.query(`select row_to_json(t)::text as row from "${table}" t limit 2`);
    if (result.rows.length !== 1) throw new Error(`${table}: expected one row, found ${result.rows.length}`);
    return JSON.parse(result.rows[0].row) as Json;
  }
}

interface SignedUp {
  email: string;
  sessionToken: string;
  bearerSigned: string;
  cookieName: string;
  cookieValue: string;
}

async function signUp(driver: Driver, name: string, email: string): Promise<SignedUp> {
  const response = await driver.call("POST", "/sign-up/email", { body: { name, email, password: PASSWORD } });
  const body = (await response.json()) as { token: string };
  const bearerSigned = response.headers.get("set-auth-token");
  const cookie = response.headers.getSetCookie().find((item) => item.includes(".session_token="));
  if (!bearerSigned || !cookie) throw new Error("sign-up: no set-auth-token header or session cookie");
  const [pair] = cookie.split(";");
  const separator = pair.indexOf("=");
  return {
    email,
    sessionToken: body.token,
    bearerSigned,
    cookieName: pair.slice(0, separator),
    cookieValue: pair.slice(separator + 1),
  };
}

function decodeSegment(segment: string): Json {
  return JSON.parse(Buffer.from(segment, "base64url").toString("utf8")) as Json;
}

async function mintToken(driver: Driver, alg: JwtAlgorithm, user: SignedUp): Promise<Json> {
  const { token } = (await driver.json("GET", "/token", { bearer: user.bearerSigned })) as { token: string };
  const jwks = await driver.json("GET", "/jwks");
  const [header, payload] = token.split(".");
  const claims = decodeSegment(payload);
  const origin = new URL(BASE_URL).origin;
  return {
    alg,
    issuer: origin,
    audience: origin,
    valid_at: Number(claims.iat) + VALID_AFTER_ISSUE_SECONDS,
    jwks,
    token,
    header: decodeSegment(header),
    claims,
  };
}

/** The tenant and machine rows: one of each (organization, its default team, ...), owned by the user. */
async function createPluginRows(driver: Driver, owner: SignedUp): Promise<Json> {
  const bearer = owner.bearerSigned;
  const organization = await driver.json("POST", "/organization/create", {
    bearer,
    body: { name: "Vector Org", slug: "vector-org", metadata: { plan: "vector" } },
  });
  // With teams enabled, creating an organization also creates its default team, with the creator in it.
  const team = await driver.row("team");
  await driver.json("POST", "/organization/invite-member", {
    bearer,
    body: { email: "invitee@example.com", role: "member", organizationId: organization.id, teamId: team.id },
  });
  const created = await driver.json("POST", "/api-key/create", {
    bearer,
    body: { name: "vector key" },
  });
  return created;
}

async function runScenario(driver: Driver, alg: JwtAlgorithm, withPlugins: boolean) {
  const ddl = await driver.migrate();
  const user = await signUp(driver, `Vector ${alg}`, `${alg.toLowerCase()}@example.com`);
  const token = await mintToken(driver, alg, user);
  const apiKey = withPlugins ? await createPluginRows(driver, user) : undefined;
  const rows: Record<string, Json> = {};
  if (withPlugins) for (const table of TABLES) rows[table] = await driver.row(table);
  return { ddl, user, token, apiKey, rows };
}

function sqlFile(ddl: string, dialect: string, versions: string): string {
  return (
    `-- Exactly what ${versions} (plugins: jwt, admin, bearer, organization with teams, api-key) runs on an\n` +
    `-- empty ${dialect} database: getMigrations(auth.options).compileMigrations(). Generated by \`npm run vectors\`\n` +
    `-- in auth-server/; do not edit.\n` +
    `${ddl.trim()}\n`
  );
}

function writeJson(file: string, value: unknown): void {
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

async function withTemporaryPostgres<T>(adminUrl: string, use: (database: Config["database"]) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const name = `better_auth_vectors_${randomBytes(6).toString("hex")}`;
  await admin.query(`create database "${name}"`);
  try {
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return await use(parseDatabaseUrl(url.toString()));
  } finally {
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

async function main(): Promise<void> {
  const { out } = parseArgs(process.argv.slice(2));
  const versions = `better-auth ${betterAuthVersion()} with @better-auth/api-key ${installedVersion("@better-auth/api-key")}`;
  const pgTarget = process.env.DATABASE_URL ? parseDatabaseUrl(process.env.DATABASE_URL) : undefined;
  mkdirSync(out, { recursive: true });
  const scratch = mkdtempSync(path.join(os.tmpdir(), "better-auth-vectors-"));

  try {
    const tokens: Json[] = [];
    let sqliteDdl: string | undefined;
    let primary: Awaited<ReturnType<typeof runScenario>> | undefined;
    for (const alg of JWT_ALGORITHMS) {
      const target = parseDatabaseUrl(`file:${path.join(scratch, `${alg}.db`)}`);
      const database = openDatabase(configFor(alg, target));
      try {
        const result = await runScenario(new Driver(configFor(alg, target), database), alg, alg === "EdDSA");
        if (sqliteDdl !== undefined && sqliteDdl !== result.ddl) throw new Error("SQLite DDL differs between runs");
        sqliteDdl = result.ddl;
        tokens.push(result.token);
        if (alg === "EdDSA") primary = result;
      } finally {
        await database.close();
      }
    }
    if (!primary || !sqliteDdl) throw new Error("no EdDSA run");

    const session = primary.rows.session;
    const claims = (tokens[0] as { claims: Json }).claims;
    if (claims.sid !== session.id) throw new Error("the JWT's sid is not its session's id");
    const apiKeyRow = primary.rows.apikey;
    const key = String(primary.apiKey?.key);
    const hashed = Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key))).toString("base64url");
    if (hashed !== apiKeyRow.key) throw new Error("the api key is not stored as base64url(SHA-256(key))");

    writeJson(path.join(out, "tokens.json"), {
      note:
        `Minted by ${versions}, configured as auth-server/src/auth.ts, by \`npm run vectors\`. ` +
        "The tokens have expired: verify them with the clock at `valid_at`, never with expiry checks off. " +
        "The session, the EdDSA token and the api key belong to the rows in rows-sqlite.json.",
      better_auth: betterAuthVersion(),
      secret: SECRET,
      tokens,
      session: {
        id: session.id,
        user_id: session.userId,
        token: primary.user.sessionToken,
        bearer_signed: primary.user.bearerSigned,
        cookie_name: primary.user.cookieName,
        cookie_value: primary.user.cookieValue,
        signature_rule: "base64(HMAC-SHA256(key=secret, msg=token)), standard alphabet with padding",
      },
      api_key: {
        id: apiKeyRow.id,
        key,
        hash_rule: "base64url(SHA-256(key)), no padding; stored in apikey.key",
      },
    });
    writeJson(path.join(out, "rows-sqlite.json"), primary.rows);
    await writeOriginVectors(path.join(out, "origins.json"), SECRET, versions, betterAuthVersion());
    writeFileSync(path.join(out, "schema-sqlite.sql"), sqlFile(sqliteDdl, "SQLite (better-sqlite3)", versions));

    if (pgTarget?.kind === "postgres") {
      await withTemporaryPostgres(pgTarget.connectionString, async (target) => {
        const database = openDatabase(configFor("EdDSA", target));
        try {
          const result = await runScenario(new Driver(configFor("EdDSA", target), database), "EdDSA", true);
          writeJson(path.join(out, "rows-postgres.json"), result.rows);
          writeFileSync(path.join(out, "schema-postgres.sql"), sqlFile(result.ddl, "PostgreSQL", versions));
        } finally {
          await database.close();
        }
      });
    } else {
      console.error(
        "[vectors] DATABASE_URL names no PostgreSQL server: rows-postgres.json and schema-postgres.sql left as they are",
      );
    }
    console.error(`[vectors] written to ${out}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  console.error(`[vectors] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
}
