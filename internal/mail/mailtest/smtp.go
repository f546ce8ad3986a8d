// Package mailtest gives tests a real SMTP server to deliver to: it speaks
// SMTP (emersion/go-smtp) with STARTTLS and AUTH PLAIN, and keeps what
// arrives with how it arrived.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server received.
type Message struct {
	From     string
	To       []string
	Data     string
	TLS      bool   // sent after STARTTLS
	AuthUser string // who authenticated, if anyone
}

// SMTP is a running server.
type SMTP struct {
	// Port is where it listens on 127.0.0.1.
	Port string

	mu       sync.Mutex
	msgs     []Message
	password string
	authed   bool
}

// StartSMTP serves until the test ends. With password set, AUTH PLAIN as
// "mailer" with it is required before MAIL; with cert set, STARTTLS is
// offered with it.
func StartSMTP(t testing.TB, password string, cert *tls.Certificate) *SMTP {
	t.Helper()
	s := &SMTP{password: password}
	server := smtp.NewServer(backend{s})
	server.Domain = "localhost"
	if cert != nil {
		server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(ln)
	t.Cleanup(func() { server.Close() })
	_, s.Port, _ = net.SplitHostPort(ln.Addr().String())
	return s
}

// Messages returns what arrived so far.
func (s *SMTP) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Authenticated reports whether a client sent the right credentials.
func (s *SMTP) Authenticated() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authed
}

// Wait returns the first message, waiting up to 10 s for it.
func (s *SMTP) Wait(t testing.TB) Message {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if msgs := s.Messages(); len(msgs) > 0 {
			return msgs[0]
		}
	}
	t.Fatal("the SMTP server received no message")
	return Message{}
}

type backend struct{ s *SMTP }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *SMTP
	conn *smtp.Conn
	user string
	msg  Message
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != "mailer" || password != x.s.password {
			return errors.New("bad credentials")
		}
		x.user = username
		x.s.mu.Lock()
		x.s.authed = true
		x.s.mu.Unlock()
		return nil
	}), nil
}

func (x *session) Reset()        { x.msg = Message{} }
func (x *session) Logout() error { return nil }

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.password != "" && x.user == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	_, isTLS := x.conn.TLSConnectionState()
	x.msg.From, x.msg.TLS, x.msg.AuthUser = from, isTLS, x.user
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.msg.To = append(x.msg.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	x.msg.Data = string(b)
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, x.msg)
	x.s.mu.Unlock()
	return err
}

// CA makes a certificate authority and a server certificate it signs for
// 127.0.0.1; it returns the certificate, the CA's pool and the path of the
// CA's PEM file (for SMTP_CA_FILE).
func CA(t testing.TB) (tls.Certificate, *x509.CertPool, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "usergraph test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}, pool, path
}
