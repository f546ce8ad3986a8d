package account

import (
	"context"

	"github.com/google/uuid"

	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/validate"
)

// normalizeJob names the one-time pass in job_leases.
const normalizeJob = "normalize-contacts-v1"

// NormalizeStoredContacts brings accounts stored before emails were keyed
// by their ASCII (IDNA) domain and mobiles kept in E.164 to those forms,
// once per database: the first replica to start takes the job, the others
// skip it. A row whose new form another account already has is left as it
// is and counted in conflicts (an operator decides which account keeps it).
func (s *Service) NormalizeStoredContacts(ctx context.Context) (changed, conflicts int, err error) {
	res, err := s.db.NewRaw("INSERT INTO job_leases (name, run_after) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
		normalizeJob, s.now()).Exec(ctx)
	if err != nil {
		return 0, 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, 0, nil // done before, or another replica is doing it
	}
	after := uuid.Nil
	for {
		var page []User
		if err := s.db.NewSelect().Model(&page).Column("id", "email", "email_key", "mobile").
			Where("u.id > ?", after).Order("u.id").Limit(1000).Scan(ctx); err != nil {
			return changed, conflicts, err
		}
		if len(page) == 0 {
			return changed, conflicts, nil
		}
		for _, u := range page {
			key, mobile := EmailKey(u.Email), u.Mobile
			if e164, ok := validate.Mobile(u.Mobile); ok {
				mobile = e164
			} else if e164, ok := validate.Mobile("+" + u.Mobile); ok {
				mobile = e164 // the original took international numbers without their +
			}
			if key == u.EmailKey && mobile == u.Mobile {
				continue
			}
			_, err := s.db.NewUpdate().Model((*User)(nil)).Set("email_key = ?", key).Set("mobile = ?", mobile).
				Where("id = ?", u.ID).Exec(ctx)
			switch {
			case db.IsUniqueViolation(err, "email_key") || db.IsUniqueViolation(err, "mobile"):
				conflicts++
				s.log.WarnContext(ctx, "normalize contacts: another account has this form; left as it is", "user_id", u.ID)
			case err != nil:
				return changed, conflicts, err
			default:
				changed++
			}
		}
		after = page[len(page)-1].ID
	}
}
