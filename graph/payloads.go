package graph

import (
	"context"
	"encoding/json"

	"github.com/usergraph/usergraph/graph/model"
	"github.com/usergraph/usergraph/internal/account"
)

// authPayload returns the mapper of any sign-in flow's result:
// authPayload(ctx)(service.Login(…)).
func authPayload(ctx context.Context) func(*account.SignIn, error) (*model.AuthPayload, error) {
	return func(s *account.SignIn, err error) (*model.AuthPayload, error) {
		errs, err := userErrors(err)
		if err != nil || len(errs) > 0 {
			return &model.AuthPayload{Errors: errs}, err
		}
		if s.MFAToken != "" { // the password was right; a code must follow
			return &model.AuthPayload{MfaRequired: true, MfaToken: &s.MFAToken, Errors: errs}, nil
		}
		markSignedIn(ctx, s.User.ID)
		if s.AccessToken == "" { // registered, but the email must be confirmed first
			return &model.AuthPayload{User: s.User, Errors: errs}, nil
		}
		return &model.AuthPayload{
			AccessToken: &s.AccessToken, RefreshToken: &s.RefreshToken, ExpiresIn: &s.ExpiresIn,
			User: s.User, Errors: errs,
		}, nil
	}
}

// result maps a service call that returns one object: the object on success,
// payload errors for user-correctable problems, a top-level error otherwise.
// build assembles the payload type from the object and errors.
func result[T any, P any](v T, err error, build func(T, []*model.UserError) *P) (*P, error) {
	errs, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		var zero T
		return build(zero, errs), nil
	}
	return build(v, errs), nil
}

// okResult maps a service call that returns no object to an { ok errors } payload.
func okResult[P any](err error, build func(bool, []*model.UserError) *P) (*P, error) {
	errs, err := userErrors(err)
	if err != nil {
		return nil, err
	}
	return build(len(errs) == 0, errs), nil
}

// jsonValue turns v into plain JSON values (maps, slices, strings, numbers)
// for the JSON scalar, as encoding/json would write v.
func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

// jsonBytes is a JSON input as the text a service parses: an object as
// sent, or a string holding JSON (clients that stringify it first).
func jsonBytes(v any) []byte {
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	b, _ := json.Marshal(v) // decoded from JSON: it encodes again
	return b
}

// socialPayload is the answer of startSocialSignIn and linkIdentity.
func socialPayload(url string, errs []*model.UserError) *model.StartSocialSignInPayload {
	if url == "" {
		return &model.StartSocialSignInPayload{Errors: errs}
	}
	return &model.StartSocialSignInPayload{AuthorizationURL: &url, Errors: errs}
}

// metadataPayload is the answer of setAppMetadata and setUserMetadata.
func metadataPayload(u *account.User, errs []*model.UserError) *model.SetMetadataPayload {
	return &model.SetMetadataPayload{User: u, Errors: errs}
}
