package graph

import (
	"github.com/usergraph/usergraph/graph/model"
	"github.com/usergraph/usergraph/internal/account"
)

// authPayload maps the result of any sign-in flow.
func authPayload(s *account.SignIn, err error) (*model.AuthPayload, error) {
	errs, err := userErrors(err)
	if err != nil || len(errs) > 0 {
		return &model.AuthPayload{Errors: errs}, err
	}
	return &model.AuthPayload{
		AccessToken: &s.AccessToken, RefreshToken: &s.RefreshToken, ExpiresIn: &s.ExpiresIn,
		User: s.User, Errors: errs,
	}, nil
}
