package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// playgroundAssetsFromNPM returns a folder with the four GraphiQL files,
// taken from the npm packages the page is written for (npm pack, cached
// between runs; nothing is committed).
func playgroundAssetsFromNPM(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "usergraph-test", "graphiql-4.1.2")
	wanted := map[string]string{ // file in the package → name served
		"package/graphiql.min.js":                 "graphiql.min.js",
		"package/graphiql.min.css":                "graphiql.min.css",
		"package/umd/react.production.min.js":     "react.production.min.js",
		"package/umd/react-dom.production.min.js": "react-dom.production.min.js",
	}
	complete := func() bool {
		for _, name := range wanted {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return false
			}
		}
		return true
	}
	if complete() {
		return dir
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	packs := t.TempDir()
	cmd := exec.Command("npm", "pack", "--silent", "graphiql@4.1.2", "react@18.2.0", "react-dom@18.2.0")
	cmd.Dir = packs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm pack: %v\n%s", err, out)
	}
	tarballs, _ := filepath.Glob(filepath.Join(packs, "*.tgz"))
	for _, tgz := range tarballs {
		f, err := os.Open(tgz)
		if err != nil {
			t.Fatal(err)
		}
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if name, ok := wanted[h.Name]; ok {
				data, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		f.Close()
	}
	if !complete() {
		t.Fatalf("the npm packages did not hold every file in %v", wanted)
	}
	return dir
}

