/** Sign in on the Better-Auth server (email and password), with its refusals in its words. */
import type { Session } from "../auth";
import { field, h, replace } from "../dom";
import { busy, heading } from "../ui";

export function signInView(session: Session, main: HTMLElement, onSignedIn: () => Promise<void>, reason?: string): void {
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
  const title = heading("Sign in");
  title.id = "signin-title";
  replace(
    main,
    title,
    reason ? h("p", { className: "error", role: "alert" }, reason) : null,
    h("p", {}, "Sign in with your account on this application's auth server. The console shows what your roles allow."),
    form,
  );
  email.focus();
}
