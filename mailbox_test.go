package main

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// email is one message the file driver wrote, decoded.
type email struct {
	File, To, Subject, Text, HTML string
}

// readEmails parses every .eml file in dir as a MIME message.
func readEmails(t testing.TB, dir string) []email {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	var out []email
	for _, f := range files {
		raw, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(raw)
		if err != nil {
			t.Fatalf("%s is not a MIME message: %v", f, err)
		}
		e := email{File: f, To: msg.Header.Get("To"), Subject: msg.Header.Get("Subject")}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("%s: content type: %v", f, err)
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			body, _ := io.ReadAll(part) // NextPart decodes quoted-printable
			switch ct := part.Header.Get("Content-Type"); {
			case strings.HasPrefix(ct, "text/plain"):
				e.Text = string(body)
			case strings.HasPrefix(ct, "text/html"):
				e.HTML = string(body)
			}
		}
		raw.Close()
		out = append(out, e)
	}
	return out
}

// emailsTo returns the emails to addr (as written in the To header).
func emailsTo(all []email, addr string) []email {
	var out []email
	for _, e := range all {
		if strings.Contains(strings.ToLower(e.To), strings.ToLower(addr)) {
			out = append(out, e)
		}
	}
	return out
}

// waitEmails waits until addr has received n emails in the server's mail
// directory and returns them.
func (s *testServer) waitEmails(addr string, n int) []email {
	s.t.Helper()
	// Generous: under the race detector a thousand queued emails take a while.
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := emailsTo(readEmails(s.t, filepath.Join(s.dataDir, "mail")), addr)
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				s.t.Fatalf("%s received %d emails, want %d", addr, len(got), n)
			}
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var tokenLink = regexp.MustCompile(`/(setup-password|reset-password)\?token=([A-Za-z0-9_-]+)`)

// linkToken returns the token of the link in an email, checking that the
// text and HTML parts carry the same link.
func linkToken(t testing.TB, e email, path string) string {
	t.Helper()
	m := tokenLink.FindStringSubmatch(e.Text)
	h := tokenLink.FindStringSubmatch(e.HTML)
	if m == nil || h == nil || m[1] != path || m[2] != h[2] {
		t.Fatalf("email %q has no %s link in both parts:\n%s", e.Subject, path, e.Text)
	}
	return m[2]
}

// outboxCount is how many emails to addr the outbox holds, sent or not. The
// outbox row is written in the transaction of the change that sends it, so
// it is there as soon as the mutation has answered.
func (s *testServer) outboxCount(addr string) int {
	s.t.Helper()
	var n int
	if err := s.DB().NewRaw("SELECT count(*) FROM mail_outbox WHERE lower(recipient) LIKE ?", "%"+strings.ToLower(addr)+"%").Scan(context.Background(), &n); err != nil {
		s.t.Fatal(err)
	}
	return n
}
