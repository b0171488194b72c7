/**
 * Apply Better-Auth's schema (the same plan `auth migrate` runs), or with --check only report it.
 *
 *   npm run migrate            create missing tables / columns / indexes, print what was done
 *   npm run migrate -- --check print one JSON line with what is missing, change nothing, exit 0
 *   npm run migrate:check      same as the line above
 *
 * --check prints exactly one line on stdout:
 *   {"toBeCreated":["user",...],"toBeAdded":["user.role",...],"toBeAddedIndexes":[...],"unsafeChanges":[...],"schemaProblems":[...]}
 * Everything else (Better-Auth's own logs, warnings) goes to stderr.
 */
import { getMigrations } from "better-auth/db/migration";

import { createAuth, openDatabase } from "./auth.ts";
import { ConfigError, loadConfig } from "./config.ts";

type Plan = Awaited<ReturnType<typeof getMigrations>>;
type MigrationPlan = Pick<Plan, "toBeCreated" | "toBeAdded" | "runMigrations"> &
  Partial<Pick<Plan, "toBeAddedIndexes" | "unsafeChanges" | "schemaProblems">>;

const check = process.argv.slice(2).includes("--check");

if (check) {
  // Keep stdout for the JSON line only.
  console.log = console.error;
  console.info = console.error;
}

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`[auth-server] ${error.message}`);
    process.exit(1);
  }
  throw error;
}

const database = openDatabase(config);
let exitCode = 0;
try {
  const auth = createAuth(config, database);
  // Better-Auth 1.6 (make test-matrix) takes no second argument and plans no indexes, unsafe changes
  // or schema problems: those fields are then absent, and reported empty.
  const plan: MigrationPlan = await getMigrations(auth.options, { throwOnUnsafe: !check });
  const report = {
    toBeCreated: plan.toBeCreated.map((item) => item.table),
    toBeAdded: plan.toBeAdded.flatMap((item) => Object.keys(item.fields).map((field) => `${item.table}.${field}`)),
    toBeAddedIndexes: (plan.toBeAddedIndexes ?? []).map((item) => item.name),
    unsafeChanges: plan.unsafeChanges ?? [],
    schemaProblems: plan.schemaProblems ?? [],
  };
  if (check) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    console.log(`[auth-server] database: ${config.database.display}`);
    for (const problem of report.schemaProblems) console.error(`[auth-server] schema problem: ${problem}`);
    const nothingToDo =
      report.toBeCreated.length === 0 && report.toBeAdded.length === 0 && report.toBeAddedIndexes.length === 0;
    if (nothingToDo) {
      console.log("[auth-server] schema is up to date: nothing to do");
    } else {
      await plan.runMigrations();
      if (report.toBeCreated.length) console.log(`[auth-server] created tables: ${report.toBeCreated.join(", ")}`);
      if (report.toBeAdded.length) console.log(`[auth-server] added columns: ${report.toBeAdded.join(", ")}`);
      if (report.toBeAddedIndexes.length) console.log(`[auth-server] added indexes: ${report.toBeAddedIndexes.join(", ")}`);
    }
  }
} catch (error) {
  console.error(`[auth-server] migration failed: ${error instanceof Error ? error.message : String(error)}`);
  exitCode = 1;
} finally {
  await database.close();
}
process.exit(exitCode);
