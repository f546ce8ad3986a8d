// Command hashlimit measures the hashing limit of this machine: how many
// password checks a second usergraph's hasher completes when every core does
// nothing else (argon2id at the server's parameters, through auth.Hasher,
// one check per core at a time). bench/run.sh prints it beside the login
// scenario, so sign-in throughput is read as a share of what the cores allow.
//
//	go run ./bench/hashlimit [-for 5s]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usergraph/usergraph/internal/auth"
)

func main() {
	d := flag.Duration("for", 5*time.Second, "how long to hash")
	flag.Parse()
	ctx := context.Background()
	cores := runtime.GOMAXPROCS(0)
	h := auth.NewHasher(cores, 0, time.Second)
	encoded, err := h.Hash(ctx, "Seeded-Password-1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hashlimit:", err)
		os.Exit(1)
	}
	var checks atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(*d)
	for range cores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if ok, _, err := h.Verify(ctx, "Seeded-Password-1", encoded); err != nil || !ok {
					fmt.Fprintln(os.Stderr, "hashlimit: check failed:", ok, err)
					os.Exit(1)
				}
				checks.Add(1)
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	n := checks.Load()
	fmt.Printf("HASHLIMIT %.1f %.1f %d\n", float64(n)/secs, secs*float64(cores)*1000/float64(n), cores)
}
