/** Users: search, filter (role, banned), sort and paginate with GET /api/v1/users's own
 * parameters, all held in the URL. */
import type { UserRead } from "../api";
import { can, splitRoles, type Context } from "../context";
import { field, h, replace, time } from "../dom";
import { href, intParam, navigate, type Route } from "../router";
import { empty, errorBox, heading, loading, pagination, table } from "../ui";

const SORTABLE = { name: "Name", email: "Email", createdAt: "Created" } as const;
type SortBy = keyof typeof SORTABLE;
const PAGE_SIZES = [10, 20, 50, 100];

interface UserQuery {
  search: string;
  searchField: "email" | "name";
  role: string;
  banned: "" | "true" | "false";
  sortBy: SortBy;
  sortDirection: "asc" | "desc";
  limit: number;
  offset: number;
}

function readQuery(query: URLSearchParams): UserQuery {
  const sortBy = query.get("sortBy");
  const banned = query.get("banned");
  return {
    search: query.get("search") ?? "",
    searchField: query.get("searchField") === "name" ? "name" : "email",
    role: query.get("role") ?? "",
    banned: banned === "true" || banned === "false" ? banned : "",
    sortBy: sortBy === "name" || sortBy === "email" ? sortBy : "createdAt",
    sortDirection: query.get("sortDirection") === "desc" ? "desc" : "asc",
    limit: intParam(query, "limit", 20, 100) || 20,
    offset: intParam(query, "offset", 0),
  };
}

function usersHref(query: UserQuery, changes: Partial<UserQuery> = {}): string {
  const next = { ...query, ...changes };
  return href("users", {
    search: next.search,
    searchField: next.search && next.searchField !== "email" ? next.searchField : null,
    role: next.role,
    banned: next.banned,
    sortBy: next.sortBy === "createdAt" ? null : next.sortBy,
    sortDirection: next.sortDirection === "asc" ? null : next.sortDirection,
    limit: next.limit === 20 ? null : next.limit,
    offset: next.offset || null,
  });
}

export async function usersView(context: Context, route: Route, main: HTMLElement): Promise<void> {
  const query = readQuery(route.query);
  const create = can(context, "user", "create") ? h("a", { href: href("users/new"), className: "button" }, "Create user") : null;
  const results = h("section", { "aria-labelledby": "results-title" }, loading("users"));
  replace(main, h("div", { className: "title-row" }, heading("Users"), create), searchForm(context, query), results);
  if (!can(context, "user", "list")) {
    replace(results, empty("Your roles do not include listing users (user: list). Open a user from a link instead."));
    return;
  }
  try {
    const page = await context.api.run((client) =>
      client.GET("/api/v1/users", {
        params: {
          query: {
            search: query.search || undefined,
            searchField: query.searchField,
            role: query.role || undefined,
            banned: query.banned === "" ? undefined : query.banned === "true",
            sortBy: query.sortBy,
            sortDirection: query.sortDirection,
            limit: query.limit,
            offset: query.offset,
          },
        },
      }),
    );
    const title = h("h2", { id: "results-title", className: "visually-hidden" }, "Results");
    if (page.users.length === 0) {
      const text = page.total > 0 ? "No users on this page." : "No users match this search.";
      replace(results, title, empty(text), page.total > 0 ? pagination(page.total, query.limit, query.offset, (offset) => usersHref(query, { offset })) : null);
      return;
    }
    replace(
      results,
      title,
      usersTable(query, page.users),
      pagination(page.total, query.limit, query.offset, (offset) => usersHref(query, { offset })),
    );
  } catch (error) {
    replace(results, errorBox(error, "The users did not load"));
  }
}

function searchForm(context: Context, query: UserQuery): HTMLFormElement {
  const search = h("input", { type: "search", name: "search", value: query.search, autocomplete: "off" });
  const searchField = select("searchField", query.searchField, [["email", "Email"], ["name", "Name"]]);
  const role = select("role", query.role, [["", "Any role"], ...context.config.roles.map((name): [string, string] => [name, name])]);
  const banned = select("banned", query.banned, [["", "Any"], ["true", "Banned"], ["false", "Not banned"]]);
  const limit = select("limit", String(query.limit), PAGE_SIZES.map((size): [string, string] => [String(size), String(size)]));
  const form = h(
    "form",
    { role: "search", className: "filters", "aria-label": "Find users" },
    field("Search", search),
    field("In", searchField),
    field("Role", role),
    field("Banned", banned),
    field("Per page", limit),
    h("div", { className: "field actions" }, h("button", { type: "submit", className: "primary" }, "Search")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(
      usersHref(query, {
        search: search.value.trim(),
        searchField: searchField.value === "name" ? "name" : "email",
        role: role.value,
        banned: banned.value as UserQuery["banned"],
        limit: Number(limit.value),
        offset: 0,
      }),
    );
  });
  return form;
}

function select(name: string, value: string, options: [string, string][]): HTMLSelectElement {
  return h("select", { name }, options.map(([optionValue, label]) => h("option", { value: optionValue, selected: optionValue === value }, label)));
}

function usersTable(query: UserQuery, users: UserRead[]): HTMLTableElement {
  const header = (key: SortBy): HTMLElement => {
    const active = query.sortBy === key;
    const direction = active && query.sortDirection === "asc" ? "desc" : "asc";
    const label = `${SORTABLE[key]}${active ? (query.sortDirection === "asc" ? " ▲" : " ▼") : ""}`;
    return h("a", { href: usersHref(query, { sortBy: key, sortDirection: direction, offset: 0 }), "aria-label": `Sort by ${SORTABLE[key].toLowerCase()}, ${direction === "asc" ? "ascending" : "descending"}` }, label);
  };
  const sorted = (key: SortBy): string => (query.sortBy === key ? (query.sortDirection === "asc" ? "ascending" : "descending") : "none");
  const rows = users.map((user) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: href(`users/${encodeURIComponent(user.id)}`) }, user.name || "(no name)")),
      h("td", {}, user.email),
      h("td", {}, splitRoles(user.role).join(", ") || "—"),
      h("td", {}, user.banned ? h("span", { className: "badge danger" }, "Banned") : "Active"),
      h("td", {}, time(user.createdAt)),
    ),
  );
  const result = table("Users", [], rows);
  const headRow = result.tHead?.rows[0];
  if (headRow) {
    headRow.replaceChildren(
      h("th", { scope: "col", "aria-sort": sorted("name") }, header("name")),
      h("th", { scope: "col", "aria-sort": sorted("email") }, header("email")),
      h("th", { scope: "col" }, "Roles"),
      h("th", { scope: "col" }, "Status"),
      h("th", { scope: "col", "aria-sort": sorted("createdAt") }, header("createdAt")),
    );
  }
  return result;
}
