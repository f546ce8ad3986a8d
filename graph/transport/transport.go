// Package transport reads GraphQL requests sent as JSON (POST) and as
// multipart uploads, within byte limits, and answers requests it cannot read
// with short fixed messages that never echo the request, each with an
// extensions.code.
//
// Answers follow the GraphQL over HTTP specification: a client that accepts
// application/graphql-response+json gets it, with 400 when the request did
// not run (a query that does not parse or validate, variables that do not
// fit) and no data entry then; anyone else gets application/json, with 200
// for every answer GraphQL wrote. A request that is not GraphQL at all
// (malformed JSON, no query) is 400 either way.
package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// PreflightHeader is the header a multipart request without a file must
// carry. It is not a CORS-safelisted header, so a browser sends it only
// after a preflight the server allowed: a cross-site form cannot run a
// mutation through the multipart transport.
const PreflightHeader = "GraphQL-Require-Preflight"

// POST reads `application/json` bodies of at most MaxBytes.
type POST struct{ MaxBytes int64 }

// Supports is gqlgen's transport selection.
func (POST) Supports(r *http.Request) bool {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && r.Method == http.MethodPost && mediaType == "application/json" && r.Header.Get("Upgrade") == ""
}

// Do runs one request.
func (t POST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media, ok := negotiate(w, r)
	if !ok {
		return
	}
	start := graphql.Now()
	if r.ContentLength > t.MaxBytes {
		tooLarge(w, t.MaxBytes)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, t.MaxBytes+1))
	switch {
	case int64(len(body)) > t.MaxBytes || isTooLarge(err):
		tooLarge(w, t.MaxBytes)
		return
	case err != nil:
		Fail(w, http.StatusBadRequest, "The request body could not be read.")
		return
	}
	var params graphql.RawParams
	if err := decode(body, &params); err != nil {
		Fail(w, http.StatusBadRequest, "The request body is not a GraphQL request in JSON.")
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	execute(w, r, exec, &params, "", media)
}

// GET runs queries, never mutations, sent in the URL's query string.
type GET struct{}

// Supports is gqlgen's transport selection.
func (GET) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Upgrade") == ""
}

// Do runs one request.
func (GET) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media, ok := negotiate(w, r)
	if !ok {
		return
	}
	start := graphql.Now()
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		Fail(w, http.StatusBadRequest, "The query string could not be read.")
		return
	}
	params := graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName"), Headers: r.Header}
	for _, p := range []struct {
		name string
		into any
	}{{"variables", &params.Variables}, {"extensions", &params.Extensions}} {
		if v := q.Get(p.name); v != "" && decode([]byte(v), p.into) != nil {
			Fail(w, http.StatusBadRequest, "The "+p.name+" parameter is not JSON.")
			return
		}
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	execute(w, r, exec, &params, ast.Query, media)
}

// Unsupported answers the requests no other transport reads; add it last.
type Unsupported struct{}

// Supports is gqlgen's transport selection: everything left.
func (Unsupported) Supports(*http.Request) bool { return true }

// Do refuses the request.
func (Unsupported) Do(w http.ResponseWriter, _ *http.Request, _ graphql.GraphExecutor) {
	Fail(w, http.StatusBadRequest, "Send GraphQL as application/json, as multipart/form-data, or as a GET query string.")
}

// Multipart reads the GraphQL multipart request specification: an
// `operations` part and a `map` part of at most MaxBytes together, then
// file parts of at most MaxUpload bytes in all. Files up to InMemory bytes
// are kept in memory, larger ones in a temporary file removed afterwards.
//
// A file over MaxUpload gets one answer however it is sent (with a
// Content-Length, as browsers send, or without): HTTP 413 with the code
// FILE_TOO_LARGE and extensions.maxBytes, before the operation runs.
type Multipart struct {
	MaxBytes, MaxUpload, InMemory int64
}

// Supports is gqlgen's transport selection.
func (Multipart) Supports(r *http.Request) bool {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && r.Method == http.MethodPost && mediaType == "multipart/form-data" && r.Header.Get("Upgrade") == ""
}

