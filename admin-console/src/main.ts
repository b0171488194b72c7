/** The console's start: settings, Better-Auth session, then the screen the URL names. */
import "./styles.css";

import { Api, type UserRead } from "./api";
import { Session } from "./auth";
import { loadConfig, type ConsoleConfig } from "./config";
import { splitRoles, type Context } from "./context";
import { h, replace } from "./dom";
import { currentRoute, href } from "./router";
import { errorBox, heading, loading, screenChanged } from "./ui";
import { auditView } from "./views/audit";
import { createUserView } from "./views/create-user";
import { organizationView, organizationsView } from "./views/organizations";
import { signInView, takeSignInError } from "./views/signin";
import { userView } from "./views/user";
import { usersView } from "./views/users";

const main = document.getElementById("main") as HTMLElement;
const nav = document.getElementById("nav") as HTMLElement;
const account = document.getElementById("account") as HTMLElement;

let context: Context | null = null;
let lastHash: string | null = null;

async function start(): Promise<void> {
  let config: ConsoleConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    replace(main, heading("Admin console"), errorBox(error, "The console could not start"));
    return;
  }
  const session = new Session(config.authUrl);
  const api = new Api(config.apiUrl, session);
  session.onEnded = (reason) => signedOut(session, api, config, `Your session ended: ${reason}`);
  window.addEventListener("hashchange", () => void render());
  // Back from a provider with Better-Auth's ?error=: taken off the URL either way.
  const refused = takeSignInError();
  let token: string | null = null;
  try {
    token = await session.resume();
  } catch {
    token = null; // the auth server is down: the sign-in form says so when it is used
  }
  if (token === null) signedOut(session, api, config, refused);
  else await enter(session, api, config);
}

function signedOut(session: Session, api: Api, config: ConsoleConfig, reason?: string): void {
  context = null;
  nav.hidden = true;
  account.replaceChildren();
  document.title = "Sign in · Admin console";
  signInView(session, config, main, () => enter(session, api, config), reason);
}

/** Who the admin is and what they may do, asked once per sign-in (and on every reload). */
async function enter(session: Session, api: Api, config: ConsoleConfig): Promise<void> {
  replace(main, loading("your permissions"));
  let me: UserRead;
  let permissions: Record<string, string[]>;
  try {
    [me, { permissions }] = await Promise.all([
      api.run((client) => client.GET("/api/v1/users/me")),
      api.run((client) => client.GET("/api/v1/auth/permissions")),
    ]);
  } catch (error) {
    const signOut = h("button", { type: "button", className: "secondary" }, "Sign out");
    signOut.addEventListener("click", () => void session.signOut().then(() => signedOut(session, api, config)));
    replace(main, heading("Admin console"), errorBox(error, "The API refused this account"), signOut);
    return;
  }
  // The audit log wants an ADMIN_ROLES role, which the permissions do not tell.
  const canReadAudit = splitRoles(me.role).some((role) => config.adminRoles.includes(role));
  context = { config, session, api, me, permissions, canReadAudit };
  renderChrome(context, () => void session.signOut().then(() => signedOut(session, api, config, undefined)));
  lastHash = null;
  await render();
}

function renderChrome(current: Context, signOut: () => void): void {
  const links: [string, string][] = [
    ["users", "Users"],
    ["organizations", "Organizations"],
  ];
  if (current.canReadAudit) links.push(["audit", "Audit log"]);
  replace(nav, h("ul", {}, links.map(([path, label]) => h("li", {}, h("a", { href: href(path), "data-section": path }, label)))));
  nav.hidden = false;
  const button = h("button", { type: "button", className: "secondary small" }, "Sign out");
  button.addEventListener("click", signOut);
  replace(account, h("span", {}, `${current.me.name || current.me.email} (${current.me.role ?? "no role"})`), button);
}

async function render(): Promise<void> {
  if (context === null) return;
  const route = currentRoute();
  if (route.segments.length === 0) {
    window.location.replace(href("users"));
    return;
  }
  const moved = lastHash !== null && lastHash !== window.location.hash;
  screenChanged(lastHash !== window.location.hash);
  lastHash = window.location.hash;
  const section = route.segments[0];
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset["section"] === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // Each screen draws into a container of its own: a slow answer for a screen the admin has
  // already left lands in a detached node, never over the current one.
  const screen = h("div", { className: "screen" });
  replace(main, screen);
  const [first, second] = route.segments;
  if (first === "users" && second === "new") createUserView(context, screen);
  else if (first === "users" && second) await userView(context, route, screen);
  else if (first === "users") await usersView(context, route, screen);
  else if (first === "organizations" && second) await organizationView(context, route, screen);
  else if (first === "organizations") await organizationsView(context, screen);
  else if (first === "audit") await auditView(context, route, screen);
  else replace(screen, heading("Not found"), h("p", {}, "No such screen. ", h("a", { href: href("users") }, "Go to the users.")));
  if (!screen.isConnected) return;
  const title = screen.querySelector("h1");
  document.title = `${title?.textContent ?? "Admin console"} · Admin console`;
  // A new screen, or the same one drawn again after an action whose button is gone: the focus
  // goes to the heading, where a keyboard or screen-reader user continues from.
  const lost = document.activeElement === null || document.activeElement === document.body;
  if (moved || lost) title?.focus();
}

// The skip link moves the focus without touching the URL: its hash is the route's.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

void start();
