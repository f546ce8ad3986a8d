package account

import (
	"github.com/usergraph/usergraph/internal/mail"
)

// recipient is how emails address u.
func recipient(u *User) mail.Recipient {
	r := mail.Recipient{Email: u.Email, Name: u.FullName()}
	if u.CompanyName != nil {
		r.Company = *u.CompanyName
	}
	return r
}
