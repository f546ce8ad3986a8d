// The client's flow against a running server, as an app would run it:
// sign in, read `me`, refresh, upload an avatar and fetch it back, and page
// through a batch's staff. CI runs it (`npm run live`) against a server it
// starts; anyone can: USERGRAPH_URL=http://localhost:8080/graphql
// USERGRAPH_EMAIL=… USERGRAPH_PASSWORD=… npm run live
import { connect, me, refresh, signIn, staff, uploadAvatar, type Session } from "./usergraph";

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`set ${name}`);
  return v;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`failed: ${what}`);
  console.log(`ok: ${what}`);
}

// A 1×1 PNG.
const png = Uint8Array.from(
  atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="),
  (c) => c.charCodeAt(0),
);

const session: Session = {};
const client = connect(env("USERGRAPH_URL"), session);
const result = await signIn(client, session, env("USERGRAPH_EMAIL"), env("USERGRAPH_PASSWORD"));
check(result.kind === "signedIn" && !!session.accessToken, "sign-in returns tokens");
const first = await me(client);
check(first.email.toLowerCase() === env("USERGRAPH_EMAIL").toLowerCase(), "me is the signed-in user");
const before = session.refreshToken;
await refresh(client, session);
check(!!session.refreshToken && session.refreshToken !== before, "refresh rotates the token pair");
check((await me(client)).id === first.id, "the new access token works");
const url = await uploadAvatar(client, new File([png], "me.png", { type: "image/png" }));
const served = await fetch(url);
check(served.ok && served.headers.get("content-type") === "image/png", `the avatar is served at ${url}`);
let listed = 0;
for await (const _ of staff(client, "00000000-0000-4000-8000-000000000000")) listed++;
check(listed === 0, "an unknown batch lists no staff");
