/**
 * Sign in on the Better-Auth server, with the methods it enables (config.json): a button per
 * OAuth provider, and email and password. Refusals in Better-Auth's words.
 */
import type { Session } from "../auth";
import type { ConsoleConfig, SignInProvider } from "../config";
import { field, h, replace } from "../dom";
import { busy, heading } from "../ui";

export function signInView(
  session: Session,
  config: ConsoleConfig,
  main: HTMLElement,
  onSignedIn: () => Promise<void>,
  reason?: string,
): void {
  const title = heading("Sign in");
  title.id = "signin-title";
  const providers = config.signInProviders.length ? providerButtons(session, config.signInProviders) : null;
  const form = config.passwordSignIn ? passwordForm(session, onSignedIn) : null;
  replace(
    main,
    title,
    reason ? h("p", { className: "error", role: "alert" }, reason) : null,
    h("p", {}, "Sign in with your account on this application's auth server. The console shows what your roles allow."),
    providers,
    providers && form ? h("p", { className: "divider" }, "or with your email and password") : null,
    form,
  );
  // Where typing starts: the email field, or the first provider when there is no form.
  const first = main.querySelector<HTMLElement>(".signin input") ?? main.querySelector<HTMLElement>(".providers button");
  first?.focus();
}

function passwordForm(session: Session, onSignedIn: () => Promise<void>): HTMLFormElement {
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "username" });
  const password = h("input", { type: "password", name: "password", required: true, autocomplete: "current-password" });
  const errors = h("div");
  const submit = h("button", { type: "submit", className: "primary" }, "Sign in");
  const form = h("form", { className: "stack signin", "aria-labelledby": "signin-title" }, field("Email", email), field("Password", password), errors, submit);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(submit, errors, async () => {
      const refused = await session.signIn(email.value.trim(), password.value);
      if (refused) throw new Error(refused.message);
      password.value = "";
      await onSignedIn();
    });
  });
  return form;
}

/**
 * "Continue with <provider>": Better-Auth sends the browser to the provider and, once signed in,
 * back to this page at the screen it was on (the hash); a refusal comes back as `?error=<code>`.
 */
function providerButtons(session: Session, providers: SignInProvider[]): HTMLElement {
  const errors = h("div");
  const page = `${window.location.origin}${window.location.pathname}`;
  const buttons = providers.map((provider) => {
    const button = h("button", { type: "button", className: "secondary", "data-provider": provider.id }, `Continue with ${provider.name}`);
    button.addEventListener("click", () => {
      void busy(button, errors, async () => {
        const refused = await session.signInWith(provider.id, `${page}${window.location.hash}`, page);
        if (refused) throw new Error(refused.message);
        return true;
      }).then((leaving) => {
        // On the way to the provider: a second click would start a second sign-in.
        if (leaving) for (const other of buttons) other.disabled = true;
      });
    });
    return button;
  });
  return h("div", { className: "providers stack", role: "group", "aria-labelledby": "signin-title" }, buttons, errors);
}

/** Better-Auth's `?error=<code>` from an OAuth sign-in that failed, in words, taken off the URL
 * (a reload does not show it again). Only the code is read: `error_description` is text anyone
 * could put in a link to this page, so the console words the codes it knows itself. */
export function takeSignInError(): string | undefined {
  const url = new URL(window.location.href);
  const code = url.searchParams.get("error");
  if (code === null) return undefined;
  url.searchParams.delete("error");
  url.searchParams.delete("error_description");
  window.history.replaceState(null, "", url);
  return signInErrorText(code);
}

// A Map, not an object: a code such as "constructor" must not find what Object.prototype holds.
const SIGN_IN_ERRORS = new Map<string, string>(Object.entries({
  access_denied: "The sign-in was cancelled at the provider.",
  account_not_linked:
    "A user with this email already exists. Better-Auth links a provider to it only when both the provider and the user have the email verified: sign in the way that user does.",
  account_already_linked_to_different_user: "This provider account is already linked to another user.",
  unable_to_link_account: "Better-Auth could not link this provider account to the existing user.",
  signup_disabled: "No account exists for this user, and the auth server does not create accounts on sign-in.",
  email_not_found: "The provider did not give an email address, which Better-Auth needs.",
  email_not_verified: "The provider did not vouch for this email address.",
  BANNED_USER: "This account is banned: Better-Auth refused to sign it in.",
  state_mismatch: "The sign-in could not be finished in this browser (it was started elsewhere, or already used). Try again.",
  state_not_found: "The sign-in could not be finished in this browser (it expired). Try again.",
  please_restart_the_process: "The sign-in expired. Try again.",
}));

function signInErrorText(code: string): string {
  const known = SIGN_IN_ERRORS.get(code);
  if (known) return known;
  const shown = /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? ` (${code})` : "";
  return `The auth server could not complete the sign-in${shown}. Try again, or use another way to sign in.`;
}