// Do runs one request.
func (t Multipart) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	media, ok := negotiate(w, r)
	if !ok {
		return
	}
	start := graphql.Now()
	total := t.BodyLimit()
	if r.ContentLength > total {
		t.fileTooLarge(w)
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		Fail(w, http.StatusBadRequest, "The multipart request could not be read.")
		return
	}
	budget := t.MaxBytes // shared by the operations and map parts
	var params graphql.RawParams
	var uploads map[string][]string
	for _, p := range []struct {
		name string
		into any
	}{{"operations", &params}, {"map", &uploads}} {
		part, err := mr.NextPart()
		if isTooLarge(err) {
			tooLarge(w, total)
			return
		}
		if err != nil || part.FormName() != p.name {
			Fail(w, http.StatusBadRequest, "The multipart request must start with the operations part, then the map part.")
			return
		}
		b, err := io.ReadAll(io.LimitReader(part, budget+1))
		budget -= int64(len(b))
		switch {
		case budget < 0:
			tooLarge(w, t.MaxBytes)
			return
		case isTooLarge(err):
			tooLarge(w, total)
			return
		case err != nil || decode(b, p.into) != nil:
			Fail(w, http.StatusBadRequest, fmt.Sprintf("The %s part is not valid JSON of the multipart request specification.", p.name))
			return
		}
	}
	if len(uploads) == 0 && r.Header.Get(PreflightHeader) == "" {
		Fail(w, http.StatusBadRequest, "A multipart request must carry a file, or the "+PreflightHeader+" header.")
		return
	}
	var cleanup []func()
	defer func() {
		for _, f := range cleanup {
			f()
		}
	}()
	fileBudget := t.MaxUpload
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if isTooLarge(err) {
			t.fileTooLarge(w)
			return
		}
		if err != nil {
			Fail(w, http.StatusBadRequest, "The multipart request could not be read.")
			return
		}
		paths, ok := uploads[part.FormName()]
		if !ok || len(paths) == 0 {
			Fail(w, http.StatusBadRequest, "A file part is not named in the map part.")
			return
		}
		delete(uploads, part.FormName())
		open, size, done, err := t.keep(part, fileBudget)
		if done != nil {
			cleanup = append(cleanup, done)
		}
		if err != nil {
			if errors.Is(err, errFileBudget) || isTooLarge(err) {
				t.fileTooLarge(w)
			} else {
				Fail(w, http.StatusBadRequest, "A file part could not be read.")
			}
			return
		}
		fileBudget -= size
		for _, path := range paths {
			f, err := open()
			if err != nil {
				Fail(w, http.StatusInternalServerError, "The upload could not be stored.")
				return
			}
			if c, ok := f.(io.Closer); ok {
				cleanup = append(cleanup, func() { c.Close() })
			}
			upload := graphql.Upload{File: f, Size: size, Filename: part.FileName(), ContentType: part.Header.Get("Content-Type")}
			if err := params.AddUpload(upload, part.FormName(), path); err != nil {
				Fail(w, http.StatusBadRequest, "The map part names a variable path the operations do not have.")
				return
			}
		}
	}
	if len(uploads) > 0 {
		Fail(w, http.StatusBadRequest, "The map part names a file the request does not carry.")
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	execute(w, r, exec, &params, "", media)
}

// fileTooLarge answers an upload over MaxUpload.
func (t Multipart) fileTooLarge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close") // the rest of the body is not read
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	writeJSON(w, &graphql.Response{Errors: gqlerror.List{{
		Message:    fmt.Sprintf("The file is too large: at most %d bytes (%s) are taken.", t.MaxUpload, bytesInWords(t.MaxUpload)),
		Extensions: map[string]any{"code": "FILE_TOO_LARGE", "maxBytes": t.MaxUpload},
	}}})
}

// bytesInWords says a size as people read it: "5 MiB", "2 KiB", "100 bytes".
func bytesInWords(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// multipartOverhead is room for part headers and boundaries.
const multipartOverhead = 64 << 10

// BodyLimit is the largest multipart body read.
func (t Multipart) BodyLimit() int64 { return t.MaxBytes + t.MaxUpload + multipartOverhead }

var errFileBudget = errors.New("files exceed the upload allowance")

// keep stores one file part within budget bytes, in memory when small,
// and returns how to open a reader over it (once per variable it fills).
func (t Multipart) keep(part io.Reader, budget int64) (open func() (io.ReadSeeker, error), size int64, cleanup func(), err error) {
	limited := io.LimitReader(part, budget+1)
	head, err := io.ReadAll(io.LimitReader(limited, t.InMemory+1))
	if err != nil {
		return nil, 0, nil, err
	}
	if int64(len(head)) <= t.InMemory {
		if int64(len(head)) > budget {
			return nil, 0, nil, errFileBudget
		}
		return func() (io.ReadSeeker, error) { return bytes.NewReader(head), nil }, int64(len(head)), nil, nil
	}
	tmp, err := os.CreateTemp("", "usergraph-upload-")
	if err != nil {
		return nil, 0, nil, err
	}
	name := tmp.Name()
	cleanup = func() { os.Remove(name) }
	n, err := tmp.Write(head)
	if err == nil {
		var rest int64
		rest, err = io.Copy(tmp, limited)
		size = int64(n) + rest
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && size > budget {
		err = errFileBudget
	}
	return func() (io.ReadSeeker, error) { return os.Open(name) }, size, cleanup, err
}

// execute runs a request that was read, as gqlgen's own transports do;
// only, when set, is the one kind of operation the transport runs. A
// request that did not run (it does not parse or validate, its variables
// do not fit, or a request limit refused it) is answered 200 as
// application/json, 400 and without data as
// application/graphql-response+json.
func execute(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams, only ast.Operation, media mediaType) {
	ctx := r.Context()
	if params.Query == "" {
		Fail(w, http.StatusBadRequest, "The request has no query.")
		return
	}
	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), bounded(errs))
		if media == graphQLResponse {
			w.WriteHeader(http.StatusBadRequest)
		}
		writeJSON(w, resp)
		return
	}
	if only != "" && rc.Operation.Operation != only {
		w.Header().Set("Allow", "POST")
		Fail(w, http.StatusMethodNotAllowed, "GET requests run queries only; send mutations with POST.")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	if resp == nil { // the request's context ended: past REQUEST_TIMEOUT, or the client left
		Fail(w, http.StatusServiceUnavailable, "The request took too long and was stopped (REQUEST_TIMEOUT).")
		return
	}
	writeJSON(w, resp)
}

