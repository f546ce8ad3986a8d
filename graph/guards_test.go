package graph

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// The schema's directives are the first gate of every role rule (SPEC §1
// and §3): each root field and each private field of User carries exactly
// the guard below. Services check again; this test catches a guard removed
// or widened in schema.graphqls, which the end-to-end role tests cannot see
// while the service check still holds.
var guards = map[string]string{
	"Query.me": "@auth", "Query.user": "@auth", "Query.wallet": "@auth",
	"Query.users": "@hasRole([ADMIN,B2B_ADMIN])", "Query.batch": "@hasRole([ADMIN,B2B_ADMIN])",
	"Query.batches": "@hasRole([ADMIN,B2B_ADMIN])", "Query.auditEvents": "@hasRole([ADMIN,B2B_ADMIN])",
	"Query.approvals": "@hasRole([ADMIN])", "Query.myData": "@auth @cost",

	"Mutation.login": "", "Mutation.register": "", "Mutation.refreshToken": "", "Mutation.requestPasswordReset": "",
	"Mutation.resetPassword": "", "Mutation.setupPassword": "",
	"Mutation.logout": "@auth", "Mutation.changePassword": "@auth", "Mutation.updateProfile": "@auth",
	"Mutation.uploadAvatar": "@auth", "Mutation.removeAvatar": "@auth", "Mutation.revokeSession": "@auth",
	"Mutation.createB2BAdmin": "@hasRole([ADMIN])", "Mutation.approveB2BAdmin": "@hasRole([ADMIN])",
	"Mutation.rejectB2BAdmin": "@hasRole([ADMIN])", "Mutation.adjustWallet": "@hasRole([ADMIN])",
	"Mutation.createBatch": "@hasRole([B2B_ADMIN])", "Mutation.createB2BUser": "@hasRole([B2B_ADMIN])",
	"Mutation.createB2BUsers": "@hasRole([B2B_ADMIN])", "Mutation.updateBatch": "@hasRole([ADMIN,B2B_ADMIN])",
	"Mutation.verifyEmail": "", "Mutation.verifyMfa": "", "Mutation.resendVerificationEmail": "@auth",
	"Mutation.enrollTotp": "@auth", "Mutation.confirmTotp": "@auth", "Mutation.disableTotp": "@auth",
	"Mutation.deleteMyAccount": "@auth", "Mutation.resetUserMfa": "@hasRole([ADMIN])",
	"Mutation.startPasskeyRegistration": "@auth", "Mutation.finishPasskeyRegistration": "@auth",
	"Mutation.startPasskeySignIn": "", "Mutation.finishPasskeySignIn": "",
	"Mutation.renamePasskey": "@auth", "Mutation.removePasskey": "@auth",
	// Social sign-in: anyone starts and completes one (a link flow is
	// redeemed only by the user who started it, in the service).
	"Mutation.startSocialSignIn": "", "Mutation.completeSocialSignIn": "", "Query.signInProviders": "",
	"Mutation.linkIdentity": "@auth", "Mutation.unlinkIdentity": "@auth",
	// Who may write app metadata is ManagesUser, in the service.
	"Mutation.setAppMetadata": "@auth", "Mutation.setUserMetadata": "@auth",
	"Query.webhookDeliveries": "@hasRole([ADMIN])",
	"User.appMetadata":        "@private", "User.userMetadata": "@private",
	"Mutation.deleteUser": "@hasRole([ADMIN])", "Mutation.setUserActive": "@hasRole([ADMIN,B2B_ADMIN])",

	"User.email": "@private", "User.mobile": "@private", "User.createdBy": "@private", "User.approval": "@private",
	"User.profile": "@private", "User.wallet": "@private", "User.sessions": "@private", "User.mfaEnabled": "@private",
	"User.passkeys":   "@private",
	"User.identities": "@private",
}

func TestEveryFieldHasItsGuard(t *testing.T) {
	schema := NewExecutableSchema(Config{}).Schema()
	got := map[string]string{}
	for _, typ := range []string{"Query", "Mutation", "User"} {
		for _, f := range schema.Types[typ].Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			var ds []string
			for _, d := range f.Directives {
				s := "@" + d.Name
				if a := d.Arguments.ForName("roles"); a != nil {
					s += "(" + a.Value.String() + ")"
				}
				ds = append(ds, s)
			}
			if guard := strings.Join(ds, " "); guard != "" || typ != "User" {
				got[typ+"."+f.Name] = guard
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		want, known := guards[name]
		switch {
		case !known:
			t.Errorf("%s (%q) has no entry in the guard table: decide who may use it", name, got[name])
		case got[name] != want:
			t.Errorf("%s is guarded by %q, want %q", name, got[name], want)
		}
	}
	for name := range guards {
		if _, ok := got[name]; !ok {
			t.Errorf("%s is in the guard table but not guarded in the schema", name)
		}
	}
}
