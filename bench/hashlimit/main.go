// Command hashlimit measures the hashing limit of this machine: how many
// password checks a second usergraph's hasher would complete if every core
// did nothing else (argon2id at the server's parameters, through
// auth.Hasher, one check per core at a time). It divides the cores by the
// CPU time one check took (user and system time of this process, which
// runs nothing else), so another program taking a core meanwhile does not
// lower the limit. bench/run.sh prints it beside the login scenario, so
// sign-in throughput is read as a share of what the cores allow.
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
	"syscall"
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
	cpuStart := cpuTime()
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
	perCheck := (cpuTime() - cpuStart).Seconds() / float64(checks.Load())
	fmt.Printf("HASHLIMIT %.1f %.1f %d\n", float64(cores)/perCheck, perCheck*1000, cores)
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		fmt.Fprintln(os.Stderr, "hashlimit:", err)
		os.Exit(1)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
