/**
 * Hash routes (`#/users?search=ada&sortBy=email`): the query of a screen is in the URL, so a
 * view can be bookmarked, shared and reloaded, and the API serves one static page for all.
 */
export interface Route {
  /** ["users", "abc"] for #/users/abc */
  segments: string[];
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path = "", search = ""] = raw.split("?", 2);
  const segments = path.split("/").filter(Boolean).map((part) => decodeURIComponent(part));
  return { segments, query: new URLSearchParams(search) };
}

/** `#/users?search=ada`, without the parameters that are empty. */
export function href(path: string, query: Record<string, string | number | null | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(name, String(value));
  }
  const search = params.toString();
  return `#/${path}${search ? `?${search}` : ""}`;
}

export function navigate(target: string): void {
  if (window.location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else window.location.hash = target;
}

/** A non-negative integer query parameter, or `fallback`. */
export function intParam(query: URLSearchParams, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(query.get(name));
  return query.has(name) && Number.isInteger(value) && value >= 0 ? Math.min(value, max) : fallback;
}
