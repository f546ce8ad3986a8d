// A typed usergraph client for a single-page app: sign-in (with two-factor
// sign-in; passkeys in passkeys.ts), refresh, `me`, avatar upload and a B2B
// admin's staff listing.
// The types come from the schema (npm run codegen), so a schema change that
// breaks this code fails `npm run check`, which CI runs.
import { Client, fetchExchange, type OperationResult } from "@urql/core";
import { graphql } from "./gql";
import type { StaffQuery } from "./gql/graphql";

const SignIn = graphql(`
  mutation SignIn($email: String!, $password: String!) {
    login(input: { email: $email, password: $password }) {
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

const VerifyMfa = graphql(`
  mutation VerifyMfa($mfaToken: String!, $code: String!) {
    verifyMfa(input: { mfaToken: $mfaToken, code: $code }) {
      accessToken
      refreshToken
      expiresIn
      user { id email role }
      errors { field code message }
    }
  }
`);

const Refresh = graphql(`
  mutation Refresh($refreshToken: String!) {
    refreshToken(input: { refreshToken: $refreshToken }) {
      accessToken
      refreshToken
      expiresIn
      errors { code message }
    }
  }
`);

const Me = graphql(`
  query Me {
    me {
      id
      email
      fullName
      role
      isVerified
      mfaEnabled
      profile { avatarUrl }
      wallet { balance currency }
    }
  }
`);

const UploadAvatar = graphql(`
  mutation UploadAvatar($file: Upload!) {
    uploadAvatar(input: { file: $file }) {
      user { profile { avatarUrl } }
      errors { code message }
    }
  }
`);

const Staff = graphql(`
  query Staff($batchId: ID!, $after: String) {
    users(first: 50, after: $after, filter: { batchId: $batchId }) {
      totalCount
      edges { node { id email fullName isActive lastLogin } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

/** Tokens of the signed-in user; keep the refresh token out of reach of scripts you do not trust. */
export interface Session {
  accessToken?: string;
  refreshToken?: string;
  expiresAt?: number; // ms since the epoch
}

export class UsergraphError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function connect(url: string, session: Session): Client {
  return new Client({
    url,
    exchanges: [fetchExchange],
    fetchOptions: (): RequestInit => {
      const headers: Record<string, string> = {};
      if (session.accessToken) headers.Authorization = `Bearer ${session.accessToken}`;
      return { headers };
    },
  });
}

type Tokens = { accessToken?: string | null; refreshToken?: string | null; expiresIn?: number | null };

/** Keeps a sign-in's tokens in the session. */
export function keepTokens(session: Session, t: Tokens): void {
  session.accessToken = t.accessToken ?? undefined;
  session.refreshToken = t.refreshToken ?? undefined;
  session.expiresAt = t.expiresIn ? Date.now() + t.expiresIn * 1000 : undefined;
}

/** Signs in; resolves to "mfa" with the token for verifyMfa when a code is needed too. */
export async function signIn(
  client: Client,
  session: Session,
  email: string,
  password: string,
): Promise<{ kind: "signedIn"; userId: string } | { kind: "mfa"; mfaToken: string }> {
  const r = await client.mutation(SignIn, { email, password }).toPromise();
  const p = r.data?.login;
  if (!p) throw new UsergraphError(String(r.error?.graphQLErrors[0]?.extensions?.code ?? "NETWORK"), r.error?.message ?? "no answer");
  const first = p.errors[0];
  if (first) throw new UsergraphError(first.code, first.message);
  if (p.mfaRequired && p.mfaToken) return { kind: "mfa", mfaToken: p.mfaToken };
  keepTokens(session, p);
  return { kind: "signedIn", userId: p.user?.id ?? "" };
}

export async function completeMfa(client: Client, session: Session, mfaToken: string, code: string): Promise<void> {
  const r = await client.mutation(VerifyMfa, { mfaToken, code }).toPromise();
  const p = r.data?.verifyMfa;
  const first = p?.errors[0];
  if (!p || first) throw new UsergraphError(first?.code ?? "NETWORK", first?.message ?? "no answer");
  keepTokens(session, p);
}

/** Rotates the token pair; a refresh token works once. */
export async function refresh(client: Client, session: Session): Promise<void> {
  if (!session.refreshToken) throw new UsergraphError("UNAUTHENTICATED", "not signed in");
  const r = await client.mutation(Refresh, { refreshToken: session.refreshToken }).toPromise();
  const p = r.data?.refreshToken;
  const first = p?.errors[0];
  if (!p || first) {
    keepTokens(session, {});
    throw new UsergraphError(first?.code ?? "NETWORK", first?.message ?? "no answer");
  }
  keepTokens(session, p);
}

export async function me(client: Client) {
  const r = await client.query(Me, {}, { requestPolicy: "network-only" }).toPromise();
  if (!r.data) throw new UsergraphError(String(r.error?.graphQLErrors[0]?.extensions?.code ?? "NETWORK"), r.error?.message ?? "no answer");
  const { me } = r.data;
  return { ...me, balance: me.wallet?.balance ?? "0", avatarUrl: me.profile.avatarUrl ?? null };
}

export async function uploadAvatar(client: Client, file: File): Promise<string> {
  const r = await client.mutation(UploadAvatar, { file }).toPromise();
  const p = r.data?.uploadAvatar;
  const first = p?.errors[0];
  if (!p || first || !p.user?.profile.avatarUrl) throw new UsergraphError(first?.code ?? "NETWORK", first?.message ?? "no answer");
  return p.user.profile.avatarUrl;
}

/** Every user of a batch, page by page (a B2B admin's view). */
export async function* staff(client: Client, batchId: string) {
  let after: string | null = null;
  for (;;) {
    const r: OperationResult<StaffQuery> = await client.query(Staff, { batchId, after }).toPromise();
    const page = r.data?.users; // null, with FORBIDDEN, for callers who may not list users
    if (!page) throw new UsergraphError(String(r.error?.graphQLErrors[0]?.extensions?.code ?? "NETWORK"), r.error?.message ?? "no answer");
    for (const edge of page.edges) yield edge.node;
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return;
    after = page.pageInfo.endCursor;
  }
}