// maxErrors bounds the errors a refused request is answered with: a small
// request can hold thousands of mistakes (unused variables, unknown
// directives), and each error quoted back would make the answer ten times
// the request.
const maxErrors = 20

// bounded keeps the first maxErrors of errs and says how many more there were.
func bounded(errs gqlerror.List) gqlerror.List {
	if len(errs) <= maxErrors {
		return errs
	}
	more := &gqlerror.Error{Message: fmt.Sprintf("And %d more errors; fix these first.", len(errs)-maxErrors),
		Extensions: map[string]any{"code": "BAD_REQUEST"}}
	return append(errs[:maxErrors:maxErrors], more)
}

func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func tooLarge(w http.ResponseWriter, limit int64) {
	Fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request is too large: at most %d bytes are read.", limit))
}

// Fail answers a request that cannot run with status and one error:
// BAD_REQUEST for a status under 500, TIMEOUT for 503, else INTERNAL.
func Fail(w http.ResponseWriter, status int, message string) {
	code := "BAD_REQUEST"
	switch {
	case status == http.StatusServiceUnavailable:
		code = "TIMEOUT"
	case status >= http.StatusInternalServerError:
		code = "INTERNAL"
	}
	failCode(w, status, code, message)
}

// failCode answers with status and one error carrying code (as
// application/json unless the request's media type was chosen already).
func failCode(w http.ResponseWriter, status int, code, message string) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	writeJSON(w, &graphql.Response{Errors: gqlerror.List{{Message: message, Extensions: map[string]any{"code": code}}}})
}

// writeJSON writes resp; without data (a request that did not run) it has
// no data entry at all.
func writeJSON(w io.Writer, resp *graphql.Response) {
	var b []byte
	var err error
	if resp.Data == nil {
		b, err = json.Marshal(struct {
			Errors     gqlerror.List  `json:"errors,omitempty"`
			Extensions map[string]any `json:"extensions,omitempty"`
		}{resp.Errors, resp.Extensions})
	} else {
		b, err = json.Marshal(resp)
	}
	if err != nil {
		b = []byte(`{"errors":[{"message":"Internal error.","extensions":{"code":"INTERNAL"}}]}`)
	}
	w.Write(b)
}

// mediaType is how answers are written (see the package comment).
type mediaType int

const (
	jsonMedia       mediaType = iota // application/json
	graphQLResponse                  // application/graphql-response+json
)

// negotiate picks the answer's media type from the request's Accept header
// and sets Content-Type. No Accept, */* or application/* is application/json;
// a client that accepts neither gets 406 (and false).
func negotiate(w http.ResponseWriter, r *http.Request) (mediaType, bool) {
	w.Header().Add("Vary", "Accept")
	best, bestQ := jsonMedia, -1.0
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		bestQ = 1
	}
	for _, header := range accept {
		for _, item := range strings.Split(header, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(item))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil {
					continue
				}
			}
			var m mediaType
			switch mt {
			case "application/graphql-response+json":
				m = graphQLResponse
			case "application/json", "application/*", "*/*":
				m = jsonMedia
			default:
				continue
			}
			// The specification's own type wins a tie.
			if q > 0 && (q > bestQ || q == bestQ && m == graphQLResponse) {
				best, bestQ = m, q
			}
		}
	}
	if bestQ <= 0 {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		failCode(w, http.StatusNotAcceptable, "BAD_REQUEST", "This endpoint answers application/graphql-response+json or application/json.")
		return jsonMedia, false
	}
	if best == graphQLResponse {
		w.Header().Set("Content-Type", "application/graphql-response+json; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	return best, true
}