// The playground works in a real browser with self-hosted assets served by
// usergraph itself: headless Chromium (Debian's chromium, which .ci/run
// installs) loads it under its Content-Security-Policy, runs `me` with a
// bearer header, and the answer appears on the page.
func TestPlaygroundInARealBrowser(t *testing.T) {
	env := testEnv(t, "")
	env["PLAYGROUND_ASSETS_DIR"] = playgroundAssetsFromNPM(t)
	srv := startServer(t, env)
	p := mustSignIn(t, srv.Client().register(registerInput("browser@example.com", "+4945000001")))

	ctx := headlessChromium(t, 90*time.Second)

	// GraphiQL 4 edits with CodeMirror 5: each editor element carries its
	// instance. Query, then the headers tab's editor, then the run button.
	step := func(what, js string) {
		t.Helper()
		ok, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil || !ok {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
				response: (document.querySelector('.graphiql-response') || {}).innerText,
				editors: [...document.querySelectorAll('.CodeMirror')].map(e => e.CodeMirror.getValue()),
			})`))
			t.Fatalf("%s: %v\npage state: %s", what, err, state)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("open the playground: %v", err)
	}
	// The editor opens with usergraph's example (signing in, then me), not
	// GraphiQL's generic comment.
	step("the query editor", `(() => {
		const e = document.querySelector('.graphiql-query-editor .CodeMirror');
		if (!e) return false;
		const v = e.CodeMirror.getValue();
		if (!v.includes('mutation SignIn') || !v.includes('login(input:') || !v.includes('query Me')) {
			throw new Error('the editor opened with ' + JSON.stringify(v));
		}
		e.CodeMirror.setValue('{ me { email } }');
		return true;
	})()`)
	step("the headers tab", `(() => {
		const b = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Headers');
		if (!b) return false;
		b.click();
		return true;
	})()`)
	// The tool area holds the variables editor, then the headers editor;
	// wait until the click has shown the latter.
	// It holds the headers template; the token goes after "Bearer ".
	step("the headers editor", `(() => {
		const e = document.querySelectorAll('.graphiql-editor-tool .CodeMirror')[1];
		if (!e || e.offsetParent === null) return false;
		const template = JSON.parse(e.CodeMirror.getValue());
		if (template.Authorization !== 'Bearer ') {
			throw new Error('the headers opened with ' + JSON.stringify(template));
		}
		e.CodeMirror.setValue(JSON.stringify({Authorization: template.Authorization + '`+*p.AccessToken+`'}));
		return true;
	})()`)
	// GraphiQL takes editor changes in after a debounce, and stores them
	// (localStorage, "graphiql:" keys) as it does: wait until both are in.
	step("the editors taken in", `(() => {
		const stored = k => localStorage.getItem('graphiql:' + k) || '';
		return stored('query').includes('{ me { email } }') && stored('headers').includes('Bearer `+*p.AccessToken+`');
	})()`)
	step("the run button", `(() => {
		const b = document.querySelector('.graphiql-execute-button');
		if (!b) return false;
		b.click();
		return true;
	})()`)
	step("the answer", `(() => {
		const r = document.querySelector('.graphiql-response');
		return !!r && r.innerText.includes('browser@example.com');
	})()`)
	answer, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".graphiql-response")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, `"email": "browser@example.com"`) {
		t.Errorf("the answer on the page: %s", answer)
	}

	// A photo over AVATAR_MAX_BYTES (5 MiB), uploaded as an app does (fetch
	// with FormData, which sends a Content-Length), gets the one answer for
	// too large, a little over or far over.
	for _, mib := range []int{6, 20} {
		type answer struct {
			Status int
			Body   gqlResponse
		}
		js := `(async () => {
			const form = new FormData();
			form.append('operations', JSON.stringify({query: 'mutation($file: Upload!) { uploadAvatar(input: {file: $file}) { errors { code } } }', variables: {file: null}}));
			form.append('map', JSON.stringify({'0': ['variables.file']}));
			form.append('0', new Blob([new Uint8Array(` + strconv.Itoa(mib) + ` << 20)], {type: 'image/png'}), 'photo.png');
			const r = await fetch('/graphql', {method: 'POST', body: form, headers: {Authorization: 'Bearer ` + *p.AccessToken + `'}});
			return {status: r.status, body: await r.json()};
		})()`
		got, err := chromedp.Run(ctx, chromedp.Evaluate[answer](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("upload of %d MiB from the browser: %v", mib, err)
		}
		if got.Status != http.StatusRequestEntityTooLarge || got.Body.Code() != "FILE_TOO_LARGE" {
			t.Errorf("a %d MiB photo from the browser: %d %+v, want 413 FILE_TOO_LARGE", mib, got.Status, got.Body.Errors)
		}
	}

	// Scripts that cannot load (here: assets at an address nothing listens
	// on, as a CDN is for a browser without network) leave an explanation,
	// not an endless "Loading…".
	env2 := testEnv(t, "")
	env2["PLAYGROUND_ASSETS_URL"] = "http://127.0.0.1:9/graphiql"
	broken := startServer(t, env2)
	if err := chromedp.Do(ctx, chromedp.Navigate(broken.URL+"/")); err != nil {
		t.Fatalf("open the playground: %v", err)
	}
	explained := `(() => {
		const e = document.getElementById('playground-unavailable');
		return !!e && e.offsetParent !== null && e.innerText.includes('PLAYGROUND_ASSETS_DIR') && !document.body.innerText.includes('Loading…');
	})()`
	step("the explanation", explained)

	// A CDN that hangs rather than fails (it takes the connection and never
	// answers) would hold the page's scripts, and so its load event, for as
	// long as the browser waits: the page explains after its 5 s anyway,
	// while the scripts are still pending.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hang.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	env3 := testEnv(t, "")
	env3["PLAYGROUND_ASSETS_URL"] = "http://" + hang.Addr().String() + "/graphiql"
	hanging := startServer(t, env3)
	start := time.Now()
	// Navigate waits for the load event, which a hanging script holds back:
	// open the page without waiting for it.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.Navigate, page.NavigateParams{URL: hanging.URL + "/"})
		return err
	})); err != nil {
		t.Fatalf("open the playground: %v", err)
	}
	// Poll by hand: the new page's context appears some time after the
	// navigation was sent, and evaluating in between fails.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](explained))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no explanation with a hanging CDN after 20 s: %v", err)
		}
	}
	mu.Lock()
	pending := len(held)
	mu.Unlock()
	if pending == 0 {
		t.Fatal("the browser never asked the hanging CDN: the test proves nothing")
	}
	t.Logf("with a hanging CDN the page explained after %v", time.Since(start).Round(100*time.Millisecond))
}

// headlessChromium starts Debian's chromium (which .ci/run installs) for a
// browser test, for at most timeout, and stops it when the test ends. CI
// must run browser tests; elsewhere they are skipped without chromium.
func headlessChromium(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run the browser test: install Debian's chromium (.ci/run does)")
		}
		t.Skip("chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Headless)
	alloc, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, stopBrowser := chromedp.NewContext(alloc)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancel(); stopBrowser(); stopAlloc() })
	return ctx
}
