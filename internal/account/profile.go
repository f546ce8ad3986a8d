package account

import (
	"image"
	_ "image/gif" // the avatar types, for image.DecodeConfig
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/webp"

	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/usergraph/usergraph/internal/apperr"
	"github.com/usergraph/usergraph/internal/audit"
	"github.com/usergraph/usergraph/internal/auth"
	"github.com/usergraph/usergraph/internal/db"
	"github.com/usergraph/usergraph/internal/media"
)

// ProfileInput is the form of updateProfile; nil fields keep their value.
type ProfileInput struct {
	FirstName *string `json:"firstName" validate:"omitnil,min=1,max=150"`
	LastName  *string `json:"lastName" validate:"omitnil,min=1,max=150"`
	Address   *string `json:"address" validate:"omitnil,max=500"`
	City      *string `json:"city" validate:"omitnil,max=150"`
}

// UpdateProfile changes the caller's names, address and city. Email, mobile
// and role are not changeable here. Names cannot be set blank.
//
// Errors: REQUIRED (blank name), TOO_LONG, UNAUTHENTICATED.
func (s *Service) UpdateProfile(ctx context.Context, in ProfileInput) (*User, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	var problems apperr.List
	for field, p := range map[string]*string{"firstName": in.FirstName, "lastName": in.LastName, "address": in.Address, "city": in.City} {
		if p == nil {
			continue
		}
		*p = strings.TrimSpace(*p)
		if *p == "" && (field == "firstName" || field == "lastName") {
			problems = append(problems, apperr.OnField(field, apperr.Required, "This field cannot be blank."))
		}
	}
	if len(problems) == 0 {
		problems = check(in)
	}
	if len(problems) > 0 {
		slices.SortFunc(problems, func(a, b *apperr.Error) int { return strings.Compare(a.Field[0], b.Field[0]) })
		return nil, problems
	}
	u := new(User)
	err = db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(u).Where("u.id = ?", v.UserID).Scan(ctx); err != nil {
			return err
		}
		changed := map[string]any{}
		set := func(dst *string, src *string, column string) {
			if src != nil && *src != *dst {
				*dst, changed[column] = *src, true
			}
		}
		set(&u.FirstName, in.FirstName, "firstName")
		set(&u.LastName, in.LastName, "lastName")
		set(&u.Address, in.Address, "address")
		set(&u.City, in.City, "city")
		if len(changed) == 0 {
			return nil
		}
		u.UpdatedAt = s.now()
		if _, err := tx.NewUpdate().Model(u).Column("first_name", "last_name", "address", "city", "updated_at").
			WherePK().Exec(ctx); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.ProfileUpdated, Target: &u.ID, Details: changed})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// avatarExt maps sniffed content types to file extensions.
var avatarExt = map[string]string{"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}

// SetAvatar stores an uploaded image as the caller's avatar. The type comes
// from the content, not the file name or the client's claim; the file gets a
// random name; the previous avatar is deleted once the change commits.
//
// Errors: FILE_TOO_LARGE, UNSUPPORTED_FILE_TYPE (on field "file"), UNAUTHENTICATED.
func (s *Service) SetAvatar(ctx context.Context, file io.Reader) (*User, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(file, s.policy.AvatarMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > s.policy.AvatarMaxBytes {
		return nil, apperr.List{apperr.OnField("file", apperr.FileTooLarge,
			fmt.Sprintf("The image is larger than %d KiB.", s.policy.AvatarMaxBytes/1024))}
	}
	kind := http.DetectContentType(data)
	ext, known := avatarExt[kind]
	if !known || !slices.Contains(s.policy.AvatarTypes, kind) {
		return nil, apperr.List{apperr.OnField("file", apperr.UnsupportedFileType,
			"Upload an image: "+strings.Join(s.policy.AvatarTypes, ", ")+".")}
	}
	// The header's size, read without decoding the pixels: a small file can
	// claim a picture of billions of pixels.
	img, _, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case err != nil:
		return nil, apperr.List{apperr.OnField("file", apperr.UnsupportedFileType, "The image could not be read.")}
	case int64(img.Width)*int64(img.Height) > s.policy.AvatarMaxPixels:
		return nil, apperr.List{apperr.OnField("file", apperr.FileTooLarge,
			fmt.Sprintf("The image has more than %d pixels.", s.policy.AvatarMaxPixels))}
	}
	name := media.RandomName("avatars", ext)
	if err := s.media.Put(ctx, name, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	u, err := s.replaceAvatar(ctx, v.UserID, &name, map[string]any{"contentType": kind, "bytes": len(data)})
	if err != nil {
		s.deleteMedia(ctx, name) // the change did not commit: the new file is an orphan
		return nil, err
	}
	return u, nil
}

// RemoveAvatar removes an avatar: the caller's own, or, for an admin,
// anyone's (moderation).
//
// Errors: NOT_FOUND userId, FORBIDDEN, UNAUTHENTICATED.
func (s *Service) RemoveAvatar(ctx context.Context, userID *uuid.UUID) (*User, error) {
	v, err := auth.SignedIn(ctx)
	if err != nil {
		return nil, err
	}
	target := v.UserID
	if userID != nil && *userID != v.UserID {
		if !v.ManagesEveryUser() {
			return nil, apperr.ErrForbidden
		}
		target = *userID
	}
	return s.replaceAvatar(ctx, target, nil, map[string]any{"removed": true})
}

// replaceAvatar sets userID's avatar to name (nil: none) and deletes the old
// file after commit.
func (s *Service) replaceAvatar(ctx context.Context, userID uuid.UUID, name *string, details map[string]any) (*User, error) {
	u := new(User)
	err := db.InTx(ctx, s.db, func(ctx context.Context, tx bun.Tx) error {
		if err := db.ForUpdate(tx.NewSelect().Model(u).Where("u.id = ?", userID)).Scan(ctx); err != nil {
			return notFoundOr(err, "userId", "No such user.")
		}
		if old := u.Avatar; old != nil {
			db.AfterCommit(ctx, func() { s.deleteMedia(ctx, *old) })
		}
		u.Avatar, u.UpdatedAt = name, s.now()
		if _, err := tx.NewUpdate().Model(u).Column("avatar", "updated_at").WherePK().Exec(ctx); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, audit.Entry{Action: audit.AvatarChanged, Target: &u.ID, Details: details})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Service) deleteMedia(ctx context.Context, name string) {
	if err := s.media.Delete(context.WithoutCancel(ctx), name); err != nil {
		s.log.WarnContext(ctx, "deleting media file", "name", name, "error", err.Error())
	}
}
