// Passkeys in a browser: the two navigator.credentials calls around
// usergraph's passkey mutations (README, "Passkeys"). Browser-only (the
// WebAuthn API); type-checked by `npm run check` like the rest.
import type { Client } from "@urql/core";
import { graphql } from "./gql";
import { keepTokens, type Session, UsergraphError } from "./usergraph";

const StartPasskeyRegistration = graphql(`
  mutation StartPasskeyRegistration($password: String) {
    startPasskeyRegistration(input: { password: $password }) {
      options
      errors { field code message }
    }
  }
`);

const FinishPasskeyRegistration = graphql(`
  mutation FinishPasskeyRegistration($credential: JSON!, $name: String!) {
    finishPasskeyRegistration(input: { credential: $credential, name: $name }) {
      passkey { id name createdAt }
      errors { field code message }
    }
  }
`);

const StartPasskeySignIn = graphql(`
  mutation StartPasskeySignIn($email: String) {
    startPasskeySignIn(input: { email: $email }) {
      options
      challengeId
      errors { field code message }
    }
  }
`);

const FinishPasskeySignIn = graphql(`
  mutation FinishPasskeySignIn($challengeId: ID!, $credential: JSON!) {
    finishPasskeySignIn(input: { challengeId: $challengeId, credential: $credential }) {
      accessToken
      refreshToken
      expiresIn
      user { id email role }
      errors { field code message }
    }
  }
`);

type Problem = { code: string; message: string } | undefined;

function fail(first: Problem, r: { error?: { message: string } }): never {
  throw new UsergraphError(first?.code ?? "NETWORK", first?.message ?? r.error?.message ?? "no answer");
}

/**
 * Adds a passkey to the signed-in account: the device asks its owner
 * (fingerprint, face, PIN) and keeps the key. `password` is needed only
 * when the session started more than 5 minutes ago.
 */
export async function addPasskey(client: Client, name: string, password?: string) {
  const r = await client.mutation(StartPasskeyRegistration, { password }).toPromise();
  const start = r.data?.startPasskeyRegistration;
  if (!start?.options) fail(start?.errors[0], r);
  const created = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(start.options as PublicKeyCredentialCreationOptionsJSON),
  });
  if (!(created instanceof PublicKeyCredential)) throw new UsergraphError("CANCELLED", "no passkey was created");
  const f = await client.mutation(FinishPasskeyRegistration, { credential: created.toJSON(), name }).toPromise();
  const done = f.data?.finishPasskeyRegistration;
  if (!done?.passkey) fail(done?.errors[0], f);
  return done.passkey;
}

/**
 * Signs in with a passkey: with an email, that account's; without, the
 * device offers the passkeys it holds for this site. No second factor
 * follows: the passkey verified its user.
 */
export async function signInWithPasskey(client: Client, session: Session, email?: string): Promise<string> {
  const r = await client.mutation(StartPasskeySignIn, { email }).toPromise();
  const start = r.data?.startPasskeySignIn;
  if (!start?.options || !start.challengeId) fail(start?.errors[0], r);
  const got = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(start.options as PublicKeyCredentialRequestOptionsJSON),
  });
  if (!(got instanceof PublicKeyCredential)) throw new UsergraphError("CANCELLED", "no passkey was chosen");
  const f = await client
    .mutation(FinishPasskeySignIn, { challengeId: start.challengeId, credential: got.toJSON() })
    .toPromise();
  const done = f.data?.finishPasskeySignIn;
  if (!done?.accessToken) fail(done?.errors[0], f);
  keepTokens(session, done);
  return done.user?.id ?? "";
}
