package whiteboard_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/whiteboard"
)

// makePDF writes a minimal valid PDF of n 320×180 pt pages, each with a
// blue square in a different place.
func makePDF(n int) []byte {
	var b bytes.Buffer
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	b.WriteString("%PDF-1.4\n")
	var kids []string
	for i := range n {
		kids = append(kids, fmt.Sprintf("%d 0 R", 3+2*i))
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj(fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n))
	for i := range n {
		obj(fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 320 180] /Contents %d 0 R >>", 4+2*i))
		content := fmt.Sprintf("0 0 1 rg %d 60 60 60 re f", 20+40*i)
		obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

func pngImage(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// http sends a request to the test server with a bearer token ("" for none).
func (e *env) http(t testing.TB, method, path, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.Server.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func (e *env) upload(t testing.TB, board whiteboard.BoardID, token string, body []byte) *whiteboard.Upload {
	t.Helper()
	st, out := e.http(t, "POST", fmt.Sprintf("/wb/boards/%s/pages", board), token, body)
	if st != http.StatusCreated {
		t.Fatalf("upload: %d %s", st, out)
	}
	var up whiteboard.Upload
	if err := json.Unmarshal(out, &up); err != nil {
		t.Fatal(err)
	}
	return &up
}

func errCode(t testing.TB, body []byte) qun.Code {
	t.Helper()
	var r struct {
		Err *qun.Error `json:"err"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Err == nil {
		t.Fatalf("not an error body: %s", body)
	}
	return r.Err.Code
}

func needPoppler(t *testing.T) {
	for _, cmd := range []string{"pdftoppm", "pdfinfo"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("%s is not installed: apt-get install poppler-utils", cmd)
		}
	}
}

func TestPDFCoursewareConvertsWithProgress(t *testing.T) {
	needPoppler(t)
	e := newEnv(t, nil, fast, whiteboard.Config{Upload: whiteboard.UploadLimits{PageSize: 400}})
	board := e.create(t)
	eve := e.Connect(t, "t1", "eve")
	sub(t, eve, board, nil)
	first := e.state(t, board).Pages[0].ID
	tok := e.Token(t, "t1", "teacher")

	pdf := makePDF(3)
	st, out := e.http(t, "POST", fmt.Sprintf("/wb/boards/%s/pages?after=%d", board, first), tok, pdf)
	if st != http.StatusCreated {
		t.Fatalf("upload: %d %s", st, out)
	}
	var up whiteboard.Upload
	if err := json.Unmarshal(out, &up); err != nil {
		t.Fatal(err)
	}
	if len(up.Pages) != 3 {
		t.Fatalf("pages %+v", up.Pages)
	}
	// Progress: 0/3, 1/3, 2/3, 3/3, then the pages arrive in one event.
	for done := 0; done <= 3; done++ {
		f := nextEv(t, eve, board, whiteboard.EvConvertProgress)
		want := fmt.Sprintf(`{"upload":%q,"done":%d,"total":3}`, up.ID, done)
		if f.Seq != 0 || string(f.D) != want {
			t.Fatalf("progress %s, want %s", f.D, want)
		}
	}
	f := nextEv(t, eve, board, whiteboard.EvPagesAdd)
	if f.Seq != up.Seq {
		t.Fatalf("pages event seq %d, reply %d", f.Seq, up.Seq)
	}
	s := e.state(t, board)
	if len(s.Pages) != 4 || s.Pages[0].ID != first {
		t.Fatalf("state %+v", s.Pages)
	}
	for i, p := range up.Pages {
		if s.Pages[i+1].PageInfo != p || p.W != 400 || p.H != 225 || p.BG == "" {
			t.Fatalf("page %d: %+v (state %+v)", i, p, s.Pages[i+1].PageInfo)
		}
		// Every watcher fetches the page image with their own token.
		st, img := e.http(t, "GET", fmt.Sprintf("/wb/boards/%s/files/%s", board, p.BG), e.Token(t, "t1", "eve"), nil)
		if st != 200 {
			t.Fatalf("file: %d %s", st, img)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(img))
		if err != nil || cfg.Width != 400 || cfg.Height != 225 {
			t.Fatalf("page image: %v %+v", err, cfg)
		}
	}
	// Each page shows its own square: the renders differ.
	_, a := e.http(t, "GET", fmt.Sprintf("/wb/boards/%s/files/%s", board, up.Pages[0].BG), tok, nil)
	_, b := e.http(t, "GET", fmt.Sprintf("/wb/boards/%s/files/%s", board, up.Pages[2].BG), tok, nil)
	if bytes.Equal(a, b) {
		t.Fatal("pages 1 and 3 rendered the same")
	}
}

func TestCoursewareLimitsAndErrors(t *testing.T) {
	needPoppler(t)
	e := newEnv(t, nil, fast, whiteboard.Config{Upload: whiteboard.UploadLimits{PageSize: 200, MaxPDFPages: 2, MaxBytes: 20_000, MaxImageSide: 100}})
	board := e.create(t)
	teacher := e.Token(t, "t1", "teacher")
	path := fmt.Sprintf("/wb/boards/%s/pages", board)
	before := e.state(t, board)

	check := func(name, token string, body []byte, status int, code qun.Code) {
		t.Helper()
		st, out := e.http(t, "POST", path, token, body)
		if st != status || errCode(t, out) != code {
			t.Fatalf("%s: %d %s, want %d %s", name, st, out, status, code)
		}
	}
	check("no token", "", makePDF(1), 401, qun.CodeUnauthenticated)
	check("bad token", "nonsense", makePDF(1), 401, qun.CodeUnauthenticated)
	check("member", e.Token(t, "t1", "alice"), makePDF(1), 403, qun.CodeForbidden)
	check("too many pages", teacher, makePDF(3), 413, qun.CodeTooLarge)
	check("too many bytes", teacher, append(makePDF(1), make([]byte, 20_000)...), 413, qun.CodeTooLarge)
	check("not a PDF", teacher, []byte("%PDF-1.4\nthis is not a pdf at all"), 400, qun.CodeInvalid)
	check("a text file", teacher, []byte("hello, world"), 400, qun.CodeInvalid)
	check("an image too big", teacher, pngImage(t, 101, 10), 413, qun.CodeTooLarge)
	check("a broken image", teacher, append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 40)...), 400, qun.CodeInvalid)
	if st, out := e.http(t, "POST", "/wb/boards/nope/pages", teacher, makePDF(1)); st != 404 {
		t.Fatalf("no board: %d %s", st, out)
	}
	if st, out := e.http(t, "GET", fmt.Sprintf("/wb/boards/%s/files/nope", board), teacher, nil); st != 404 {
		t.Fatalf("no file: %d %s", st, out)
	}
	if st, _ := e.http(t, "GET", "/wb/other", teacher, nil); st != 404 {
		t.Fatalf("unknown route: %d", st)
	}
	sameState(t, "board after refused uploads", e.state(t, board), before)

	// An image becomes one page of its own size.
	up := e.upload(t, board, teacher, pngImage(t, 80, 60))
	if len(up.Pages) != 1 || up.Pages[0].W != 80 || up.Pages[0].H != 60 {
		t.Fatalf("image page %+v", up.Pages)
	}
	// Page images are cacheable and revalidate by ETag.
	req, _ := http.NewRequest("GET", e.Server.URL+fmt.Sprintf("/wb/boards/%s/files/%s", board, up.Pages[0].BG), nil)
	req.Header.Set("Authorization", "Bearer "+teacher)
	req.Header.Set("If-None-Match", `"`+up.Pages[0].BG+`"`)
	res, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", res.StatusCode)
	}
}

func TestConversionTimeoutKillsTheConverter(t *testing.T) {
	needPoppler(t)
	e := newEnv(t, nil, fast, whiteboard.Config{Upload: whiteboard.UploadLimits{ConvertTimeout: time.Millisecond}})
	board := e.create(t)
	eve := e.Connect(t, "t1", "eve")
	sub(t, eve, board, nil)
	st, out := e.http(t, "POST", fmt.Sprintf("/wb/boards/%s/pages", board), e.Token(t, "t1", "teacher"), makePDF(2))
	if st != 413 || errCode(t, out) != qun.CodeTooLarge || !strings.Contains(string(out), "longer than") {
		t.Fatalf("timeout: %d %s", st, out)
	}
	// Progress events may come first if pdfinfo beat the clock.
	qtest.Next(t, eve, func(f qclient.Frame) bool {
		return f.Type == whiteboard.EvConvertProgress && strings.Contains(string(f.D), `"err":{"code":"too_large"`)
	})
	if n := len(e.state(t, board).Pages); n != 1 {
		t.Fatalf("%d pages after a failed conversion", n)
	}
}
