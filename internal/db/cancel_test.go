package db_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/usergraph/usergraph/internal/db"
)

// A query cut short by its context makes pgx open a second connection to
// send a cancel request; behind a transaction pooler usergraph sends none
// (PgBouncer 1.18, Debian 12's, exits on one: internal/db's
// noCancelRequests). Cancel requests are counted at a TCP relay in front of
// PostgreSQL, by their first message, up to the moment the cut connection
// is closed (pgx closes it after the cancel request went out).
func TestNoCancelRequestsBehindATransactionPooler(t *testing.T) {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set; CI must run the PostgreSQL tests")
		}
		t.Skip("TEST_DATABASE_URL not set: skipping PostgreSQL")
	}
	for _, pooled := range []bool{false, true} {
		relay := newRelay(t, base)
		var opts []db.Option
		if pooled {
			opts = append(opts, db.BehindTransactionPooler())
		}
		conn, err := db.Open(context.Background(), relay.url, "", opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err = conn.ExecContext(ctx, "SELECT pg_sleep(2)")
		cancel()
		if err == nil {
			t.Fatal("pg_sleep(2) was not cut short")
		}
		select {
		case <-relay.firstClosed:
		case <-time.After(20 * time.Second):
			t.Fatal("the cut connection was never closed")
		}
		want := 1 // directly: PostgreSQL stops the query
		if pooled {
			want = 0
		}
		if got := relay.cancels(); got != want {
			t.Errorf("pooled %v: %d cancel requests by the time the cut connection closed, want %d", pooled, got, want)
		}
		conn.Close()
	}
}

// relay forwards TCP connections to the PostgreSQL of a URL and counts
// those that are cancel requests; firstClosed is closed when the client
// closes the first connection.
type relay struct {
	url         string
	mu          sync.Mutex
	n, cancel   int
	firstClosed chan struct{}
}

func (r *relay) cancels() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cancel
}

// cancelRequestCode opens a CancelRequest message (PostgreSQL's protocol):
// length 16, then this code.
const cancelRequestCode = 80877102

func newRelay(t *testing.T, databaseURL string) *relay {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u.Host = ln.Addr().String()
	r := &relay{url: u.String(), firstClosed: make(chan struct{})}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.n++
			first := r.n == 1
			r.mu.Unlock()
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go func() {
				head := make([]byte, 8)
				if _, err := io.ReadFull(client, head); err == nil {
					if binary.BigEndian.Uint32(head[4:]) == cancelRequestCode {
						r.mu.Lock()
						r.cancel++
						r.mu.Unlock()
					}
					server.Write(head)
				}
				io.Copy(server, client) // until the client closes
				server.Close()
				if first {
					close(r.firstClosed)
				}
			}()
			go func() {
				io.Copy(client, server)
				client.Close()
			}()
		}
	}()
	return r
}
