/**
 * Origin-check vectors: Better-Auth's own answer to "is this Origin trusted by this pattern?", for
 * every pair of a corpus of patterns and origins (written as origins.json by `npm run vectors`).
 *
 * The answer comes from the context of a real Better-Auth instance (`auth.$context`, public API):
 * `isTrustedOrigin(url)` over `trustedOrigins` set to the one pattern, which is exactly what its
 * origin check (`validateOrigin`) runs on an Origin or Referer header. The backend's CSRF check
 * (app/utils/origins.py) must give the same answer for every pair.
 */
import { writeFileSync } from "node:fs";

import { betterAuth } from "better-auth";

// Never matched by the corpus: the instance's own origin is trusted too, so it must stay apart.
const BASE_URL = "http://vectors.invalid";

const PATTERNS = [
  // exact origins
  "https://app.example.com",
  "https://App.Example.com",
  "http://localhost:3000",
  "https://app.example.com:8443",
  "https://app.example.com/",
  // wildcards against the whole origin
  "https://*.example.com",
  "https://*.*.example.com",
  "https://*.*.*.example.com",
  "https://preview-?.example.com",
  "https://**.example.com",
  "http*://*.example.com",
  "https://*.example.com:*",
  "https://app.example.com/**",
  "https://a\\*.example.com",
  // wildcards against the host
  "*.example.com",
  "preview-?.example.com",
  "**.example.com",
  "*.example.com:8443",
  "app.*",
  // address ranges
  "http://192.168.*.*",
  "http://10.*",
  "192.168.*.*:3000",
  "http://192.168.1.?:*",
  "https://[::1]:*",
  // custom schemes
  "myapp://",
  "myapp://callback",
  "myapp://host/cb",
  "exp://192.168.1.5:8081",
  "myapp://*",
  "myapp://*.example.com",
  "myapp://host/cb/*",
  "myapp://host/**",
  "myapp://h?st",
  "exp://192.168.*.*:*",
  "chrome-extension://abcdefghijklmnop",
];

const ORIGINS = [
  "https://app.example.com",
  "https://APP.example.com:443/path?q=1",
  "https://app.example.com:8443",
  "http://app.example.com",
  "https://app.example.com.evil.net",
  "https://evil.net/https://app.example.com",
  "https://user:pass@app.example.com",
  "https://app.example.com\\evil",
  "https://app.example.com/",
  "https://a.example.com",
  "https://a.b.example.com",
  "https://a.b.c.example.com",
  "https://example.com",
  "https://preview-1.example.com",
  "https://preview-12.example.com",
  "https://a*.example.com",
  "https://ab.example.com",
  "https://xn--zca.example.com",
  "https://ß.example.com",
  "https://evil\u3002example.com",
  "https://a.example.com:8443",
  "http://localhost:3000",
  "http://LOCALHOST:3000/",
  "http://localhost:3001",
  "http://192.168.1.5",
  "http://192.168.1.5:3000",
  "http://192.168.attacker.com",
  "http://192.168.1.attacker.com",
  "http://10.0.0.1",
  "http://10.evil.com",
  "http://0x7f.1",
  "https://[::1]:3000",
  "app.example.com",
  "/relative",
  "//app.example.com",
  "https://",
  "https://a.example.com:99999",
  "not a url",
  "null",
  "file:///etc/passwd",
  "data:text/html,x",
  "myapp://callback",
  "myapp://callback.attacker.tld",
  "MYAPP://Callback",
  "myapp://host/cb",
  "myapp://host/cb/next",
  "myapp://host/cb/../evil",
  "myapp://host/cb/%2e%2e/evil",
  "myapp://host/cb%2Fnext",
  "myapp://host/cb/%zz",
  "myapp://host/cbx",
  "myapp://host?x=/cb",
  "myapp://user@host/cb",
  "myapp://a.example.com",
  "myapp://hast",
  "myapp:callback",
  "otherapp://callback",
  "exp://192.168.1.5:8081",
  "exp://192.168.1.9:19000",
  "exp://192.168.evil.com:8081",
  "chrome-extension://abcdefghijklmnop",
  "chrome-extension://abcdefghijklmnopq",
];

export type OriginCase = [origin: string, pattern: string, trusted: boolean];

export async function originVectors(secret: string): Promise<OriginCase[]> {
  const auth = betterAuth({ baseURL: BASE_URL, secret, trustedOrigins: [] });
  const context = await auth.$context;
  const cases: OriginCase[] = [];
  for (const pattern of PATTERNS) {
    context.trustedOrigins = [pattern];
    for (const origin of ORIGINS) cases.push([origin, pattern, context.isTrustedOrigin(origin)]);
  }
  return cases;
}

/** origins.json: one case per line, so that a changed answer is a one-line diff. */
export async function writeOriginVectors(file: string, secret: string, versions: string, version: string): Promise<void> {
  const cases = await originVectors(secret);
  const note = `isTrustedOrigin(origin) with trustedOrigins = [pattern], answered by ${versions}; written by \`npm run vectors\`.`;
  const lines = cases.map((item) => `    ${JSON.stringify(item)}`).join(",\n");
  const header = `  "note": ${JSON.stringify(note)},\n  "better_auth": ${JSON.stringify(version)},\n`;
  writeFileSync(file, `{\n${header}  "cases": [\n${lines}\n  ]\n}\n`);
}
