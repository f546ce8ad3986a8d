// Signing in with another identity provider from a single-page app
// (README, "Sign in with another provider"): one call before the browser
// leaves for the provider, one when it comes back. Browser-only
// (location); type-checked by `npm run check` like the rest.
import type { Client } from "@urql/core";
import { graphql } from "./gql";
import { keepTokens, type Session, UsergraphError } from "./usergraph";

const SignInProviders = graphql(`
  query SignInProviders {
    signInProviders { id name }
  }
`);

const StartSocialSignIn = graphql(`
  mutation StartSocialSignIn($provider: String!, $redirectTo: String!) {
    startSocialSignIn(input: { provider: $provider, redirectTo: $redirectTo }) {
      authorizationUrl
      errors { field code message }
    }
  }
`);

const CompleteSocialSignIn = graphql(`
  mutation CompleteSocialSignIn($code: String!) {
    completeSocialSignIn(input: { code: $code }) {
      accessToken
      refreshToken
      expiresIn
      mfaRequired
      mfaToken
      user { id email role }
      errors { field code message }
    }
  }
`);

/** The providers to show a button for. */
export async function signInProviders(client: Client) {
  const r = await client.query(SignInProviders, {}).toPromise();
  return r.data?.signInProviders ?? [];
}

/**
 * Sends the browser to the provider; it comes back to `returnTo` (a page
 * under APP_URL) with `?code=` or `?error=`, where `finishSocialSignIn`
 * takes over.
 */
export async function startSocialSignIn(client: Client, provider: string, returnTo: string): Promise<never> {
  const r = await client.mutation(StartSocialSignIn, { provider, redirectTo: returnTo }).toPromise();
  const start = r.data?.startSocialSignIn;
  if (!start?.authorizationUrl) {
    throw new UsergraphError(start?.errors[0]?.code ?? "NETWORK", start?.errors[0]?.message ?? r.error?.message ?? "no answer");
  }
  location.assign(start.authorizationUrl);
  return new Promise<never>(() => {}); // the page is leaving
}

/**
 * On the page the provider returned to: redeems the one-time code (and
 * removes it from the address bar). Returns "signed-in", or "mfa" with the
 * token for `verifyMfa` when the account has a second factor; throws
 * UsergraphError with the flow's error code (ACCOUNT_EXISTS, INVALID_STATE,
 * ACCESS_DENIED, ...).
 */
export async function finishSocialSignIn(
  client: Client,
  session: Session,
): Promise<{ kind: "signed-in"; userId: string } | { kind: "mfa"; mfaToken: string }> {
  const here = new URL(location.href);
  const code = here.searchParams.get("code");
  const error = here.searchParams.get("error");
  here.searchParams.delete("code");
  here.searchParams.delete("error");
  history.replaceState(null, "", here);
  if (error || !code) throw new UsergraphError(error ?? "INVALID_STATE", "the sign-in did not finish");
  const r = await client.mutation(CompleteSocialSignIn, { code }).toPromise();
  const done = r.data?.completeSocialSignIn;
  if (done?.mfaRequired && done.mfaToken) return { kind: "mfa", mfaToken: done.mfaToken };
  if (!done?.accessToken) {
    throw new UsergraphError(done?.errors[0]?.code ?? "NETWORK", done?.errors[0]?.message ?? r.error?.message ?? "no answer");
  }
  keepTokens(session, done);
  return { kind: "signed-in", userId: done.user?.id ?? "" };
}
