/**
 * BETTER_AUTH_SECRETS="<version>:<secret>,...": rotated secrets. Parsed here as Better-Auth 1.7 parses
 * it (context/secret-utils parseSecretsEnv + validateSecretsArray), so that a bad value stops the server
 * at start with Better-Auth's own message instead of failing its first request. The first entry is
 * current (signs cookies and encrypts new data); the others only decrypt what they encrypted.
 */
export interface VersionedSecret {
  version: number;
  value: string;
}

export function parseSecretsEnv(raw: string | undefined, fail: (message: string) => Error): VersionedSecret[] | undefined {
  if (!raw) return undefined;
  const secrets = raw.split(",").map((entry, index) => {
    entry = entry.trim();
    const colon = entry.indexOf(":");
    if (colon === -1) {
      throw fail(`Invalid BETTER_AUTH_SECRETS entry at position ${index + 1}. Expected format: "<version>:<secret>"`);
    }
    const version = parseInt(entry.slice(0, colon), 10);
    if (!Number.isInteger(version) || version < 0) {
      throw fail(`Invalid version in BETTER_AUTH_SECRETS entry at position ${index + 1}. Version must be a non-negative integer.`);
    }
    const value = entry.slice(colon + 1).trim();
    if (!value) throw fail(`Empty secret value for version ${version} in BETTER_AUTH_SECRETS.`);
    return { version, value };
  });
  const seen = new Set<number>();
  for (const { version } of secrets) {
    if (seen.has(version)) throw fail(`Duplicate version ${version} in \`secrets\`. Each version must be unique.`);
    seen.add(version);
  }
  return secrets;
}
